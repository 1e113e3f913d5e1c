"""``pchat backup`` and ``pchat restore``: an online copy of a running server's SQLite data,
taken while clients keep writing — the copy opens, passes ``PRAGMA integrity_check``, holds
every message acknowledged before the backup started, and the keys — restored into a new
data directory that a server serves (new epochs: clients reload rather than recover over
lost positions); and the refusals."""

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
    connected = await writer.ok("connect", token=token, room="live", username="alice")
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
        newest_before = len(acked)  # the live room's messages are at positions 1, 2, …
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

    # pchat restore: a server on the restored data dir serves what was backed up, and a
    # client that saw more (lost with the server) reloads: the room has a new epoch.
    data2 = tmp_path / "data2"
    argv = ["restore", "--from", str(target), "--data-dir", str(data2)]
    assert await asyncio.to_thread(main, argv) == 0
    assert stat.S_IMODE((data2 / "pchat.sqlite3").stat().st_mode) == 0o600
    srv2 = await start_server(data2, rate_messages=None)
    assert srv2.http is not None
    reader = RawClient(await srv2.http.ws_connect(srv2.ws_url))
    try:
        token = await srv2.token("bob")
        recover = {"epoch": connected["room"]["epoch"], "seq": len(acked)}
        reply = await reader.ok(
            "connect", token=token, room="live", username="bob", recover=recover
        )
        assert reply["recovery"] == {"recovered": False, "reason": "epoch_changed"}
        assert reply["room"]["epoch"] != connected["room"]["epoch"]
        page = await reader.ok("history", limit=100, before_seq=newest_before + 1)
        assert len(before) <= 100
        assert {m["id"] for m in page["messages"]} == before
    finally:
        await reader.close()
        await srv2.stop()
        await srv2.http.close()


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
    # Restore: only into a directory without the databases; only a pchat backup.
    argv = ["restore", "--from", str(target), "--data-dir", str(data)]
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    argv = ["restore", "--from", str(tmp_path / "junk.tar"), "--data-dir", str(tmp_path / "r")]
    assert main(argv) == 1
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "junk.tar").unlink()
    # --keep-epochs: the backup is the latest state (a move); clients recover across it.
    kept = tmp_path / "kept"
    argv = ["restore", "--from", str(target), "--data-dir", str(kept), "--keep-epochs"]
    assert main(argv) == 0
    assert "epochs kept" in capsys.readouterr().out
    assert epoch_of(kept) == epoch_of(data)
    renewed = tmp_path / "renewed"
    assert main(["restore", "--from", str(target), "--data-dir", str(renewed)]) == 0
    assert epoch_of(renewed) != epoch_of(data)
    # PostgreSQL is backed up with its own tools.
    argv = ["backup", "--to", str(tmp_path / "c.tar"), "--store", "postgresql://x@y/z"]
    assert main(argv) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "data", "kept", "renewed"]


def epoch_of(data: Path) -> str:
    db = sqlite3.connect(data / "pchat.sqlite3")
    try:
        (epoch,) = db.execute("SELECT epoch FROM rooms WHERE room_id = 'archive'").fetchone()
        return str(epoch)
    finally:
        db.close()
