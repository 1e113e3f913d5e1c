"""The SQLite store's history retention, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so the positions a
trim reads and the rows it removes see no other writer in between. A trim is one job: its
deletes are bounded by its ``limit`` (the writer commits it with whatever else it batched,
in one short transaction), and the next batch is another job.

How a trim keeps the stream whole: it removes a *prefix* of the room's events, up to a
position ``end``, and sets the room's ``first_seq`` to ``end``; the messages at positions
before ``end`` go with them, except those a kept event still names (``events_refs``: a
later delete, hide or restore of the message, replayed with it) and the pinned message.
Those stay, out of history (which starts at ``first_seq``), until a later trim finds them
free.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from .base import RetentionRule, Trimmed

__all__ = ["candidates", "room_rule", "rules", "set_rule", "trim"]

_SQL_ROOM: Final = "SELECT first_seq, last_seq FROM rooms WHERE room_id = ?"
# The position of the ``?3``-th newest kept message (``?3`` counts from 0).
_SQL_NTH_NEWEST: Final = """
    SELECT seq FROM messages WHERE room_id = ?1 AND seq >= ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3"""
# The first kept message sent at ``?2`` or later: ``ts`` grows with ``seq`` in a room, so one
# seek on messages_ts finds it (the primary key would walk every older message first).
_SQL_FIRST_YOUNG: Final = """
    SELECT seq FROM messages INDEXED BY messages_ts
    WHERE room_id = ?1 AND ts >= ?2 AND seq >= ?3 ORDER BY ts, seq LIMIT 1"""
_SQL_PINNED: Final = "SELECT json_extract(pin, '$.message.id') FROM pins WHERE room_id = ?"
_SQL_DROP_EVENTS: Final = "DELETE FROM events WHERE room_id = ? AND seq < ?"
_SQL_DROP_PURGES: Final = "DELETE FROM purges WHERE room_id = ? AND seq < ?"
_SQL_SET_FIRST: Final = "UPDATE rooms SET first_seq = ? WHERE room_id = ?"
# Before ``?2``: the batch's messages and those left by earlier trims, unless a kept event
# names one (events before ``?2`` are gone by now) or it is the pinned one (``?3``). Without
# statistics the planner would walk the room's events for each message: events_refs is a
# seek.
_SQL_DROP_MESSAGES: Final = """
    DELETE FROM messages
    WHERE room_id = ?1 AND seq < ?2 AND id IS NOT ?3 AND NOT EXISTS (
        SELECT 1 FROM events AS e INDEXED BY events_refs
        WHERE e.room_id = ?1 AND e.message_seq = messages.seq AND e.kind <> 'message'
    )"""
# Reports name their message by id: those whose message is gone go too (a room's reports are
# few: the open ones).
_SQL_DROP_REPORTS: Final = """
    DELETE FROM reports
    WHERE room_id = ?1 AND NOT EXISTS (
        SELECT 1 FROM messages AS m WHERE m.room_id = ?1 AND m.id = reports.message_id
    )"""
# Rooms where a trim may remove something: more events kept than ``?2`` messages, a first
# kept event that is not a message sent at ``?3`` or later, or messages left before
# ``first_seq`` by an earlier trim.
_SQL_CANDIDATES: Final = """
    SELECT room_id FROM rooms AS r
    WHERE room_id > ?1 AND (
        (?2 IS NOT NULL AND last_seq - first_seq + 1 > ?2)
        OR (?3 IS NOT NULL AND first_seq <= last_seq AND NOT coalesce((
            SELECT m.ts >= ?3 FROM messages AS m
            WHERE m.room_id = r.room_id AND m.seq = r.first_seq
        ), 0))
        OR EXISTS (SELECT 1 FROM messages AS m WHERE m.room_id = r.room_id AND m.seq < r.first_seq)
    )
    ORDER BY room_id LIMIT ?4"""


def trim(
    conn: sqlite3.Connection,
    room_id: str,
    before_ts: int | None,
    keep: int | None,
    limit: int,
    keep_since_ts: int | None,
) -> Trimmed:
    """Remove the next batch of the room's history past its retention (writer)."""
    row = conn.execute(_SQL_ROOM, (room_id,)).fetchone()
    if row is None:
        return Trimmed(0, 0, 1, True)
    first, last = row
    target = first
    if keep is not None:
        nth = conn.execute(_SQL_NTH_NEWEST, (room_id, first, keep - 1)).fetchone()
        if nth is not None:
            target = max(target, nth[0])
    if before_ts is not None:
        young = conn.execute(_SQL_FIRST_YOUNG, (room_id, before_ts, first)).fetchone()
        target = max(target, last + 1 if young is None else young[0])
    if keep_since_ts is not None and target > first:
        spared = conn.execute(_SQL_FIRST_YOUNG, (room_id, keep_since_ts, first)).fetchone()
        if spared is not None:
            target = min(target, spared[0])
    end = min(target, first + limit)
    events = 0
    if end > first:
        events = conn.execute(_SQL_DROP_EVENTS, (room_id, end)).rowcount
        conn.execute(_SQL_DROP_PURGES, (room_id, end))
        conn.execute(_SQL_SET_FIRST, (end, room_id))
    pinned = conn.execute(_SQL_PINNED, (room_id,)).fetchone()
    messages = conn.execute(
        _SQL_DROP_MESSAGES, (room_id, max(first, end), None if pinned is None else pinned[0])
    ).rowcount
    conn.execute(_SQL_DROP_REPORTS, (room_id,))
    return Trimmed(messages, events, max(first, end), end >= target)


def candidates(
    conn: sqlite3.Connection, after: str, limit: int, before_ts: int | None, keep: int | None
) -> list[str]:
    """Rooms after ``after`` where a trim may remove something (reader)."""
    return [r for (r,) in conn.execute(_SQL_CANDIDATES, (after, keep, before_ts, limit))]


def room_rule(conn: sqlite3.Connection, room_id: str) -> RetentionRule | None:
    row = conn.execute(
        "SELECT days, messages FROM room_retention WHERE room_id = ?", (room_id,)
    ).fetchone()
    return None if row is None else RetentionRule(row[0], row[1])


def rules(conn: sqlite3.Connection) -> dict[str, RetentionRule]:
    rows = conn.execute("SELECT room_id, days, messages FROM room_retention ORDER BY room_id")
    return {room_id: RetentionRule(days, messages) for room_id, days, messages in rows}


def set_rule(conn: sqlite3.Connection, room_id: str, rule: RetentionRule | None) -> None:
    """Set or (None, or nothing set) remove the room's own rule (writer)."""
    if rule is None or (rule.days is None and rule.messages is None):
        conn.execute("DELETE FROM room_retention WHERE room_id = ?", (room_id,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO room_retention (room_id, days, messages) VALUES (?, ?, ?)",
        (room_id, rule.days, rule.messages),
    )
