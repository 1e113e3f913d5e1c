"""The SQLite store under faults: a file another process holds locked, and health.

The PostgreSQL store's faults (a stalled and a restarting server) are in
``test_store_postgres_faults.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from pchat.protocol.models import User
from pchat.protocol.wordfilter import FilterEntry
from pchat.storage.base import StoreUnavailable
from pchat.storage.store_sqlite import SQLiteStore, _is_transient

ALICE = User("u-alice", "alice")


async def test_a_locked_file_answers_unavailable_within_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "pchat.db"
    store = SQLiteStore(path, timeout=0.5)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing, for longer than the budget
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.append_message(
                "lobby", message_id="m1", user=ALICE, text="hi", cid="c1", ts=1
            )
        assert time.monotonic() - started < 1.5
        assert not store.healthy
        assert (await store.history("lobby")) == []  # reads go on (WAL)
        other.execute("ROLLBACK")
        async with asyncio.timeout(5):  # the idle probe sees the lock gone
            while not store.healthy:
                await asyncio.sleep(0.05)
        # The cut-short write may still have committed: a retry with its cid finds it.
        result = await store.append_message(
            "lobby", message_id="m2", user=ALICE, text="hi", cid="c1", ts=2
        )
        assert [m.text for m in await store.history("lobby")] == ["hi"]
        assert result.message.cid == "c1"
    finally:
        other.close()
        await store.close()


async def test_blocklist_writes_on_a_locked_file_are_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "pchat.db"
    store = SQLiteStore(path, timeout=0.5)
    await store.open()
    await store.put_filter_entry("lobby", FilterEntry("spam"))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        for call in (
            store.put_filter_entry("lobby", FilterEntry("scam")),
            store.remove_filter_entry("lobby", "spam"),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call
            assert time.monotonic() - started < 1.5
        assert await store.filter_entries("lobby") == [FilterEntry("spam")]  # reads go on
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()


def test_locked_and_full_are_transient(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            waiter.execute("BEGIN IMMEDIATE")
        assert "locked" in str(caught.value) and _is_transient(caught.value)
        with pytest.raises(sqlite3.OperationalError) as caught:
            holder.execute("SELECT * FROM no_such_table")
        assert not _is_transient(caught.value)
    finally:
        holder.close()
        waiter.close()
