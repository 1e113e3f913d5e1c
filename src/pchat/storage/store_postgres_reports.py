"""The PostgreSQL store's reports and the hiding they lead to, on a connection of its pool.

Every node of a cluster shares the reports, so each write decides under the database's
locks:

- **One report per reporter, counted exactly.** Reports of one message take turns on the
  message's row lock; the insert skips the row of the same ``(room, message, user)``, and
  the count that follows is a new statement, so it sees every report committed before it,
  this one included: of concurrent reporters, each gets a count of its own, and the one
  that reaches a threshold knows it.
- **Hiding and showing again are stream events**, positioned as a delete is: under the
  room's row lock (``SELECT … FOR UPDATE``), which also orders them against each other, so
  a message is hidden once, and a dismissal that drops the reports cannot interleave with a
  hide that counts them.
- **One resolver wins.** Resolving deletes the reports (after the room's lock when it may
  show the message again, so that it is ordered with hiding): a second caller finds none.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

from pchat.protocol.models import Message
from pchat.protocol.moderation import Report

from . import sql_rows
from .base import ReportsResolved
from .sql_rows import M, message_from_row

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = ["add", "hide", "listing", "one", "resolve"]

_SQL_ADD: Final = (
    "INSERT INTO reports (room_id, message_id, user_id, reason, ts) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT DO NOTHING RETURNING true"
)
_SQL_COUNT: Final = "SELECT count(*) FROM reports WHERE room_id = $1 AND message_id = $2"
_SQL_MESSAGE: Final = f"SELECT {M} FROM messages WHERE room_id = $1 AND id = $2"
_SQL_LOCK_MESSAGE: Final = "SELECT true FROM messages WHERE room_id = $1 AND id = $2 FOR UPDATE"
_SQL_LOCK_ROOM: Final = "SELECT last_seq FROM rooms WHERE room_id = $1 FOR UPDATE"
_SQL_LIST: Final = sql_rows.sql_reports("$1", "$2")
_SQL_ONE: Final = sql_rows.sql_reports("$1", "1", "$2")
_SQL_RESOLVE: Final = """
    WITH d AS (DELETE FROM reports WHERE room_id = $1 AND message_id = $2 RETURNING 1)
    SELECT count(*) FROM d"""
# The message's new ``hidden``, its event at the room's next position, and that position.
_SQL_EVENT: Final = """
    WITH m AS (
        UPDATE messages SET hidden = $3 WHERE room_id = $1 AND seq = $2
    ), e AS (
        INSERT INTO events (room_id, seq, kind, message_seq, ts) VALUES ($1, $4, $5, $2, $6)
    )
    UPDATE rooms SET last_seq = $4 WHERE room_id = $1"""


async def add(
    conn: _Conn, room_id: str, message_id: str, user_id: str, reason: str, ts: int
) -> int | None:
    """Record one report; the message's open report count, or None if it was there (in a
    transaction)."""
    await conn.execute(_SQL_LOCK_MESSAGE, room_id, message_id)
    if not await conn.fetchval(_SQL_ADD, room_id, message_id, user_id, reason, ts):
        return None
    count: int = await conn.fetchval(_SQL_COUNT, room_id, message_id)
    return count


async def listing(conn: _Conn, room_id: str, limit: int) -> list[Report]:
    return sql_rows.reports_from_rows(await conn.fetch(_SQL_LIST, room_id, limit))


async def one(conn: _Conn, room_id: str, message_id: str) -> Report | None:
    reports = sql_rows.reports_from_rows(await conn.fetch(_SQL_ONE, room_id, message_id))
    return reports[0] if reports else None


async def hide(
    conn: _Conn, room_id: str, message_id: str, ts: int, min_reports: int
) -> tuple[int, Message] | None:
    """Hide a message reported at least ``min_reports`` times (in a transaction)."""
    last_seq = await conn.fetchval(_SQL_LOCK_ROOM, room_id)
    if last_seq is None:
        return None
    message = await _message(conn, room_id, message_id)
    if message is None or message.deleted or message.hidden:
        return None
    if await conn.fetchval(_SQL_COUNT, room_id, message_id) < min_reports:
        return None
    hidden = replace(message, hidden=True)
    seq = last_seq + 1
    await conn.execute(_SQL_EVENT, room_id, message.seq, True, seq, "message_hide", ts)
    return seq, hidden


async def resolve(
    conn: _Conn, room_id: str, message_id: str, restore_ts: int | None
) -> ReportsResolved | None:
    """Drop the message's reports, and show it again if asked and hidden (in a
    transaction). Only a restore takes the room's lock: dropping the reports of a deleted
    message need not wait for the room's writers."""
    last_seq = None if restore_ts is None else await conn.fetchval(_SQL_LOCK_ROOM, room_id)
    count: int = await conn.fetchval(_SQL_RESOLVE, room_id, message_id)
    if not count:
        return None
    if restore_ts is None or last_seq is None:
        return ReportsResolved(count)
    message = await _message(conn, room_id, message_id)
    if message is None or message.deleted or not message.hidden:
        return ReportsResolved(count)
    shown = replace(message, hidden=False)
    seq = last_seq + 1
    await conn.execute(_SQL_EVENT, room_id, message.seq, False, seq, "message_restore", restore_ts)
    return ReportsResolved(count, (seq, shown))


async def _message(conn: _Conn, room_id: str, message_id: str) -> Message | None:
    row = await conn.fetchrow(_SQL_MESSAGE, room_id, message_id)
    return None if row is None else message_from_row(row)
