"""A WebSocket client on a bare socket, for tests that must misbehave below the SDKs.

It does the opening handshake by hand and then writes frames itself: masked as RFC 6455
requires of clients, or unmasked to test that the server refuses them. It never reads
unless asked, so it can play a peer that stopped reading (with a small receive buffer, what
the server sends piles up on the server's side).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

__all__ = ["RawSocketClient", "client_frame"]


def client_frame(payload: bytes, *, opcode: int = 0x1, masked: bool = True) -> bytes:
    """One final client frame carrying ``payload`` (masked unless told otherwise)."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, mask_bit | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + body


class RawSocketClient:
    """One connection to ``/public-chat/ws`` on ``host:port``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(
        cls, host: str, port: int, *, rcvbuf: int | None = None, path: str = "/public-chat/ws"
    ) -> RawSocketClient:
        """Connect and complete the opening handshake (raises if the server refuses it)."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 1)  # byte by byte: read nothing past the head
            if not chunk:
                sock.close()
                raise ConnectionError(f"closed during the handshake: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            sock.close()
            raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
        return cls(sock)

    async def send(self, payload: bytes, *, masked: bool = True) -> None:
        """Write one text frame; raises ``OSError`` once the server has dropped us."""
        await asyncio.get_running_loop().sock_sendall(
            self.sock, client_frame(payload, masked=masked)
        )

    async def read_close(self, timeout: float) -> int | None:
        """Read until the server's close frame; its code (None: the connection just ended)."""
        loop = asyncio.get_running_loop()
        buf = b""
        async with asyncio.timeout(timeout):
            while True:
                while len(buf) >= 2:
                    opcode, n, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
                    if n == 126:
                        if len(buf) < 4:
                            break
                        n, start = struct.unpack("!H", buf[2:4])[0], 4
                    elif n == 127:
                        if len(buf) < 10:
                            break
                        n, start = struct.unpack("!Q", buf[2:10])[0], 10
                    if len(buf) < start + n:
                        break
                    body, buf = buf[start : start + n], buf[start + n :]
                    if opcode == 0x8:
                        return struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
                try:
                    chunk = await loop.sock_recv(self.sock, 65536)
                except ConnectionError:
                    return None
                if not chunk:
                    return None
                buf += chunk

    def close(self) -> None:
        self.sock.close()
