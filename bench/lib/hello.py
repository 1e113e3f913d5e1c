"""The hello of the plain WebSocket peers: a token and a room in the first frame, as pchat's.

pchat's join is a ``connect`` frame carrying an HS256 JWT and the room; the server checks
the token before the client is in. To compare joins fairly, the ``ws`` peers (``raw``,
``node_ws``, ``picows``) do the same when they are given a secret (``BENCH_HELLO_SECRET``
in their environment):

- the client's first text frame is ``{"type":"hello","room":"bench","token":"<JWT>"}``;
- the peer parses it, checks the token (three base64url parts, alphabet checked; header
  ``alg`` HS256; the HMAC-SHA-256 of ``header.payload`` under the secret, compared in
  constant time; the claims' ``exp`` in the future), checks the room, answers
  ``{"type":"welcome","user":"<sub>"}`` and only then puts the client in the room;
- anything else closes the connection with 1008 (policy violation).

Standard library only: the runner signs tokens with :func:`write_tokens` (no pchat, no
PyJWT), the Python peers verify with :class:`HelloVerifier`; ``bench/peers/node_ws``
does the same with Node's crypto.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

__all__ = [
    "HELLO_SECRET_ENV",
    "HelloRefused",
    "HelloVerifier",
    "new_secret",
    "sign",
    "write_tokens",
]

#: The environment variable that turns a peer's hello on (its value is the HMAC key).
HELLO_SECRET_ENV = "BENCH_HELLO_SECRET"

_HEADER = b'{"typ":"JWT","alg":"HS256"}'
#: Three base64url parts (no padding): the token's shape and alphabet in one match.
_JWT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def new_secret() -> str:
    """A fresh random secret (hex, so it passes through an environment variable as is)."""
    return secrets.token_hex(32)


def sign(secret: str, sub: str, *, ttl: int = 7 * 24 * 3600, now: float | None = None) -> str:
    """An HS256 JWT for user ``sub``: ``iat``, ``exp`` and a ``jti``, as pchat's carry."""
    iat = int(time.time() if now is None else now)
    claims = {"sub": sub, "iat": iat, "exp": iat + ttl, "jti": secrets.token_urlsafe(16)}
    signing_input = (
        _b64url(_HEADER) + b"." + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def write_tokens(path: Path, secret: str, count: int, *, ttl: int = 7 * 24 * 3600) -> Path:
    """``count`` tokens, one per line (line i: user ``u<i>``), as the load generator reads."""
    now = time.time()
    with open(path, "w", encoding="ascii") as out:
        out.writelines(sign(secret, f"u{i}", ttl=ttl, now=now) + "\n" for i in range(count))
    return path


class HelloRefused(Exception):
    """A hello that does not let its client in (the peer closes with 1008)."""


class HelloVerifier:
    """Checks hellos against one secret and one room; :meth:`check` returns the user."""

    def __init__(self, secret: str, room: str = "bench") -> None:
        self._key = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        self.room = room

    def check(self, frame: bytes | str, now: float | None = None) -> str:
        """The token's ``sub`` if ``frame`` is a valid hello; raise :class:`HelloRefused`."""
        try:
            hello = json.loads(frame)
        except (ValueError, UnicodeDecodeError):
            raise HelloRefused("not JSON") from None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise HelloRefused("not a hello")
        if hello.get("room") != self.room:
            raise HelloRefused("unknown room")
        token = hello.get("token")
        if not isinstance(token, str):
            raise HelloRefused("no token")
        claims = self.verify(token, now)
        sub = claims.get("sub")
        if not isinstance(sub, str):
            raise HelloRefused("no sub")
        return sub

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid HS256 token; raise :class:`HelloRefused`."""
        shape = _JWT.fullmatch(token)
        if shape is None:
            raise HelloRefused("not a JWT")
        head, body, signature = shape.groups()
        try:
            header = json.loads(_unb64url(head))
            given = _unb64url(signature)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise HelloRefused("malformed token") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise HelloRefused("not HS256")
        mac = self._key.copy()
        mac.update(f"{head}.{body}".encode("ascii"))
        if not hmac.compare_digest(mac.digest(), given):
            raise HelloRefused("bad signature")
        try:
            claims = json.loads(_unb64url(body))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise HelloRefused("malformed claims") from None
        if not isinstance(claims, dict):
            raise HelloRefused("claims are not an object")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise HelloRefused("no exp")
        if exp <= (time.time() if now is None else now):
            raise HelloRefused("expired")
        return claims

    def welcome(self, sub: str) -> bytes:
        """The reply to an accepted hello."""
        return b'{"type":"welcome","user":%s}' % json.dumps(sub).encode()
