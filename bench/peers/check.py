"""Self-check for the benchmark peers: does each one really fan out?

For each peer: start its server on a free port, connect 3 clients, have the
first publish 5 messages, and verify that every client (the publisher too)
received all 5, in order, and nothing else. Socket.IO peers are spoken to in
Engine.IO v4 by hand over aiohttp's WebSocket client (``0{...}`` open, ``40``
connect, ``2``/``3`` ping/pong, ``42["msg", ...]`` events); the plain
WebSocket peers (``raw``, ``node_ws``) additionally get protocol edge cases
over a hand-driven socket: every length encoding, frames split across writes
and packed into one, a fragmented message with a ping in the middle, and the
close handshake.

Run with the project's venv (it needs only aiohttp):

    .venv/bin/python bench/peers/check.py            # all peers
    .venv/bin/python bench/peers/check.py raw node_ws

The python-socketio peer runs from ``.venv-bench`` (``--bench-python``); the
Node peers need ``npm ci`` in their folders first.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

PEERS_DIR = Path(__file__).resolve().parent
ROOT = PEERS_DIR.parent.parent
TIMEOUT = 5.0  # seconds; every wait below is bounded by a multiple of this
N_CLIENTS = 3
N_MESSAGES = 5


@dataclass(frozen=True)
class Peer:
    name: str
    argv: Callable[[argparse.Namespace, int], list[str]]
    socketio: bool
    needs: str | None = None  # a folder under bench/peers that must exist first


PEERS = [
    Peer(
        "raw",
        lambda a, port: [a.project_python, str(PEERS_DIR / "raw/server.py"), "--port", str(port)],
        socketio=False,
    ),
    Peer(
        "node_ws",
        lambda a, port: ["node", str(PEERS_DIR / "node_ws/server.js"), "--port", str(port)],
        socketio=False,
        needs="node_ws/node_modules",
    ),
    Peer(
        "node_socketio",
        lambda a, port: ["node", str(PEERS_DIR / "node_socketio/server.js"), "--port", str(port)],
        socketio=True,
        needs="node_socketio/node_modules",
    ),
    Peer(
        "python_socketio",
        lambda a, port: [
            a.bench_python,
            str(PEERS_DIR / "python_socketio/server.py"),
            "--port",
            str(port),
        ],
        socketio=True,
    ),
    # The slower setup measured for python-socketio: checked too, not benchmarked.
    Peer(
        "python_socketio_asgi",
        lambda a, port: [
            a.bench_python,
            str(PEERS_DIR / "python_socketio/server.py"),
            "--port",
            str(port),
            "--setup",
            "asgi",
        ],
        socketio=True,
    ),
]


class CheckFailed(Exception):
    pass


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


# -- clients -------------------------------------------------------------------


class WsClient:
    """A plain WebSocket client: every text message is a chat message."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.url = f"ws://127.0.0.1:{port}/"
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, autoping=True, max_msg_size=0)
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.on_text(msg.data)

    def on_text(self, text: str) -> None:
        self.inbox.put_nowait(text)

    async def send(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def recv(self) -> str:
        return await asyncio.wait_for(self.inbox.get(), TIMEOUT)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, TIMEOUT)


class SocketIOClient(WsClient):
    """Socket.IO over Engine.IO v4, websocket transport only, spoken by hand."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        super().__init__(session, port)
        self.url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.connected = asyncio.Event()
        self.pongs: set[asyncio.Future[None]] = set()  # keep references until sent

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0)
        opening = await asyncio.wait_for(self.ws.receive(), TIMEOUT)
        expect(
            opening.type == aiohttp.WSMsgType.TEXT and opening.data.startswith("0{"),
            f"expected an Engine.IO open packet, got {opening.data!r}",
        )
        handshake = json.loads(opening.data[1:])
        expect("sid" in handshake and "pingInterval" in handshake, f"bad open: {handshake}")
        self.reader = asyncio.create_task(self.read())
        await self.ws.send_str("40")  # connect to the default namespace
        await asyncio.wait_for(self.connected.wait(), TIMEOUT)

    def on_text(self, text: str) -> None:
        assert self.ws is not None
        if text == "2":  # Engine.IO ping: answer with pong
            self.pongs.add(asyncio.ensure_future(self.ws.send_str("3")))
        elif text.startswith("40"):
            self.connected.set()
        elif text.startswith("42"):
            event = json.loads(text[2:])
            if event[0] == "msg":
                self.inbox.put_nowait(event[1])
        elif text.startswith("44"):
            raise CheckFailed(f"namespace connect refused: {text}")

    async def send(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str("42" + json.dumps(["msg", text]))


# -- checks ----------------------------------------------------------------------


async def check_fanout(port: int, peer: Peer) -> str:
    """3 clients, the first publishes 5 messages, everyone gets all 5 in order."""
    client_class = SocketIOClient if peer.socketio else WsClient
    async with aiohttp.ClientSession() as session:
        clients = [client_class(session, port) for _ in range(N_CLIENTS)]
        for c in clients:
            await c.connect()
        sent = [f"check {i} {secrets.token_hex(8)} " + "x" * 150 for i in range(N_MESSAGES)]
        for text in sent:
            await clients[0].send(text)
        for i, c in enumerate(clients):
            got = [await c.recv() for _ in sent]
            expect(got == sent, f"client {i} got {got!r}, expected {sent!r}")
        await asyncio.sleep(0.2)
        for i, c in enumerate(clients):
            expect(c.inbox.empty(), f"client {i} got extra messages")
        for c in clients:
            await c.close()
    return f"{N_CLIENTS} clients x {N_MESSAGES} messages"


async def check_sizes(port: int) -> str:
    """Every length encoding (7, 16 and 64 bits) goes through intact."""
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 300_000]
    async with aiohttp.ClientSession() as session:
        clients = [WsClient(session, port) for _ in range(2)]
        for c in clients:
            await c.connect()
        for n in sizes:
            text = (secrets.token_hex(n // 2 + 1) + "é")[:n]
            await clients[0].send(text)
            for c in clients:
                got = await c.recv()
                expect(got == text, f"{n}-char message came back as {len(got)} chars")
        for c in clients:
            await c.close()
    return f"sizes {sizes}"


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame, as RFC 6455 requires of clients."""
    key = secrets.token_bytes(4)
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


class RawSocket:
    """A WebSocket client over a bare stream, to send frames exactly as we like."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(secrets.token_bytes(16))
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        expect(head.startswith(b"HTTP/1.1 101"), f"handshake refused: {head!r}")
        return cls(reader, writer)

    async def send_in_pieces(self, data: bytes, piece: int) -> None:
        for i in range(0, len(data), piece):
            self.writer.write(data[i : i + piece])
            await self.writer.drain()
            await asyncio.sleep(0.002)

    async def frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        expect(not b1 & 0x80, "server frame is masked")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await asyncio.wait_for(self.reader.readexactly(n), TIMEOUT)
        return bool(b0 & 0x80), b0 & 0x0F, payload

    async def message(self) -> bytes:
        """The next data frame's payload (the servers here never fragment)."""
        while True:
            fin, opcode, payload = await self.frame()
            if opcode in (0x1, 0x2):
                expect(fin, "unexpected fragmented server frame")
                return payload


async def check_frames(port: int) -> str:
    """Split, packed and fragmented frames; ping/pong; the close handshake."""
    async with aiohttp.ClientSession() as session:
        watcher = WsClient(session, port)
        await watcher.connect()
        raw = await RawSocket.connect(port)

        # Three frames in one write.
        packed = [f"packed {i}".encode() for i in range(3)]
        raw.writer.write(b"".join(client_frame(0x1, p) for p in packed))
        for p in packed:
            expect(await raw.message() == p, "packed frame lost")
            expect((await watcher.recv()).encode() == p, "packed frame lost (watcher)")

        # One 16-bit-length frame dribbled out a few bytes at a time.
        dribbled = ("dribble " * 40).encode()
        await raw.send_in_pieces(client_frame(0x1, dribbled), piece=7)
        expect(await raw.message() == dribbled, "split frame lost")
        expect((await watcher.recv()).encode() == dribbled, "split frame lost (watcher)")

        # A fragmented message with a ping between its fragments.
        parts = [b"frag-one ", b"frag-two ", "frag-three é".encode()]
        raw.writer.write(
            client_frame(0x1, parts[0], fin=False)
            + client_frame(0x9, b"ping-data")
            + client_frame(0x0, parts[1], fin=False)
            + client_frame(0x0, parts[2], fin=True)
        )
        _, opcode, payload = await raw.frame()
        expect((opcode, payload) == (0xA, b"ping-data"), f"expected pong, got {opcode:#x}")
        whole = b"".join(parts)
        expect(await raw.message() == whole, "fragmented message not reassembled")
        expect((await watcher.recv()).encode() == whole, "fragmented message lost (watcher)")

        # The close handshake: our close 1000 is echoed, then the server hangs up.
        raw.writer.write(client_frame(0x8, struct.pack("!H", 1000) + b"bye"))
        while True:
            _, opcode, payload = await raw.frame()
            if opcode == 0x8:
                break
        expect(payload[:2] == struct.pack("!H", 1000), f"close echoed as {payload!r}")
        eof = await asyncio.wait_for(raw.reader.read(), TIMEOUT)
        expect(eof == b"", "data after the close frame")
        raw.writer.close()

        # The room still works for the others after one member left.
        await watcher.send("after close")
        expect(await watcher.recv() == "after close", "broadcast broken after a close")
        await watcher.close()
    return "packed/split/fragmented frames, ping, close"


async def expect_close(raw: RawSocket, code: int, what: str) -> None:
    while True:
        _, opcode, payload = await raw.frame()
        if opcode == 0x8:
            break
    got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    expect(got == code, f"{what}: closed with {got}, expected {code}")
    expect(await asyncio.wait_for(raw.reader.read(), TIMEOUT) == b"", f"{what}: no hang-up")
    raw.writer.close()


async def check_errors(port: int) -> str:
    """Protocol violations are answered with the right close code; bad handshakes refused."""
    raw = await RawSocket.connect(port)
    raw.writer.write(b"\x81\x05hello")  # a client frame without a mask
    await expect_close(raw, 1002, "unmasked frame")

    raw = await RawSocket.connect(port)
    raw.writer.write(client_frame(0x1, b"\xff\xfe not utf-8"))
    await expect_close(raw, 1007, "invalid UTF-8")

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status = await asyncio.wait_for(reader.readline(), TIMEOUT)
    expect(status.startswith(b"HTTP/1.1 4"), f"plain GET answered {status!r}")
    writer.close()
    return "close codes 1002/1007, plain GET refused"


# -- running a peer --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 3 * TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"server exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise CheckFailed("server did not start listening")


async def run_peer(peer: Peer, args: argparse.Namespace) -> tuple[bool, str]:
    if peer.needs and not (PEERS_DIR / peer.needs).exists():
        folder = PEERS_DIR / peer.needs.split("/")[0]
        return False, f"missing {peer.needs}: run `npm ci` in {folder}"
    port = free_port()
    argv = peer.argv(args, port)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await wait_listening(port, proc)
        notes = [await check_fanout(port, peer)]
        if not peer.socketio:
            notes.append(await check_sizes(port))
            notes.append(await check_frames(port))
            notes.append(await check_errors(port))
        return True, "; ".join(notes)
    except (TimeoutError, CheckFailed, OSError, aiohttp.ClientError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if err and err.strip():
            sys.stderr.write(f"--- {peer.name} stderr ---\n{err.decode(errors='replace')}\n")


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [p.name for p in PEERS]
    parser.add_argument(
        "peers", nargs="*", metavar="PEER", help=f"some of {', '.join(names)} (default: all)"
    )
    parser.add_argument("--project-python", default=str(ROOT / ".venv/bin/python"))
    parser.add_argument("--bench-python", default=str(ROOT / ".venv-bench/bin/python"))
    args = parser.parse_args(argv)
    unknown = set(args.peers) - set(names)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    chosen = [p for p in PEERS if not args.peers or p.name in args.peers]
    passed = failed = 0
    for peer in chosen:
        ok, note = await run_peer(peer, args)
        print(f"{'PASS' if ok else 'FAIL'} {peer.name}: {note}", flush=True)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(asyncio.run(main()))
