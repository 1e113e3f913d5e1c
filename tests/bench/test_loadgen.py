"""The C load generator against an awkward fake server (no pchat, no peers).

The fake server sends what a real one may: frames in the same read as the handshake
response, WebSocket pings (also between the fragments of a message), fragmented messages
with a marker split across fragments and reads, frames with a 64-bit length carrying
hundreds of coalesced messages, engine.io's handshake and pings. The load generator must
answer every ping, join, and count every marker exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.lib import loadgen
from tests.helpers import t

#: Copies of each message packed into one big frame (about 80 KB: a 64-bit length).
COALESCED = 400
SUBSCRIBERS = 3

pytestmark = pytest.mark.timeout(t(60))


@pytest.fixture(scope="module")
def binary() -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: the benchmark load generator (C) cannot be built")
    return loadgen.build()


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame (masked, as the load generator must send them)."""
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80, "client frames must be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@dataclass
class FakeServer:
    engineio: bool
    #: After this many published messages, close every subscriber with 4001.
    drop_after: int | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    eio_pongs: int = 0
    published: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        assert len(base64.b64decode(key)) == 16
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        response = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        # Frames in the same write as the response: the client must not lose them.
        first = frame(0x1, b'0{"sid":"s","pingInterval":25000}') if self.engineio else b""
        writer.write(response + frame(0x9, b"hi") + first)
        self.writers.append(writer)
        try:
            while True:
                opcode, data = await read_frame(reader)
                if opcode == 0xA:
                    self.pongs.append(data)
                elif opcode == 0x8:
                    break
                elif self.engineio and data == b"40":
                    writer.write(frame(0x1, b'40{"sid":"x"}') + frame(0x1, b"2"))
                elif self.engineio and data == b"3":
                    self.eio_pongs += 1
                elif opcode == 0x1:
                    self.published += 1
                    await self.broadcast(data)
                    if self.published == self.drop_after:
                        self.drop_all_but(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def drop_all_but(self, publisher: asyncio.StreamWriter) -> None:
        """Close with 4001; who does not read cannot get it: cut off a moment later."""
        loop = asyncio.get_running_loop()
        for w in self.writers:
            if w is not publisher:
                w.write(frame(0x8, struct.pack("!H", 4001) + b"slow"))
                w.close()
                loop.call_later(0.2, w.transport.abort)
        self.writers = [publisher]

    async def broadcast(self, text: bytes) -> None:
        half = len(text) // 2 + 3  # inside the marker's digits
        fragmented = (
            frame(0x1, text[:half], fin=False) + frame(0x9, b"mid") + frame(0x0, text[half:])
        )
        big = frame(0x1, text * COALESCED)
        for w in list(self.writers):
            # Dribbled in small writes so that frames and markers span reads.
            for i in range(0, len(fragmented), 7):
                w.write(fragmented[i : i + 7])
                await w.drain()
                await asyncio.sleep(0.0005)
            w.write(big)
            await w.drain()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeServer, FakeServer, int, int]]:
    plain, eio = FakeServer(engineio=False), FakeServer(engineio=True)
    s1 = await asyncio.start_server(plain.handle, "127.0.0.1", 0)
    s2 = await asyncio.start_server(eio.handle, "127.0.0.1", 0)
    yield plain, eio, s1.sockets[0].getsockname()[1], s2.sockets[0].getsockname()[1]
    for s in (s1, s2):
        s.close()
    for srv in (plain, eio):
        for w in srv.writers:
            w.close()


async def run_loadgen(binary: Path, port: int, proto: str, nonreaders: int = 0) -> dict[str, Any]:
    argv = loadgen.Options(
        port=port,
        proto=proto,
        subscribers=SUBSCRIBERS,
        nonreaders=nonreaders,
        rate=5,
        warmup=0.2,
        duration=1.0,
    ).argv(binary)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), t(30))
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


def check_counts(r: dict[str, Any]) -> None:
    assert r["joined"] == SUBSCRIBERS
    assert r["errors"] == 0, r["error_kinds"]
    assert r["closed"] == 0
    assert set(loadgen.FIELDS) == r.keys()
    per_message = SUBSCRIBERS * (1 + COALESCED)
    sent = r["sent_total"]
    assert sent >= 4
    # Every message sent but the last one or two (in flight at the end) was counted, once.
    assert (sent - 2) * per_message <= r["deliveries_total"] <= sent * per_message


async def test_plain_websocket(binary: Path, fake: tuple[FakeServer, FakeServer, int, int]) -> None:
    plain, _, port, _ = fake
    r = await run_loadgen(binary, port, "ws")
    check_counts(r)
    assert r["latency_p50_ms"] is not None
    # The ping after the handshake and every ping between fragments got its pong.
    connections = SUBSCRIBERS + 1
    assert plain.pongs.count(b"hi") == connections
    assert plain.pongs.count(b"mid") >= (r["sent_total"] - 2) * connections


async def test_engineio(binary: Path, fake: tuple[FakeServer, FakeServer, int, int]) -> None:
    _, eio, _, port = fake
    r = await run_loadgen(binary, port, "socketio")
    check_counts(r)
    assert eio.eio_pongs == SUBSCRIBERS + 1
    assert eio.published == r["sent_total"]


async def test_closes_are_counted_by_kind(binary: Path) -> None:
    server = FakeServer(engineio=False, drop_after=2)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    try:
        r = await run_loadgen(binary, listener.sockets[0].getsockname()[1], "ws", nonreaders=1)
    finally:
        listener.close()
    assert r["errors"] == 0, r["error_kinds"]
    # The readers read the close frame; the non-reader only sees the connection end.
    assert r["closed_readers"] == SUBSCRIBERS - 1
    assert r["closed_nonreaders"] == 1
    assert r["close_codes"] == {"4001": SUBSCRIBERS - 1}
    assert r["deliveries_total"] == 2 * (SUBSCRIBERS - 1) * (1 + COALESCED)
