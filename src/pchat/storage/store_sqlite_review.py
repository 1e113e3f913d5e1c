"""The SQLite store's review queue: held messages, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so a lookup and the
write that follows it see no other writer in between. Releasing a held message — taking it
out of the queue and appending it to the stream in one job — is composed by the store,
which owns the append.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from pchat.protocol.moderation import Held

from . import sql_rows
from .base import HoldResult
from .sql_rows import H, M, held_from_row, message_from_row

__all__ = ["due", "get", "hold", "listing", "take"]

_SQL_GET: Final = f"SELECT {H} FROM held_messages WHERE room_id = ? AND id = ?"
_SQL_LIST: Final = f"SELECT {H} FROM held_messages WHERE room_id = ? ORDER BY ts, id LIMIT ?"
_SQL_BY_CID: Final = f"SELECT {H} FROM held_messages WHERE room_id = ? AND user_id = ? AND cid = ?"
_SQL_MESSAGE_BY_CID: Final = (
    f"SELECT {M} FROM messages WHERE room_id = ? AND user_id = ? AND cid = ?"
)
_SQL_TAKE: Final = f"DELETE FROM held_messages WHERE room_id = ? AND id = ? RETURNING {H}"
_SQL_DUE: Final = (
    "SELECT room_id, id FROM held_messages"
    " WHERE release_at IS NOT NULL AND release_at <= ? ORDER BY release_at LIMIT ?"
)


def hold(conn: sqlite3.Connection, room_id: str, held: Held) -> HoldResult:
    """Hold ``held`` unless its cid is in the stream or held already (writer)."""
    if held.cid is not None:
        key = (room_id, held.user.id, held.cid)
        row = conn.execute(_SQL_MESSAGE_BY_CID, key).fetchone()
        if row is not None:
            return HoldResult(message_from_row(row), created=False)
        row = conn.execute(_SQL_BY_CID, key).fetchone()
        if row is not None:
            return HoldResult(held_from_row(row), created=False)
    marks = ", ".join("?" * (1 + len(sql_rows.HELD_COLUMNS)))
    conn.execute(
        f"INSERT INTO held_messages (room_id, {H}) VALUES ({marks})",
        (room_id, *sql_rows.held_to_row(held)),
    )
    return HoldResult(held, created=True)


def listing(conn: sqlite3.Connection, room_id: str, limit: int) -> list[Held]:
    return [held_from_row(row) for row in conn.execute(_SQL_LIST, (room_id, limit))]


def get(conn: sqlite3.Connection, room_id: str, held_id: str) -> Held | None:
    row = conn.execute(_SQL_GET, (room_id, held_id)).fetchone()
    return None if row is None else held_from_row(row)


def take(conn: sqlite3.Connection, room_id: str, held_id: str) -> Held | None:
    """Remove the held message from the queue and return it, or None (writer)."""
    rows = conn.execute(_SQL_TAKE, (room_id, held_id)).fetchall()
    return held_from_row(rows[0]) if rows else None


def due(conn: sqlite3.Connection, now_ms: int, limit: int) -> list[tuple[str, str]]:
    return [(room_id, held_id) for room_id, held_id in conn.execute(_SQL_DUE, (now_ms, limit))]
