"""The SQLite store's reports and the hiding they lead to, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so a lookup and the
writes that follow it see no other writer in between. Hiding and showing a message again are
stream events: they take the room's next position (``rooms.last_seq``) and an ``events`` row,
as a delete does.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Final

from pchat.protocol.models import Message
from pchat.protocol.moderation import Report

from . import sql_rows
from .base import ReportsResolved
from .sql_rows import M, message_from_row

__all__ = ["add", "hide", "listing", "one", "resolve"]

_SQL_ADD: Final = (
    "INSERT INTO reports (room_id, message_id, user_id, reason, ts) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_SQL_COUNT: Final = "SELECT count(*) FROM reports WHERE room_id = ? AND message_id = ?"
_SQL_MESSAGE: Final = f"SELECT {M} FROM messages WHERE room_id = ? AND id = ?"
_SQL_LIST: Final = sql_rows.sql_reports("?1", "?2")
_SQL_ONE: Final = sql_rows.sql_reports("?1", "1", "?2")
_SQL_NEXT_SEQ: Final = (
    "UPDATE rooms SET last_seq = last_seq + 1 WHERE room_id = ? RETURNING last_seq"
)
_SQL_SET_HIDDEN: Final = "UPDATE messages SET hidden = ? WHERE room_id = ? AND seq = ?"
_SQL_EVENT: Final = (
    "INSERT INTO events (room_id, seq, kind, message_seq, ts) VALUES (?, ?, ?, ?, ?)"
)


def add(
    conn: sqlite3.Connection, room_id: str, message_id: str, user_id: str, reason: str, ts: int
) -> int | None:
    """Record one report; the message's open report count, or None if it was there (writer)."""
    if conn.execute(_SQL_ADD, (room_id, message_id, user_id, reason, ts)).rowcount <= 0:
        return None
    ((count,),) = conn.execute(_SQL_COUNT, (room_id, message_id)).fetchall()
    return int(count)


def listing(conn: sqlite3.Connection, room_id: str, limit: int) -> list[Report]:
    return sql_rows.reports_from_rows(conn.execute(_SQL_LIST, (room_id, limit)))


def one(conn: sqlite3.Connection, room_id: str, message_id: str) -> Report | None:
    reports = sql_rows.reports_from_rows(conn.execute(_SQL_ONE, (room_id, message_id)))
    return reports[0] if reports else None


def hide(
    conn: sqlite3.Connection, room_id: str, message_id: str, ts: int, min_reports: int
) -> tuple[int, Message] | None:
    """Hide a message reported at least ``min_reports`` times (writer)."""
    message = _message(conn, room_id, message_id)
    if message is None or message.deleted or message.hidden:
        return None
    ((count,),) = conn.execute(_SQL_COUNT, (room_id, message_id)).fetchall()
    if count < min_reports:
        return None
    hidden = replace(message, hidden=True)
    return _event(conn, room_id, hidden, "message_hide", ts), hidden


def resolve(
    conn: sqlite3.Connection, room_id: str, message_id: str, restore_ts: int | None
) -> ReportsResolved | None:
    """Drop the message's reports, and show it again if asked and hidden (writer)."""
    count = conn.execute(
        "DELETE FROM reports WHERE room_id = ? AND message_id = ?", (room_id, message_id)
    ).rowcount
    if count <= 0:
        return None
    if restore_ts is None:
        return ReportsResolved(count)
    message = _message(conn, room_id, message_id)
    if message is None or message.deleted or not message.hidden:
        return ReportsResolved(count)
    shown = replace(message, hidden=False)
    seq = _event(conn, room_id, shown, "message_restore", restore_ts)
    return ReportsResolved(count, (seq, shown))


def _message(conn: sqlite3.Connection, room_id: str, message_id: str) -> Message | None:
    row = conn.execute(_SQL_MESSAGE, (room_id, message_id)).fetchone()
    return None if row is None else message_from_row(row)


def _event(conn: sqlite3.Connection, room_id: str, message: Message, kind: str, ts: int) -> int:
    """Set the message's ``hidden`` as ``message`` has it and append the event of ``kind``
    at the room's next position; returns that position."""
    ((seq,),) = conn.execute(_SQL_NEXT_SEQ, (room_id,)).fetchall()
    conn.execute(_SQL_SET_HIDDEN, (message.hidden, room_id, message.seq))
    conn.execute(_SQL_EVENT, (room_id, seq, kind, message.seq, ts))
    return int(seq)
