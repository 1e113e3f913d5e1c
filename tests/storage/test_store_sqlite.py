"""What only the SQLite store promises: order, group commit, schema, query plans."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.protocol.models import Poll, PollOption, User
from pchat.storage import store_sqlite_moderation, store_sqlite_reports, store_sqlite_stream
from pchat.storage.base import StoreUnavailable
from pchat.storage.store_sqlite import SQLiteStore
from pchat.storage.store_sqlite_schema import SCHEMA_VERSION

ALICE = User("u-alice", "alice")
T0 = 1_700_000_000_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "pchat.db")
    await store.open()
    yield store
    await store.close()


def worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pchat-sqlite")]


async def test_results_come_back_in_submission_order(store: SQLiteStore) -> None:
    completed: list[int] = []

    async def append(i: int) -> None:
        result = await store.append_message(
            "lobby", message_id=f"m{i}", user=ALICE, text="x", cid=None, ts=T0
        )
        completed.append(result.message.seq)

    await asyncio.gather(*(append(i) for i in range(300)))
    assert completed == list(range(1, 301))

    poll = Poll("p", "?", (PollOption("a"), PollOption("b")), "open", ALICE, T0)
    await store.create_poll("lobby", poll)
    votes = await asyncio.gather(*(store.vote("lobby", "p", f"u{i}", i % 2) for i in range(50)))
    assert [v.total_votes for v in votes] == list(range(1, 51))


@pytest.mark.parametrize("batch_max", [1, 7])
async def test_small_batches(tmp_path: Path, batch_max: int) -> None:
    store = SQLiteStore(tmp_path / "pchat.db", batch_max=batch_max)
    await store.open()
    try:
        results = await asyncio.gather(
            *(
                store.append_message("r", message_id=f"m{i}", user=ALICE, text="", cid=None, ts=i)
                for i in range(40)
            )
        )
        assert [r.message.seq for r in results] == list(range(1, 41))
    finally:
        await store.close()


def test_batch_max_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_max"):
        SQLiteStore(tmp_path / "pchat.db", batch_max=0)


async def test_time_never_goes_backwards_in_a_room(store: SQLiteStore) -> None:
    first = await store.append_message("r", message_id="a", user=ALICE, text="", cid=None, ts=T0)
    late = await store.append_message("r", message_id="b", user=ALICE, text="", cid=None, ts=T0 - 5)
    other = await store.append_message(
        "o", message_id="c", user=ALICE, text="", cid=None, ts=T0 - 5
    )
    assert first.message.ts == T0
    assert late.message.ts == T0  # a clock stepped back
    assert other.message.ts == T0 - 5  # per room
    assert [m.ts for m in await store.history("r")] == [T0, T0]


async def test_an_unexpected_error_undoes_only_its_own_job(store: SQLiteStore) -> None:
    results = await asyncio.gather(
        store.append_message("r", message_id="a", user=ALICE, text="1", cid=None, ts=T0),
        store.append_message("r", message_id="a", user=ALICE, text="dup", cid=None, ts=T0),
        store.append_message("r", message_id="b", user=ALICE, text="2", cid=None, ts=T0),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    # The failed job's position bump was rolled back with it: no gap.
    assert [m.seq for m in await store.history("r")] == [1, 2]
    assert (await store.room("r")).last_seq == 2


async def test_a_cancelled_caller_does_not_stop_the_writer(store: SQLiteStore) -> None:
    task = asyncio.create_task(
        store.append_message("r", message_id="a", user=ALICE, text="", cid=None, ts=T0)
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = await store.append_message("r", message_id="b", user=ALICE, text="", cid=None, ts=T0)
    assert result.message.seq in (1, 2)


async def test_close_flushes_pending_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "pchat.db")
    await store.open()
    pending = asyncio.gather(
        *(
            store.append_message("r", message_id=f"m{i}", user=ALICE, text="", cid=None, ts=T0)
            for i in range(100)
        )
    )
    await asyncio.sleep(0)  # every append is queued
    await store.close()
    assert len(await pending) == 100
    assert worker_threads() == []
    await store.close()  # closing twice is harmless

    with pytest.raises(StoreUnavailable):
        await store.history("r")

    reopened = SQLiteStore(tmp_path / "pchat.db")
    await reopened.open()
    try:
        assert (await reopened.room("r")).last_seq == 100
    finally:
        await reopened.close()


async def test_schema_version_and_journal_mode(tmp_path: Path) -> None:
    path = tmp_path / "pchat.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 999")
        conn.commit()
    finally:
        conn.close()
    newer = SQLiteStore(path)
    with pytest.raises(RuntimeError, match="newer"):
        await newer.open()
    assert worker_threads() == []


async def test_queries_use_the_indexes(store: SQLiteStore) -> None:
    cases = [
        (store_sqlite_stream._SQL_HISTORY.format(view=""), ("r", 10, 50)),
        (store_sqlite_stream._SQL_HISTORY_TS.format(view=""), ("r", 10, 50, T0)),
        (store_sqlite_stream._SQL_EVENTS, ("r", 10, 50)),
        (store_sqlite_moderation._SQL_BANS, ("r", T0)),
        (store_sqlite_moderation._SQL_MOD_LOG, ("r", 10, 50)),
        (store_sqlite_moderation._SQL_RECENT_TEXTS, ("r", "u", 5)),
        (store_sqlite_stream._SQL_PURGE, ("r", "u", T0, "m", "m", "m", T0, 2**62)),
        (store_sqlite_moderation._SQL_FILTER_ENTRIES, ("r",)),
        (store_sqlite_moderation._SQL_PUT_FILTER_ENTRY, ("r", "spam", "block")),
    ]
    for sql, params in cases:

        def explain(
            conn: sqlite3.Connection, q: str = sql, p: tuple[object, ...] = params
        ) -> list[str]:
            return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {q}", p)]

        details = await store._read(explain)
        assert all(not d.startswith("SCAN") for d in details), details
        assert all("TEMP B-TREE" not in d for d in details), details
        if sql is store_sqlite_stream._SQL_PURGE:  # the user's messages from the first at ``since``
            assert details[0] == (
                "SEARCH messages USING INDEX messages_user (room_id=? AND user_id=? AND seq>?)"
            ), details
        if sql is store_sqlite_moderation._SQL_RECENT_TEXTS:
            assert details == [
                "SEARCH messages USING INDEX messages_user (room_id=? AND user_id=?)"
            ]

    # Reports: the room's reports by their key, the messages by id; only the few rows these
    # gather are walked and sorted.
    for sql, params in (
        (store_sqlite_reports._SQL_LIST, ("r", 50)),
        (store_sqlite_reports._SQL_ONE, ("r", "m")),
    ):
        details = await store._read(
            lambda c, q=sql, p=params: [r[3] for r in c.execute(f"EXPLAIN QUERY PLAN {q}", p)]
        )
        walked = {d.split(" ")[1] for d in details if d.startswith("SCAN ")}
        assert not walked & {"reports", "messages", "r", "m"}, details  # only the gathered rows
        assert "SEARCH m USING INDEX messages_id (room_id=? AND id=?)" in details, details
