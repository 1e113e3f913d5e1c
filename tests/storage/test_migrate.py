"""``pchat.storage.migrate``: a SQLite install copied into PostgreSQL — every table, resumable,
idempotent, verified, and refused where it would mix two installs.

The first test needs no database: it fails as soon as the SQLite schema gains a table that
the migration neither copies nor lists as not copied. The others run against the shared
PostgreSQL, each in its own schema (dropped at teardown).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pchat.protocol.models import User
from pchat.protocol.wordfilter import FilterEntry
from pchat.storage import keys_postgres_schema, store_postgres_schema
from pchat.storage.base import MessageStore
from pchat.storage.keys_postgres import PostgresKeyStore
from pchat.storage.keys_sqlite import SQLiteKeyStore
from pchat.storage.migrate import MigrationError, MigrationRefused, _lock_key, migrate
from pchat.storage.migrate_tables import NOT_COPIED, TABLES, source_columns
from pchat.storage.operators_sqlite import SQLiteOperatorStore
from pchat.storage.store_postgres import PostgresStore
from pchat.storage.store_sqlite import SQLiteStore
from pchat.storage.store_sqlite_schema import SCHEMA_VERSION
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name
from tests.storage.migrate_fixtures import (
    BULK_ROOMS,
    T0,
    fill_bulk,
    fill_everything,
    table_counts,
)

#: Tables of the target that are not the message store's.
_OTHER_TARGET_TABLES = {
    "schema_migrations",
    "keys_schema_migrations",
    "api_keys",
    "signing_keys",
    "console_operators",
    "migration_source",
    "migration_progress",
}


async def _fresh_sqlite(path: Path) -> sqlite3.Connection:
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    return sqlite3.connect(path)


def _store_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


async def test_every_table_of_the_sqlite_schema_is_copied_or_listed(tmp_path: Path) -> None:
    """A new table of the SQLite store fails here until migrate_tables copies it (TABLES) or
    says why not (NOT_COPIED)."""
    conn = await _fresh_sqlite(tmp_path / "pchat.sqlite3")
    try:
        tables = _store_tables(conn)
        assert not set(TABLES) & set(NOT_COPIED)
        assert tables - set(TABLES) - set(NOT_COPIED) == set(), "tables the migration forgets"
        assert set(TABLES) - tables == set(), "copied tables the schema does not have"
        for table in TABLES:  # rows are copied in primary-key order
            assert any(pk for _, pk in source_columns(conn, table)), f"{table}: no primary key"
    finally:
        conn.close()


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[str]:
    """The PostgreSQL schema of this test (dropped at teardown)."""
    await require_postgres()
    schema = unique_name(tmp_path)
    await drop_schema(schema)
    yield schema
    await drop_schema(schema)


async def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path, target: str) -> None:
    """Every copied table has the same columns on both sides (a column added to one schema
    only fails here), and PostgreSQL has no store table that SQLite lacks."""
    pool = await asyncpg.create_pool(
        postgres_dsn(), min_size=1, max_size=1, server_settings={"search_path": target}
    )
    try:
        async with pool.acquire() as conn:
            await store_postgres_schema.migrate(conn, target)
            await keys_postgres_schema.migrate(conn, target)
            rows = await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = $1",
                target,
            )
    finally:
        await pool.close()
    pg: dict[str, set[str]] = {}
    for table, column in rows:
        pg.setdefault(table, set()).add(column)
    assert set(pg) - _OTHER_TARGET_TABLES == set(TABLES)
    conn = await _fresh_sqlite(tmp_path / "pchat.sqlite3")
    try:
        for table in TABLES:
            assert {name for name, _ in source_columns(conn, table)} == pg[table], table
    finally:
        conn.close()


async def _readable(store: MessageStore) -> dict[str, Any]:
    """Everything the server reads of the filled store, through the store's API."""
    out: dict[str, Any] = {}
    for room in ("lobby", "stage", "old", "nowhere"):
        out[room] = {
            "room": await store.find_room(room),
            "history": await store.history(room, limit=100),
            "events": await store.events_since(room, 0, 100),
            "reactions": await store.reaction_stats(room),
            "polls": await store.list_polls(room, ("scheduled", "open", "finished")),
            "votes": {u: await store.user_votes(room, u) for u in ("alice", "bob", "carol")},
            "bans": await store.bans(room, T0),
            "settings": await store.room_settings(room),
            "pin": await store.pin(room),
            "log": await store.mod_log(room, before_id=None, limit=10),
            "filter": await store.filter_entries(room),
            "held": await store.held_messages(room, 10),
            "reports": await store.open_reports(room, 10),
            "retention": await store.room_retention(room),
        }
    out["server filter"] = await store.filter_entries("*")
    out["mutes"] = await store.mutes_of(["alice", "bob", "carol"])
    out["revocations"] = await store.revocations(0)
    out["webhooks"] = await store.webhooks()
    out["backlogs"] = {e.id: await store.webhook_backlog(e.id) for e in out["webhooks"]}
    out["retention rules"] = await store.retention_rules()
    out["scheduled"] = await store.scheduled_polls()
    return out


async def _read(store: MessageStore) -> dict[str, Any]:
    await store.open()
    try:
        return await _readable(store)
    finally:
        await store.close()


async def _run(data: Path, schema: str, **options: Any) -> Any:
    return await migrate(
        data / "pchat.sqlite3", data / "keys.sqlite3", postgres_dsn(), schema=schema, **options
    )


async def test_migrates_every_table_and_the_keys(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    counts = table_counts(data / "pchat.sqlite3")
    # The fixture fills every copied table: a new table needs rows here too.
    assert [t for t in TABLES if not counts.get(t)] == []

    report = await _run(data, target)
    assert report.ok, "\n".join(report.lines())
    assert {t.name: t.target_rows for t in report.tables} == {t: counts[t] for t in TABLES}
    assert report.copied == {t: counts[t] for t in TABLES} and report.resumed == 0

    source = await _read(SQLiteStore(data / "pchat.sqlite3"))
    pg = PostgresStore(postgres_dsn(), schema=target)
    assert await _read(pg) == source
    assert source["old"]["room"].first_seq == 4  # retention's start of the stream, kept
    lobby = source["lobby"]["room"]
    # Every kind of stream event was compared (with the state of its message).
    assert {e.kind for e in source["lobby"]["events"]} == {
        "message",
        "message_delete",
        "message_purge",
        "message_hide",
        "message_restore",
    }

    # The keys: API keys (the revoked one revoked), signing keys, the console's operator.
    keys = PostgresKeyStore(postgres_dsn(), schema=target)
    await keys.open()
    try:
        old = SQLiteKeyStore(data / "keys.sqlite3")
        assert await keys.list_api_keys() == await old.list_api_keys()
        assert await keys.signing_keys() == await old.signing_keys()
        operator = await keys.get_operator("ops")
        assert operator is not None and operator.password_hash == "pw-hash"
        assert [o.name for o in await SQLiteOperatorStore(data / "keys.sqlite3").list_operators()]
    finally:
        await keys.close()

    # The cluster goes on from there: the next position, the next log id, a filter entry
    # after the copied ones, outbox rows past the copied ids (identity sequences moved).
    await pg.open()
    try:
        await pg.reload_webhook_types()
        sent = await pg.append_message(
            "lobby", message_id="new", user=User("zoe", "Zoe", ""), text="hi", cid=None, ts=T0
        )
        assert sent.message.seq == lobby.last_seq + 1
        assert await pg.find_room("lobby") == replace(lobby, last_seq=sent.message.seq)
        entry = FilterEntry("newest", "block")
        await pg.put_filter_entry("*", entry)
        assert await pg.filter_entries("*") == [*source["server filter"], entry]
        logged = await pg.log_action("lobby", source["lobby"]["log"][0])
        assert logged.id == source["lobby"]["log"][0].id + 1
        assert (await pg.webhook_backlog("wh_1")).pending == (
            source["backlogs"]["wh_1"].pending + 1
        )
    finally:
        await pg.close()


async def test_a_second_run_copies_nothing_and_verifies_again(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    first = await _run(data, target)
    again = await _run(data, target)
    assert first.ok and again.ok
    assert sum(again.copied.values()) == 0
    assert again.resumed == sum(first.copied.values())
    assert again.keys is not None and again.keys.copied.api_keys == 0


async def test_resumes_after_an_interruption_and_inserts_idempotently(
    tmp_path: Path, target: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await _fresh_sqlite(data / "pchat.sqlite3")
    fill_bulk(data / "pchat.sqlite3", 20_000)
    seen: list[tuple[str, int]] = []

    def interrupt(table: str, done: int, total: int) -> None:
        seen.append((table, done))
        if table == "messages" and done >= 7_000:
            raise KeyboardInterrupt  # as if killed right after this batch committed

    with pytest.raises(KeyboardInterrupt):
        await _run(data, target, batch_size=1_000, progress=interrupt)
    assert seen[-1] == ("messages", 7_000)
    progress = await _progress(target)
    assert progress["rooms"] == (len(BULK_ROOMS), True)
    assert progress["messages"] == (7_000, False)
    assert await _count(target, "messages") == 7_000

    report = await _run(data, target, batch_size=1_000)
    assert report.ok, "\n".join(report.lines())
    assert report.resumed == len(BULK_ROOMS) + 7_000
    assert report.copied["messages"] == 13_000 and report.copied["rooms"] == 0

    # A checkpoint lost (or rows copied twice): the rows are inserted once.
    conn = await asyncpg.connect(postgres_dsn(), server_settings={"search_path": target})
    try:
        await conn.execute(
            "UPDATE migration_progress SET last_key = NULL, rows = 0, done = false"
            " WHERE table_name = 'events'"
        )
    finally:
        await conn.close()
    report = await _run(data, target, batch_size=1_000)
    assert report.ok and report.copied["events"] == table_counts(data / "pchat.sqlite3")["events"]


async def _progress(schema: str) -> dict[str, tuple[int, bool]]:
    conn = await asyncpg.connect(postgres_dsn(), server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT table_name, rows, done FROM migration_progress")
    finally:
        await conn.close()
    return {r["table_name"]: (r["rows"], r["done"]) for r in rows}


async def _count(schema: str, table: str) -> int:
    conn = await asyncpg.connect(postgres_dsn(), server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_refuses_another_installs_data_unless_replacing(tmp_path: Path, target: str) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for data in (first, second):
        data.mkdir()
        await fill_everything(data)  # the same content, but rooms of other epochs
    assert (await _run(first, target)).ok
    with pytest.raises(MigrationRefused, match=r"holds a migration from .*first"):
        await _run(second, target)
    epochs = {r: i.epoch for r, i in await _epochs(target)}
    assert epochs == {r: i.epoch for r, i in await _epochs_sqlite(first)}

    report = await _run(second, target, replace=True)
    assert report.ok and report.resumed == 0
    assert {r: i.epoch for r, i in await _epochs(target)} == {
        r: i.epoch for r, i in await _epochs_sqlite(second)
    }


async def test_refuses_a_store_that_no_migration_filled(tmp_path: Path, target: str) -> None:
    used = PostgresStore(postgres_dsn(), schema=target)
    await used.open()
    try:
        await used.room("live-room")
    finally:
        await used.close()
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    with pytest.raises(MigrationRefused, match="no pchat migrate put there"):
        await _run(data, target)
    assert [r for r, _ in await _epochs(target)] == ["live-room"]
    assert (await _run(data, target, replace=True)).ok
    assert "live-room" not in [r for r, _ in await _epochs(target)]


async def _epochs(schema: str) -> list[tuple[str, Any]]:
    store = PostgresStore(postgres_dsn(), schema=schema)
    await store.open()
    try:
        rooms = ("lobby", "stage", "live-room")
        found = [(r, await store.find_room(r)) for r in rooms]
        return [(r, info) for r, info in found if info is not None]
    finally:
        await store.close()


async def _epochs_sqlite(data: Path) -> list[tuple[str, Any]]:
    store = SQLiteStore(data / "pchat.sqlite3")
    await store.open()
    try:
        found = [(r, await store.find_room(r)) for r in ("lobby", "stage")]
        return [(r, info) for r, info in found if info is not None]
    finally:
        await store.close()


async def test_the_verification_reports_what_differs(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    assert (await _run(data, target)).ok
    conn = await asyncpg.connect(postgres_dsn(), server_settings={"search_path": target})
    try:
        await conn.execute("DELETE FROM messages WHERE room_id = 'lobby' AND seq = 1")
        await conn.execute("UPDATE rooms SET last_seq = last_seq - 1 WHERE room_id = 'stage'")
        await conn.execute("UPDATE polls SET question = 'Coffee?' WHERE id = 'p1'")
    finally:
        await conn.close()
    report = await _run(data, target)
    assert not report.ok
    checks = {t.name: t for t in report.tables}
    assert (checks["messages"].source_rows, checks["messages"].target_rows) == (15, 14)
    assert checks["polls"].target_rows == checks["polls"].source_rows
    assert not checks["polls"].ok  # same count, other content
    assert checks["events"].ok
    text = "\n".join(report.lines())
    assert "room 'lobby': messages 12 in the source, 11 in the target" in text
    assert "room 'stage': last position 1 in the source, 0 in the target" in text
    assert "messages                       15           14  ROWS MISSING OR EXTRA" in text
    assert "polls                           3            3  ROWS DIFFER" in text
    assert text.endswith("NOT verified: the target differs from the source (see above)")


async def test_refuses_a_source_in_use_or_from_a_newer_pchat(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    running = SQLiteStore(data / "pchat.sqlite3")  # its server, still running
    await running.open()
    try:
        with pytest.raises(MigrationRefused, match="open in another process"):
            await _run(data, target)
    finally:
        await running.close()

    newer = tmp_path / "newer"
    shutil.copytree(data, newer)
    conn = sqlite3.connect(newer / "pchat.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MigrationError, match="newer than this pchat"):
        await _run(newer, target)
    with pytest.raises(MigrationError, match="no SQLite store"):
        await _run(tmp_path / "nothing", target)

    # A table this pchat does not know of is never skipped silently.
    unknown = tmp_path / "unknown"
    shutil.copytree(data, unknown)
    conn = sqlite3.connect(unknown / "pchat.sqlite3")
    conn.execute("CREATE TABLE future_thing (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(MigrationError, match="does not migrate: future_thing"):
        await _run(unknown, target)


async def test_refuses_a_second_run_into_the_same_schema(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    await fill_everything(data)
    other = await asyncpg.connect(postgres_dsn())  # a run in progress holds the lock
    try:
        await other.execute("SELECT pg_advisory_lock($1)", _lock_key(target))
        with pytest.raises(MigrationRefused, match="is running"):
            await _run(data, target)
    finally:
        await other.close()
    assert (await _run(data, target)).ok
