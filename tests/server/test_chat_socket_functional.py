"""The chat endpoint's fast path (server/chat_socket.py) against a real server: which
connections it takes, which it leaves to aiohttp, and the WebSocket rules it keeps."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from pchat.server.chat_socket import CHAT_KEY
from tests.helpers import RunningServer, serving, t


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with serving(tmp_path / "d", socket_send_buffer=96 * 1024) as server:
        yield server


def _upgrade(port: int, path: str = "/public-chat/ws", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else struct.pack("!BH", 0x80 | 126, n)
    return bytes([first]) + length + mask + masked


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(n)


async def _open(
    srv: RunningServer, request: bytes | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(request or _upgrade(srv.port))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), t(5))
    return reader, writer, head


async def test_an_upgrade_is_served_by_the_fast_path(srv: RunningServer) -> None:
    reader, writer, head = await _open(srv)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"X-Request-Id: " in head
    assert srv.runner is not None
    endpoint = srv.runner.app[CHAT_KEY]
    [chat] = endpoint.sockets
    # The listening socket's send buffer is what every accepted connection gets (Linux
    # doubles the value it is given).
    sock = chat.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 96 * 1024
    writer.write(_frame(0x1, b'{"type":"ping","id":1}'))
    opcode, payload = await asyncio.wait_for(_read_frame(reader), t(5))
    assert opcode == 0x1 and orjson.loads(payload)["id"] == 1
    writer.close()
    for _ in range(100):
        if not endpoint.sockets:
            break
        await asyncio.sleep(0.02)
    assert not endpoint.sockets and not srv.runner.app[CHAT_KEY].gate.slots._counts


async def test_a_request_sent_a_byte_at_a_time_and_frames_in_pieces(srv: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    # A fragmented message (text + continuation) and a ping between the fragments.
    part1 = _frame(0x1, b'{"type":"ping",', fin=False)
    ping = _frame(0x9, b"hb")
    part2 = _frame(0x0, b'"id":7}')
    for byte in _upgrade(srv.port):
        writer.write(bytes([byte]))
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), t(5))
    assert head.startswith(b"HTTP/1.1 101 ")
    for byte in part1 + ping + part2:
        writer.write(bytes([byte]))
        await writer.drain()
    assert await asyncio.wait_for(_read_frame(reader), t(5)) == (0xA, b"hb")  # the pong
    opcode, payload = await asyncio.wait_for(_read_frame(reader), t(5))
    assert opcode == 0x1 and orjson.loads(payload)["id"] == 7
    writer.close()


async def test_the_upgrade_and_a_first_frame_in_one_packet(srv: RunningServer) -> None:
    request = _upgrade(srv.port) + _frame(0x1, b'{"type":"ping","id":3}')
    reader, writer, head = await _open(srv, request)
    assert head.startswith(b"HTTP/1.1 101 ")
    _, payload = await asyncio.wait_for(_read_frame(reader), t(5))
    assert orjson.loads(payload)["id"] == 3
    writer.close()


async def test_the_close_handshake(srv: RunningServer) -> None:
    reader, writer, _ = await _open(srv)
    writer.write(_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    opcode, payload = await asyncio.wait_for(_read_frame(reader), t(5))
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1000
    assert await asyncio.wait_for(reader.read(), t(5)) == b""  # then the server closes
    writer.close()


async def test_everything_else_is_left_to_aiohttp(srv: RunningServer) -> None:
    assert srv.http is not None
    async with srv.http.get(f"{srv.url}/healthz") as r:
        assert r.status == 200
    # A malformed upgrade: aiohttp answers it as before.
    bad = _upgrade(srv.port).replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99")
    _, writer, head = await _open(srv, bad)
    assert head.split(b" ")[1] in (b"400", b"426")
    writer.close()
    # An upgrade on a connection kept alive after an HTTP request goes through aiohttp's
    # route: the same chat.
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(f"{srv.url}/healthz") as r:
            assert r.status == 200
        async with http.ws_connect(srv.ws_url) as ws:
            await ws.send_str('{"type":"ping","id":5}')
            msg = await asyncio.wait_for(ws.receive(), t(5))
            assert orjson.loads(msg.data)["id"] == 5


async def test_a_refused_upgrade_is_answered_by_aiohttp(tmp_path: Path) -> None:
    async with serving(tmp_path / "o", allowed_origins=("https://chat.example",)) as server:
        _, writer, head = await _open(
            server, _upgrade(server.port, extra="Origin: https://evil.example\r\n")
        )
        assert head.startswith(b"HTTP/1.1 403 ")
        writer.close()
        _, writer, head = await _open(
            server, _upgrade(server.port, extra="Origin: https://chat.example\r\n")
        )
        assert head.startswith(b"HTTP/1.1 101 ")
        writer.close()


async def test_a_silent_half_request_is_closed_after_the_handshake_timeout(tmp_path: Path) -> None:
    async with serving(tmp_path / "h", handshake_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_upgrade(server.port)[:30])
        assert await asyncio.wait_for(reader.read(), t(5)) == b""
        writer.close()


async def test_a_failing_end_of_session_is_logged_and_the_close_still_counted(
    srv: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert srv.runner is not None
    endpoint = srv.runner.app[CHAT_KEY]
    service = endpoint.service
    real = service.disconnect
    ended: list[object] = []

    async def failing(session: object) -> None:
        await real(session)  # type: ignore[arg-type]
        ended.append(session)
        raise ConnectionError("the broker went away")

    service.disconnect = failing  # type: ignore[method-assign]
    try:
        _, writer, _ = await _open(srv)
        writer.close()
        for _ in range(100):
            if ended and "the end of a connection failed" in caplog.text:
                break
            await asyncio.sleep(0.02)
        assert ended and "the end of a connection failed" in caplog.text
        assert not endpoint.sockets
    finally:
        service.disconnect = real  # type: ignore[method-assign]
