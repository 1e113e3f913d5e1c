"""The PostgreSQL store's history retention, on a connection of its pool.

A trim removes a *prefix* of a room's events, up to a position ``end``, and sets the room's
``first_seq`` to ``end``, as the SQLite store does (see
:mod:`~pchat.storage.store_sqlite_retention` for what stays and why). Across nodes:

- **Under the room's row lock** (``SELECT … FOR UPDATE``), as every write of the stream
  is: an append, a delete, a hide waits for the batch (bounded by ``limit``) and the batch
  for them, so a delete never names a message a trim is removing, and two nodes trimming
  one room take turns (the second finds less, or nothing, to do).
- **Reports** are written under their message's row lock, not the room's: a report whose
  message a trim removed meanwhile is dropped by the room's next trim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

from .base import RetentionRule, Trimmed

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = ["candidates", "room_rule", "rules", "set_rule", "trim"]

_SQL_LOCK_ROOM: Final = "SELECT first_seq, last_seq FROM rooms WHERE room_id = $1 FOR UPDATE"
# The position of the ``$3``-th newest kept message (``$3`` counts from 0).
_SQL_NTH_NEWEST: Final = """
    SELECT seq FROM messages WHERE room_id = $1 AND seq >= $2 ORDER BY seq DESC LIMIT 1 OFFSET $3"""
# The first kept message sent at ``$2`` or later (``ts`` grows with ``seq``: one seek on
# messages_ts).
_SQL_FIRST_YOUNG: Final = """
    SELECT seq FROM messages WHERE room_id = $1 AND ts >= $2 AND seq >= $3
    ORDER BY ts, seq LIMIT 1"""
_SQL_PINNED: Final = "SELECT pin -> 'message' ->> 'id' FROM pins WHERE room_id = $1"
_SQL_DROP_EVENTS: Final = """
    WITH e AS (DELETE FROM events WHERE room_id = $1 AND seq < $2 RETURNING 1),
    p AS (DELETE FROM purges WHERE room_id = $1 AND seq < $2),
    r AS (UPDATE rooms SET first_seq = $2 WHERE room_id = $1)
    SELECT count(*) FROM e"""
# Before ``$2``: the batch's messages and those left by earlier trims, unless a kept event
# names one (the batch's events are gone: a data-modifying CTE's deletes are not visible to
# the statement, so this is a statement of its own) or it is the pinned one (``$3``).
_SQL_DROP_MESSAGES: Final = """
    WITH m AS (
        DELETE FROM messages
        WHERE room_id = $1 AND seq < $2 AND id IS DISTINCT FROM $3 AND NOT EXISTS (
            SELECT 1 FROM events AS e
            WHERE e.room_id = $1 AND e.message_seq = messages.seq AND e.kind <> 'message'
        )
        RETURNING 1
    )
    SELECT count(*) FROM m"""
# Reports whose message is gone (removed now, or by a trim that ran beside the report).
_SQL_DROP_REPORTS: Final = """
    DELETE FROM reports
    WHERE room_id = $1 AND NOT EXISTS (
        SELECT 1 FROM messages AS m WHERE m.room_id = $1 AND m.id = reports.message_id
    )"""
# Rooms where a trim may remove something (see store_sqlite_retention). Each test is a
# scalar subquery, a lookup per room: as EXISTS, the planner may hash every young message.
_SQL_CANDIDATES: Final = """
    SELECT room_id FROM rooms AS r
    WHERE room_id > $1 AND (
        ($2::bigint IS NOT NULL AND last_seq - first_seq + 1 > $2::bigint)
        OR ($3::bigint IS NOT NULL AND first_seq <= last_seq AND NOT coalesce((
            SELECT m.ts >= $3::bigint FROM messages AS m
            WHERE m.room_id = r.room_id AND m.seq = r.first_seq
        ), false))
        OR EXISTS (SELECT 1 FROM messages AS m WHERE m.room_id = r.room_id AND m.seq < r.first_seq)
    )
    ORDER BY room_id LIMIT $4"""


async def trim(
    conn: _Conn,
    room_id: str,
    before_ts: int | None,
    keep: int | None,
    limit: int,
    keep_since_ts: int | None,
) -> Trimmed:
    """Remove the next batch of the room's history past its retention (in the caller's
    transaction)."""
    row = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
    if row is None:
        return Trimmed(0, 0, 1, True)
    first, last = int(row[0]), int(row[1])
    target = first
    if keep is not None:
        nth = await conn.fetchval(_SQL_NTH_NEWEST, room_id, first, keep - 1)
        if nth is not None:
            target = max(target, int(nth))
    if before_ts is not None:
        young = await conn.fetchval(_SQL_FIRST_YOUNG, room_id, before_ts, first)
        target = max(target, last + 1 if young is None else int(young))
    if keep_since_ts is not None and target > first:
        spared = await conn.fetchval(_SQL_FIRST_YOUNG, room_id, keep_since_ts, first)
        if spared is not None:
            target = min(target, int(spared))
    end = min(target, first + limit)
    events = 0
    if end > first:
        events = int(await conn.fetchval(_SQL_DROP_EVENTS, room_id, end))
    pinned = await conn.fetchval(_SQL_PINNED, room_id)
    messages = int(await conn.fetchval(_SQL_DROP_MESSAGES, room_id, max(first, end), pinned))
    await conn.execute(_SQL_DROP_REPORTS, room_id)
    return Trimmed(messages, events, max(first, end), end >= target)


async def candidates(
    conn: _Conn, after: str, limit: int, before_ts: int | None, keep: int | None
) -> list[str]:
    rows = await conn.fetch(_SQL_CANDIDATES, after, keep, before_ts, limit)
    return [row[0] for row in rows]


async def room_rule(conn: _Conn, room_id: str) -> RetentionRule | None:
    row = await conn.fetchrow(
        "SELECT days, messages FROM room_retention WHERE room_id = $1", room_id
    )
    return None if row is None else RetentionRule(row[0], row[1])


async def rules(conn: _Conn) -> dict[str, RetentionRule]:
    rows = await conn.fetch("SELECT room_id, days, messages FROM room_retention ORDER BY room_id")
    return {row[0]: RetentionRule(row[1], row[2]) for row in rows}


async def set_rule(conn: _Conn, room_id: str, rule: RetentionRule | None) -> None:
    """Set or (None, or nothing set) remove the room's own rule."""
    if rule is None or (rule.days is None and rule.messages is None):
        await conn.execute("DELETE FROM room_retention WHERE room_id = $1", room_id)
        return
    await conn.execute(
        "INSERT INTO room_retention (room_id, days, messages) VALUES ($1, $2, $3)"
        " ON CONFLICT (room_id) DO UPDATE SET days = excluded.days, messages = excluded.messages",
        room_id,
        None if rule.days is None else float(rule.days),
        rule.messages,
    )
