"""What a client that stops reading can make the server hold (issue 8, finding 1).

The server runs as a ``pchat serve`` subprocess so that its resident memory can be read from
``/proc``. Clients on bare sockets with a tiny receive buffer connect, then ask for large
history pages as fast as the frame rate limit allows and never read a byte: every reply
piles up on the server's side unless the server bounds it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.helpers import free_port, t, wait_until_serving
from tests.rawws import RawSocketClient

#: A long message: 2,000 four-byte characters, ~8 KB of UTF-8.
LONG_TEXT = "😀" * 2000


@dataclass
class ServeProcess:
    proc: asyncio.subprocess.Process
    port: int
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    async def token(self, sub: str) -> str:
        async with self.http.get(f"{self.url}/demo/token", params={"sub": sub}) as r:
            assert r.status == 200
            return str((await r.json())["token"])


@pytest.fixture
async def serve(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[ServeProcess]:
    """``pchat serve`` in a subprocess; a test's ``serve_env`` mark adds settings."""
    port = free_port()
    mark = request.node.get_closest_marker("serve_env")
    env = {
        **os.environ,
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(tmp_path / "data"),
        "PCHAT_DEMO_TOKEN_ENDPOINT": "true",
        "PCHAT_SERVE_DEMO": "false",
        "PCHAT_RATE_MESSAGES": "none",
        **(mark.kwargs if mark else {}),
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pchat", "serve", env=env, stdout=log, stderr=log
    )
    log.close()
    http = aiohttp.ClientSession()
    try:
        await wait_until_serving(http, f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield ServeProcess(proc, port, http)
    finally:
        await http.close()
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), t(10))
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _fill_room(srv: ServeProcess, room: str, count: int) -> None:
    async with srv.http.ws_connect(f"ws://127.0.0.1:{srv.port}/public-chat/ws") as ws:
        token = await srv.token("writer")
        await ws.send_bytes(
            orjson.dumps(
                {"type": "connect", "id": 0, "room": room, "username": "w", "token": token}
            )
        )
        for i in range(count):
            await ws.send_bytes(orjson.dumps({"type": "send", "id": i + 1, "text": LONG_TEXT}))
        replies = 0
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame["type"] == "error":
                raise AssertionError(frame)
            if frame["type"] == "reply":
                replies += 1
                if replies == count + 1:
                    return


async def _greedy_reader(srv: ServeProcess, room: str, index: int, until: float) -> float | None:
    """Connect, then ask for 100-message history pages 45 times a second without reading.
    Returns the seconds until the server dropped the connection (None: it never did)."""
    client = await RawSocketClient.open("127.0.0.1", srv.port, rcvbuf=4096)
    token = await srv.token(f"greedy{index}")
    connect = {"type": "connect", "id": 0, "room": room, "username": f"g{index}", "token": token}
    start = time.monotonic()
    try:
        await client.send(orjson.dumps(connect))
        n = 0
        while time.monotonic() < until:
            n += 1
            frame = orjson.dumps({"type": "history", "id": n, "limit": 100})
            try:
                async with asyncio.timeout(0.5):
                    await client.send(frame)
            except TimeoutError:
                pass  # our own send buffer is full: the server is not reading either; go on
            except OSError:
                return time.monotonic() - start
            await asyncio.sleep(1 / 45)
        return None
    finally:
        client.close()


async def test_clients_that_do_not_read_cannot_fill_the_servers_memory(
    serve: ServeProcess,
) -> None:
    await _fill_room(serve, "big", 100)
    before = serve.rss_mb()
    deadline = time.monotonic() + t(15)
    readers = [asyncio.create_task(_greedy_reader(serve, "big", i, deadline)) for i in range(50)]
    peak = before
    while not all(r.done() for r in readers):
        peak = max(peak, serve.rss_mb())
        await asyncio.sleep(0.1)
    dropped_after = [r.result() for r in readers]
    print(f"RSS before {before:.0f} MB, peak {peak:.0f} MB; dropped after {dropped_after}")
    assert peak < 250, f"server RSS reached {peak:.0f} MB"
    assert all(d is not None and d < 10 for d in dropped_after), dropped_after
    # The server still serves.
    async with serve.http.get(f"{serve.url}/healthz") as r:
        assert r.status == 200


@pytest.mark.serve_env(PCHAT_HEARTBEAT="1")
async def test_a_peer_that_stops_answering_is_cut_off_with_its_unsent_output(
    serve: ServeProcess,
) -> None:
    """Below the output limit a peer that stops reading is caught by the heartbeat; the
    gentle close that follows would keep its unsent output (and the socket) until the peer
    reads. The server must cut it off instead: our writes then fail."""
    await _fill_room(serve, "hb", 20)
    client = await RawSocketClient.open("127.0.0.1", serve.port, rcvbuf=4096)
    token = await serve.token("quiet")
    connect = {"type": "connect", "id": 0, "room": "hb", "username": "q", "token": token}
    await client.send(orjson.dumps(connect))
    # ~800 KB of replies: more than the socket buffers take, less than the output limit.
    for n in range(1, 11):
        await client.send(orjson.dumps({"type": "history", "id": n, "limit": 10}))
    # Silence: no pong, no frame. The heartbeat (1 s, pong within 0.5 s) gives up; whatever
    # the server does then, our writes fail only once it has cut the connection off.
    await asyncio.sleep(3)
    start = time.monotonic()
    try:
        async with asyncio.timeout(t(8)):
            while True:
                try:
                    await client.send(orjson.dumps({"type": "ping", "id": 99}))
                except OSError:
                    break
                await asyncio.sleep(0.2)
    finally:
        client.close()
    print(f"cut off {3 + time.monotonic() - start:.1f} s after falling silent")
