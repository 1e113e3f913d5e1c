"""The cluster :class:`~pchat.storage.base.MessageStore`: PostgreSQL through asyncpg.

Every node of a cluster opens the same database (and schema); the store keeps the promises
of the SQLite store across nodes:

- **Gap-free positions without sequences.** A PostgreSQL sequence hands out numbers that
  commit out of order and leave holes on rollback, so positions come from the room's row:
  a write (an append, a delete, a purge) locks ``rooms`` (``SELECT … FOR UPDATE``), numbers
  its events from ``last_seq`` and stores the new ``last_seq`` in the same transaction.
  Writers of one room — on any node — take turns on that row lock; writers of different
  rooms never wait for each other.
- **Group commit per room.** Appends to one room queued on this node are written by one
  transaction (one lock, one multi-row insert, one commit) and answered in ``seq`` order.
- **Idempotent sends.** The ``cid`` lookup runs after the room lock is taken, so two sends
  with one ``cid`` (on one node or two) store one message.
- **Exactly once.** ``publish_poll`` is a conditional ``UPDATE``: one caller wins. Votes lock
  their poll's row, so the tallies a vote returns are exact.
- **Time never goes backwards in a room**, as in SQLite: ``ts`` grows with ``seq``, so paging
  by time becomes paging by position (one index seek on ``(room_id, ts, seq)``).

Schema: the tables live in ``schema`` (default ``public``; one schema per test, or per
tenant); its migrations are in :mod:`~pchat.storage.store_postgres_schema`.

Faults. Every operation runs within the store's time budget (``timeout``), waiting for a
pooled connection included, so a stalled database never leaves requests — or a queue of
them — waiting longer than that. Running over it, and every connection-level failure (a
lost, refused or restarting server, a connection in an unknown state), raise
:class:`~pchat.storage.base.StoreUnavailable`, which clients get as ``unavailable``
(temporary). A connection whose operation was cut short is dropped, not returned to the
pool: its state is unknown and cleaning it up would wait for the stalled server.
:attr:`PostgresStore.healthy` follows the operations, and a ``SELECT 1`` while idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import asyncpg

from pchat.protocol import webhooks as hooks
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import (
    poll_rules,
    sql_rows,
    store_postgres_reports,
    store_postgres_retention,
    store_postgres_review,
    store_postgres_webhooks,
)
from .base import (
    AppendResult,
    DeleteResult,
    HoldResult,
    Purge,
    ReportsResolved,
    RetentionRule,
    RoomInfo,
    StoreUnavailable,
    StreamEvent,
    Trimmed,
    View,
    WebhookBacklog,
    WebhookDelivery,
    WebhookEndpoint,
)
from .sql_rows import M_JOINED, P_JOINED, M, P, message_from_row, poll_from_row, poll_to_row
from .store_health import StoreHealth
from .store_postgres_schema import migrate

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
_Row: TypeAlias = "asyncpg.Record | tuple[Any, ...]"

_MAX_SEQ: Final = (1 << 63) - 1
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _sql_view(first: int) -> str:
    """What a viewer sees: ``$first`` staff, then the viewer's id, then the muted ids."""
    staff, user, muted = first, first + 1, first + 2
    return f"""
    AND (${staff}::boolean OR (NOT hidden AND (NOT shadow OR user_id = ${user})))
    AND NOT (user_id = ANY(${muted}::text[]))"""


# History starts at the room's first kept position (retention: store_postgres_retention).
_SQL_FIRST_KEPT: Final = "coalesce((SELECT first_seq FROM rooms WHERE room_id = $1), 1)"
_SQL_HISTORY: Final = f"""
    SELECT {M} FROM messages WHERE room_id = $1 AND seq < $2 AND seq >= {_SQL_FIRST_KEPT} {{view}}
    ORDER BY seq DESC LIMIT $3"""
# ``ts`` grows with ``seq`` in a room: "older than ts" is "at or before the position of the
# newest message older than ts" — one seek on messages_ts, then the primary key.
_SQL_HISTORY_TS: Final = f"""
    SELECT {M} FROM messages
    WHERE room_id = $1 AND ts < $4 AND seq < least($2, 1 + coalesce((
        SELECT seq FROM messages WHERE room_id = $1 AND ts < $4
        ORDER BY ts DESC, seq DESC LIMIT 1
    ), 0)) AND seq >= {_SQL_FIRST_KEPT} {{view}}
    ORDER BY seq DESC LIMIT $3"""
_SQL_EVENTS: Final = sql_rows.sql_events("$1", "$2", "$3")
# A purge in one statement, under the room's lock: the user's messages soft-deleted, and if
# there were any, one event at position $8, its purge row and the room's new position. ``ts``
# grows with ``seq`` in a room, so the messages at ``since`` or later start at the first
# position whose ``ts`` is (a seek on messages_ts): the rest is a range of messages_user.
_SQL_PURGE: Final = f"""
    WITH d AS (
        UPDATE messages SET text = '', deleted = true, deleted_by_id = $4,
            deleted_by_name = $5, deleted_by_role = $6, deleted_at = $7
        WHERE room_id = $1 AND user_id = $2 AND NOT deleted AND ts >= $3 AND seq >= coalesce((
            SELECT seq FROM messages WHERE room_id = $1 AND ts >= $3 ORDER BY ts, seq LIMIT 1
        ), $9)
        RETURNING 1
    ), n AS (
        SELECT count(*) AS count FROM d
    ), e AS (
        INSERT INTO events (room_id, seq, kind, message_seq)
        SELECT $1, $8, 'message_purge', 0 FROM n WHERE count > 0
    ), p AS (
        INSERT INTO purges (room_id, seq, {sql_rows.PU})
        SELECT $1, $8, $2, $3, $4, $5, $6, $7, count FROM n WHERE count > 0
    ), r AS (
        UPDATE rooms SET last_seq = $8 FROM n WHERE room_id = $1 AND count > 0
    )
    SELECT count FROM n"""
_SQL_LOCK_ROOM: Final = "SELECT last_seq, last_ts FROM rooms WHERE room_id = $1 FOR UPDATE"
_SQL_ROOM_INFO: Final = "SELECT epoch, last_seq, first_seq FROM rooms WHERE room_id = $1"
_SQL_NEW_ROOM: Final = (
    "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at)"
    " VALUES ($1, $2, 0, 0, $3) ON CONFLICT (room_id) DO NOTHING"
)
_SQL_CIDS: Final = f"""
    SELECT {M_JOINED} FROM messages AS m
    JOIN unnest($2::text[], $3::text[]) AS k(user_id, cid)
      ON m.user_id = k.user_id AND m.cid = k.cid
    WHERE m.room_id = $1 AND m.cid IS NOT NULL"""
# One statement writes a batch: its messages, their events and the room's new position.
# The messages as columns: one array per column of sql_rows.NEW_MESSAGE_COLUMNS.
_SQL_APPEND: Final = f"""
    WITH m AS (
        INSERT INTO messages (room_id, {sql_rows.M_NEW})
        SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::bigint[], $10::text[], $11::jsonb[],
                                 $12::boolean[], $13::boolean[])
        RETURNING seq
    ), e AS (
        INSERT INTO events (room_id, seq, kind, message_seq)
        SELECT $1, seq, 'message', seq FROM m
    )
    UPDATE rooms SET last_seq = $14, last_ts = $15 WHERE room_id = $1"""
_SQL_POLL_ROWS: Final = f"""
    SELECT {P_JOINED}, o.text AS option_text, o.votes FROM polls AS p
    JOIN poll_options AS o ON o.room_id = p.room_id AND o.poll_id = p.id"""


def _sql_put(table: str, columns: tuple[str, ...], key: str) -> str:
    """Insert ``room_id`` and ``columns``, replacing the row of the same ``key``."""
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return (
        f"INSERT INTO {table} (room_id, {', '.join(columns)}) VALUES ({marks})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_SQL_PUT_BAN: Final = _sql_put("bans", sql_rows.BAN_COLUMNS, "room_id, user_id")
_SQL_PUT_SETTINGS: Final = _sql_put("room_settings", sql_rows.SETTINGS_COLUMNS, "room_id")
_SQL_PUT_PIN: Final = _sql_put("pins", ("pin",), "room_id")
_SQL_BANS: Final = (
    f"SELECT {sql_rows.B} FROM bans WHERE room_id = $1 AND (until IS NULL OR until > $2)"
    " ORDER BY user_id"
)
# What ``_SQL_BANS`` no longer returns at ``$1``, in every room; the number deleted.
_SQL_FORGET_EXPIRED_BANS: Final = """
    WITH d AS (DELETE FROM bans WHERE until IS NOT NULL AND until <= $1 RETURNING 1)
    SELECT count(*) FROM d"""
# The head's row lock orders the entries of one room, on every node: ids commit in order.
_SQL_LOG_ACTION: Final = f"""
    WITH head AS (
        INSERT INTO mod_log_heads (room_id, last_id) VALUES ($1, 1)
        ON CONFLICT (room_id) DO UPDATE SET last_id = mod_log_heads.last_id + 1
        RETURNING last_id
    )
    INSERT INTO mod_log (room_id, {sql_rows.L})
    VALUES ($1, (SELECT last_id FROM head), $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING id"""
_SQL_MOD_LOG: Final = (
    f"SELECT {sql_rows.L} FROM mod_log WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
)
_SQL_RECENT_TEXTS: Final = (
    "SELECT text FROM messages WHERE room_id = $1 AND user_id = $2 ORDER BY seq DESC LIMIT $3"
)
_SQL_FILTER_ENTRIES: Final = sql_rows.sql_filter_entries("$1")
# A new entry takes the next ``seq``; an entry whose pattern is listed keeps its place and
# takes the new action.
_SQL_PUT_FILTER_ENTRY: Final = (
    "INSERT INTO filter_entries (room_id, pattern, action) VALUES ($1, $2, $3)"
    " ON CONFLICT (room_id, pattern) DO UPDATE SET action = excluded.action"
)

# What a lost, refused, restarting or stalled connection looks like: the operation may
# succeed later. InternalClientError is asyncpg's "cannot switch to state …" on a connection
# left mid-operation by a failure; OperatorInterventionError covers a server shutting down
# (AdminShutdown, CrashShutdown, CannotConnectNow) and a cancelled statement.
_UNAVAILABLE: Final = (
    OSError,  # refused, reset; TimeoutError (over the budget) is one too
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
#: Seconds a health probe may take; shorter than the budget, so health notices sooner.
_PROBE_TIMEOUT: Final = 1.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


#: A change's webhook events, written on its connection (see store_postgres_webhooks).
_record: Final = store_postgres_webhooks.record


# -- rows to objects --------------------------------------------------------------------------


def _polls(rows: Iterable[asyncpg.Record]) -> list[Poll]:
    """Polls from rows of ``_SQL_POLL_ROWS`` ordered by poll, then option."""
    polls: list[Poll] = []
    head: tuple[Any, ...] | None = None
    options: list[tuple[str, int]] = []
    for row in rows:
        if head is None or row[0] != head[0]:
            if head is not None:
                polls.append(poll_from_row(head, options))
            head, options = tuple(row[:10]), []
        options.append((row[10], row[11]))
    if head is not None:
        polls.append(poll_from_row(head, options))
    return polls


# -- group commit of appends --------------------------------------------------------------------


@dataclass(slots=True)
class _Append:
    """A queued append: the message to store (its ``seq`` and ``ts`` are set in the batch)."""

    draft: Message
    future: asyncio.Future[AppendResult]


class PostgresStore:
    """The cluster message store on PostgreSQL; every node opens the same ``dsn``/``schema``.

    ``pool_size`` caps this node's connections; ``batch_max`` caps the appends of one room
    written by one transaction. ``timeout`` is the time budget of one operation (None: no
    budget); ``command_timeout`` bounds each statement of the migrations and, as a
    backstop, every other one.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        pool_size: int = 10,
        batch_max: int = 256,
        timeout: float | None = 3.0,
        command_timeout: float = 10.0,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")
        if batch_max < 1 or pool_size < 1:
            raise ValueError("batch_max and pool_size must be at least 1")
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._batch_max = batch_max
        self._timeout = timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._health = StoreHealth(f"postgres store ({schema})", self._probe)
        self._appends: dict[str, list[_Append]] = {}
        self._append_tasks: dict[str, asyncio.Task[None]] = {}
        #: The webhook types some endpoint subscribes to: the writes that make events check
        #: it (store_postgres_webhooks).
        self._hook_types: frozenset[str] = frozenset()

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, then create or migrate the schema."""
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self._pool_size,
            command_timeout=self._command_timeout,
            server_settings={"search_path": self.schema, "application_name": "pchat"},
        )
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._health.start()

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    async def _probe(self) -> None:
        budget = _PROBE_TIMEOUT if self._timeout is None else min(_PROBE_TIMEOUT, self._timeout)
        await self._run(lambda c: c.fetchval("SELECT 1"), timeout=budget)

    async def close(self) -> None:
        """Finish the queued appends, then close the connections (at once if the server
        does not answer)."""
        await self._health.stop()
        tasks = list(self._append_tasks.values())
        if tasks:
            await asyncio.wait(tasks)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _conn(self, timeout: float | None = None) -> AsyncIterator[_Conn]:
        """A pooled connection for one operation within the budget (``timeout`` or the
        store's), waiting for the connection included; see Faults above."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                conn = await pool.acquire()
                try:
                    yield conn
                except BaseException as exc:
                    if isinstance(exc, (asyncio.CancelledError, *_UNAVAILABLE)):
                        # Cut short or broken: never reuse it (a lost one is gone already).
                        with contextlib.suppress(asyncpg.InterfaceError):
                            conn.terminate()
                    raise
                finally:
                    await pool.release(conn)
        except _UNAVAILABLE as exc:
            self._health.failed(exc)
            raise StoreUnavailable(f"the database is unavailable ({type(exc).__name__})") from exc
        self._health.ok()

    async def _run(
        self, fn: Callable[[_Conn], Awaitable[_T]], *, timeout: float | None = None
    ) -> _T:
        async with self._conn(timeout) as conn:
            return await fn(conn)

    async def _tx(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        async with self._conn() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                result = await fn(conn)
            except Exception as exc:
                # A broken connection is dropped by _conn (the server rolls back); rolling
                # back on it would only fail again, or wait for a stalled server.
                if not isinstance(exc, _UNAVAILABLE):
                    await tx.rollback()
                raise
            await tx.commit()
            return result

    # -- rooms and appends -----------------------------------------------------------------

    async def room(self, room_id: str) -> RoomInfo:
        async def run(conn: _Conn) -> RoomInfo:
            row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
            if row is None:
                await conn.execute(_SQL_NEW_ROOM, room_id, secrets.token_hex(8), _now_ms())
                row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
            assert row is not None
            return RoomInfo(room_id, row[0], row[1], row[2])

        return await self._run(run)

    async def find_room(self, room_id: str) -> RoomInfo | None:
        async def run(conn: _Conn) -> RoomInfo | None:
            row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
            return None if row is None else RoomInfo(room_id, row[0], row[1], row[2])

        return await self._run(run)

    async def messages_since(self, room_id: str, ts: int) -> int:
        async def run(conn: _Conn) -> int:
            sql = "SELECT count(*) FROM messages WHERE room_id = $1 AND ts >= $2"
            return int(await conn.fetchval(sql, room_id, ts))

        return await self._run(run)

    async def append_message(
        self,
        room_id: str,
        *,
        message_id: str,
        user: User,
        text: str,
        cid: str | None,
        ts: int,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        shadow: bool = False,
    ) -> AppendResult:
        # seq 0: _append_drafts gives the position.
        draft = Message(
            message_id, 0, ts, user, text, cid, reply_to=reply_to, mentions=mentions, shadow=shadow
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._appends.setdefault(room_id, []).append(_Append(draft, future))
        if room_id not in self._append_tasks:
            self._append_tasks[room_id] = loop.create_task(self._drain_appends(room_id))
        try:
            # Over the budget, the append is cancelled: one not yet in a transaction is never
            # written; one in a transaction may commit, and a retry with its cid finds it.
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError as exc:
            self._health.failed(exc)
            raise StoreUnavailable("the database did not answer in time") from exc

    async def _drain_appends(self, room_id: str) -> None:
        """Write the room's queued appends, a batch per transaction, until none is left."""
        try:
            while pending := self._appends.get(room_id):
                batch = [a for a in pending[: self._batch_max] if not a.future.done()]
                del pending[: self._batch_max]
                if not batch:
                    continue
                try:
                    results = await self._tx(
                        partial(
                            self._append_drafts, room_id=room_id, drafts=[a.draft for a in batch]
                        )
                    )
                except Exception as exc:  # the transaction failed: no append of it holds
                    for append in batch:
                        if not append.future.done():
                            append.future.set_exception(exc)
                    continue
                for append, result in zip(batch, results, strict=True):
                    if not append.future.done():
                        append.future.set_result(result)
        finally:
            # No await since the loop ended: no append can have been queued meanwhile.
            del self._append_tasks[room_id]
            if not self._appends.get(room_id):
                self._appends.pop(room_id, None)

    async def _append_drafts(
        self, conn: _Conn, room_id: str, drafts: list[Message]
    ) -> list[AppendResult]:
        """Append ``drafts`` in order under the room's lock (in the caller's transaction)."""
        row = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
        if row is None:
            await conn.execute(_SQL_NEW_ROOM, room_id, secrets.token_hex(8), _now_ms())
            row = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
        assert row is not None
        last_seq, last_ts = row[0], row[1]
        # After the lock: a send with the same cid that committed first is visible here.
        keys = [(d.user.id, d.cid) for d in drafts if d.cid is not None]
        known: dict[tuple[str, str | None], Message] = {}
        if keys:
            rows = await conn.fetch(_SQL_CIDS, room_id, [k[0] for k in keys], [k[1] for k in keys])
            known = {(m.user.id, m.cid): m for m in map(message_from_row, rows)}
        results: list[AppendResult] = []
        new: list[Message] = []
        for draft in drafts:
            earlier = known.get((draft.user.id, draft.cid)) if draft.cid is not None else None
            if earlier is not None:
                results.append(AppendResult(earlier, created=False))
                continue
            last_seq += 1
            last_ts = max(last_ts, draft.ts)
            message = replace(draft, seq=last_seq, ts=last_ts)
            if draft.cid is not None:
                known[(draft.user.id, draft.cid)] = message
            new.append(message)
            results.append(AppendResult(message, created=True))
        if new:
            columns = [list(c) for c in zip(*map(sql_rows.message_to_row, new), strict=True)]
            await conn.execute(_SQL_APPEND, room_id, *columns, last_seq, last_ts)
            types = self._hook_types
            if types and hooks.subscribed(types, hooks.MESSAGE_POSTED):
                batch = [
                    (hooks.MESSAGE_POSTED, room_id, m.ts, hooks.message_posted(m)) for m in new
                ]
                await _record(conn, types, batch)
        return results

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        row = await self._run(
            lambda c: c.fetchrow(
                f"SELECT {M} FROM messages WHERE room_id = $1 AND id = $2", room_id, message_id
            )
        )
        return None if row is None else message_from_row(row)

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        async def run(conn: _Conn) -> DeleteResult | None:
            room = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
            if room is None:
                return None
            row = await conn.fetchrow(
                f"SELECT {M} FROM messages WHERE room_id = $1 AND id = $2", room_id, message_id
            )
            if row is None:
                return None
            message = message_from_row(row)
            if message.deleted:
                raise request_error(ErrorCode.ALREADY_DELETED, "the message was deleted before")
            seq = room[0] + 1
            await conn.execute(
                """WITH m AS (
                    UPDATE messages SET text = '', deleted = true, deleted_by_id = $3,
                        deleted_by_name = $4, deleted_by_role = $5, deleted_at = $6
                    WHERE room_id = $1 AND seq = $2
                ), e AS (
                    INSERT INTO events (room_id, seq, kind, message_seq)
                    VALUES ($1, $7, 'message_delete', $2)
                )
                UPDATE rooms SET last_seq = $7 WHERE room_id = $1""",
                room_id,
                message.seq,
                by.id,
                by.username,
                by.role,
                ts,
                seq,
            )
            deleted = message.as_deleted(by, ts)
            if types := self._hook_types:
                data = hooks.message_deleted(deleted, seq)
                await _record(conn, types, [(hooks.MESSAGE_DELETED, room_id, ts, data)])
            return DeleteResult(deleted, seq)

        return await self._tx(run)

    async def purge_user(
        self, room_id: str, user_id: str, *, since: int, by: User, ts: int
    ) -> tuple[int, Purge] | None:
        async def run(conn: _Conn) -> tuple[int, Purge] | None:
            room = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
            if room is None:
                return None
            seq = room[0] + 1
            count: int = await conn.fetchval(
                _SQL_PURGE, room_id, user_id, since, by.id, by.username, by.role, ts, seq, _MAX_SEQ
            )
            if not count:
                return None
            if types := self._hook_types:
                data = hooks.messages_purged(user_id, since, by, ts, count, seq)
                await _record(conn, types, [(hooks.MESSAGES_PURGED, room_id, ts, data)])
            return seq, Purge(user_id, since, by, ts, count)

        return await self._tx(run)

    async def history(
        self,
        room_id: str,
        *,
        before_seq: int | None = None,
        before_ts: int | None = None,
        limit: int = 50,
        view: View | None = None,
    ) -> list[Message]:
        if limit <= 0:
            return []
        seq = _MAX_SEQ if before_seq is None else before_seq
        sql = _SQL_HISTORY if before_ts is None else _SQL_HISTORY_TS
        params: list[Any] = [room_id, seq, limit]
        if before_ts is not None:
            params.append(before_ts)
        if view is None:
            sql = sql.format(view="")
        else:
            sql = sql.format(view=_sql_view(len(params) + 1))
            params += [view.staff, view.user_id, list(view.muted)]
        rows = await self._run(lambda c: c.fetch(sql, *params))
        messages = [message_from_row(row) for row in rows]
        messages.reverse()
        return messages

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        if limit <= 0:
            return []
        rows = await self._run(lambda c: c.fetch(_SQL_EVENTS, room_id, after_seq, limit))
        return [sql_rows.event_from_row(row) for row in rows]

    # -- reactions -------------------------------------------------------------------------

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        if not counts:
            return
        # Sorted: concurrent increments lock the rows in one order and cannot deadlock.
        names = sorted(counts)
        await self._run(
            lambda c: c.execute(
                "INSERT INTO reactions (room_id, reaction, count)"
                " SELECT $1, * FROM unnest($2::text[], $3::bigint[])"
                " ON CONFLICT (room_id, reaction)"
                " DO UPDATE SET count = reactions.count + excluded.count",
                room_id,
                names,
                [counts[n] for n in names],
            )
        )

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        rows = await self._run(
            lambda c: c.fetch(
                "SELECT reaction, count FROM reactions WHERE room_id = $1 ORDER BY reaction",
                room_id,
            )
        )
        return {row[0]: row[1] for row in rows}

    # -- polls -----------------------------------------------------------------------------

    async def create_poll(self, room_id: str, poll: Poll) -> Poll:
        poll = replace(poll, my_vote=None)
        types = self._hook_types if poll.status == "open" else frozenset()

        async def run(conn: _Conn) -> None:
            await conn.execute(
                f"""WITH p AS (
                    INSERT INTO polls (room_id, {P})
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                )
                INSERT INTO poll_options (room_id, poll_id, idx, text, votes)
                SELECT $1, $2, o.idx - 1, o.text, o.votes
                FROM unnest($12::text[], $13::bigint[]) WITH ORDINALITY AS o(text, votes, idx)""",
                room_id,
                *poll_to_row(poll),
                [o.text for o in poll.options],
                [o.votes for o in poll.options],
            )
            if types:
                ts = poll.published_at or poll.created_at
                await _record(
                    conn, types, [(hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))]
                )

        await (self._tx(run) if types else self._run(run))
        return poll

    @staticmethod
    async def _fetch_poll(conn: _Conn, room_id: str, poll_id: str) -> Poll | None:
        rows = await conn.fetch(
            f"{_SQL_POLL_ROWS} WHERE p.room_id = $1 AND p.id = $2 ORDER BY o.idx", room_id, poll_id
        )
        polls = _polls(rows)
        return polls[0] if polls else None

    async def get_poll(self, room_id: str, poll_id: str) -> Poll | None:
        return await self._run(lambda c: self._fetch_poll(c, room_id, poll_id))

    async def list_polls(self, room_id: str, statuses: Iterable[str]) -> list[Poll]:
        wanted = sorted(set(statuses))
        if not wanted:
            return []
        rows = await self._run(
            lambda c: c.fetch(
                f"{_SQL_POLL_ROWS} WHERE p.room_id = $1 AND p.status = ANY($2::text[])"
                " ORDER BY p.created_at, p.id, o.idx",
                room_id,
                wanted,
            )
        )
        return _polls(rows)

    async def scheduled_polls(self) -> list[tuple[str, str, int]]:
        rows = await self._run(
            lambda c: c.fetch(
                "SELECT room_id, id, coalesce(publish_at, 0) FROM polls"
                " WHERE status = 'scheduled' ORDER BY publish_at"
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def publish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll | None:
        async def run(conn: _Conn) -> Poll | None:
            won = await conn.fetchval(
                "UPDATE polls SET status = 'open', published_at = $3"
                " WHERE room_id = $1 AND id = $2 AND status = 'scheduled' RETURNING true",
                room_id,
                poll_id,
                ts,
            )
            poll = await self._fetch_poll(conn, room_id, poll_id) if won else None
            if poll is not None and (types := self._hook_types):
                await _record(
                    conn, types, [(hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))]
                )
            return poll

        return await self._tx(run)

    async def _locked_poll(self, conn: _Conn, room_id: str, poll_id: str) -> Poll | None:
        # Lock first, read after: a statement that waited for the lock would read the
        # options as they were before the previous holder committed.
        locked = await conn.fetchval(
            "SELECT true FROM polls WHERE room_id = $1 AND id = $2 FOR UPDATE", room_id, poll_id
        )
        return await self._fetch_poll(conn, room_id, poll_id) if locked else None

    async def vote(self, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
        async def run(conn: _Conn) -> Poll:
            # The poll's row lock orders the votes of one poll: each sees the ones before.
            poll = poll_rules.poll_to_vote(await self._locked_poll(conn, room_id, poll_id), option)
            counted = await conn.fetchval(
                """WITH v AS (
                    INSERT INTO poll_votes (room_id, poll_id, user_id, option, ts)
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1
                )
                UPDATE poll_options SET votes = votes + 1
                WHERE room_id = $1 AND poll_id = $2 AND idx = $4 AND EXISTS (SELECT 1 FROM v)
                RETURNING true""",
                room_id,
                poll_id,
                user_id,
                option,
                _now_ms(),
            )
            poll_rules.first_vote(bool(counted))
            return poll_rules.counted(poll, option)

        return await self._tx(run)

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        async def run(conn: _Conn) -> Poll:
            poll = poll_rules.poll_to_finish(await self._locked_poll(conn, room_id, poll_id))
            await conn.execute(
                "UPDATE polls SET status = 'finished', finished_at = $3"
                " WHERE room_id = $1 AND id = $2",
                room_id,
                poll_id,
                ts,
            )
            poll = poll_rules.finished(poll, ts)
            if types := self._hook_types:
                await _record(
                    conn, types, [(hooks.POLL_FINISHED, room_id, ts, hooks.poll_event(poll))]
                )
            return poll

        return await self._tx(run)

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        rows = await self._run(
            lambda c: c.fetch(
                "SELECT poll_id, option FROM poll_votes WHERE room_id = $1 AND user_id = $2",
                room_id,
                user_id,
            )
        )
        return {row[0]: row[1] for row in rows}

    # -- moderation ------------------------------------------------------------------------

    async def put_ban(self, room_id: str, ban: Ban) -> None:
        types = self._hook_types

        async def run(conn: _Conn) -> None:
            await conn.execute(_SQL_PUT_BAN, room_id, *sql_rows.ban_to_row(ban))
            if types:
                event = (hooks.USER_BANNED, room_id, ban.created_at, hooks.user_banned(ban))
                await _record(conn, types, [event])

        await (self._tx(run) if types else self._run(run))

    async def _remove(self, table: str, column: str, room_id: str, key: str) -> bool:
        """Delete the room's row of ``table`` whose ``column`` is ``key``; False if none."""
        sql = f"DELETE FROM {table} WHERE room_id = $1 AND {column} = $2 RETURNING true"
        return bool(await self._run(lambda c: c.fetchval(sql, room_id, key)))

    async def put_mute(self, user_id: str, muted_id: str, ts: int) -> bool:
        sql = (
            "INSERT INTO mutes (user_id, muted_id, ts) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true"
        )
        return bool(await self._run(lambda c: c.fetchval(sql, user_id, muted_id, ts)))

    async def remove_mute(self, user_id: str, muted_id: str) -> bool:
        sql = "DELETE FROM mutes WHERE user_id = $1 AND muted_id = $2 RETURNING true"
        return bool(await self._run(lambda c: c.fetchval(sql, user_id, muted_id)))

    async def mutes(self, user_id: str) -> list[str]:
        return (await self.mutes_of([user_id])).get(user_id, [])

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        if not user_ids:
            return {}
        sql = (
            "SELECT user_id, muted_id FROM mutes WHERE user_id = ANY($1::text[])"
            " ORDER BY user_id, ts, muted_id"
        )
        rows = await self._run(lambda c: c.fetch(sql, list(user_ids)))
        found: dict[str, list[str]] = {}
        for user_id, muted_id in rows:
            found.setdefault(user_id, []).append(muted_id)
        return found

    async def revoke_tokens(self, user_id: str, before: int) -> int:
        sql = (
            "INSERT INTO revocations (user_id, revoked_before) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE"
            " SET revoked_before = greatest(revocations.revoked_before, excluded.revoked_before)"
            " RETURNING revoked_before"
        )
        return int(await self._run(lambda c: c.fetchval(sql, user_id, before)))

    async def revocations(self, since: int) -> dict[str, int]:
        sql = "SELECT user_id, revoked_before FROM revocations WHERE revoked_before >= $1"
        rows = await self._run(lambda c: c.fetch(sql, since))
        return {r[0]: int(r[1]) for r in rows}

    async def remove_ban(self, room_id: str, user_id: str) -> bool:
        types = self._hook_types
        if not types:
            return await self._remove("bans", "user_id", room_id, user_id)

        async def run(conn: _Conn) -> bool:
            row = await conn.fetchrow(
                f"DELETE FROM bans WHERE room_id = $1 AND user_id = $2 RETURNING {sql_rows.B}",
                room_id,
                user_id,
            )
            if row is None:
                return False
            data = hooks.user_unbanned(sql_rows.ban_from_row(row))
            await _record(conn, types, [(hooks.USER_UNBANNED, room_id, _now_ms(), data)])
            return True

        return await self._tx(run)

    async def bans(self, room_id: str, now_ms: int) -> list[Ban]:
        rows = await self._run(lambda c: c.fetch(_SQL_BANS, room_id, now_ms))
        return [sql_rows.ban_from_row(row) for row in rows]

    async def forget_expired_bans(self, now_ms: int) -> int:
        count: int = await self._run(lambda c: c.fetchval(_SQL_FORGET_EXPIRED_BANS, now_ms))
        return count

    async def room_settings(self, room_id: str) -> RoomSettings:
        row = await self._run(
            lambda c: c.fetchrow(
                f"SELECT {sql_rows.S} FROM room_settings WHERE room_id = $1", room_id
            )
        )
        return RoomSettings() if row is None else sql_rows.settings_from_row(row)

    async def put_room_settings(self, room_id: str, settings: RoomSettings) -> None:
        row = sql_rows.settings_to_row(settings)
        await self._run(lambda c: c.execute(_SQL_PUT_SETTINGS, room_id, *row))

    async def pin(self, room_id: str) -> Pin | None:
        text = await self._run(
            lambda c: c.fetchval("SELECT pin FROM pins WHERE room_id = $1", room_id)
        )
        return None if text is None else sql_rows.pin_from_json(text)

    async def put_pin(self, room_id: str, pin: Pin | None) -> None:
        if pin is None:
            await self._run(lambda c: c.execute("DELETE FROM pins WHERE room_id = $1", room_id))
        else:
            await self._run(lambda c: c.execute(_SQL_PUT_PIN, room_id, sql_rows.pin_to_json(pin)))

    async def log_action(self, room_id: str, action: ModAction) -> ModAction:
        row = sql_rows.mod_action_to_row(action)
        log_id = await self._run(lambda c: c.fetchval(_SQL_LOG_ACTION, room_id, *row))
        return replace(action, id=log_id)

    async def mod_log(self, room_id: str, *, before_id: int | None, limit: int) -> list[ModAction]:
        if limit <= 0:
            return []
        before = _MAX_SEQ if before_id is None else before_id
        rows = await self._run(lambda c: c.fetch(_SQL_MOD_LOG, room_id, before, limit))
        return [sql_rows.mod_action_from_row(row) for row in rows]

    async def recent_texts(self, room_id: str, user_id: str, limit: int) -> list[str]:
        if limit <= 0:
            return []
        rows = await self._run(lambda c: c.fetch(_SQL_RECENT_TEXTS, room_id, user_id, limit))
        return [row[0] for row in rows]

    async def filter_entries(self, room_id: str) -> list[FilterEntry]:
        rows = await self._run(lambda c: c.fetch(_SQL_FILTER_ENTRIES, room_id))
        return [FilterEntry(pattern, action) for pattern, action in rows]

    async def put_filter_entry(self, room_id: str, entry: FilterEntry) -> None:
        row = (room_id, entry.pattern, entry.action)
        await self._run(lambda c: c.execute(_SQL_PUT_FILTER_ENTRY, *row))

    async def remove_filter_entry(self, room_id: str, pattern: str) -> bool:
        return await self._remove("filter_entries", "pattern", room_id, pattern)

    # -- the review queue (store_postgres_review) --------------------------------------------

    async def hold_message(self, room_id: str, held: Held) -> HoldResult:
        return await self._tx(lambda c: store_postgres_review.hold(c, room_id, held))

    async def held_messages(self, room_id: str, limit: int) -> list[Held]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_review.listing(c, room_id, limit))

    async def get_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._run(lambda c: store_postgres_review.get(c, room_id, held_id))

    async def release_held(self, room_id: str, held_id: str, ts: int) -> AppendResult | None:
        async def run(conn: _Conn) -> AppendResult | None:
            held = await store_postgres_review.take(conn, room_id, held_id)
            if held is None:
                return None
            [result] = await self._append_drafts(conn, room_id, [held.as_message(0, ts)])
            return result

        return await self._tx(run)

    async def reject_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._run(lambda c: store_postgres_review.take(c, room_id, held_id))

    async def due_held(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        return await self._run(lambda c: store_postgres_review.due(c, now_ms, limit))

    # -- reports (store_postgres_reports) ----------------------------------------------------

    async def add_report(
        self, room_id: str, message_id: str, user_id: str, reason: str, ts: int
    ) -> int | None:
        row = (room_id, message_id, user_id, reason, ts)
        return await self._tx(lambda c: store_postgres_reports.add(c, *row))

    async def report(self, room_id: str, message_id: str) -> Report | None:
        return await self._run(lambda c: store_postgres_reports.one(c, room_id, message_id))

    async def open_reports(self, room_id: str, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_reports.listing(c, room_id, limit))

    async def hide_message(
        self, room_id: str, message_id: str, ts: int, *, min_reports: int = 1
    ) -> tuple[int, Message] | None:
        return await self._tx(
            lambda c: store_postgres_reports.hide(c, room_id, message_id, ts, min_reports)
        )

    async def resolve_reports(
        self, room_id: str, message_id: str, *, restore_ts: int | None = None
    ) -> ReportsResolved | None:
        return await self._tx(
            lambda c: store_postgres_reports.resolve(c, room_id, message_id, restore_ts)
        )

    # -- webhooks (store_postgres_webhooks) ---------------------------------------------------

    @property
    def webhook_types(self) -> frozenset[str]:
        return self._hook_types

    async def reload_webhook_types(self) -> frozenset[str]:
        self._hook_types = await self._run(store_postgres_webhooks.subscribed_types)
        return self._hook_types

    async def _endpoints_changed(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Change endpoints, then read this store's ``webhook_types`` again at once."""

        async def run(conn: _Conn) -> tuple[_T, frozenset[str]]:
            return await fn(conn), await store_postgres_webhooks.subscribed_types(conn)

        result, self._hook_types = await self._tx(run)
        return result

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        await self._endpoints_changed(lambda c: store_postgres_webhooks.add(c, endpoint))

    async def webhooks(self) -> list[WebhookEndpoint]:
        return await self._run(store_postgres_webhooks.listing)

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self._run(lambda c: store_postgres_webhooks.get(c, endpoint_id))

    async def update_webhook(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        secret: str | None = None,
        types: tuple[str, ...] | None = None,
        active: bool | None = None,
        description: str | None = None,
    ) -> WebhookEndpoint | None:
        given = {
            "url": url,
            "secret": secret,
            "types": types,
            "active": active,
            "description": description,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        return await self._endpoints_changed(
            lambda c: store_postgres_webhooks.update(c, endpoint_id, changes)
        )

    async def remove_webhook(self, endpoint_id: str) -> bool:
        return await self._endpoints_changed(
            lambda c: store_postgres_webhooks.remove(c, endpoint_id)
        )

    async def webhook_backlog(self, endpoint_id: str) -> WebhookBacklog:
        return await self._run(lambda c: store_postgres_webhooks.backlog(c, endpoint_id))

    async def set_room_live(self, room_id: str, live: bool, ts: int, online: int) -> bool:
        types = self._hook_types
        return await self._tx(
            lambda c: store_postgres_webhooks.set_room_live(c, types, room_id, live, ts, online)
        )

    async def claim_webhooks(self, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_webhooks.claim(c, now_ms, lease_ms, limit))

    async def webhook_delivered(self, delivery_id: int, claim: str) -> bool:
        return await self._run(lambda c: store_postgres_webhooks.delivered(c, delivery_id, claim))

    async def webhook_failed(
        self, delivery_id: int, claim: str, *, error: str, retry_at: int | None, now_ms: int
    ) -> bool:
        return await self._run(
            lambda c: store_postgres_webhooks.failed(c, delivery_id, claim, error, retry_at, now_ms)
        )

    async def retry_dead_webhooks(self, endpoint_id: str, now_ms: int) -> int:
        return await self._run(lambda c: store_postgres_webhooks.retry_dead(c, endpoint_id, now_ms))

    async def forget_dead_webhooks(self, before_ms: int) -> int:
        return await self._run(lambda c: store_postgres_webhooks.forget_dead(c, before_ms))

    # -- retention (store_postgres_retention) -------------------------------------------------

    async def room_retention(self, room_id: str) -> RetentionRule | None:
        return await self._run(lambda c: store_postgres_retention.room_rule(c, room_id))

    async def set_room_retention(self, room_id: str, rule: RetentionRule | None) -> None:
        await self._run(lambda c: store_postgres_retention.set_rule(c, room_id, rule))

    async def retention_rules(self) -> dict[str, RetentionRule]:
        return await self._run(store_postgres_retention.rules)

    async def trim_candidates(
        self, *, after: str, limit: int, before_ts: int | None, keep: int | None
    ) -> list[str]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: store_postgres_retention.candidates(c, after, limit, before_ts, keep)
        )

    async def trim_room(
        self,
        room_id: str,
        *,
        before_ts: int | None,
        keep: int | None,
        limit: int,
        keep_since_ts: int | None = None,
    ) -> Trimmed:
        if limit < 1 or (keep is not None and keep < 1):
            raise ValueError("limit and keep must be at least 1")
        bounds = (before_ts, keep, limit, keep_since_ts)
        return await self._tx(lambda c: store_postgres_retention.trim(c, room_id, *bounds))
