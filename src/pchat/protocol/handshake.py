"""The opening handshake of a WebSocket (RFC 6455 §4), as far as the chat endpoint needs it.

No I/O: :func:`parse_head` reads an HTTP/1.1 request head from bytes, :func:`upgrade_key`
says whether it is a valid WebSocket upgrade, and :func:`switching_protocols` builds the
``101`` answer. The server's fast path (``server/chat_socket.py``) takes a connection only
when all three agree; anything unusual — another method or path, a malformed or oversized
head, a refusal to answer — is left to the full HTTP server, which answers it as it always
did. So this parser only has to be right about what it accepts, and it is strict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

__all__ = [
    "MAX_HEAD_BYTES",
    "RequestHead",
    "head_end",
    "parse_head",
    "switching_protocols",
    "upgrade_key",
]

#: A request head longer than this is not taken by the fast path.
MAX_HEAD_BYTES = 8192

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
#: The characters of a header name (RFC 9110 §5.6.2, ``tchar``).
_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request line and its headers (names lower-cased; a repeated header: its values
    joined with ``, `` as RFC 9110 §5.3 allows)."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def head_end(data: bytes | bytearray) -> int:
    """The length of the request head in ``data`` (with its blank line), or -1 if it is not
    complete yet."""
    end = data.find(b"\r\n\r\n")
    return -1 if end < 0 else end + 4


def parse_head(head: bytes) -> RequestHead | None:
    """The request in ``head`` (a complete head, blank line included), or None when it is
    not plain, well-formed HTTP/1.1 (the full server then answers it)."""
    if len(head) > MAX_HEAD_BYTES or not head.endswith(b"\r\n\r\n"):
        return None
    try:
        text = head[:-4].decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1" or not parts[1].startswith("/"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or not _is_token(name):
            return None  # obsolete line folding, a space before the colon, garbage
        key = name.lower()
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return RequestHead(parts[0], parts[1], headers)


def _is_token(name: str) -> bool:
    return not name.strip(_TOKEN_CHARS)  # every character is a tchar


def _has_token(value: str, token: str) -> bool:
    return any(part.strip().lower() == token for part in value.split(","))


def upgrade_key(head: RequestHead) -> str | None:
    """The ``Sec-WebSocket-Key`` of a valid WebSocket upgrade request (§4.2.1), else None."""
    h = head.headers
    if head.method != "GET" or "content-length" in h or "transfer-encoding" in h:
        return None
    if not _has_token(h.get("upgrade", ""), "websocket"):
        return None
    if not _has_token(h.get("connection", ""), "upgrade"):
        return None
    if h.get("sec-websocket-version") != "13" or "host" not in h:
        return None
    key = h.get("sec-websocket-key", "")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(raw) == 16 else None


def switching_protocols(key: str, extra: dict[str, str] | None = None) -> bytes:
    """The ``101`` response accepting ``key``; no extension and no subprotocol is agreed
    (the chat frames are small JSON, not worth compressing per connection)."""
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept}",
    ]
    if extra:
        lines.extend(f"{name}: {value}" for name, value in extra.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
