"""Operator passwords: stored as salted scrypt hashes, checked in constant time.

An API secret is 256 random bits and a fast hash suits it (:func:`~pchat.core.apikeys.
hash_secret`); a password is chosen by a person, so it is stored with a slow, salted,
memory-hard KDF — :func:`hashlib.scrypt`, with the cost OWASP's password storage cheat
sheet lists (``N=2**15, r=8, p=3``: 32 MiB, about a quarter of a second here). The stored
form names its parameters, so a later cost applies to new hashes while old ones still
verify::

    scrypt$15$8$3$<salt, base64url>$<key, base64url>

:func:`verify_password` of a password against no hash (an unknown operator) costs the same
as a real check, so timing does not tell which operators exist.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from typing import Final

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "PasswordError",
    "check_new_password",
    "hash_password",
    "verify_password",
]

MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024

_LOG2_N: Final = 15
_R: Final = 8
_P: Final = 3
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
# Above scrypt's 128·r·N bytes for every cost this module accepts (log2 N up to 20, r 8).
_MAXMEM: Final = 2**31 - 1


class PasswordError(ValueError):
    """A new password is refused (too short, too long)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=2**log2_n,
        r=r,
        p=p,
        maxmem=_MAXMEM,
        dklen=_KEY_BYTES,
    )


def check_new_password(password: str) -> str:
    """``password`` if it may be set; :class:`PasswordError` with the reason if not."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    """The stored form of a new password (checked by :func:`check_new_password`)."""
    check_new_password(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, _LOG2_N, _R, _P)
    return f"scrypt${_LOG2_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


@functools.cache
def _dummy_hash() -> str:
    return hash_password("pchat: no such operator")


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if not (1 <= log2_n <= 20 and 1 <= r <= 8 and 1 <= p <= 16 and len(key) == _KEY_BYTES):
        return None
    return log2_n, r, p, salt, key


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` is the one ``stored`` was made from. ``stored`` None (no such
    operator) or unreadable: False, after the same work as a real check. Slow by design:
    call it in a thread."""
    parsed = None if stored is None else _parse(stored)
    usable = parsed is not None
    if parsed is None:
        parsed = _parse(_dummy_hash())
        assert parsed is not None
    log2_n, r, p, salt, key = parsed
    if len(password) > MAX_PASSWORD_CHARS:
        password = password[:MAX_PASSWORD_CHARS]
        usable = False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), key) and usable
