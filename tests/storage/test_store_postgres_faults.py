"""A pchat server on a PostgreSQL of its own that the test pauses and restarts.

While the database stalls, requests answer ``unavailable`` (120, temporary) within the
store's time budget — well before a client's own timeout — and the connection stays open;
``/healthz`` and ``/readyz`` say the store is down, and answer at once. A restarting
database never turns into ``internal`` (100, close 4004), and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.helpers import RawClient, RunningServer, start_server, t
from tests.procs import PrivatePostgres, private_postgres

#: The store's time budget in these tests (the default is 3 s; the SDK waits 10 s).
BUDGET = 1.5


@pytest.fixture
async def pg() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as db:
        yield db


@pytest.fixture
async def node(pg: PrivatePostgres, tmp_path: Path) -> AsyncIterator[RunningServer]:
    server = await start_server(
        tmp_path / "data",
        store=pg.dsn,
        store_timeout=BUDGET,
        rate_messages=None,
        rate_frames=None,
    )
    yield server
    if pg.paused:
        pg.resume()
    await server.stop()
    assert server.http is not None
    await server.http.close()


async def client(server: RunningServer, room: str, user: str) -> RawClient:
    assert server.http is not None
    c = RawClient(await server.http.ws_connect(server.ws_url))
    c.connected = await c.ok("connect", room=room, username=user, token=await server.token(user))
    return c


async def probe(server: RunningServer, path: str) -> tuple[int, dict[str, Any], float]:
    """Status, body and seconds taken of ``GET path``."""
    assert server.http is not None
    started = time.monotonic()
    async with server.http.get(f"{server.url}{path}", timeout=aiohttp.ClientTimeout(2)) as r:
        return r.status, await r.json(), time.monotonic() - started


async def test_a_stalled_database_answers_unavailable_within_the_budget(
    pg: PrivatePostgres, node: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await client(node, "lobby", "alice")
    await alice.ok("send", text="before", cid="c0")
    status, body, _ = await probe(node, "/healthz")
    assert (status, body) == (200, {"status": "ok", "broker": True, "store": True})
    assert (await probe(node, "/readyz"))[0] == 200

    pg.pause()
    started = time.monotonic()
    frame = await alice.request("send", text="during", cid="c1", timeout=BUDGET + 3)
    took = time.monotonic() - started
    assert frame["type"] == "error" and frame["error"]["code"] == 120, frame
    assert took < BUDGET + 1.0, f"unavailable after {took:.2f} s"

    # Health says so, and answers at once although the database does not.
    status, body, took = await probe(node, "/healthz")
    assert (status, body["status"], body["store"], body["broker"]) == (503, "degraded", False, True)
    assert took < 1.0
    status, body, took = await probe(node, "/readyz")
    assert status == 503 and body["store"] is False and took < 1.0

    # The connection stays open; a new connect answers unavailable too (the SDK retries).
    assert (await alice.ok("ping"))["ts"] > 0
    assert node.http is not None
    bob = RawClient(await node.http.ws_connect(node.ws_url))
    started = time.monotonic()
    frame = await bob.request(
        "connect", room="elsewhere", username="bob", token=await node.token("bob"), timeout=8
    )
    assert frame["type"] == "error" and frame["error"]["code"] == 120, frame
    assert time.monotonic() - started < BUDGET + 1.0
    assert bob.close_code is None

    pg.resume()
    async with asyncio.timeout(t(10)):
        while (await probe(node, "/healthz"))[0] != 200:
            await asyncio.sleep(0.1)
    assert (await probe(node, "/readyz"))[0] == 200
    await alice.ok("send", text="after", cid="c2")
    await bob.ok("connect", room="elsewhere", username="bob", token=await node.token("bob"))
    await alice.close()
    await bob.close()
    # The periodic jobs met the stall too: each says so in one line, no traceback.
    assert any("store unavailable" in r.getMessage() for r in caplog.records)
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == [], tracebacks


async def test_health_notices_a_stall_without_any_request(
    pg: PrivatePostgres, node: RunningServer
) -> None:
    assert (await probe(node, "/healthz"))[0] == 200
    pg.pause()
    async with asyncio.timeout(t(BUDGET + 4)):
        while (await probe(node, "/healthz"))[0] == 200:
            await asyncio.sleep(0.1)
    status, body, took = await probe(node, "/healthz")
    assert status == 503 and body["store"] is False and took < 1.0
    pg.resume()
    async with asyncio.timeout(t(10)):
        while (await probe(node, "/healthz"))[0] != 200:
            await asyncio.sleep(0.1)


async def test_restarts_answer_unavailable_never_internal(
    pg: PrivatePostgres, node: RunningServer
) -> None:
    senders = [await client(node, "lobby", f"user{i}") for i in range(6)]
    acked: list[str] = []
    refused: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def talk(index: int, c: RawClient) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                frame = await c.request("send", text=f"{index}-{n}", cid=f"{index}-{n}", timeout=8)
            except ConnectionError:
                return  # the close code is checked below
            if frame["type"] == "reply":
                acked.append(frame["result"]["message"]["id"])
            else:
                refused.append(frame["error"])
                await asyncio.sleep(0.02)

    talkers = [asyncio.create_task(talk(i, c)) for i, c in enumerate(senders)]
    for _ in range(6):
        await asyncio.sleep(0.4)
        await pg.restart()
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*talkers)

    assert [c.close_code for c in senders] == [None] * len(senders)
    assert {e["code"] for e in refused} <= {120}, refused
    assert len(acked) > 50
    conn = await asyncpg.connect(pg.dsn)
    try:
        stored = {r[0] for r in await conn.fetch("SELECT id FROM messages WHERE room_id = 'lobby'")}
    finally:
        await conn.close()
    assert set(acked) <= stored
    for c in senders:
        await c.close()
