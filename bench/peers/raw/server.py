"""Benchmark peer: the raw ceiling, a one-room broadcast with no protocol.

A minimal RFC 6455 server on asyncio (uvloop) that does the opening handshake
itself and then, for each complete text (or binary) message a client sends,
builds ONE unmasked server frame carrying the same payload and writes those
same bytes straight to every open connection's transport, the sender
included. No per-recipient encoding, no queues, no tasks: the cost of a
broadcast is one ``transport.write`` per connection, which is the limit of
this machine for fan-out from Python.

Client frames are parsed properly: masked (unmasked ones are a protocol
error), 7/16/64-bit lengths, frames split across reads or packed together in
one read, fragmented messages (continuation frames, with control frames
interleaved), ping answered with pong, close answered with close. Text
messages are checked for valid UTF-8 (once per published message, not per
recipient). permessage-deflate is never negotiated.

Deliberately missing, because a ceiling must not pay for them: flow control
(a client that does not read makes its transport buffer grow) and any
application protocol — except, when ``BENCH_HELLO_SECRET`` is set, the hello
of ``bench/lib/hello.py`` (a token and the room in the first frame, checked
before the client is in the room, answered with one ``welcome`` frame), so
that joins compare fairly with pchat's token-checked ``connect``.

Runs on the project's venv (standard library + uvloop only):
    /work/main/.venv/bin/python bench/peers/raw/server.py --port P
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import os
import resource
import struct
import sys
from pathlib import Path
from typing import cast

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.lib.hello import HELLO_SECRET_ENV, HelloRefused, HelloVerifier

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16 * 1024

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009

# Connection states, in order: CONNECTING (reading the HTTP request), OPEN
# (frames flow, member of the room), CLOSED (close sent or connection lost).
CONNECTING, OPEN, CLOSED = 0, 1, 2


class ProtocolError(Exception):
    """A client broke RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked server frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def unmask(payload: bytes | bytearray, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (one big-int XOR, no per-byte loop)."""
    n = len(payload)
    if n == 0:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keystream, "little")).to_bytes(
        n, "little"
    )


def accept_key(client_key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(client_key + WS_GUID).digest())


def parse_handshake(head: bytes) -> bytes:
    """Validate an HTTP/1.1 Upgrade request; return its Sec-WebSocket-Key.

    Raises ``ValueError`` on anything that is not a WebSocket opening handshake.
    """
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or not parts[2].startswith(b"HTTP/1.1"):
        raise ValueError("not a GET HTTP/1.1 request")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("malformed header line")
        key = name.strip().lower()
        value = value.strip()
        # Repeated headers are joined, as HTTP allows for list-valued ones.
        headers[key] = headers[key] + b"," + value if key in headers else value
    if b"websocket" not in [v.strip() for v in headers.get(b"upgrade", b"").lower().split(b",")]:
        raise ValueError("no Upgrade: websocket")
    if b"upgrade" not in [v.strip() for v in headers.get(b"connection", b"").lower().split(b",")]:
        raise ValueError("no Connection: upgrade")
    if headers.get(b"sec-websocket-version") != b"13":
        raise ValueError("unsupported Sec-WebSocket-Version")
    client_key = headers.get(b"sec-websocket-key", b"")
    try:
        if len(base64.b64decode(client_key, validate=True)) != 16:
            raise ValueError("bad Sec-WebSocket-Key")
    except (ValueError, TypeError) as exc:
        raise ValueError("bad Sec-WebSocket-Key") from exc
    return client_key


class Room:
    """The one room: the set of open transports and the broadcast."""

    def __init__(self) -> None:
        self.transports: set[asyncio.Transport] = set()

    def broadcast(self, opcode: int, payload: bytes) -> None:
        frame = encode_frame(opcode, payload)  # encoded once for everyone
        # A transport leaves the set in connection_lost(), before uvloop would
        # refuse writes to it; writes to one that is merely closing are dropped.
        for transport in self.transports:
            transport.write(frame)


class Connection(asyncio.Protocol):
    """One client: the handshake, then a frame parser feeding the room."""

    def __init__(self, room: Room, max_size: int, hello: HelloVerifier | None) -> None:
        self.room = room
        self.max_size = max_size
        #: With a verifier, the first message must be a valid hello before the room.
        self.hello = hello
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = CONNECTING
        self.msg_opcode: int | None = None  # opcode of the fragmented message in progress
        self.fragments: list[bytes] = []
        self.fragments_size = 0

    # -- asyncio callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.leave()

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        self.buf += data
        if self.state == CONNECTING and not self.handshake():
            return
        try:
            self.parse_frames()
        except ProtocolError as exc:
            self.close(struct.pack("!H", exc.code))

    def eof_received(self) -> bool | None:
        self.leave()
        return None  # let the transport close itself

    def leave(self) -> None:
        self.state = CLOSED
        if self.transport is not None:
            self.room.transports.discard(self.transport)

    # -- opening handshake -------------------------------------------------

    def handshake(self) -> bool:
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER_BYTES:
                self.reject()
            return False
        try:
            client_key = parse_handshake(bytes(self.buf[:end]))
        except ValueError:
            self.reject()
            return False
        del self.buf[: end + 4]
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(client_key) + b"\r\n\r\n"
        )
        self.state = OPEN
        if self.hello is None:
            self.room.transports.add(self.transport)
        return True

    def reject(self) -> None:
        assert self.transport is not None
        self.state = CLOSED
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.transport.close()

    # -- frames --------------------------------------------------------------

    def parse_frames(self) -> None:
        """Consume every complete frame in ``self.buf``; keep a partial one."""
        buf = self.buf
        pos = 0
        size = len(buf)
        while self.state == OPEN and size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 & 0x70:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if not b1 & 0x80:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frame not masked")
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if size - head < 2:
                    break
                (length,) = struct.unpack_from("!H", buf, head)
                head += 2
            elif length == 127:
                if size - head < 8:
                    break
                (length,) = struct.unpack_from("!Q", buf, head)
                if length >> 63:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "length has the top bit set")
                head += 8
            if opcode >= OP_CLOSE:
                if not fin or length > 125:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "bad control frame")
            elif length + self.fragments_size > self.max_size:
                raise ProtocolError(CLOSE_TOO_BIG, "message too big")
            end = head + 4 + length
            if size < end:
                break
            payload = unmask(buf[head + 4 : end], bytes(buf[head : head + 4]))
            pos = end
            self.on_frame(fin, opcode, payload)
        del buf[:pos]

    def on_frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if self.msg_opcode is not None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
            if fin:
                self.on_message(opcode, payload)
            else:
                self.msg_opcode = opcode
                self.fragments = [payload]
                self.fragments_size = len(payload)
        elif opcode == OP_CONT:
            if self.msg_opcode is None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation with no message")
            self.fragments.append(payload)
            self.fragments_size += len(payload)
            if fin:
                message_opcode = self.msg_opcode
                message = b"".join(self.fragments)
                self.msg_opcode = None
                self.fragments = []
                self.fragments_size = 0
                self.on_message(message_opcode, message)
        elif opcode == OP_PING:
            assert self.transport is not None
            self.transport.write(encode_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            self.on_close(payload)
        else:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "unknown opcode")

    def on_message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8") from None
        if self.hello is not None:
            self.on_hello(payload)
            return
        self.room.broadcast(opcode, payload)

    def on_hello(self, payload: bytes) -> None:
        """The first message: a valid hello puts the client in the room, else 1008."""
        assert self.hello is not None and self.transport is not None
        try:
            user = self.hello.check(payload)
        except HelloRefused as exc:
            raise ProtocolError(CLOSE_POLICY, str(exc)) from None
        self.transport.write(encode_frame(OP_TEXT, self.hello.welcome(user)))
        self.hello = None
        self.room.transports.add(self.transport)

    def on_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close payload of one byte")
        if len(payload) >= 2:
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in close reason") from None
        # Echo the status code (or none), then close the TCP connection once
        # the close frame is flushed: the server closes first (RFC 6455 7.1.1).
        self.close(payload[:2])

    def close(self, payload: bytes) -> None:
        """Send a close frame with ``payload`` (a status code or nothing) and hang up."""
        if self.state != OPEN:
            return
        assert self.transport is not None
        self.leave()
        self.transport.write(encode_frame(OP_CLOSE, payload))
        self.transport.close()


async def serve(host: str, port: int, max_size: int, hello: HelloVerifier | None) -> None:
    loop = asyncio.get_running_loop()
    room = Room()
    server = await loop.create_server(
        lambda: Connection(room, max_size, hello), host, port, backlog=4096, reuse_address=True
    )
    print(f"raw listening on {host}:{port}{' (hello)' if hello else ''}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--max-size", type=int, default=16 * 1024 * 1024, help="largest client message, bytes"
    )
    parser.add_argument("--room", default="bench", help="the room a hello must name")
    args = parser.parse_args()
    # As many connections as the hard limit allows (50,000+ for big rooms).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    secret = os.environ.get(HELLO_SECRET_ENV)
    hello = HelloVerifier(secret, args.room) if secret else None
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, args.max_size, hello))


if __name__ == "__main__":
    main()
