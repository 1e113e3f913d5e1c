"""The PostgreSQL backup of docs/operations.md, run: ``pg_dump`` of a live pchat database
while a client writes, ``pg_restore`` into a new database, and a pchat server on the restored
database — the same rooms (epoch, positions: clients recover as if nothing happened), every
message acknowledged before the dump began, the keys (the same API key issues tokens) and
the rooms' retention rules.

On a private PostgreSQL (tests/procs.py: ``initdb`` as user postgres, so root only); the
client tools are the ones on the PATH (``pg_dump``, ``pg_restore``, ``psql``). Then the
epoch renewal of a restore of an older state, and a client that must reload."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.helpers import RawClient, RunningServer, start_server, t
from tests.procs import PrivatePostgres, private_postgres

BASE = "/public-chat/admin/v1"


@pytest.fixture
async def pg() -> AsyncIterator[PrivatePostgres]:
    if not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")):
        pytest.skip("pg_dump, pg_restore or psql is not installed")
    async with private_postgres() as db:
        yield db


async def run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await asyncio.wait_for(proc.communicate(), t(60))
    assert proc.returncode == 0, f"{argv[0]}: {err.decode(errors='replace')}"


async def connect(srv: RunningServer, room: str, user: str, **args: Any) -> RawClient:
    assert srv.http is not None
    raw = RawClient(await srv.http.ws_connect(srv.ws_url))
    token = await srv.token(user)
    raw.connected = await raw.ok("connect", token=token, room=room, username=user, **args)
    return raw


async def stop(srv: RunningServer, *clients: RawClient) -> None:
    for raw in clients:
        await raw.close()
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


async def test_pg_dump_and_pg_restore_round_trip(pg: PrivatePostgres, tmp_path: Path) -> None:
    options: dict[str, Any] = {"rate_messages": None, "rate_frames": None}
    srv = await start_server(tmp_path / "a", store=pg.dsn, **options)
    writer = await connect(srv, "live", "alice")
    assert srv.http is not None
    headers = {"auth-api-key": srv.api_key, "auth-api-secret": srv.api_secret}
    async with srv.http.put(
        f"{srv.url}{BASE}/rooms/live/retention", json={"days": 30}, headers=headers
    ) as response:
        assert response.status == 200
    acked: list[tuple[float, dict[str, Any]]] = []
    stop_writing = asyncio.Event()

    async def write() -> None:
        i = 0
        while not stop_writing.is_set():
            message = (await writer.ok("send", text=f"live {i}"))["message"]
            acked.append((time.monotonic(), message))
            i += 1

    dump = tmp_path / "pchat.dump"
    task = asyncio.create_task(write())
    try:
        async with asyncio.timeout(t(10)):
            while len(acked) < 30:
                await asyncio.sleep(0.01)
        before = [m for _, m in acked]
        # The commands of docs/operations.md, as written there.
        await run("pg_dump", "--format=custom", f"--file={dump}", f"--dbname={pg.dsn}")
    finally:
        stop_writing.set()
        try:
            await task
        finally:
            epoch = writer.connected["room"]["epoch"]
            await stop(srv, writer)

    admin = await asyncpg.connect(pg.dsn)
    try:
        await admin.execute("CREATE DATABASE restored")
    finally:
        await admin.close()
    restored = pg.dsn.rsplit("/", 1)[0] + "/restored"
    await run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump))

    # A server on the restored database: the keys are in it too.
    again = RunningServer(srv.settings.replace(store=restored, port=0), srv.api_key, srv.api_secret)
    await again.start()
    again.http = aiohttp.ClientSession()
    last = before[-1]
    client = await connect(again, "live", "bob", recover={"epoch": epoch, "seq": last["seq"]})
    try:
        assert client.connected["room"]["epoch"] == epoch
        assert client.connected["recovery"]["recovered"] is True
        page = await client.ok("history", limit=100, before_seq=last["seq"] + 1)
        ids = [m["id"] for m in page["messages"]]
        assert ids[-len(before) :] == [m["id"] for m in before]
        # The stream goes on after the last event the dump holds.
        message = (await client.ok("send", text="after the restore"))["message"]
        assert message["seq"] == client.connected["room"]["seq"] + 1
        async with again.http.get(
            f"{again.url}{BASE}/rooms/live/retention", headers=headers
        ) as response:
            assert response.status == 200
            assert (await response.json())["rule"] == {"days": 30.0, "messages": None}
    finally:
        await stop(again, client)

    # Restoring an older state: the documented epoch renewal, before the nodes start, makes
    # clients reload rather than recover over positions that will be used again.
    renew = "UPDATE rooms SET epoch = substr(md5(random()::text || room_id), 1, 16)"
    await run("psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", restored, "-c", renew)
    third = RunningServer(srv.settings.replace(store=restored, port=0), srv.api_key, srv.api_secret)
    await third.start()
    third.http = aiohttp.ClientSession()
    client = await connect(third, "live", "bob", recover={"epoch": epoch, "seq": last["seq"]})
    try:
        assert client.connected["recovery"] == {"recovered": False, "reason": "epoch_changed"}
        assert len(client.connected["room"]["epoch"]) == 16
    finally:
        await stop(third, client)
