"""The Python cost of a join on the fast path, without the network: N connections through
the front door and a ChatSocket on a fake transport (no system calls), then N connects.

::

    .venv/bin/python bench/join_micro.py --n 5000 [--profile]

Prints CPU µs per join for the handshake (head parsed, 101 built, socket set up) and for
the connect (frame read, token checked, room joined, reply written). The garbage collector
is tuned as ``pchat serve`` tunes it (``PCHAT_GC=tuned``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from pchat.server.app import build_app  # noqa: E402
from pchat.server.chat_socket import CHAT_KEY  # noqa: E402
from pchat.server.runner import GC_THRESHOLDS  # noqa: E402
from tests.helpers import make_settings  # noqa: E402


class FakeTransport:
    """What the fast path asks of a transport, writing into a list."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.protocol: Any = None
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return b"\x81" + length + mask + body


def connect_request(user: str, token: str) -> dict[str, Any]:
    return {"type": "connect", "id": 1, "room": "r", "username": user, "token": token}


async def run(n: int, profile: bool) -> None:
    data = Path(tempfile.mkdtemp())
    settings = make_settings(
        data, heartbeat=None, max_connections_per_address=None, rate_frames=None
    )
    app = build_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    endpoint = app[CHAT_KEY]
    assert runner.server is not None
    endpoint.start(runner.server)
    tokens_file = data / "tokens"
    subprocess.run(
        [sys.executable, str(ROOT / "bench/lib/pchat_tools.py"), "tokens", "--data-dir",
         str(data), "--count", str(n), "--out", str(tokens_file)],
        check=True, capture_output=True,
    )  # fmt: skip
    tokens = tokens_file.read_text().split()
    heads = [
        (
            "GET /public-chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
            "\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        for _ in range(n)
    ]
    connects = [masked_frame(orjson.dumps(connect_request(f"u{i}", tokens[i]))) for i in range(n)]
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    t0 = time.process_time()
    transports = []
    for head in heads:
        transport = FakeTransport()
        door = endpoint.door()
        door.connection_made(transport)  # type: ignore[arg-type]
        door.data_received(head)
        transports.append(transport)
    t1 = time.process_time()
    for i, transport in enumerate(transports):
        transport.protocol.data_received(connects[i])
        if i % 50 == 0:
            await asyncio.sleep(0)
    while any(len(t.out) < 2 for t in transports):
        await asyncio.sleep(0.001)
    t2 = time.process_time()
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    print(
        f"{n} joins: handshake {1e6 * (t1 - t0) / n:.1f} µs/join, "
        f"connect {1e6 * (t2 - t1) / n:.1f} µs/join (CPU)"
    )
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args.n, args.profile))


if __name__ == "__main__":
    main()
