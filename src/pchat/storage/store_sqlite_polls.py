"""The SQLite store's polls: their options and votes, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so a vote or a
finish reads the poll and writes its change with no other writer in between (the rules they
apply are :mod:`~pchat.storage.poll_rules`'), and of the callers publishing one scheduled
poll exactly one wins. Creating, publishing and finishing a poll take ``types``, the
store's :attr:`~pchat.storage.base.WebhookStore.webhook_types`, and write their webhook
event in their job (:func:`~pchat.storage.store_sqlite_webhooks.record`).
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace

from pchat.protocol import webhooks as hooks
from pchat.protocol.models import Poll

from . import poll_rules, sql_rows
from .sql_rows import P_JOINED, P, poll_from_row, poll_to_row
from .store_sqlite_webhooks import record

__all__ = [
    "create_poll",
    "finish_poll",
    "get_poll",
    "list_polls",
    "publish_poll",
    "scheduled_polls",
    "user_votes",
    "vote",
]


def create_poll(conn: sqlite3.Connection, room_id: str, poll: Poll, types: frozenset[str]) -> Poll:
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
        record(conn, types, hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def get_poll(conn: sqlite3.Connection, room_id: str, poll_id: str) -> Poll | None:
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


def list_polls(conn: sqlite3.Connection, room_id: str, statuses: list[str]) -> list[Poll]:
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


def scheduled_polls(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT room_id, id, coalesce(publish_at, 0) FROM polls"
        " WHERE status = 'scheduled' ORDER BY publish_at"
    )
    return [(r, p, t) for r, p, t in rows]


def publish_poll(
    conn: sqlite3.Connection, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll | None:
    won = conn.execute(
        "UPDATE polls SET status = 'open', published_at = ?"
        " WHERE room_id = ? AND id = ? AND status = 'scheduled'",
        (ts, room_id, poll_id),
    ).rowcount
    poll = get_poll(conn, room_id, poll_id) if won else None
    if types and poll is not None:
        record(conn, types, hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def vote(conn: sqlite3.Connection, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
    # The writer thread runs one job at a time: nothing changes the poll between the read
    # and the writes.
    poll = poll_rules.poll_to_vote(get_poll(conn, room_id, poll_id), option)
    inserted = conn.execute(
        "INSERT INTO poll_votes (room_id, poll_id, user_id, option, ts) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (room_id, poll_id, user_id, option, sql_rows.now_ms()),
    ).rowcount
    poll_rules.first_vote(inserted > 0)
    conn.execute(
        "UPDATE poll_options SET votes = votes + 1 WHERE room_id = ? AND poll_id = ? AND idx = ?",
        (room_id, poll_id, option),
    )
    return poll_rules.counted(poll, option)


def finish_poll(
    conn: sqlite3.Connection, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll:
    poll = poll_rules.poll_to_finish(get_poll(conn, room_id, poll_id))
    conn.execute(
        "UPDATE polls SET status = 'finished', finished_at = ? WHERE room_id = ? AND id = ?",
        (ts, room_id, poll_id),
    )
    poll = poll_rules.finished(poll, ts)
    if types:
        record(conn, types, hooks.POLL_FINISHED, room_id, ts, hooks.poll_event(poll))
    return poll


def user_votes(conn: sqlite3.Connection, room_id: str, user_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT poll_id, option FROM poll_votes WHERE room_id = ? AND user_id = ?",
        (room_id, user_id),
    )
    return dict(rows)
