"""The PostgreSQL store's stream: rooms, messages and their events, on a connection of its pool.

Every node of a cluster writes the same rooms, so each write decides under the database's
locks:

- **Gap-free positions without sequences.** An append, a delete or a purge locks the room's
  row (``SELECT … FOR UPDATE``), numbers its events from ``last_seq`` and stores the new
  ``last_seq`` in the same transaction: writers of one room, on any node, take turns on
  that lock; writers of different rooms never wait for each other.
- **Idempotent sends.** :func:`append` looks the ``cid`` up after taking the room's lock,
  so two sends with one ``cid`` (on one node or two) store one message.
- **Time never goes backwards in a room:** ``ts`` grows with ``seq``, so paging by time
  becomes paging by position (one index seek on ``(room_id, ts, seq)``).

The store batches the appends queued for a room on this node into one :func:`append` (group
commit), and composes releasing a held message — taking it out of the review queue and
appending it in one transaction — from :func:`append` and
:func:`~pchat.storage.store_postgres_review.take`. The functions that change the stream take
``types``, the store's :attr:`~pchat.storage.base.WebhookStore.webhook_types`, and write
their webhook events on their connection
(:func:`~pchat.storage.store_postgres_webhooks.record`).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg

from pchat.protocol import webhooks as hooks
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Message, User

from . import sql_rows
from .base import AppendResult, DeleteResult, Purge, RoomInfo, StreamEvent, View
from .sql_rows import M_JOINED, M, message_from_row
from .store_postgres_webhooks import record

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = [
    "append",
    "delete",
    "ensure_room",
    "events",
    "get_message",
    "history",
    "messages_since",
    "purge",
    "room_info",
]


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
_SQL_MESSAGE: Final = f"SELECT {M} FROM messages WHERE room_id = $1 AND id = $2"
_SQL_DELETE: Final = """
    WITH m AS (
        UPDATE messages SET text = '', deleted = true, deleted_by_id = $3,
            deleted_by_name = $4, deleted_by_role = $5, deleted_at = $6
        WHERE room_id = $1 AND seq = $2
    ), e AS (
        INSERT INTO events (room_id, seq, kind, message_seq)
        VALUES ($1, $7, 'message_delete', $2)
    )
    UPDATE rooms SET last_seq = $7 WHERE room_id = $1"""


async def room_info(conn: _Conn, room_id: str) -> RoomInfo | None:
    row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
    return None if row is None else RoomInfo(room_id, row[0], row[1], row[2])


async def ensure_room(conn: _Conn, room_id: str) -> RoomInfo:
    """The room's info, creating the room if it has none."""
    row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
    if row is None:
        await conn.execute(_SQL_NEW_ROOM, room_id, secrets.token_hex(8), sql_rows.now_ms())
        row = await conn.fetchrow(_SQL_ROOM_INFO, room_id)
    assert row is not None
    return RoomInfo(room_id, row[0], row[1], row[2])


async def messages_since(conn: _Conn, room_id: str, ts: int) -> int:
    sql = "SELECT count(*) FROM messages WHERE room_id = $1 AND ts >= $2"
    return int(await conn.fetchval(sql, room_id, ts))


async def append(
    conn: _Conn, room_id: str, drafts: list[Message], types: frozenset[str]
) -> list[AppendResult]:
    """Append ``drafts`` in order under the room's lock (in the caller's transaction); each
    as :meth:`StreamStore.append_message` does (its ``seq`` and ``ts`` are set here)."""
    row = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
    if row is None:
        await conn.execute(_SQL_NEW_ROOM, room_id, secrets.token_hex(8), sql_rows.now_ms())
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
        if types and hooks.subscribed(types, hooks.MESSAGE_POSTED):
            batch = [(hooks.MESSAGE_POSTED, room_id, m.ts, hooks.message_posted(m)) for m in new]
            await record(conn, types, batch)
    return results


async def get_message(conn: _Conn, room_id: str, message_id: str) -> Message | None:
    row = await conn.fetchrow(_SQL_MESSAGE, room_id, message_id)
    return None if row is None else message_from_row(row)


async def delete(
    conn: _Conn, room_id: str, message_id: str, by: User, ts: int, types: frozenset[str]
) -> DeleteResult | None:
    """Soft-delete the message, as an event at the room's next position, under the room's
    lock (in a transaction); None if the room has no such message."""
    room = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
    if room is None:
        return None
    message = await get_message(conn, room_id, message_id)
    if message is None:
        return None
    if message.deleted:
        raise request_error(ErrorCode.ALREADY_DELETED, "the message was deleted before")
    seq = room[0] + 1
    await conn.execute(_SQL_DELETE, room_id, message.seq, by.id, by.username, by.role, ts, seq)
    deleted = message.as_deleted(by, ts)
    if types:
        data = hooks.message_deleted(deleted, seq)
        await record(conn, types, [(hooks.MESSAGE_DELETED, room_id, ts, data)])
    return DeleteResult(deleted, seq)


async def purge(
    conn: _Conn, room_id: str, user_id: str, since: int, by: User, ts: int, types: frozenset[str]
) -> tuple[int, Purge] | None:
    """Soft-delete the user's messages sent at ``since`` or later, as one event at the
    room's next position, under the room's lock (in a transaction); None if there were
    none."""
    room = await conn.fetchrow(_SQL_LOCK_ROOM, room_id)
    if room is None:
        return None
    seq = room[0] + 1
    count: int = await conn.fetchval(
        _SQL_PURGE, room_id, user_id, since, by.id, by.username, by.role, ts, seq, sql_rows.MAX_SEQ
    )
    if not count:
        return None
    if types:
        data = hooks.messages_purged(user_id, since, by, ts, count, seq)
        await record(conn, types, [(hooks.MESSAGES_PURGED, room_id, ts, data)])
    return seq, Purge(user_id, since, by, ts, count)


async def history(
    conn: _Conn,
    room_id: str,
    before_seq: int | None,
    before_ts: int | None,
    limit: int,
    view: View | None,
) -> list[Message]:
    """The room's kept messages before ``before_seq`` (None: the newest) and ``before_ts``,
    oldest first, as ``view`` sees them (None: as stored)."""
    seq = sql_rows.MAX_SEQ if before_seq is None else before_seq
    sql = _SQL_HISTORY if before_ts is None else _SQL_HISTORY_TS
    params: list[Any] = [room_id, seq, limit]
    if before_ts is not None:
        params.append(before_ts)
    if view is None:
        sql = sql.format(view="")
    else:
        sql = sql.format(view=_sql_view(len(params) + 1))
        params += [view.staff, view.user_id, list(view.muted)]
    rows = await conn.fetch(sql, *params)
    messages = [message_from_row(row) for row in rows]
    messages.reverse()
    return messages


async def events(conn: _Conn, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
    rows = await conn.fetch(_SQL_EVENTS, room_id, after_seq, limit)
    return [sql_rows.event_from_row(row) for row in rows]
