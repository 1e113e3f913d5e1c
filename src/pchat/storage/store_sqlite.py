"""The embedded default :class:`~pchat.storage.base.MessageStore`: one SQLite file.

How it is fast without giving up durability or order:

- **WAL journal, ``synchronous=NORMAL``.** A commit appends to the write-ahead log without
  an fsync; a power cut may lose the last commits but never corrupts the file.
- **One writer thread, group commit.** The writer thread owns the only connection that
  writes. Every write is a *job*; the writer takes every job queued (up to ``batch_max``)
  and runs them in one transaction, each inside its own ``SAVEPOINT`` so that a job that
  raises (``already_voted``, …) fails alone. Futures are resolved after the commit, in
  submission order: appends to one room come back in ``seq`` order.
- **One reader thread.** Reads run on their own connection (WAL lets them run while the
  writer writes), a batch of reads in one read transaction. A read submitted after a write's
  future resolved sees that write: the write was committed before its future resolved.
- **Gap-free positions.** ``rooms.last_seq`` is bumped inside the writer by every appended
  message, every delete and every purge; the ``events`` table is the stream.
- **Time never goes backwards in a room.** A message whose ``ts`` is older than the room's
  last message (the clock stepped back) is stored with the last message's ``ts``. So ``ts``
  grows with ``seq``, and paging by time becomes paging by position: one index seek on
  ``(room_id, ts)`` finds the position, the primary key does the rest.

The schema and its migrations are in :mod:`~pchat.storage.store_sqlite_schema`.

Faults: an operation over the time budget (``timeout``), or one that finds the file locked
(another process writing past ``busy_timeout``) or the disk full, raises
:class:`~pchat.storage.base.StoreUnavailable` (``unavailable`` to clients). A write over
the budget may still commit later: a retry with the same ``cid`` finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from pchat.protocol import webhooks as hooks
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import (
    poll_rules,
    sql_rows,
    store_sqlite_reports,
    store_sqlite_retention,
    store_sqlite_review,
    store_sqlite_webhooks,
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
from .private_files import private_file, sqlite_files
from .sql_rows import P_JOINED, M, P, message_from_row, poll_from_row, poll_to_row
from .store_health import StoreHealth
from .store_sqlite_schema import migrate

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")

_MAX_SEQ: Final = (1 << 63) - 1

# What a viewer sees (``?5`` staff, ``?6`` the viewer, ``?7`` the muted ids as a JSON array).
_SQL_VIEW: Final = """
    AND (?5 OR (hidden = 0 AND (shadow = 0 OR user_id = ?6)))
    AND user_id NOT IN (SELECT value FROM json_each(?7))"""
# History starts at the room's first kept position (retention: store_sqlite_retention).
_SQL_FIRST_KEPT: Final = "coalesce((SELECT first_seq FROM rooms WHERE room_id = ?1), 1)"
_SQL_HISTORY: Final = f"""
    SELECT {M} FROM messages WHERE room_id = ?1 AND seq < ?2 AND seq >= {_SQL_FIRST_KEPT} {{view}}
    ORDER BY seq DESC LIMIT ?3"""
# ``ts`` grows with ``seq`` in a room, so "older than ts" is "at or before the position of
# the newest message older than ts": one seek on messages_ts, then the primary key.
_SQL_HISTORY_TS: Final = f"""
    SELECT {M} FROM messages
    WHERE room_id = ?1 AND ts < ?4 AND seq < min(?2, 1 + coalesce((
        SELECT seq FROM messages WHERE room_id = ?1 AND ts < ?4 ORDER BY ts DESC, seq DESC LIMIT 1
    ), 0)) AND seq >= {_SQL_FIRST_KEPT} {{view}}
    ORDER BY seq DESC LIMIT ?3"""
_SQL_EVENTS: Final = sql_rows.sql_events("?1", "?2", "?3")
# One statement soft-deletes what a purge deletes. ``ts`` grows with ``seq`` in a room, so the
# user's messages at ``since`` or later start at the first position whose ``ts`` is (a seek on
# messages_ts): the rest is a range of messages_user, which the planner would not pick alone.
_SQL_PURGE: Final = """
    UPDATE messages INDEXED BY messages_user
    SET text = '', deleted = 1, deleted_by_id = ?4, deleted_by_name = ?5, deleted_by_role = ?6,
        deleted_at = ?7
    WHERE room_id = ?1 AND user_id = ?2 AND deleted = 0 AND ts >= ?3 AND seq >= coalesce((
        SELECT seq FROM messages WHERE room_id = ?1 AND ts >= ?3 ORDER BY ts, seq LIMIT 1
    ), ?8)"""
_SQL_BANS: Final = (
    f"SELECT {sql_rows.B} FROM bans WHERE room_id = ?1 AND (until IS NULL OR until > ?2)"
    " ORDER BY user_id"
)
# What ``_SQL_BANS`` no longer returns at ``?1``, in every room.
_SQL_FORGET_EXPIRED_BANS: Final = "DELETE FROM bans WHERE until IS NOT NULL AND until <= ?1"
_SQL_MOD_LOG: Final = (
    f"SELECT {sql_rows.L} FROM mod_log WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
)
# Without statistics the planner prefers walking the room's messages backwards from the
# newest and filtering by user: a scan of the room for a user who rarely writes.
_SQL_RECENT_TEXTS: Final = (
    "SELECT text FROM messages INDEXED BY messages_user"
    " WHERE room_id = ? AND user_id = ? ORDER BY seq DESC LIMIT ?"
)
_SQL_FILTER_ENTRIES: Final = sql_rows.sql_filter_entries("?")
# A new entry goes after the list's last one (the writer runs one job at a time: no two get
# one ``seq``); an entry whose pattern is listed keeps its place and takes the new action.
_SQL_PUT_FILTER_ENTRY: Final = """
    INSERT INTO filter_entries (room_id, pattern, action, seq)
    VALUES (?1, ?2, ?3, 1 + coalesce((SELECT max(seq) FROM filter_entries WHERE room_id = ?1), 0))
    ON CONFLICT (room_id, pattern) DO UPDATE SET action = excluded.action"""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


#: A change's webhook event, written in its job (see store_sqlite_webhooks).
_record: Final = store_sqlite_webhooks.record


# -- the worker threads -----------------------------------------------------------------------


class _Job:
    """One unit of work for a worker; ``fn`` None asks the worker to stop."""

    __slots__ = ("fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any] | None,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


_Outcome = tuple[_Job, Any, BaseException | None]


def _resolve(outcomes: list[_Outcome]) -> None:
    """Settle futures on their event loop, in order; a cancelled caller is skipped."""
    for job, value, exc in outcomes:
        if job.future.done():
            continue
        if exc is None:
            job.future.set_result(value)
        else:
            job.future.set_exception(exc)


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand ``outcomes`` to their loops: one wake-up per loop and batch, order kept."""
    for loop, group in itertools.groupby(outcomes, key=lambda o: o[0].loop):
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, list(group))


class _Worker:
    """A thread owning one connection; runs queued jobs in batches, one transaction each.

    A writer wraps each job in a savepoint so that a failing job is undone alone; if the
    transaction itself fails, every job of the batch fails with it.
    """

    def __init__(self, name: str, conn: sqlite3.Connection, *, batch_max: int, write: bool) -> None:
        self._conn = conn
        self._write = write
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` on the worker thread and return its result."""
        if self._stopping:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    async def stop(self) -> None:
        """Finish every job queued so far, close the connection and end the thread."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Job(None, done, loop))
        await done
        self._thread.join()

    def _main(self) -> None:
        stop: _Job | None = None
        try:
            while stop is None:
                batch: list[_Job] = []
                job = self._queue.get()
                while True:
                    if job.fn is None:
                        stop = job
                        break
                    batch.append(job)
                    if len(batch) >= self._batch_max:
                        break
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    _settle(self._run_batch(batch))
        finally:
            if self._write:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")
            self._conn.close()
            if stop is not None:
                _settle([(stop, None, None)])

    def _run_batch(self, batch: list[_Job]) -> list[_Outcome]:
        conn = self._conn
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
            for job in batch:
                outcomes.append(self._run_job(job))
            conn.execute("COMMIT")
        except Exception as exc:  # the transaction failed: no write of the batch holds
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            kept = [] if self._write else outcomes
            return kept + [(job, None, exc) for job in batch[len(kept) :]]
        return outcomes

    def _run_job(self, job: _Job) -> _Outcome:
        assert job.fn is not None
        conn = self._conn
        if not self._write:
            try:
                return (job, job.fn(conn), None)
            except Exception as exc:
                return (job, None, exc)
        conn.execute("SAVEPOINT job")
        try:
            value = job.fn(conn)
        except Exception as exc:
            # If SQLite already rolled back the whole transaction, this raises and the
            # batch fails as a whole (see _run_batch).
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return (job, None, exc)
        conn.execute("RELEASE job")
        return (job, value, None)


def _is_transient(exc: sqlite3.OperationalError) -> bool:
    """Locked by another writer, or the disk is full: the same write may succeed later."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL)


def _connect(path: Path, *, write: bool) -> sqlite3.Connection:
    if write:
        # Private from the first byte (mode 0600); SQLite gives the -wal and -shm files the
        # database's mode.
        for file in sqlite_files(path):
            private_file(file, create=file == path)
    # isolation_level=None: no implicit transactions, the worker issues BEGIN/COMMIT itself.
    # check_same_thread=False: opened here, then used by exactly one worker thread.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB
        if write:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        else:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


# -- jobs: each runs on a worker thread with that worker's connection ----------------------


def _room_info(conn: sqlite3.Connection, room_id: str) -> RoomInfo | None:
    row = conn.execute(
        "SELECT epoch, last_seq, first_seq FROM rooms WHERE room_id = ?", (room_id,)
    ).fetchone()
    return None if row is None else RoomInfo(room_id, row[0], row[1], row[2])


def _ensure_room(conn: sqlite3.Connection, room_id: str) -> RoomInfo:
    conn.execute(
        "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at) VALUES (?, ?, 0, 0, ?)"
        " ON CONFLICT (room_id) DO NOTHING",
        (room_id, secrets.token_hex(8), _now_ms()),
    )
    info = _room_info(conn, room_id)
    assert info is not None
    return info


def _append(
    conn: sqlite3.Connection, room_id: str, draft: Message, types: frozenset[str]
) -> AppendResult:
    """Store ``draft`` at the room's next position (its ``seq`` is ignored), unless its cid
    was seen: see :meth:`StreamStore.append_message`. ``types``: the webhook types
    subscribed (the store's), here and below."""
    user, cid = draft.user, draft.cid
    if cid is not None:
        row = conn.execute(
            f"SELECT {M} FROM messages WHERE room_id = ? AND user_id = ? AND cid = ?",
            (room_id, user.id, cid),
        ).fetchone()
        if row is not None:
            return AppendResult(message_from_row(row), created=False)
    rows = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1, last_ts = max(last_ts, ?1)"
        " WHERE room_id = ?2 RETURNING last_seq, last_ts",
        (draft.ts, room_id),
    ).fetchall()
    if rows:
        seq, ts = rows[0]
    else:
        seq, ts = 1, draft.ts
        conn.execute(
            "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at)"
            " VALUES (?, ?, 1, ?, ?)",
            (room_id, secrets.token_hex(8), ts, _now_ms()),
        )
    message = replace(draft, seq=seq, ts=ts)
    row = (room_id, *sql_rows.message_to_row(message))
    _insert(conn, "messages", sql_rows.M_NEW, row, upsert=False)
    conn.execute(
        "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, 'message', ?)",
        (room_id, seq, seq),
    )
    if types and hooks.subscribed(types, hooks.MESSAGE_POSTED):
        data = hooks.message_posted(message)
        _record(conn, types, hooks.MESSAGE_POSTED, room_id, ts, data)
    return AppendResult(message, created=True)


def _release(
    conn: sqlite3.Connection, room_id: str, held_id: str, ts: int, types: frozenset[str]
) -> AppendResult | None:
    """Take a held message out of the queue and append it with its id, in one job."""
    held = store_sqlite_review.take(conn, room_id, held_id)
    return None if held is None else _append(conn, room_id, held.as_message(0, ts), types)


def _get_message(conn: sqlite3.Connection, room_id: str, message_id: str) -> Message | None:
    row = conn.execute(
        f"SELECT {M} FROM messages WHERE room_id = ? AND id = ?", (room_id, message_id)
    ).fetchone()
    return None if row is None else message_from_row(row)


def _delete(
    conn: sqlite3.Connection,
    room_id: str,
    message_id: str,
    by: User,
    ts: int,
    types: frozenset[str],
) -> DeleteResult | None:
    message = _get_message(conn, room_id, message_id)
    if message is None:
        return None
    if message.deleted:
        raise request_error(ErrorCode.ALREADY_DELETED, "the message was deleted before")
    ((seq,),) = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE room_id = ? RETURNING last_seq",
        (room_id,),
    ).fetchall()
    conn.execute(
        "UPDATE messages SET text = '', deleted = 1, deleted_by_id = ?, deleted_by_name = ?,"
        " deleted_by_role = ?, deleted_at = ? WHERE room_id = ? AND seq = ?",
        (by.id, by.username, by.role, ts, room_id, message.seq),
    )
    conn.execute(
        "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, 'message_delete', ?)",
        (room_id, seq, message.seq),
    )
    deleted = message.as_deleted(by, ts)
    if types:
        _record(
            conn, types, hooks.MESSAGE_DELETED, room_id, ts, hooks.message_deleted(deleted, seq)
        )
    return DeleteResult(deleted, seq)


def _history(
    conn: sqlite3.Connection,
    room_id: str,
    before_seq: int,
    before_ts: int | None,
    limit: int,
    view: View | None,
) -> list[Message]:
    sql = _SQL_HISTORY if before_ts is None else _SQL_HISTORY_TS
    params: tuple[Any, ...] = (room_id, before_seq, limit, before_ts)
    if view is None:
        sql = sql.format(view="")
        params = params if before_ts is not None else params[:3]
    else:
        sql = sql.format(view=_SQL_VIEW)
        params += (view.staff, view.user_id, orjson.dumps(view.muted).decode())
    cursor = conn.execute(sql, params)
    messages = [message_from_row(row) for row in cursor]
    messages.reverse()
    return messages


def _purge(
    conn: sqlite3.Connection,
    room_id: str,
    user_id: str,
    since: int,
    by: User,
    ts: int,
    types: frozenset[str],
) -> tuple[int, Purge] | None:
    params = (room_id, user_id, since, by.id, by.username, by.role, ts, _MAX_SEQ)
    count = conn.execute(_SQL_PURGE, params).rowcount
    if count <= 0:
        return None
    ((seq,),) = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE room_id = ? RETURNING last_seq",
        (room_id,),
    ).fetchall()
    conn.execute(
        "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, 'message_purge', 0)",
        (room_id, seq),
    )
    purge = Purge(user_id, since, by, ts, count)
    row = (room_id, seq, *sql_rows.purge_to_row(purge))
    _insert(conn, "purges", f"seq, {sql_rows.PU}", row, upsert=False)
    if types:
        data = hooks.messages_purged(user_id, since, by, ts, count, seq)
        _record(conn, types, hooks.MESSAGES_PURGED, room_id, ts, data)
    return seq, purge


def _events(
    conn: sqlite3.Connection, room_id: str, after_seq: int, limit: int
) -> list[StreamEvent]:
    rows = conn.execute(_SQL_EVENTS, (room_id, after_seq, limit))
    return [sql_rows.event_from_row(row) for row in rows]


def _add_reactions(conn: sqlite3.Connection, room_id: str, counts: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO reactions (room_id, reaction, count) VALUES (?, ?, ?)"
        " ON CONFLICT (room_id, reaction) DO UPDATE SET count = count + excluded.count",
        [(room_id, reaction, n) for reaction, n in counts.items()],
    )


def _reaction_stats(conn: sqlite3.Connection, room_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reaction, count FROM reactions WHERE room_id = ? ORDER BY reaction", (room_id,)
    )
    return dict(rows)


def _create_poll(conn: sqlite3.Connection, room_id: str, poll: Poll, types: frozenset[str]) -> Poll:
    row = (room_id, *poll_to_row(poll))
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO polls (room_id, {P}) VALUES ({marks})", row)
    conn.executemany(
        "INSERT INTO poll_options (room_id, poll_id, idx, text, votes) VALUES (?, ?, ?, ?, ?)",
        [(room_id, poll.id, i, o.text, o.votes) for i, o in enumerate(poll.options)],
    )
    poll = replace(poll, my_vote=None)
    if types and poll.status == "open":
        ts = poll.published_at or poll.created_at
        _record(conn, types, hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def _get_poll(conn: sqlite3.Connection, room_id: str, poll_id: str) -> Poll | None:
    row = conn.execute(
        f"SELECT {P} FROM polls WHERE room_id = ? AND id = ?", (room_id, poll_id)
    ).fetchone()
    if row is None:
        return None
    options = conn.execute(
        "SELECT text, votes FROM poll_options WHERE room_id = ? AND poll_id = ? ORDER BY idx",
        (room_id, poll_id),
    )
    return poll_from_row(row, options)


def _list_polls(conn: sqlite3.Connection, room_id: str, statuses: list[str]) -> list[Poll]:
    marks = ", ".join("?" * len(statuses))
    rows = conn.execute(
        f"SELECT {P_JOINED}, o.text, o.votes FROM polls AS p"
        " JOIN poll_options AS o ON o.room_id = p.room_id AND o.poll_id = p.id"
        f" WHERE p.room_id = ? AND p.status IN ({marks})"
        " ORDER BY p.created_at, p.id, o.idx",
        (room_id, *statuses),
    )
    polls: list[Poll] = []
    for _, group in itertools.groupby(rows, key=lambda r: r[0]):
        items = list(group)
        polls.append(poll_from_row(items[0][:-2], ((r[-2], r[-1]) for r in items)))
    return polls


def _scheduled_polls(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT room_id, id, coalesce(publish_at, 0) FROM polls"
        " WHERE status = 'scheduled' ORDER BY publish_at"
    )
    return [(r, p, t) for r, p, t in rows]


def _publish_poll(
    conn: sqlite3.Connection, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll | None:
    won = conn.execute(
        "UPDATE polls SET status = 'open', published_at = ?"
        " WHERE room_id = ? AND id = ? AND status = 'scheduled'",
        (ts, room_id, poll_id),
    ).rowcount
    poll = _get_poll(conn, room_id, poll_id) if won else None
    if types and poll is not None:
        _record(conn, types, hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def _vote(conn: sqlite3.Connection, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
    # The writer thread runs one job at a time: nothing changes the poll between the read
    # and the writes.
    poll = poll_rules.poll_to_vote(_get_poll(conn, room_id, poll_id), option)
    inserted = conn.execute(
        "INSERT INTO poll_votes (room_id, poll_id, user_id, option, ts) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (room_id, poll_id, user_id, option, _now_ms()),
    ).rowcount
    poll_rules.first_vote(inserted > 0)
    conn.execute(
        "UPDATE poll_options SET votes = votes + 1 WHERE room_id = ? AND poll_id = ? AND idx = ?",
        (room_id, poll_id, option),
    )
    return poll_rules.counted(poll, option)


def _finish_poll(
    conn: sqlite3.Connection, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll:
    poll = poll_rules.poll_to_finish(_get_poll(conn, room_id, poll_id))
    conn.execute(
        "UPDATE polls SET status = 'finished', finished_at = ? WHERE room_id = ? AND id = ?",
        (ts, room_id, poll_id),
    )
    poll = poll_rules.finished(poll, ts)
    if types:
        _record(conn, types, hooks.POLL_FINISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def _user_votes(conn: sqlite3.Connection, room_id: str, user_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT poll_id, option FROM poll_votes WHERE room_id = ? AND user_id = ?",
        (room_id, user_id),
    )
    return dict(rows)


def _insert(
    conn: sqlite3.Connection, table: str, columns: str, row: tuple[Any, ...], *, upsert: bool = True
) -> None:
    """Insert ``row``: ``room_id``, then ``columns``; ``upsert``: over the row of the same key."""
    marks = ", ".join("?" * len(row))
    verb = "INSERT OR REPLACE" if upsert else "INSERT"
    conn.execute(f"{verb} INTO {table} (room_id, {columns}) VALUES ({marks})", row)


def _put_mute(conn: sqlite3.Connection, user_id: str, muted_id: str, ts: int) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO mutes (user_id, muted_id, ts) VALUES (?, ?, ?)",
        (user_id, muted_id, ts),
    )
    return cursor.rowcount > 0


def _remove_mute(conn: sqlite3.Connection, user_id: str, muted_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM mutes WHERE user_id = ? AND muted_id = ?", (user_id, muted_id)
    )
    return cursor.rowcount > 0


def _put_ban(conn: sqlite3.Connection, room_id: str, ban: Ban, types: frozenset[str]) -> None:
    _insert(conn, "bans", sql_rows.B, (room_id, *sql_rows.ban_to_row(ban)))
    if types:
        _record(conn, types, hooks.USER_BANNED, room_id, ban.created_at, hooks.user_banned(ban))


def _remove_ban(
    conn: sqlite3.Connection, room_id: str, user_id: str, types: frozenset[str]
) -> bool:
    rows = conn.execute(
        f"DELETE FROM bans WHERE room_id = ? AND user_id = ? RETURNING {sql_rows.B}",
        (room_id, user_id),
    ).fetchall()
    if rows and types:
        data = hooks.user_unbanned(sql_rows.ban_from_row(rows[0]))
        _record(conn, types, hooks.USER_UNBANNED, room_id, _now_ms(), data)
    return bool(rows)


def _room_settings(conn: sqlite3.Connection, room_id: str) -> RoomSettings:
    row = conn.execute(
        f"SELECT {sql_rows.S} FROM room_settings WHERE room_id = ?", (room_id,)
    ).fetchone()
    return RoomSettings() if row is None else sql_rows.settings_from_row(row)


def _put_room_settings(conn: sqlite3.Connection, room_id: str, settings: RoomSettings) -> None:
    _insert(conn, "room_settings", sql_rows.S, (room_id, *sql_rows.settings_to_row(settings)))


def _pin(conn: sqlite3.Connection, room_id: str) -> Pin | None:
    row = conn.execute("SELECT pin FROM pins WHERE room_id = ?", (room_id,)).fetchone()
    return None if row is None else sql_rows.pin_from_json(row[0])


def _put_pin(conn: sqlite3.Connection, room_id: str, pin: Pin | None) -> None:
    if pin is None:
        conn.execute("DELETE FROM pins WHERE room_id = ?", (room_id,))
    else:
        _insert(conn, "pins", "pin", (room_id, sql_rows.pin_to_json(pin)))


def _log_action(conn: sqlite3.Connection, room_id: str, action: ModAction) -> ModAction:
    ((log_id,),) = conn.execute(
        "INSERT INTO mod_log_heads (room_id, last_id) VALUES (?, 1)"
        " ON CONFLICT (room_id) DO UPDATE SET last_id = last_id + 1 RETURNING last_id",
        (room_id,),
    ).fetchall()
    row = (room_id, log_id, *sql_rows.mod_action_to_row(action))
    _insert(conn, "mod_log", sql_rows.L, row, upsert=False)
    return replace(action, id=log_id)


def _mod_log(conn: sqlite3.Connection, room_id: str, before_id: int, limit: int) -> list[ModAction]:
    return [
        sql_rows.mod_action_from_row(r)
        for r in conn.execute(_SQL_MOD_LOG, (room_id, before_id, limit))
    ]


def _put_filter_entry(conn: sqlite3.Connection, room_id: str, entry: FilterEntry) -> None:
    conn.execute(_SQL_PUT_FILTER_ENTRY, (room_id, entry.pattern, entry.action))


def _remove_filter_entry(conn: sqlite3.Connection, room_id: str, pattern: str) -> bool:
    removed = conn.execute(
        "DELETE FROM filter_entries WHERE room_id = ? AND pattern = ?", (room_id, pattern)
    ).rowcount
    return removed > 0


# -- the store ----------------------------------------------------------------------------------


class SQLiteStore:
    """The embedded message store: one SQLite file, one writer and one reader thread.

    ``path`` must be a file (not ``:memory:``): the writer and the reader open it twice.
    ``batch_max`` caps the number of writes committed together.
    """

    def __init__(
        self, path: str | Path, *, batch_max: int = 512, timeout: float | None = 3.0
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._path = Path(path)
        self._batch_max = batch_max
        self._timeout = timeout
        self._writer: _Worker | None = None
        self._reader: _Worker | None = None
        #: The webhook types some endpoint subscribes to: the writes that make events check
        #: it (store_sqlite_webhooks).
        self._hook_types: frozenset[str] = frozenset()
        # The probe is an empty write: it waits for the file's write lock like any write.
        self._health = StoreHealth(f"sqlite store ({self._path.name})", self._probe)

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    async def _probe(self) -> None:
        await self._write(lambda c: None)

    async def open(self) -> None:
        """Create or migrate the schema and start the writer and reader threads."""
        if self._writer is not None:
            return
        conn = await asyncio.to_thread(_connect, self._path, write=True)
        self._writer = _Worker("pchat-sqlite-writer", conn, batch_max=self._batch_max, write=True)
        try:
            await self._write(lambda c: migrate(c, self._path))
            conn = await asyncio.to_thread(_connect, self._path, write=False)
        except BaseException:
            await self.close()
            raise
        self._reader = _Worker("pchat-sqlite-reader", conn, batch_max=self._batch_max, write=False)
        self._health.start()

    async def close(self) -> None:
        """Commit every write submitted so far, then close both connections."""
        await self._health.stop()
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if writer is not None:
            await writer.stop()
        if reader is not None:
            await reader.stop()

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._call(self._writer, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._call(self._reader, fn)

    async def _call(self, worker: _Worker | None, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` on ``worker`` within the budget; see Faults above."""
        if worker is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with asyncio.timeout(self._timeout):
                result = await worker.run(fn)
        except (TimeoutError, sqlite3.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _is_transient(exc):
                raise
            self._health.failed(exc)
            raise StoreUnavailable(f"the database is unavailable ({exc})") from exc
        self._health.ok()
        return result

    async def room(self, room_id: str) -> RoomInfo:
        info = await self._read(lambda c: _room_info(c, room_id))
        if info is None:
            info = await self._write(lambda c: _ensure_room(c, room_id))
        return info

    async def find_room(self, room_id: str) -> RoomInfo | None:
        return await self._read(lambda c: _room_info(c, room_id))

    async def messages_since(self, room_id: str, ts: int) -> int:
        sql = "SELECT count(*) FROM messages WHERE room_id = ? AND ts >= ?"
        return await self._read(lambda c: int(c.execute(sql, (room_id, ts)).fetchone()[0]))

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
        # seq 0: _append gives the position.
        draft = Message(
            message_id, 0, ts, user, text, cid, reply_to=reply_to, mentions=mentions, shadow=shadow
        )
        return await self._write(lambda c: _append(c, room_id, draft, self._hook_types))

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        return await self._read(lambda c: _get_message(c, room_id, message_id))

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        return await self._write(
            lambda c: _delete(c, room_id, message_id, by, ts, self._hook_types)
        )

    async def purge_user(
        self, room_id: str, user_id: str, *, since: int, by: User, ts: int
    ) -> tuple[int, Purge] | None:
        return await self._write(
            lambda c: _purge(c, room_id, user_id, since, by, ts, self._hook_types)
        )

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
        return await self._read(lambda c: _history(c, room_id, seq, before_ts, limit, view))

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        if limit <= 0:
            return []
        return await self._read(lambda c: _events(c, room_id, after_seq, limit))

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        if counts:
            counts = dict(counts)  # the caller may reuse its dict before the writer runs
            await self._write(lambda c: _add_reactions(c, room_id, counts))

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        return await self._read(lambda c: _reaction_stats(c, room_id))

    async def create_poll(self, room_id: str, poll: Poll) -> Poll:
        return await self._write(lambda c: _create_poll(c, room_id, poll, self._hook_types))

    async def get_poll(self, room_id: str, poll_id: str) -> Poll | None:
        return await self._read(lambda c: _get_poll(c, room_id, poll_id))

    async def list_polls(self, room_id: str, statuses: Iterable[str]) -> list[Poll]:
        wanted = sorted(set(statuses))
        if not wanted:
            return []
        return await self._read(lambda c: _list_polls(c, room_id, wanted))

    async def scheduled_polls(self) -> list[tuple[str, str, int]]:
        return await self._read(_scheduled_polls)

    async def publish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll | None:
        return await self._write(lambda c: _publish_poll(c, room_id, poll_id, ts, self._hook_types))

    async def vote(self, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
        return await self._write(lambda c: _vote(c, room_id, poll_id, user_id, option))

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        return await self._write(lambda c: _finish_poll(c, room_id, poll_id, ts, self._hook_types))

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        return await self._read(lambda c: _user_votes(c, room_id, user_id))

    async def put_mute(self, user_id: str, muted_id: str, ts: int) -> bool:
        return await self._write(lambda c: _put_mute(c, user_id, muted_id, ts))

    async def remove_mute(self, user_id: str, muted_id: str) -> bool:
        return await self._write(lambda c: _remove_mute(c, user_id, muted_id))

    async def mutes(self, user_id: str) -> list[str]:
        return (await self.mutes_of([user_id])).get(user_id, [])

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        sql = (
            "SELECT user_id, muted_id FROM mutes"
            " WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, ts, muted_id"
        )
        ids = orjson.dumps(list(user_ids)).decode()

        def read(conn: sqlite3.Connection) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for user_id, muted_id in conn.execute(sql, (ids,)):
                found.setdefault(user_id, []).append(muted_id)
            return found

        return await self._read(read) if user_ids else {}

    async def revoke_tokens(self, user_id: str, before: int) -> int:
        sql = (
            "INSERT INTO revocations (user_id, revoked_before) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE"
            " SET revoked_before = max(revoked_before, excluded.revoked_before)"
            " RETURNING revoked_before"
        )
        return await self._write(lambda c: int(c.execute(sql, (user_id, before)).fetchone()[0]))

    async def revocations(self, since: int) -> dict[str, int]:
        sql = "SELECT user_id, revoked_before FROM revocations WHERE revoked_before >= ?"
        return await self._read(lambda c: dict(c.execute(sql, (since,)).fetchall()))

    async def put_ban(self, room_id: str, ban: Ban) -> None:
        await self._write(lambda c: _put_ban(c, room_id, ban, self._hook_types))

    async def remove_ban(self, room_id: str, user_id: str) -> bool:
        return await self._write(lambda c: _remove_ban(c, room_id, user_id, self._hook_types))

    async def bans(self, room_id: str, now_ms: int) -> list[Ban]:
        rows = await self._read(lambda c: c.execute(_SQL_BANS, (room_id, now_ms)).fetchall())
        return [sql_rows.ban_from_row(row) for row in rows]

    async def forget_expired_bans(self, now_ms: int) -> int:
        return await self._write(lambda c: c.execute(_SQL_FORGET_EXPIRED_BANS, (now_ms,)).rowcount)

    async def room_settings(self, room_id: str) -> RoomSettings:
        return await self._read(lambda c: _room_settings(c, room_id))

    async def put_room_settings(self, room_id: str, settings: RoomSettings) -> None:
        await self._write(lambda c: _put_room_settings(c, room_id, settings))

    async def pin(self, room_id: str) -> Pin | None:
        return await self._read(lambda c: _pin(c, room_id))

    async def put_pin(self, room_id: str, pin: Pin | None) -> None:
        await self._write(lambda c: _put_pin(c, room_id, pin))

    async def log_action(self, room_id: str, action: ModAction) -> ModAction:
        return await self._write(lambda c: _log_action(c, room_id, action))

    async def mod_log(self, room_id: str, *, before_id: int | None, limit: int) -> list[ModAction]:
        if limit <= 0:
            return []
        before = _MAX_SEQ if before_id is None else before_id
        return await self._read(lambda c: _mod_log(c, room_id, before, limit))

    async def recent_texts(self, room_id: str, user_id: str, limit: int) -> list[str]:
        if limit <= 0:
            return []
        rows = await self._read(
            lambda c: c.execute(_SQL_RECENT_TEXTS, (room_id, user_id, limit)).fetchall()
        )
        return [row[0] for row in rows]

    async def filter_entries(self, room_id: str) -> list[FilterEntry]:
        rows = await self._read(lambda c: c.execute(_SQL_FILTER_ENTRIES, (room_id,)).fetchall())
        return [FilterEntry(pattern, action) for pattern, action in rows]

    async def put_filter_entry(self, room_id: str, entry: FilterEntry) -> None:
        await self._write(lambda c: _put_filter_entry(c, room_id, entry))

    async def remove_filter_entry(self, room_id: str, pattern: str) -> bool:
        return await self._write(lambda c: _remove_filter_entry(c, room_id, pattern))

    async def hold_message(self, room_id: str, held: Held) -> HoldResult:
        return await self._write(lambda c: store_sqlite_review.hold(c, room_id, held))

    async def held_messages(self, room_id: str, limit: int) -> list[Held]:
        if limit <= 0:
            return []
        return await self._read(lambda c: store_sqlite_review.listing(c, room_id, limit))

    async def get_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._read(lambda c: store_sqlite_review.get(c, room_id, held_id))

    async def release_held(self, room_id: str, held_id: str, ts: int) -> AppendResult | None:
        return await self._write(lambda c: _release(c, room_id, held_id, ts, self._hook_types))

    async def reject_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._write(lambda c: store_sqlite_review.take(c, room_id, held_id))

    async def due_held(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        return await self._read(lambda c: store_sqlite_review.due(c, now_ms, limit))

    async def add_report(
        self, room_id: str, message_id: str, user_id: str, reason: str, ts: int
    ) -> int | None:
        row = (room_id, message_id, user_id, reason, ts)
        return await self._write(lambda c: store_sqlite_reports.add(c, *row))

    async def report(self, room_id: str, message_id: str) -> Report | None:
        return await self._read(lambda c: store_sqlite_reports.one(c, room_id, message_id))

    async def open_reports(self, room_id: str, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        return await self._read(lambda c: store_sqlite_reports.listing(c, room_id, limit))

    async def hide_message(
        self, room_id: str, message_id: str, ts: int, *, min_reports: int = 1
    ) -> tuple[int, Message] | None:
        return await self._write(
            lambda c: store_sqlite_reports.hide(c, room_id, message_id, ts, min_reports)
        )

    async def resolve_reports(
        self, room_id: str, message_id: str, *, restore_ts: int | None = None
    ) -> ReportsResolved | None:
        return await self._write(
            lambda c: store_sqlite_reports.resolve(c, room_id, message_id, restore_ts)
        )

    # -- webhooks (store_sqlite_webhooks) -----------------------------------------------------

    @property
    def webhook_types(self) -> frozenset[str]:
        return self._hook_types

    async def reload_webhook_types(self) -> frozenset[str]:
        self._hook_types = await self._read(store_sqlite_webhooks.subscribed_types)
        return self._hook_types

    async def _endpoints_changed(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Change endpoints, then read this store's ``webhook_types`` again at once."""

        def run(conn: sqlite3.Connection) -> tuple[_T, frozenset[str]]:
            return fn(conn), store_sqlite_webhooks.subscribed_types(conn)

        result, self._hook_types = await self._write(run)
        return result

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        await self._endpoints_changed(lambda c: store_sqlite_webhooks.add(c, endpoint))

    async def webhooks(self) -> list[WebhookEndpoint]:
        return await self._read(store_sqlite_webhooks.listing)

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self._read(lambda c: store_sqlite_webhooks.get(c, endpoint_id))

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
            lambda c: store_sqlite_webhooks.update(c, endpoint_id, changes)
        )

    async def remove_webhook(self, endpoint_id: str) -> bool:
        return await self._endpoints_changed(lambda c: store_sqlite_webhooks.remove(c, endpoint_id))

    async def webhook_backlog(self, endpoint_id: str) -> WebhookBacklog:
        return await self._read(lambda c: store_sqlite_webhooks.backlog(c, endpoint_id))

    async def set_room_live(self, room_id: str, live: bool, ts: int, online: int) -> bool:
        return await self._write(
            lambda c: store_sqlite_webhooks.set_room_live(
                c, self._hook_types, room_id, live, ts, online
            )
        )

    async def claim_webhooks(self, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        return await self._write(lambda c: store_sqlite_webhooks.claim(c, now_ms, lease_ms, limit))

    async def webhook_delivered(self, delivery_id: int, claim: str) -> bool:
        return await self._write(lambda c: store_sqlite_webhooks.delivered(c, delivery_id, claim))

    async def webhook_failed(
        self, delivery_id: int, claim: str, *, error: str, retry_at: int | None, now_ms: int
    ) -> bool:
        return await self._write(
            lambda c: store_sqlite_webhooks.failed(c, delivery_id, claim, error, retry_at, now_ms)
        )

    async def retry_dead_webhooks(self, endpoint_id: str, now_ms: int) -> int:
        return await self._write(lambda c: store_sqlite_webhooks.retry_dead(c, endpoint_id, now_ms))

    async def forget_dead_webhooks(self, before_ms: int) -> int:
        return await self._write(lambda c: store_sqlite_webhooks.forget_dead(c, before_ms))

    # -- retention (store_sqlite_retention) ---------------------------------------------------

    async def room_retention(self, room_id: str) -> RetentionRule | None:
        return await self._read(lambda c: store_sqlite_retention.room_rule(c, room_id))

    async def set_room_retention(self, room_id: str, rule: RetentionRule | None) -> None:
        await self._write(lambda c: store_sqlite_retention.set_rule(c, room_id, rule))

    async def retention_rules(self) -> dict[str, RetentionRule]:
        return await self._read(store_sqlite_retention.rules)

    async def trim_candidates(
        self, *, after: str, limit: int, before_ts: int | None, keep: int | None
    ) -> list[str]:
        if limit <= 0:
            return []
        return await self._read(
            lambda c: store_sqlite_retention.candidates(c, after, limit, before_ts, keep)
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
        return await self._write(lambda c: store_sqlite_retention.trim(c, room_id, *bounds))
