"""Access tokens: HS256 JWTs issued to users and checked on ``connect`` and ``refresh``.

A token names one user (``sub``), optionally a role, and is signed with the newest signing
key; its header carries that key's ``kid``. Keys rotate: every listed key verifies the tokens
it signed, so tokens issued before a rotation stay valid until they expire.

:meth:`TokenSigner.verify` refuses a token with one :class:`~pchat.protocol.errors.TokenError`
per reason, each with its own code (``200–209``), checked in this order:

1. ``TOKEN_MALFORMED``: not three base64url segments of JSON objects;
2. ``TOKEN_BAD_ALGORITHM``: the (unverified) header's ``alg`` is not ``HS256`` — checked
   before anything else is trusted, so ``none``, ``HS512`` or ``RS256`` never reach a key;
3. ``TOKEN_UNKNOWN_KEY``: no ``kid``, or one that names no key;
4. ``TOKEN_BAD_SIGNATURE``: the signature does not match (tampered, or another key);
5. ``TOKEN_MISSING_CLAIM``: no ``exp``, ``sub`` or ``iss``;
6. ``TOKEN_EXPIRED`` / ``TOKEN_NOT_YET_VALID``: ``exp`` passed, ``nbf`` or ``iat`` ahead
   (both with ``leeway`` seconds for clock skew);
7. ``TOKEN_BAD_ISSUER``: ``iss`` is not this service's issuer;
8. ``TOKEN_BAD_CLAIM``: ``sub`` is not a valid user id, ``role`` is not a known role, or a
   time claim (``exp``, ``nbf``, ``iat``) is not a finite number within
   0–:data:`MAX_TIME_CLAIM` (checked with the time claims, before 6);
9. ``TOKEN_REVOKED`` (``210``): the operator revoked the user's tokens, and this one was
   issued before (its ``iat`` is earlier than the user's entry in :class:`RevokedTokens`,
   or it has no ``iat``).

No claim, however long or large, raises anything but a ``TokenError``.

Verification is direct (:mod:`pchat.core.jws`: the token taken apart as PyJWT 2.x takes it
apart, headers parsed once and kept, a pre-keyed HMAC, orjson for the claims), because a
join storm verifies thousands of tokens a second; PyJWT still issues them.

Revocation. A revocation at time ``t`` refuses the user's tokens issued before the next
whole second, ``floor(t) + 1`` (:func:`revoked_before`): ``iat`` counts whole seconds, so a
token issued earlier in the same second cannot be told from one issued later, and both are
refused. :meth:`TokenSigner.issue` gives a token issued during that second the next second
as ``iat`` and ``nbf`` (within the leeway that :meth:`~TokenSigner.verify` grants), so a
token asked for right after a revocation works at once. The signer only reads its
:class:`RevokedTokens`; :mod:`pchat.core.revocations` keeps it up to date on every node.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import jwt
import orjson

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import PChatError, RequestError, request_error
from pchat.protocol.validation import ROLE_RANK, ROLES, validate_role, validate_user_id
from pchat.storage.base import KeyStore, SigningKey

from .jws import HS256Key, split

__all__ = [
    "ALGORITHM",
    "MAX_TIME_CLAIM",
    "MAX_TOKEN_LENGTH",
    "SIGNING_KEY_BYTES",
    "RevokedTokens",
    "SigningKeyInUse",
    "TokenClaims",
    "TokenSigner",
    "key_retirement_delay",
    "load_or_create_signing_keys",
    "new_signing_key",
    "retire_signing_key",
    "revoked_before",
    "rotate_signing_key",
]

#: The only algorithm issued and accepted.
ALGORITHM = "HS256"
#: Size of a generated signing key: 256 bits, the HS256 output size (RFC 7518 §3.2).
SIGNING_KEY_BYTES = 32
#: Longer tokens are refused as malformed before any decoding work.
MAX_TOKEN_LENGTH = 8192
#: The latest time a time claim may name: 9999-12-31T23:59:59Z, in seconds. Later (or
#: negative) times are bad claims: no real token needs them, and every clock and date type
#: that handles them (Python's datetime, JavaScript's Date) holds this one.
MAX_TIME_CLAIM = 253_402_300_799

# One JWS codec that knows a single algorithm. Short keys are an error, not a warning.
_JWS = jwt.PyJWS(algorithms=[ALGORITHM], options={"enforce_minimum_key_length": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """What a verified token says: the user, its role, and when the token expires."""

    sub: str
    role: str = "viewer"
    exp: int
    iat: int | None = None
    #: The id of the key that signed the token.
    kid: str


def _refuse(code: ErrorCode, message: str) -> NoReturn:
    raise request_error(code, message)


def revoked_before(now: float) -> int:
    """The ``revoked_before`` of a revocation made at ``now``: the next whole second (see
    the module docstring)."""
    return math.floor(now) + 1


class RevokedTokens:
    """Per user, the second before which the user's tokens are refused (``iat`` earlier).

    What :meth:`TokenSigner.verify` consults on every connect: a dict lookup, no I/O.
    Entries only move later. ``keep`` is how long after its ``revoked_before`` an entry
    still refuses a token that has not expired (the tokens' lifetime plus the leeway):
    :meth:`forget` drops older ones. None keeps every entry.
    """

    def __init__(self, keep: float | None = None) -> None:
        self.keep = keep
        self._before: dict[str, int] = {}

    def before(self, sub: str) -> int | None:
        """The user's ``revoked_before``, or None if no token of theirs is revoked."""
        return self._before.get(sub)

    def add(self, sub: str, before: int) -> bool:
        """Refuse ``sub``'s tokens issued before ``before``; False if an entry as late was
        already there (nothing changed)."""
        if self._before.get(sub, -1) >= before:
            return False
        self._before[sub] = before
        return True

    def horizon(self, now: float) -> int:
        """The earliest ``revoked_before`` that still matters at ``now``."""
        return 0 if self.keep is None else max(0, math.floor(now - self.keep))

    def forget(self, now: float) -> None:
        """Drop the entries whose revoked tokens have all expired."""
        horizon = self.horizon(now)
        if horizon:
            self._before = {s: b for s, b in self._before.items() if b >= horizon}

    def __len__(self) -> int:
        return len(self._before)


class TokenSigner:
    """Issues and verifies access tokens with a set of HS256 signing keys.

    The newest key (highest ``created_at``; the later one in ``keys`` on a tie) signs;
    every key in ``keys`` verifies the tokens carrying its ``kid``. ``revoked`` lists the
    users whose older tokens are refused (shared with whoever keeps it up to date).
    ``keys=None`` makes a signer whose keys are set later (:meth:`set_keys`, by a server
    when its key store opens): until then it issues nothing and verifies nothing.
    """

    def __init__(
        self,
        keys: list[SigningKey] | None,
        *,
        issuer: str,
        ttl: int,
        leeway: int = 5,
        revoked: RevokedTokens | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self._keys: dict[str, SigningKey] = {}
        self._macs: dict[str, HS256Key] = {}
        self._current: SigningKey | None = None
        if keys is not None:
            self.set_keys(keys)
        self.issuer = issuer
        self.ttl = ttl
        self.leeway = leeway
        self.revoked = RevokedTokens(ttl + leeway) if revoked is None else revoked

    def set_keys(self, keys: list[SigningKey]) -> None:
        """Replace the signing keys (after a rotation); the newest signs from now on."""
        if not keys:
            raise ValueError("at least one signing key is required")
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ValueError(f"duplicate signing key id {key.kid!r}")
            if len(key.secret) < SIGNING_KEY_BYTES:
                raise ValueError(f"signing key {key.kid!r} is shorter than 32 bytes")
            by_kid[key.kid] = key
        self._macs = {kid: HS256Key(key.secret) for kid, key in by_kid.items()}
        self._keys = by_kid
        self._current = max(enumerate(keys), key=lambda pair: (pair[1].created_at, pair[0]))[1]

    @property
    def kids(self) -> frozenset[str]:
        """The ids of the keys that verify."""
        return frozenset(self._keys)

    @property
    def current_kid(self) -> str:
        """The id of the key that signs new tokens."""
        return self._signing().kid

    def _signing(self) -> SigningKey:
        if self._current is None:
            raise RuntimeError("the signing keys are not loaded yet")
        return self._current

    def issue(self, sub: str, role: str | None = None, now: float | None = None) -> str:
        """A new token for user ``sub``, valid for ``ttl`` seconds from ``now``.

        Raises :class:`~pchat.protocol.errors.InvalidRequestError` if ``sub`` is not a valid
        user id or ``role`` not a known role.
        """
        validate_user_id(sub)
        iat = int(time.time() if now is None else now)
        before = self.revoked.before(sub)
        if before is not None and 0 < before - iat <= self.leeway:
            iat = before  # issued in the second of a revocation: not revoked itself
        claims: dict[str, Any] = {
            "sub": sub,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.ttl,
            "iss": self.issuer,
            "jti": secrets.token_urlsafe(16),
        }
        if role is not None:
            claims["role"] = validate_role(role)
        payload = json.dumps(claims, separators=(",", ":")).encode()
        # Unsorted headers keep the seed's order: {"typ":"JWT","alg":"HS256",...}, so tokens
        # start with the same "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIs" as the tutorial's.
        current = self._signing()
        return _JWS.encode(
            payload,
            current.secret,
            algorithm=ALGORITHM,
            headers={"kid": current.kid},
            sort_headers=False,
        )

    def verify(self, token: str, now: float | None = None) -> TokenClaims:
        """The claims of a valid token; raise :class:`~pchat.protocol.errors.TokenError`.

        See the module docstring for the reasons, their codes and their order.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            _refuse(ErrorCode.TOKEN_MALFORMED, "token is not a JWT")
        parts = split(token)
        if parts is None:
            _refuse(ErrorCode.TOKEN_MALFORMED, "token is not a JWT")
        header = parts.header
        # Pin the algorithm before trusting anything else the header says.
        if header.alg != ALGORITHM:
            _refuse(ErrorCode.TOKEN_BAD_ALGORITHM, f"token algorithm must be {ALGORITHM}")
        kid = header.kid
        mac = self._macs.get(kid)
        if mac is None:
            _refuse(ErrorCode.TOKEN_UNKNOWN_KEY, "token is signed with an unknown key")
        if header.detached:
            _refuse(ErrorCode.TOKEN_MALFORMED, "token is not a JWT")  # RFC 7797: not ours
        if not mac.verify(parts.signing_input, parts.signature):
            _refuse(ErrorCode.TOKEN_BAD_SIGNATURE, "token signature is invalid")
        claims = _json_object(parts.payload)
        if claims is None:
            _refuse(ErrorCode.TOKEN_MALFORMED, "token payload is not a JSON object")
        return self._check_claims(claims, kid, time.time() if now is None else now)

    def _check_claims(self, claims: dict[str, Any], kid: str, now: float) -> TokenClaims:
        for name in ("exp", "sub", "iss"):
            if name not in claims:
                _refuse(ErrorCode.TOKEN_MISSING_CLAIM, f"token has no {name} claim")
        exp = _time_claim(claims, "exp")
        nbf = _time_claim(claims, "nbf")
        iat = _time_claim(claims, "iat")
        assert exp is not None  # checked present above
        if exp <= now - self.leeway:
            _refuse(ErrorCode.TOKEN_EXPIRED, "token has expired")
        if nbf is not None and nbf > now + self.leeway:
            _refuse(ErrorCode.TOKEN_NOT_YET_VALID, "token is not valid yet (nbf)")
        if iat is not None and iat > now + self.leeway:
            _refuse(ErrorCode.TOKEN_NOT_YET_VALID, "token is issued in the future (iat)")
        if claims["iss"] != self.issuer:
            _refuse(ErrorCode.TOKEN_BAD_ISSUER, "token issuer is not accepted")
        try:
            sub = validate_user_id(claims["sub"])
        except RequestError:
            _refuse(ErrorCode.TOKEN_BAD_CLAIM, "token sub is not a valid user id")
        role = claims.get("role", "viewer")
        if not isinstance(role, str) or role not in ROLE_RANK:
            _refuse(ErrorCode.TOKEN_BAD_CLAIM, f"token role must be one of {', '.join(ROLES)}")
        issued = None if iat is None else math.floor(iat)
        before = self.revoked.before(sub)
        if before is not None and (issued is None or issued < before):
            _refuse(ErrorCode.TOKEN_REVOKED, "token is revoked")
        return TokenClaims(sub=sub, role=role, exp=math.floor(exp), iat=issued, kid=kid)


def _json_object(payload: bytes) -> dict[str, Any] | None:
    """The claims of a verified payload, or None if it is not a JSON object.

    orjson reads it (about six times faster); what orjson refuses is read again by
    :func:`json.loads` with :func:`_parse_int`, the reader before it, which also takes
    ``NaN``, ``Infinity``, lone surrogates and integers of any length — so no token is
    refused that was accepted, and each refusal keeps its code. The one value orjson reads
    differently, an integer beyond 64 bits (a float of the same sign for orjson), is out of
    the range of every time claim and is not a string either way: every checked claim
    gets the same verdict (tests/core/test_token_verify.py compares the two readers).
    """
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            claims = json.loads(payload, parse_int=_parse_int)
        except (ValueError, RecursionError):
            return None
    return claims if isinstance(claims, dict) else None


def _parse_int(text: str) -> int | float:
    """A JSON integer; one too long for any time claim becomes an infinity.

    Python refuses to convert integers of more than 4,300 digits (a ``ValueError``, which
    would read as a malformed token) and ``float()`` overflows on a few hundred; an infinity
    is refused as a bad claim by :func:`_time_claim`, like any other time out of range.
    """
    if len(text) > 24:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2) as a number, None if absent."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int subclass; NaN and infinities are not dates (NaN fails the comparison).
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_TIME_CLAIM
    ):
        _refuse(
            ErrorCode.TOKEN_BAD_CLAIM,
            f"token {name} claim must be a number of seconds 0-{MAX_TIME_CLAIM}",
        )
    return float(value)


def new_signing_key(created_at: int | None = None) -> SigningKey:
    """A fresh random signing key with a random id (16 hex digits: never starting with
    "-", which ``pchat keys retire KID`` would take for an option)."""
    return SigningKey(
        kid=secrets.token_hex(8),
        secret=secrets.token_bytes(SIGNING_KEY_BYTES),
        created_at=int(time.time()) if created_at is None else created_at,
    )


async def load_or_create_signing_keys(store: KeyStore) -> list[SigningKey]:
    """The store's signing keys; one is created and stored first if there are none (of
    nodes starting at once on an empty store, one creates it: all load the same)."""
    keys = await store.signing_keys()
    if not keys:
        await store.add_signing_key_if_none(new_signing_key())
        keys = await store.signing_keys()
    return keys


async def rotate_signing_key(store: KeyStore) -> SigningKey:
    """Add a new signing key that becomes the newest; older keys keep verifying.

    The new key's ``created_at`` is later than every existing key's, even within the same
    second, so it is the one that signs.
    """
    newest = max((k.created_at for k in await store.signing_keys()), default=0)
    key = new_signing_key(max(int(time.time()), newest + 1))
    await store.add_signing_key(key)
    return key


class SigningKeyInUse(PChatError):
    """A signing key that cannot be retired now: it signs (``until`` is None: rotate
    first), or tokens it signed may verify until ``until`` (seconds since the epoch)."""

    def __init__(self, kid: str, until: int | None) -> None:
        self.kid = kid
        self.until = until
        if until is None:
            message = f"signing key {kid} signs new tokens: rotate first"
        else:
            message = f"tokens signed with key {kid} may be valid until {until}"
        super().__init__(message)


def key_retirement_delay(*, ttl: int, leeway: int, reload_interval: float) -> float:
    """Seconds after a newer key was added during which tokens signed by the older key may
    still verify: servers sign with the older one until they reload their keys, a token
    lives ``ttl`` (its ``iat`` up to ``leeway`` ahead), and ``exp`` is checked with the
    leeway."""
    return reload_interval + leeway + ttl + leeway


async def retire_signing_key(
    store: KeyStore, kid: str, *, delay: float, force: bool = False, now: float | None = None
) -> SigningKey:
    """Remove signing key ``kid`` from ``store``: tokens it signed no longer verify.

    Refused (:class:`SigningKeyInUse`) for the key that signs (the newest), and, unless
    ``force``, until ``delay`` seconds (:func:`key_retirement_delay`) after the next newer
    key was added, while tokens it signed may be valid. ``LookupError`` if there is no such
    key.
    """
    keys = await store.signing_keys()  # oldest first: the last one signs
    index = next((i for i, key in enumerate(keys) if key.kid == kid), None)
    if index is None:
        raise LookupError(f"no signing key {kid!r}")
    if index == len(keys) - 1:
        raise SigningKeyInUse(kid, None)
    until = math.ceil(keys[index + 1].created_at + delay)
    if not force and (time.time() if now is None else now) < until:
        raise SigningKeyInUse(kid, until)
    await store.remove_signing_key(kid)
    return keys[index]
