"""The console's sign-in, sessions and chat tokens, without HTTP (see the package docs)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from pchat.core.apikeys import ApiKeyGate, FailureLimiter, Verdict
from pchat.core.passwords import MAX_PASSWORD_CHARS, verify_password
from pchat.core.revocations import Revocations
from pchat.core.tokens import TokenSigner
from pchat.protocol.validation import validate_username
from pchat.storage.base import (
    KeyStore,
    OperatorRecord,
    OperatorStore,
    SigningKey,
    StoreUnavailable,
)

from ..config import Settings
from .sessions import ConsoleSession, Ended, Lifetimes, SessionSeal, credential_of_password

__all__ = [
    "OPERATOR_NAME",
    "Console",
    "Refused",
    "chat_user_id",
    "revocation_id",
    "validate_operator_name",
]

#: Operator names: 1–64 of ``A–Z a–z 0–9 _ - .`` (they become part of a user id).
OPERATOR_NAME: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

#: Password checks running at once (each takes 32 MiB and a quarter of a second).
_KDF_SLOTS: Final = 2
#: Seconds an operator's record is cached (a changed password ends sessions this late).
_OPERATOR_CACHE_TTL: Final = 2.0
_OPERATOR_CACHE_SIZE: Final = 256


class Refused(Exception):
    """A console call refused: its HTTP status, error name and message."""

    def __init__(
        self, status: int, name: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.retry_after = retry_after


def validate_operator_name(value: object) -> str:
    if not isinstance(value, str) or not OPERATOR_NAME.fullmatch(value):
        raise ValueError("operator names are 1-64 of A-Z a-z 0-9 _ - .")
    return value


def revocation_id(session: ConsoleSession) -> str:
    """The id a signed-out session is revoked under, among users' token revocations."""
    return f"console-session:{session.sid}"


def chat_user_id(session: ConsoleSession) -> str:
    """The user id of the operator's own room connections (the chat token's ``sub``)."""
    return f"console:{session.operator}"


@dataclass(frozen=True, slots=True)
class Checked:
    """A session accepted, and whether its cookie should be sealed again (``touched``)."""

    session: ConsoleSession
    touched: bool


class Console:
    """Sign-in (password or API key), the session check, sign-out and chat tokens."""

    def __init__(
        self,
        settings: Settings,
        *,
        keys: KeyStore,
        signer: TokenSigner,
        operators: OperatorStore,
        gate: ApiKeyGate,
        revocations: Revocations,
    ) -> None:
        self.settings = settings
        self._store = keys
        self._signer = signer
        self._operators = operators
        self._gate = gate
        self._revocations = revocations
        self._limiter = FailureLimiter(settings.auth_failures_max, settings.auth_failures_window)
        self._kdf = asyncio.Semaphore(_KDF_SLOTS)
        self._operator_cache: OrderedDict[str, tuple[float, OperatorRecord | None]] = OrderedDict()
        # The signing keys, kept in step with the signer's (which the key reload and the
        # server API's rotate and retire change).
        self._keys: dict[str, SigningKey] = {}
        self._kids: frozenset[str] = frozenset()
        self._chat_signer: TokenSigner | None = None
        self.seal = SessionSeal(self._current_kid, self._secret_of)
        # An idle session must end before its revocation is forgotten (RevokedTokens.keep).
        keep = revocations.revoked.keep
        idle = (
            settings.console_session_idle
            if keep is None
            else min(settings.console_session_idle, keep)
        )
        self.lifetimes = Lifetimes(
            idle_ms=math.ceil(idle * 1000),
            absolute_ms=math.ceil(settings.console_session_max * 1000),
        )

    # -- keys ----------------------------------------------------------------------------

    def _current_kid(self) -> str:
        return self._signer.current_kid

    def _secret_of(self, kid: str) -> bytes | None:
        key = self._keys.get(kid)
        return None if key is None else key.secret

    async def _sync_keys(self) -> None:
        """Read the signing keys again if the signer's changed since."""
        kids = self._signer.kids
        if kids == self._kids:
            return
        fresh = await self._store.signing_keys()
        known = [k for k in fresh if k.kid in kids]
        if not known:
            raise Refused(503, "unavailable", "the signing keys are being changed; try again")
        self._keys = {k.kid: k for k in known}
        self._kids = kids
        s = self.settings
        self._chat_signer = TokenSigner(
            known,
            issuer=s.token_issuer,
            ttl=s.console_token_ttl,
            leeway=s.token_leeway,
            revoked=self._signer.revoked,
        )
        if self._signer.current_kid not in self._keys:  # the store is ahead of the signer
            self._kids = frozenset()  # read again next time

    # -- sign-in -------------------------------------------------------------------------

    async def sign_in(self, addr: str, body: dict[str, Any]) -> ConsoleSession:
        """A new session for a password or API key sign-in; :class:`Refused` if not."""
        await self._sync_keys()
        has_password = "password" in body
        has_key = "api_key" in body or "api_secret" in body
        if has_password == has_key:
            raise Refused(
                400,
                "invalid_field",
                "sign in with operator and password, or with api_key and api_secret",
            )
        if has_password:
            return await self._sign_in_password(addr, body)
        return await self._sign_in_key(addr, body)

    async def _sign_in_password(self, addr: str, body: dict[str, Any]) -> ConsoleSession:
        name, password = body.get("operator", "admin"), body["password"]
        if not isinstance(password, str) or not 0 < len(password) <= MAX_PASSWORD_CHARS:
            raise Refused(400, "invalid_field", "password must be a non-empty string")
        try:
            name = validate_operator_name(name)
        except ValueError as exc:
            raise Refused(400, "invalid_field", str(exc)) from None
        wait = self._limiter.blocked(addr, time.monotonic())
        if wait is not None:
            raise _throttled(wait)
        record = await self._operators.get_operator(name)
        async with self._kdf:
            stored = None if record is None else record.password_hash
            ok = await asyncio.to_thread(verify_password, password, stored)
        if not ok or record is None:
            self._limiter.record_failure(addr, time.monotonic())
            raise Refused(401, "unauthorized", "wrong operator or password")
        self._remember(name, record)
        credential = credential_of_password(record.password_hash)
        return self.seal.new(name, "password", credential, _now_ms())

    async def _sign_in_key(self, addr: str, body: dict[str, Any]) -> ConsoleSession:
        key, secret = body.get("api_key"), body.get("api_secret")
        if not isinstance(key, str) or not isinstance(secret, str):
            raise Refused(400, "invalid_field", "api_key and api_secret must be strings")
        try:
            verdict, wait = await self._gate.check(addr, key, secret, time.monotonic())
        except StoreUnavailable:
            raise Refused(503, "unavailable", "the key store is unavailable", 1.0) from None
        if verdict is Verdict.THROTTLED:
            raise _throttled(wait)
        if verdict is Verdict.REFUSED:
            raise Refused(401, "unauthorized", "wrong api_key / api_secret")
        return self.seal.new(key, "api_key", key, _now_ms())

    # -- the session check ---------------------------------------------------------------

    async def check(self, cookie: str) -> Checked | Ended:
        """The session of a cookie, or why it is not accepted."""
        await self._sync_keys()
        session = self.seal.open(cookie)
        if session is None:
            return Ended.INVALID
        now = _now_ms()
        ended = self.lifetimes.ended(session, now)
        if ended is not None:
            return ended
        if self._revocations.revoked.before(revocation_id(session)) is not None:
            return Ended.INVALID  # signed out
        if not await self._credential_holds(session):
            return Ended.INVALID
        if now - session.seen_ms >= self.lifetimes.touch_ms:
            return Checked(self.seal.touched(session, now), touched=True)
        return Checked(session, touched=False)

    async def _credential_holds(self, session: ConsoleSession) -> bool:
        """The password it was opened with is still the operator's, or its key is usable."""
        if session.via == "api_key":
            try:
                return await self._gate.auth.usable(session.credential)
            except StoreUnavailable:
                raise Refused(503, "unavailable", "the key store is unavailable", 1.0) from None
        if session.via != "password":
            return False
        record = await self._operator(session.operator)
        return record is not None and (
            credential_of_password(record.password_hash) == session.credential
        )

    async def _operator(self, name: str) -> OperatorRecord | None:
        now = time.monotonic()
        cached = self._operator_cache.get(name)
        if cached is not None and now - cached[0] < _OPERATOR_CACHE_TTL:
            return cached[1]
        record = await self._operators.get_operator(name)
        self._remember(name, record)
        return record

    def _remember(self, name: str, record: OperatorRecord | None) -> None:
        self._operator_cache[name] = (time.monotonic(), record)
        self._operator_cache.move_to_end(name)
        while len(self._operator_cache) > _OPERATOR_CACHE_SIZE:
            self._operator_cache.popitem(last=False)

    # -- sign-out, chat tokens -----------------------------------------------------------

    async def sign_out(self, session: ConsoleSession) -> None:
        """End the session on every node (a revocation: stored, then published)."""
        await self._revocations.revoke(revocation_id(session))

    async def chat_token(self, session: ConsoleSession) -> dict[str, Any]:
        """A short-lived admin token for the operator's own room connections."""
        await self._sync_keys()
        assert self._chat_signer is not None
        sub = chat_user_id(session)
        username = validate_username(session.operator, self.settings.max_username_chars)
        return {
            "token": self._chat_signer.issue(sub, "admin"),
            "user": {"id": sub, "username": username, "role": "admin"},
            "expires_in": self.settings.console_token_ttl,
        }

    def describe(self, session: ConsoleSession) -> dict[str, Any]:
        """What ``GET …/session`` tells the page: who, how, until when, the CSRF token."""
        return {
            "operator": session.operator,
            "via": session.via,
            "csrf_token": self.seal.csrf_token(session),
            "issued_at": session.issued_ms,
            "ends_at": self.lifetimes.ends_at(session),
            "expires_at": session.issued_ms + self.lifetimes.absolute_ms,
            "idle_timeout_ms": self.lifetimes.idle_ms,
        }


def _throttled(wait: float) -> Refused:
    return Refused(
        429, "too_many_failures", "too many failed sign-ins; try again later", retry_after=wait
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
