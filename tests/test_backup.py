"""``pchat backup``: an online copy of a running server's SQLite data, taken while clients
keep writing — the copy opens, passes ``PRAGMA integrity_check``, holds every message
acknowledged before the backup started, and the keys; and the refusals."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import tarfile
import time
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.protocol.models import User
from pchat.storage.store_sqlite import SQLiteStore
from tests.helpers import RawClient, start_server, t

ALICE = User("u-alice", "alice", "viewer")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


async def prefill(data: Path, n: int) -> None:
    """``n`` long messages, so that the copy takes a while (appends committed in groups)."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = SQLiteStore(data / "pchat.sqlite3")
    await store.open()
    try:
        for start in range(0, n, 500):
            await asyncio.gather(
                *(
                    store.append_message(
                        "archive",
                        message_id=f"old{i}",
                        user=ALICE,
                        text="x" * 2000,
                        cid=None,
                        ts=1 + i,
                    )
                    for i in range(start, min(n, start + 500))
                )
            )
    finally:
        await store.close()


def extract(archive: Path, into: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(into, filter="data")
    return names


async def test_an_online_backup_while_clients_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await prefill(data, 10_000)  # about 20 MB
    srv = await start_server(data, rate_messages=None, rate_frames=None)
    assert srv.http is not None
    ws = await srv.http.ws_connect(srv.ws_url)
    writer = RawClient(ws)
    token = await srv.token("alice")
    await writer.ok("connect", token=token, room="live", username="alice")
    acked: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def write() -> None:
        i = 0
        while not stop.is_set():
            reply = await writer.ok("send", text=f"live {i}")
            acked.append((time.monotonic(), reply["message"]["id"]))
            i += 1

    target = tmp_path / "backups" / "pchat.tar.gz"
    target.parent.mkdir()
    task = asyncio.create_task(write())
    try:
        async with asyncio.timeout(t(10)):
            while len(acked) < 20:
                await asyncio.sleep(0.01)
        started = time.monotonic()
        before = {message_id for _, message_id in acked}
        argv = ["backup", "--to", str(target), "--data-dir", str(data)]
        code = await asyncio.to_thread(main, argv)
        ended = time.monotonic()
        # Writing went on during the backup: it did not stop the server's writers.
        async with asyncio.timeout(t(10)):
            while not any(started < at < ended for at, _ in acked) and acked[-1][0] < ended:
                await asyncio.sleep(0.01)
        during = [m for at, m in acked if started < at < ended]
    finally:
        stop.set()
        try:
            await task
        finally:
            await writer.close()
            await srv.stop()
            await srv.http.close()
    assert code == 0
    assert during, "no message was acknowledged while the backup ran"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    restored = tmp_path / "restored"
    assert sorted(extract(target, restored)) == ["keys.sqlite3", "pchat.sqlite3"]
    db = sqlite3.connect(restored / "pchat.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        ids = {row[0] for row in db.execute("SELECT id FROM messages WHERE room_id = 'live'")}
        assert before <= ids
        (old,) = db.execute("SELECT count(*) FROM messages WHERE room_id = 'archive'").fetchone()
        assert old == 10_000
    finally:
        db.close()
    keys = sqlite3.connect(restored / "keys.sqlite3")
    try:
        assert keys.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in keys.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        key_table = next(name for name in tables if "api" in name)
        (count,) = keys.execute(f"SELECT count(*) FROM {key_table}").fetchone()
        assert count >= 1  # the server's API key
    finally:
        keys.close()

    # The restored data dir serves the history that was backed up.
    store = SQLiteStore(restored / "pchat.sqlite3")
    await store.open()
    try:
        live = await store.history("live", limit=100)
        assert live and all(m.text.startswith("live ") for m in live)
    finally:
        await store.close()


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    target = tmp_path / "b.tar"
    # No database yet.
    assert main(["backup", "--to", str(target), "--data-dir", str(data)]) == 1
    assert "no database" in capsys.readouterr().err
    assert not target.exists()
    asyncio.run(prefill(data, 3))
    assert main(["backup", "--to", str(target), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "pchat.sqlite3" in out and str(target) in out
    # Never over an existing file.
    assert main(["backup", "--to", str(target), "--data-dir", str(data)]) == 1
    assert "exists" in capsys.readouterr().err
    # PostgreSQL is backed up with its own tools.
    argv = ["backup", "--to", str(tmp_path / "c.tar"), "--store", "postgresql://x@y/z"]
    assert main(argv) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "data"]
