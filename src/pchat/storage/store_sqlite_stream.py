"""The SQLite store's stream: rooms, messages and their events, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so an append, a
delete or a purge reads the room's position (``rooms.last_seq``), bumps it and writes its
``events`` row with no other writer in between: positions are gap-free. A room's ``ts``
never goes backwards (an append older than the room's last message takes its ``ts``), so
paging by time becomes paging by position. Releasing a held message — taking it out of the
review queue and appending it in one job — is composed by the store from :func:`append` and
:func:`~pchat.storage.store_sqlite_review.take`.

The functions that change the stream take ``types``, the store's
:attr:`~pchat.storage.base.WebhookStore.webhook_types`, and write their webhook event in
their job (:func:`~pchat.storage.store_sqlite_webhooks.record`).
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import replace
from typing import Any, Final

import orjson

from pchat.protocol import webhooks as hooks
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Message, User

from . import sql_rows
from .base import AppendResult, DeleteResult, Purge, RoomInfo, StreamEvent, View
from .sql_rows import M, message_from_row
from .store_sqlite_webhooks import record

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
_SQL_INSERT_MESSAGE: Final = (
    f"INSERT INTO messages (room_id, {sql_rows.M_NEW})"
    f" VALUES ({', '.join('?' * (1 + len(sql_rows.NEW_MESSAGE_COLUMNS)))})"
)
_SQL_INSERT_PURGE: Final = (
    f"INSERT INTO purges (room_id, seq, {sql_rows.PU})"
    f" VALUES ({', '.join('?' * (2 + len(sql_rows.PURGE_COLUMNS)))})"
)


def room_info(conn: sqlite3.Connection, room_id: str) -> RoomInfo | None:
    row = conn.execute(
        "SELECT epoch, last_seq, first_seq FROM rooms WHERE room_id = ?", (room_id,)
    ).fetchone()
    return None if row is None else RoomInfo(room_id, row[0], row[1], row[2])


def ensure_room(conn: sqlite3.Connection, room_id: str) -> RoomInfo:
    """The room's info, creating the room if it has none (writer)."""
    conn.execute(
        "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at) VALUES (?, ?, 0, 0, ?)"
        " ON CONFLICT (room_id) DO NOTHING",
        (room_id, secrets.token_hex(8), sql_rows.now_ms()),
    )
    info = room_info(conn, room_id)
    assert info is not None
    return info


def messages_since(conn: sqlite3.Connection, room_id: str, ts: int) -> int:
    sql = "SELECT count(*) FROM messages WHERE room_id = ? AND ts >= ?"
    return int(conn.execute(sql, (room_id, ts)).fetchone()[0])


def append(
    conn: sqlite3.Connection, room_id: str, draft: Message, types: frozenset[str]
) -> AppendResult:
    """Store ``draft`` at the room's next position (its ``seq`` is ignored), unless its cid
    was seen: see :meth:`StreamStore.append_message` (writer)."""
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
            (room_id, secrets.token_hex(8), ts, sql_rows.now_ms()),
        )
    message = replace(draft, seq=seq, ts=ts)
    conn.execute(_SQL_INSERT_MESSAGE, (room_id, *sql_rows.message_to_row(message)))
    conn.execute(
        "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, 'message', ?)",
        (room_id, seq, seq),
    )
    if types and hooks.subscribed(types, hooks.MESSAGE_POSTED):
        data = hooks.message_posted(message)
        record(conn, types, hooks.MESSAGE_POSTED, room_id, ts, data)
    return AppendResult(message, created=True)


def get_message(conn: sqlite3.Connection, room_id: str, message_id: str) -> Message | None:
    row = conn.execute(
        f"SELECT {M} FROM messages WHERE room_id = ? AND id = ?", (room_id, message_id)
    ).fetchone()
    return None if row is None else message_from_row(row)


def delete(
    conn: sqlite3.Connection,
    room_id: str,
    message_id: str,
    by: User,
    ts: int,
    types: frozenset[str],
) -> DeleteResult | None:
    """Soft-delete the message, as an event at the room's next position; None if the room
    has no such message (writer)."""
    message = get_message(conn, room_id, message_id)
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
        record(conn, types, hooks.MESSAGE_DELETED, room_id, ts, hooks.message_deleted(deleted, seq))
    return DeleteResult(deleted, seq)


def history(
    conn: sqlite3.Connection,
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
    params: tuple[Any, ...] = (room_id, seq, limit, before_ts)
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


def purge(
    conn: sqlite3.Connection,
    room_id: str,
    user_id: str,
    since: int,
    by: User,
    ts: int,
    types: frozenset[str],
) -> tuple[int, Purge] | None:
    """Soft-delete the user's messages sent at ``since`` or later, as one event at the
    room's next position; None if there were none (writer)."""
    params = (room_id, user_id, since, by.id, by.username, by.role, ts, sql_rows.MAX_SEQ)
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
    conn.execute(_SQL_INSERT_PURGE, (room_id, seq, *sql_rows.purge_to_row(purge)))
    if types:
        data = hooks.messages_purged(user_id, since, by, ts, count, seq)
        record(conn, types, hooks.MESSAGES_PURGED, room_id, ts, data)
    return seq, purge


def events(conn: sqlite3.Connection, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
    rows = conn.execute(_SQL_EVENTS, (room_id, after_seq, limit))
    return [sql_rows.event_from_row(row) for row in rows]
