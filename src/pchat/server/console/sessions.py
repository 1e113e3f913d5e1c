"""Console sessions as signed cookies: what one holds, how it is sealed, when it ends.

A session is sealed into its cookie value with HMAC-SHA256, under a key derived from a
token signing key (every node of a cluster holds the same signing keys, so every node opens
every session; retiring the key ends the sessions it sealed)::

    1.<kid>.<payload: base64url JSON>.<MAC: base64url>

The payload names the session (a random ``sid``), the operator, how they signed in and with
what (a fingerprint of the password hash, or the API key: a changed password or a revoked
key ends the session), when it began and when it was last used. A session ends
:data:`Ended.IDLE` when unused for the idle time (the server seals a fresh ``seen`` into the
cookie as it is used), :data:`Ended.EXPIRED` past the absolute lifetime, whatever its use.

The CSRF token of a session is an HMAC of its ``sid`` under the same key: nothing to store,
and a page that cannot read the cookie (``HttpOnly``) gets it only from ``GET …/session``.

This module does no I/O: the keys come from a callable, the time is passed in.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

__all__ = [
    "ConsoleSession",
    "Ended",
    "Lifetimes",
    "SessionSeal",
    "credential_of_password",
    "mac_key",
]

_VERSION: Final = "1"
_MAX_COOKIE: Final = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac_key(signing_secret: bytes) -> bytes:
    """The key that seals sessions, derived from a token signing key's secret (a MAC under
    it is never a token signature: another key, another input)."""
    return hmac.digest(signing_secret, b"pchat console session v1", "sha256")


def credential_of_password(password_hash: str) -> str:
    """What a password session remembers of the password: changed, it ends the session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in operator. Times in ms since the epoch."""

    sid: str
    operator: str
    #: ``password`` or ``api_key``.
    via: str
    #: A fingerprint of the password hash, or the API key the operator signed in with.
    credential: str
    issued_ms: int
    seen_ms: int
    #: The signing key whose derived key seals it.
    kid: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "s": self.sid,
            "o": self.operator,
            "v": self.via,
            "c": self.credential,
            "i": self.issued_ms,
            "t": self.seen_ms,
        }


class Ended(enum.Enum):
    """Why a session cookie is not accepted."""

    INVALID = "invalid"  # not a cookie of ours, tampered, or sealed by a retired key
    IDLE = "idle"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a session lives, in ms: unused (``idle``), and at most (``absolute``)."""

    idle_ms: int
    absolute_ms: int

    @property
    def touch_ms(self) -> int:
        """How old ``seen`` may get before a use seals a fresh one (a tenth of the idle
        time, at most a minute): the cookie is not rewritten on every call."""
        return min(60_000, self.idle_ms // 10)

    def ended(self, session: ConsoleSession, now_ms: int) -> Ended | None:
        if now_ms - session.issued_ms >= self.absolute_ms:
            return Ended.EXPIRED
        if now_ms - session.seen_ms >= self.idle_ms:
            return Ended.IDLE
        return None

    def ends_at(self, session: ConsoleSession) -> int:
        """When the session ends unless it is used again (ms)."""
        return min(session.issued_ms + self.absolute_ms, session.seen_ms + self.idle_ms)


class SessionSeal:
    """Seals sessions into cookie values and opens them, with the keys ``keys`` gives: the
    kid that seals new sessions, and each kid's secret (None: no such key)."""

    def __init__(
        self, current_kid: Callable[[], str], secret_of: Callable[[str], bytes | None]
    ) -> None:
        self._current_kid = current_kid
        self._secret_of = secret_of

    def new(self, operator: str, via: str, credential: str, now_ms: int) -> ConsoleSession:
        """A new session, sealed by the current key."""
        return ConsoleSession(
            sid=secrets.token_urlsafe(16),
            operator=operator,
            via=via,
            credential=credential,
            issued_ms=now_ms,
            seen_ms=now_ms,
            kid=self._current_kid(),
        )

    def touched(self, session: ConsoleSession, now_ms: int) -> ConsoleSession:
        """The session used at ``now_ms`` (sealed again by the same key)."""
        return replace(session, seen_ms=now_ms)

    def _key(self, kid: str) -> bytes | None:
        secret = self._secret_of(kid)
        return None if secret is None else mac_key(secret)

    def seal(self, session: ConsoleSession) -> str:
        key = self._key(session.kid)
        if key is None:
            raise LookupError(f"no signing key {session.kid!r}")
        payload = _b64(orjson.dumps(session.to_payload()))
        signed = f"{_VERSION}.{session.kid}.{payload}"
        return f"{signed}.{_b64(hmac.digest(key, signed.encode(), 'sha256'))}"

    def open(self, value: str) -> ConsoleSession | None:
        """The session sealed in ``value``; None if it is not one sealed by a key we hold."""
        if len(value) > _MAX_COOKIE:
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            return None
        _, kid, payload, mac = parts
        key = self._key(kid)
        if key is None:
            return None
        signed = f"{_VERSION}.{kid}.{payload}"
        expected = _b64(hmac.digest(key, signed.encode(), "sha256"))
        if not hmac.compare_digest(expected.encode(), mac.encode("ascii", "replace")):
            return None
        try:
            body = orjson.loads(_unb64(payload))
            session = ConsoleSession(
                sid=body["s"],
                operator=body["o"],
                via=body["v"],
                credential=body["c"],
                issued_ms=body["i"],
                seen_ms=body["t"],
                kid=kid,
            )
        except (ValueError, KeyError, TypeError):
            return None
        texts = (session.sid, session.operator, session.via, session.credential)
        times = (session.issued_ms, session.seen_ms)
        if not all(isinstance(x, str) for x in texts) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in times
        ):
            return None
        return session

    def csrf_token(self, session: ConsoleSession) -> str:
        """The token every change made with this session must carry (``x-csrf-token``)."""
        key = self._key(session.kid)
        if key is None:
            raise LookupError(f"no signing key {session.kid!r}")
        return _b64(hmac.digest(key, f"csrf.{session.sid}".encode(), "sha256"))

    def csrf_ok(self, session: ConsoleSession, token: str | None) -> bool:
        """True if ``token`` is the session's CSRF token (compared in constant time)."""
        if not token:
            return False
        return hmac.compare_digest(
            self.csrf_token(session).encode(), token.encode("utf-8", "replace")
        )
