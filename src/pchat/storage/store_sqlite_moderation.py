"""The SQLite store's moderation, as jobs of its worker threads.

What moderators and users keep out of a room, and what its staff set: mutes, bans (and
forgetting the expired ones), room settings, pins, the moderation log, a user's recent
texts (for unique chat) and the blocklist. Token revocations are here too: like mutes,
they are kept per user rather than per room.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`); the writer runs one job at a time, so a new log entry's
id (the room's ``mod_log_heads`` row) and a new blocklist entry's place need no lock. Banning
and unbanning take ``types``, the store's
:attr:`~pchat.storage.base.WebhookStore.webhook_types`, and write their webhook event in
their job (:func:`~pchat.storage.store_sqlite_webhooks.record`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any, Final

import orjson

from pchat.protocol import webhooks as hooks
from pchat.protocol.moderation import Ban, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import sql_rows
from .store_sqlite_webhooks import record

__all__ = [
    "bans",
    "filter_entries",
    "forget_expired_bans",
    "log_action",
    "mod_log",
    "mutes_of",
    "pin",
    "put_ban",
    "put_filter_entry",
    "put_mute",
    "put_pin",
    "put_room_settings",
    "recent_texts",
    "remove_ban",
    "remove_filter_entry",
    "remove_mute",
    "revocations",
    "revoke_tokens",
    "room_settings",
]


_SQL_MUTES_OF: Final = (
    "SELECT user_id, muted_id FROM mutes"
    " WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, ts, muted_id"
)
_SQL_REVOKE: Final = (
    "INSERT INTO revocations (user_id, revoked_before) VALUES (?, ?)"
    " ON CONFLICT (user_id) DO UPDATE"
    " SET revoked_before = max(revoked_before, excluded.revoked_before)"
    " RETURNING revoked_before"
)
_SQL_REVOCATIONS: Final = (
    "SELECT user_id, revoked_before FROM revocations WHERE revoked_before >= ?"
)
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


def _insert(
    conn: sqlite3.Connection, table: str, columns: str, row: tuple[Any, ...], *, upsert: bool = True
) -> None:
    """Insert ``row``: ``room_id``, then ``columns``; ``upsert``: over the row of the same key."""
    marks = ", ".join("?" * len(row))
    verb = "INSERT OR REPLACE" if upsert else "INSERT"
    conn.execute(f"{verb} INTO {table} (room_id, {columns}) VALUES ({marks})", row)


# -- mutes and revocations (per user) ---------------------------------------------------------


def put_mute(conn: sqlite3.Connection, user_id: str, muted_id: str, ts: int) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO mutes (user_id, muted_id, ts) VALUES (?, ?, ?)",
        (user_id, muted_id, ts),
    )
    return cursor.rowcount > 0


def remove_mute(conn: sqlite3.Connection, user_id: str, muted_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM mutes WHERE user_id = ? AND muted_id = ?", (user_id, muted_id)
    )
    return cursor.rowcount > 0


def mutes_of(conn: sqlite3.Connection, user_ids: list[str]) -> dict[str, list[str]]:
    """The ids each of ``user_ids`` muted, oldest mute first; only those with a mute are keys."""
    found: dict[str, list[str]] = {}
    ids = orjson.dumps(user_ids).decode()
    for user_id, muted_id in conn.execute(_SQL_MUTES_OF, (ids,)):
        found.setdefault(user_id, []).append(muted_id)
    return found


def revoke_tokens(conn: sqlite3.Connection, user_id: str, before: int) -> int:
    """Refuse the user's tokens issued before ``before``; the user's time now (an earlier
    ``before`` leaves a later one in place) (writer)."""
    return int(conn.execute(_SQL_REVOKE, (user_id, before)).fetchone()[0])


def revocations(conn: sqlite3.Connection, since: int) -> dict[str, int]:
    return dict(conn.execute(_SQL_REVOCATIONS, (since,)).fetchall())


# -- bans ---------------------------------------------------------------------------------------


def put_ban(conn: sqlite3.Connection, room_id: str, ban: Ban, types: frozenset[str]) -> None:
    _insert(conn, "bans", sql_rows.B, (room_id, *sql_rows.ban_to_row(ban)))
    if types:
        record(conn, types, hooks.USER_BANNED, room_id, ban.created_at, hooks.user_banned(ban))


def remove_ban(conn: sqlite3.Connection, room_id: str, user_id: str, types: frozenset[str]) -> bool:
    rows = conn.execute(
        f"DELETE FROM bans WHERE room_id = ? AND user_id = ? RETURNING {sql_rows.B}",
        (room_id, user_id),
    ).fetchall()
    if rows and types:
        data = hooks.user_unbanned(sql_rows.ban_from_row(rows[0]))
        record(conn, types, hooks.USER_UNBANNED, room_id, sql_rows.now_ms(), data)
    return bool(rows)


def bans(conn: sqlite3.Connection, room_id: str, now_ms: int) -> list[Ban]:
    """The room's bans in force at ``now_ms``, by user id."""
    rows = conn.execute(_SQL_BANS, (room_id, now_ms)).fetchall()
    return [sql_rows.ban_from_row(row) for row in rows]


def forget_expired_bans(conn: sqlite3.Connection, now_ms: int) -> int:
    """Delete the bans that expired by ``now_ms``, in every room; how many (writer)."""
    return conn.execute(_SQL_FORGET_EXPIRED_BANS, (now_ms,)).rowcount


# -- room settings and pins ---------------------------------------------------------------------


def room_settings(conn: sqlite3.Connection, room_id: str) -> RoomSettings:
    row = conn.execute(
        f"SELECT {sql_rows.S} FROM room_settings WHERE room_id = ?", (room_id,)
    ).fetchone()
    return RoomSettings() if row is None else sql_rows.settings_from_row(row)


def put_room_settings(conn: sqlite3.Connection, room_id: str, settings: RoomSettings) -> None:
    _insert(conn, "room_settings", sql_rows.S, (room_id, *sql_rows.settings_to_row(settings)))


def pin(conn: sqlite3.Connection, room_id: str) -> Pin | None:
    row = conn.execute("SELECT pin FROM pins WHERE room_id = ?", (room_id,)).fetchone()
    return None if row is None else sql_rows.pin_from_json(row[0])


def put_pin(conn: sqlite3.Connection, room_id: str, pin: Pin | None) -> None:
    if pin is None:
        conn.execute("DELETE FROM pins WHERE room_id = ?", (room_id,))
    else:
        _insert(conn, "pins", "pin", (room_id, sql_rows.pin_to_json(pin)))


# -- the moderation log, recent texts and the blocklist -----------------------------------------


def log_action(conn: sqlite3.Connection, room_id: str, action: ModAction) -> ModAction:
    """Append ``action`` to the room's log; it is returned with its id (writer)."""
    ((log_id,),) = conn.execute(
        "INSERT INTO mod_log_heads (room_id, last_id) VALUES (?, 1)"
        " ON CONFLICT (room_id) DO UPDATE SET last_id = last_id + 1 RETURNING last_id",
        (room_id,),
    ).fetchall()
    row = (room_id, log_id, *sql_rows.mod_action_to_row(action))
    _insert(conn, "mod_log", sql_rows.L, row, upsert=False)
    return replace(action, id=log_id)


def mod_log(
    conn: sqlite3.Connection, room_id: str, before_id: int | None, limit: int
) -> list[ModAction]:
    """The room's log entries before ``before_id`` (None: the newest), newest first."""
    before = sql_rows.MAX_SEQ if before_id is None else before_id
    return [
        sql_rows.mod_action_from_row(r)
        for r in conn.execute(_SQL_MOD_LOG, (room_id, before, limit))
    ]


def recent_texts(conn: sqlite3.Connection, room_id: str, user_id: str, limit: int) -> list[str]:
    """The texts of the user's newest messages in the room, newest first."""
    rows = conn.execute(_SQL_RECENT_TEXTS, (room_id, user_id, limit)).fetchall()
    return [row[0] for row in rows]


def filter_entries(conn: sqlite3.Connection, room_id: str) -> list[FilterEntry]:
    rows = conn.execute(_SQL_FILTER_ENTRIES, (room_id,)).fetchall()
    return [FilterEntry(pattern, action) for pattern, action in rows]


def put_filter_entry(conn: sqlite3.Connection, room_id: str, entry: FilterEntry) -> None:
    conn.execute(_SQL_PUT_FILTER_ENTRY, (room_id, entry.pattern, entry.action))


def remove_filter_entry(conn: sqlite3.Connection, room_id: str, pattern: str) -> bool:
    removed = conn.execute(
        "DELETE FROM filter_entries WHERE room_id = ? AND pattern = ?", (room_id, pattern)
    ).rowcount
    return removed > 0
