"""Move a single-node install from SQLite to PostgreSQL: what ``pchat migrate`` runs.

Theory of operation
-------------------

Both stores have the same tables and columns (:mod:`~pchat.storage.store_sqlite_schema`,
:mod:`~pchat.storage.store_postgres_schema`), so the migration copies rows; it rebuilds
nothing. Rooms keep their epoch and last position, and messages keep their position and id.
A client that reconnects after the move recovers from where it was (same epoch, same seq),
and the next message takes the next position. :mod:`~pchat.storage.migrate_tables` lists
what is copied.

1. **Source.** The SQLite file is brought to this pchat's schema, as a starting server
   would do, then read in one read transaction: a consistent snapshot for the whole run. The
   server must be stopped: a file another process has open (its write-ahead log outlives
   the migration's own connection) is refused, and anything written between two runs is
   reported by the verification.
2. **Target.** The schema is created or migrated (the message store's tables and the
   keys'). Two tables of the migration record its state: ``migration_source`` (which install
   — a fingerprint of the source's rooms and their epochs — and when the copy started and
   was verified) and ``migration_progress`` (per table: the key of the last row copied, rows
   copied, done). A target that holds anything else is refused unless ``replace`` is given:
   rows but no record, or the record of another install. ``replace`` empties the message
   store's tables first. One migration at a time per schema (an advisory lock).
3. **Copy.** Each table is copied in primary-key order, in batches. Each batch is one
   transaction: it COPYs the rows into a temporary table, inserts them into the table
   (``ON CONFLICT DO NOTHING``, so a row copied twice is stored once) and moves the table's
   checkpoint. A process killed at any point leaves whole batches and a checkpoint that
   matches them, and the next run goes on after the checkpoint. Identity columns
   (``filter_entries.seq``, ``webhook_outbox.id``) keep their values, and their sequences
   are moved past them.
4. **Keys.** API keys, signing keys and console operators are copied from ``keys.sqlite3``
   by :func:`~pchat.storage.keys_copy.copy_keys`, which copies only what the target lacks.
5. **Verification** (:mod:`~pchat.storage.migrate_verify`): every table's rows (count and
   checksum), every room's stream, every key. The :class:`MigrationReport` says what
   matched. ``migration_source.verified_at`` is set when everything did.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg
import orjson

from . import keys_postgres_schema, store_postgres_schema
from .keys_copy import copy_keys
from .keys_postgres import PostgresKeyStore
from .keys_sqlite import SQLiteKeyStore
from .migrate_tables import (
    TABLES,
    MigrationError,
    TablePlan,
    plan,
    source_columns,
    source_tables,
    target_columns,
)
from .migrate_verify import (
    KeysCheck,
    RoomsCheck,
    TableCheck,
    check_keys,
    check_rooms,
    check_table,
)
from .operators_sqlite import SQLiteOperatorStore
from .store_sqlite import SQLiteStore

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = [
    "BATCH_SIZE",
    "MigrationError",
    "MigrationRefused",
    "MigrationReport",
    "Progress",
    "migrate",
]

#: Rows per batch (one transaction, one checkpoint).
BATCH_SIZE: Final = 5000

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: The migration's own tables in the target (see the module docstring).
_PROGRESS_TABLES: Final = (
    """CREATE TABLE IF NOT EXISTS migration_source (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        fingerprint text NOT NULL,
        source text NOT NULL,
        started_at bigint NOT NULL,
        verified_at bigint
    )""",
    """CREATE TABLE IF NOT EXISTS migration_progress (
        table_name text PRIMARY KEY,
        last_key text,
        rows bigint NOT NULL DEFAULT 0,
        done boolean NOT NULL DEFAULT false
    )""",
)

#: Called after each batch with the table, its rows copied so far and its rows in the source.
Progress: TypeAlias = Callable[[str, int, int], None]


class MigrationRefused(MigrationError):
    """The target holds another install's data (and ``replace`` was not given), another
    migration into it is running, or the source is open in another process."""


@dataclass(frozen=True)
class MigrationReport:
    """What a run copied and what the verification found."""

    #: Where the data went: ``schema NAME``.
    target: str
    #: Rows copied by this run, per table.
    copied: dict[str, int]
    #: Rows an earlier, interrupted run had copied (0: this run started afresh).
    resumed: int
    tables: tuple[TableCheck, ...]
    rooms: RoomsCheck
    #: None when the source has no keys file.
    keys: KeysCheck | None
    #: Target columns the source lacks (they took their defaults), as ``table.column``.
    defaulted: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the target holds exactly what the source does."""
        keys_ok = self.keys is None or self.keys.ok
        return all(t.ok for t in self.tables) and self.rooms.ok and keys_ok

    def lines(self, shown: int = 10) -> list[str]:
        """The report for a person, ``shown`` differences at most per kind."""
        now = sum(self.copied.values())
        out = [f"migrated to {self.target}: {now:,} rows copied by this run"]
        if self.resumed:
            out[0] += f", {self.resumed:,} before it by an earlier run"
            if now:
                out[0] += " (resumed where it stopped)"
        out.append(f"{'table':<20} {'source':>12} {'target':>12}  check")
        for t in self.tables:
            if t.ok:
                verdict = "ok"
            elif t.source_rows != t.target_rows:
                verdict = "ROWS MISSING OR EXTRA"
            else:
                verdict = "ROWS DIFFER"
            out.append(f"{t.name:<20} {t.source_rows:>12,} {t.target_rows:>12,}  {verdict}")
        if self.rooms.ok:
            out.append(
                f"rooms: {self.rooms.rooms:,}, each with the same epoch, last position,"
                " messages and events"
            )
        else:
            out.append(f"rooms: {len(self.rooms.differing):,} of {self.rooms.rooms:,} differ:")
            out += [f"  {line}" for line in self.rooms.differing[:shown]]
            if len(self.rooms.differing) > shown:
                out.append(f"  … and {len(self.rooms.differing) - shown:,} more")
        if self.keys is None:
            out.append("keys: the source has no keys file")
        else:
            k, c = self.keys, self.keys.copied
            out.append(
                f"keys in the source: API keys {k.api_keys}, signing keys {k.signing_keys},"
                f" console operators {k.operators}; copied by this run: {c.api_keys},"
                f" {c.signing_keys}, {c.operators} ({c.revoked} more revoked)"
            )
            out += [f"  missing in the target: {line}" for line in k.missing[:shown]]
        if self.defaulted:
            out.append(f"columns the source lacks (defaults): {', '.join(self.defaulted)}")
        out.append(
            "verified: the target holds what the source does"
            if self.ok
            else "NOT verified: the target differs from the source (see above)"
        )
        return out


async def migrate(
    db_path: Path,
    keys_path: Path,
    dsn: str,
    *,
    schema: str = "public",
    replace: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy the SQLite store at ``db_path`` and the keys at ``keys_path`` (if the file exists)
    into PostgreSQL (``dsn``, ``schema``), go on where an earlier run stopped, and verify.

    Raises :class:`MigrationRefused` (see there), :class:`MigrationError` when the source or
    the target cannot be migrated (a missing source file, a schema from another version),
    and asyncpg's or the OS's errors when the database cannot be reached.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")
    if not db_path.is_file():
        raise MigrationError(f"no SQLite store at {db_path}")
    # The source at this pchat's schema, as the server would bring it when starting.
    store = SQLiteStore(db_path)
    try:
        await store.open()
    except RuntimeError as exc:  # a newer schema
        raise MigrationError(str(exc)) from exc
    await store.close()
    # The last connection to close removes the write-ahead log: if it is still there,
    # another process has the file open (its server, most likely) and may write meanwhile.
    if db_path.with_name(db_path.name + "-wal").exists():
        raise MigrationRefused(
            f"{db_path} is open in another process: stop the server that uses it first"
        )
    with _snapshot(db_path) as src:
        async with _target(dsn, schema) as conn:
            return await _run(
                src, conn, db_path, keys_path, dsn, schema, replace, batch_size, progress
            )


@contextlib.contextmanager
def _snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the source inside one read transaction (a consistent snapshot)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"pchat-migrate-from-sqlite:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def _target(dsn: str, schema: str) -> AsyncIterator[_Conn]:
    """One connection to the target, holding the schema's migration lock, its tables made."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=1,
        server_settings={"search_path": schema, "application_name": "pchat-migrate"},
    )
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(schema)):
                raise MigrationRefused(f"another pchat migrate into schema {schema} is running")
            try:
                try:
                    await store_postgres_schema.migrate(conn, schema)
                    await keys_postgres_schema.migrate(conn, schema)
                except RuntimeError as exc:  # a newer schema
                    raise MigrationError(str(exc)) from exc
                for statement in _PROGRESS_TABLES:
                    await conn.execute(statement)
                yield conn
            finally:
                # A lost connection has lost its lock too: nothing to unlock then.
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    finally:
        await pool.close()


async def _run(
    src: sqlite3.Connection,
    conn: _Conn,
    db_path: Path,
    keys_path: Path,
    dsn: str,
    schema: str,
    replace: bool,
    batch_size: int,
    progress: Progress | None,
) -> MigrationReport:
    target = await target_columns(conn, schema)
    plans = [plan(name, source_columns(src, name), target) for name in source_tables(src)]
    defaulted = tuple(
        f"{p.name}.{column}"
        for p in plans
        for column in target[p.name]
        if column not in {c.name for c in p.columns}
    )
    await _claim(conn, src, db_path, replace)
    resumed = await conn.fetchval("SELECT coalesce(sum(rows), 0) FROM migration_progress")
    copied = {p.name: await _copy(conn, src, p, batch_size, progress) for p in plans}
    await _move_identities(conn, schema, plans)
    keys = await _keys(keys_path, dsn, schema)
    tables = tuple([await check_table(conn, src, p, batch_size) for p in plans])
    report = MigrationReport(
        f"schema {schema}",
        copied,
        int(resumed),
        tables,
        await check_rooms(conn, src),
        keys,
        defaulted,
    )
    if report.ok:
        await conn.execute("UPDATE migration_source SET verified_at = $1", _now())
    return report


def _now() -> int:
    return int(time.time())


def fingerprint(src: sqlite3.Connection) -> str:
    """Which install the source is: a hash of its rooms and their (random) epochs."""
    digest = hashlib.sha256()
    for room, epoch in src.execute("SELECT room_id, epoch FROM rooms ORDER BY room_id"):
        digest.update(orjson.dumps([room, epoch]))
    return digest.hexdigest()


async def _claim(conn: _Conn, src: sqlite3.Connection, db_path: Path, replace: bool) -> None:
    """Make the target this source's: refuse another install's data (unless ``replace``:
    empty it), record the source, and a checkpoint per table."""
    mine = fingerprint(src)
    recorded = await conn.fetchrow("SELECT fingerprint, source FROM migration_source")
    if recorded is not None and recorded["fingerprint"] != mine:
        problem = (
            f"schema holds a migration from {recorded['source']}, another install"
            " (or the source changed since: the server must be stopped)"
        )
    elif recorded is None and await _holds_data(conn):
        problem = "schema holds a store's data that no pchat migrate put there"
    else:
        problem = None
    if problem is not None and not replace:
        raise MigrationRefused(
            f"the target {problem}; --replace empties its messages, rooms and the rest"
            " before copying (the keys are merged)"
        )
    async with conn.transaction():
        if problem is not None:
            existing = [t for t in TABLES if await _exists(conn, t)]
            await conn.execute(f"TRUNCATE {', '.join(existing)} RESTART IDENTITY")
            await conn.execute("DELETE FROM migration_progress")
            await conn.execute("DELETE FROM migration_source")
            recorded = None
        if recorded is None:
            await conn.execute(
                "INSERT INTO migration_source (fingerprint, source, started_at)"
                " VALUES ($1, $2, $3)",
                mine,
                str(db_path.resolve()),
                _now(),
            )
        await conn.executemany(
            "INSERT INTO migration_progress (table_name) VALUES ($1) ON CONFLICT DO NOTHING",
            [(t,) for t in TABLES],
        )


async def _exists(conn: _Conn, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


async def _holds_data(conn: _Conn) -> bool:
    for table in TABLES:
        if await _exists(conn, table) and await conn.fetchval(
            f'SELECT EXISTS (SELECT 1 FROM "{table}")'
        ):
            return True
    return False


async def _copy(
    conn: _Conn,
    src: sqlite3.Connection,
    table: TablePlan,
    batch_size: int,
    progress: Progress | None,
) -> int:
    """Copy ``table`` from its checkpoint on; the rows copied (see the module docstring)."""
    state = await conn.fetchrow(
        "SELECT last_key, rows, done FROM migration_progress WHERE table_name = $1", table.name
    )
    assert state is not None  # written by _claim
    if state["done"]:
        return 0
    name, columns, keys = table.name, table.column_list, table.key_list
    total = src.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
    after: list[Any] = [] if state["last_key"] is None else orjson.loads(state["last_key"])
    where = f"WHERE ({keys}) > ({', '.join('?' * len(after))})" if after else ""
    rows = src.execute(f'SELECT {columns} FROM "{name}" {where} ORDER BY {keys}', after)

    temp = f"migrate_{name}"
    await conn.execute(
        f'CREATE TEMP TABLE IF NOT EXISTS "{temp}" ON COMMIT DELETE ROWS AS'
        f' SELECT {columns} FROM "{name}" WITH NO DATA'
    )
    overriding = "OVERRIDING SYSTEM VALUE" if table.has_identity else ""
    insert = (
        f'INSERT INTO "{name}" ({columns}) {overriding}'
        f' SELECT {columns} FROM "{temp}" ON CONFLICT DO NOTHING'
    )
    names = [c.name for c in table.columns]
    converts = [(i, f) for i, c in enumerate(table.columns) if (f := c.convert()) is not None]
    done, copied = int(state["rows"]), 0
    while batch := rows.fetchmany(batch_size):
        records: list[Any] = batch
        if converts:
            records = []
            for row in batch:
                values = list(row)
                for i, convert in converts:
                    values[i] = convert(values[i])
                records.append(values)
        last = orjson.dumps([batch[-1][i] for i in table.key]).decode()
        async with conn.transaction():
            await conn.copy_records_to_table(temp, records=records, columns=names)
            await conn.execute(insert)
            await conn.execute(
                "UPDATE migration_progress SET last_key = $2, rows = rows + $3"
                " WHERE table_name = $1",
                name,
                last,
                len(batch),
            )
        done += len(batch)
        copied += len(batch)
        if progress is not None:
            progress(name, done, total)
    await conn.execute("UPDATE migration_progress SET done = true WHERE table_name = $1", name)
    if progress is not None and not copied:
        progress(name, done, total)
    return copied


async def _move_identities(conn: _Conn, schema: str, plans: list[TablePlan]) -> None:
    """Move each identity column's sequence past the largest value copied."""
    for table in plans:
        for column in table.columns:
            if column.identity:
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence($1, $2),"
                    f' coalesce((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1,'
                    " false)",
                    f'"{schema}"."{table.name}"',
                    column.name,
                )


async def _keys(keys_path: Path, dsn: str, schema: str) -> KeysCheck | None:
    """Copy the keys file's keys into the target's key store, and check them; None if there
    is no keys file."""
    if not keys_path.is_file():
        return None
    source, operators = SQLiteKeyStore(keys_path), SQLiteOperatorStore(keys_path)
    target = PostgresKeyStore(dsn, schema=schema)
    await target.open()
    try:
        copied = await copy_keys(source, operators, target, target)
        return await check_keys(source, operators, target, target, copied)
    finally:
        await target.close()
