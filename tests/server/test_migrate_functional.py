"""``pchat migrate`` end to end: a SQLite install with 100,000 more messages, moved into
PostgreSQL by the command — killed with SIGKILL half-way and run again — then served by
``pchat serve --store postgresql://…``, where a client recovers from the position it had
before the move, with its old token (the signing keys moved too) and the old API key."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.helpers import RawClient, free_port, start_server, t, wait_until_serving
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name
from tests.storage.migrate_fixtures import BULK_ROOMS, fill_bulk

BULK_MESSAGES = 100_000


@pytest.fixture
async def schema(tmp_path: Path) -> AsyncIterator[str]:
    await require_postgres()
    name = unique_name(tmp_path)
    await drop_schema(name)
    yield name
    await drop_schema(name)


async def _client(
    http: aiohttp.ClientSession, ws_url: str, room: str, user: str, token: str, **extra: Any
) -> RawClient:
    client = RawClient(await http.ws_connect(ws_url))
    client.connected = await client.ok("connect", room=room, username=user, token=token, **extra)
    return client


async def _pchat(log: Path, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCHAT_")}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pchat", *args, env=env, stdout=out, stderr=out
        )


async def _progress(conn: asyncpg.Connection, table: str) -> tuple[int, bool] | None:
    try:
        row = await conn.fetchrow(
            "SELECT rows, done FROM migration_progress WHERE table_name = $1", table
        )
    except asyncpg.UndefinedTableError:  # the run has not made its tables yet
        return None
    return None if row is None else (row["rows"], row["done"])


async def test_migrate_killed_half_way_then_served_from_postgresql(
    tmp_path: Path, schema: str
) -> None:
    data = tmp_path / "data"
    store_url = f"{postgres_dsn()}?schema={schema}"

    # 1. A single-node install: bob reads up to a position, then misses what follows.
    srv = await start_server(data)
    assert srv.http is not None
    alice_token, bob_token = await srv.token("alice"), await srv.token("bob")
    alice = await _client(srv.http, srv.ws_url, "lobby", "alice", alice_token)
    bob = await _client(srv.http, srv.ws_url, "lobby", "bob", bob_token)
    for text in ("one", "two", "three"):
        await alice.ok("send", text=text)
    seen = [(await bob.push("message"))["seq"] for _ in range(3)][-1]
    epoch = bob.connected["room"]["epoch"]
    await bob.close()
    await alice.ok("send", text="four")
    five = (await alice.ok("send", text="five"))["message"]
    four_id = (await alice.ok("history", limit=2))["messages"][0]["id"]
    await alice.ok("delete", message_id=four_id)
    await alice.close()
    await srv.stop()
    await srv.http.close()
    # 2. A large history besides, written straight into the stopped install's file.
    fill_bulk(data / "pchat.sqlite3", BULK_MESSAGES)
    source = sqlite3.connect(data / "pchat.sqlite3")
    try:
        rooms = dict(source.execute("SELECT room_id, last_seq FROM rooms").fetchall())
        total_messages = source.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        source.close()
    assert total_messages > BULK_MESSAGES

    # 3. The migration, killed half-way through the messages.
    log = tmp_path / "migrate.log"
    migrate = ("migrate", "--from", str(data), "--to", store_url, "--batch-size", "1000")
    proc = await _pchat(log, *migrate)
    conn = await asyncpg.connect(postgres_dsn(), server_settings={"search_path": schema})
    try:
        async with asyncio.timeout(t(60)):
            while (state := await _progress(conn, "messages")) is None or state[0] < 20_000:
                assert proc.returncode is None, log.read_text()
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        state = await _progress(conn, "messages")
        assert state is not None
        copied, done = state
        assert 20_000 <= copied < total_messages and not done, "killed too late to test a resume"
        # Whole batches only, and a checkpoint that matches them.
        assert await conn.fetchval("SELECT count(*) FROM messages") == copied
    finally:
        await conn.close()
        if proc.returncode is None:  # the test failed before the kill
            proc.kill()
            await proc.wait()

    # 4. Run again: it goes on from the checkpoint and verifies.
    log.write_text("")
    again = await _pchat(log, *migrate)
    try:
        assert await asyncio.wait_for(again.wait(), t(120)) == 0, log.read_text()
    finally:
        if again.returncode is None:
            again.kill()
            await again.wait()
    report = log.read_text()
    assert "(resumed where it stopped)" in report
    assert f"messages: {total_messages:,} of {total_messages:,} rows" in report
    assert report.rstrip().endswith("verified: the target holds what the source does")
    assert "rooms: 5, each with the same epoch, last position, messages and events" in report

    # 5. A node on PostgreSQL serves the rooms as they were.
    port = free_port()
    node_log = tmp_path / "node.log"
    node = await _pchat(
        node_log, "serve", "--port", str(port), "--data-dir", str(tmp_path / "node"),
        "--store", store_url,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/public-chat/ws"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{url}/healthz", proc=node)
            # The old API key gets tokens from the new node.
            async with http.get(
                f"{url}/public-chat/token/",
                params={"sub": "carol"},
                headers={"auth-api-key": srv.api_key, "auth-api-secret": srv.api_secret},
            ) as response:
                assert response.status == 200, await response.text()
                carol_token = (await response.json())["token"]

            # bob's old token, and his old position: same epoch, same seq.
            bob = await _client(
                http, ws_url, "lobby", "bob", bob_token, recover={"epoch": epoch, "seq": seen}
            )
            recovery = bob.connected["recovery"]
            assert recovery["recovered"] is True
            events = recovery["events"]
            assert [e["seq"] for e in events] == [seen + 1, seen + 2, seen + 3]
            assert events[0]["message"]["id"] == four_id and events[0]["message"]["deleted"]
            assert events[1]["message"]["id"] == five["id"]
            assert events[1]["message"]["text"] == "five"
            assert events[2]["type"] == "message_delete"
            assert events[2]["message_id"] == four_id
            assert bob.connected["room"]["epoch"] == epoch

            alice = await _client(http, ws_url, "lobby", "alice", alice_token)
            six = (await alice.ok("send", text="six"))["message"]
            assert six["seq"] == seen + 4 == rooms["lobby"] + 1
            assert (await bob.push("message"))["seq"] == six["seq"]

            # A large room: at its last position, its history readable.
            carol = await _client(http, ws_url, BULK_ROOMS[1], "carol", carol_token)
            assert carol.connected["room"]["seq"] == rooms[BULK_ROOMS[1]]
            page = (await carol.ok("history", limit=5))["messages"]
            assert [m["seq"] for m in page][-1] <= rooms[BULK_ROOMS[1]]
            assert page[-1]["id"].startswith(f"{BULK_ROOMS[1]}-")
            for client in (alice, bob, carol):
                await client.close()
    finally:
        node.terminate()
        try:
            await asyncio.wait_for(node.wait(), t(20))
        except TimeoutError:
            node.kill()
            await node.wait()
