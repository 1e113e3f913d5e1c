"""The PostgreSQL store's moderation, on a connection of its pool.

What moderators and users keep out of a room, and what its staff set: mutes, bans (and
forgetting the expired ones), room settings, pins, the moderation log, a user's recent
texts (for unique chat) and the blocklist. Token revocations are here too: like mutes,
they are kept per user rather than per room.

Every node of a cluster shares them, and each change is one statement, so the database's
locks decide between nodes: a ban, the settings, a pin replace the row of the same key; a
token revocation keeps the later time; a new log entry takes its id from the room's
``mod_log_heads`` row, whose lock orders the entries of one room on every node. Banning and
unbanning take ``types``, the store's :attr:`~pchat.storage.base.WebhookStore.webhook_types`;
when it is not empty, the store runs them in a transaction and they write their webhook
event on their connection (:func:`~pchat.storage.store_postgres_webhooks.record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

from pchat.protocol import webhooks as hooks
from pchat.protocol.moderation import Ban, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import sql_rows
from .store_postgres_webhooks import record

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

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


def _sql_put(table: str, columns: tuple[str, ...], key: str) -> str:
    """Insert ``room_id`` and ``columns``, replacing the row of the same ``key``."""
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return (
        f"INSERT INTO {table} (room_id, {', '.join(columns)}) VALUES ({marks})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_SQL_PUT_MUTE: Final = (
    "INSERT INTO mutes (user_id, muted_id, ts) VALUES ($1, $2, $3)"
    " ON CONFLICT DO NOTHING RETURNING true"
)
_SQL_REMOVE_MUTE: Final = "DELETE FROM mutes WHERE user_id = $1 AND muted_id = $2 RETURNING true"
_SQL_MUTES_OF: Final = (
    "SELECT user_id, muted_id FROM mutes WHERE user_id = ANY($1::text[])"
    " ORDER BY user_id, ts, muted_id"
)
_SQL_REVOKE: Final = (
    "INSERT INTO revocations (user_id, revoked_before) VALUES ($1, $2)"
    " ON CONFLICT (user_id) DO UPDATE"
    " SET revoked_before = greatest(revocations.revoked_before, excluded.revoked_before)"
    " RETURNING revoked_before"
)
_SQL_REVOCATIONS: Final = (
    "SELECT user_id, revoked_before FROM revocations WHERE revoked_before >= $1"
)
_SQL_PUT_BAN: Final = _sql_put("bans", sql_rows.BAN_COLUMNS, "room_id, user_id")
_SQL_PUT_SETTINGS: Final = _sql_put("room_settings", sql_rows.SETTINGS_COLUMNS, "room_id")
_SQL_PUT_PIN: Final = _sql_put("pins", ("pin",), "room_id")
_SQL_REMOVE_BAN: Final = (
    f"DELETE FROM bans WHERE room_id = $1 AND user_id = $2 RETURNING {sql_rows.B}"
)
_SQL_BANS: Final = (
    f"SELECT {sql_rows.B} FROM bans WHERE room_id = $1 AND (until IS NULL OR until > $2)"
    " ORDER BY user_id"
)
# What ``_SQL_BANS`` no longer returns at ``$1``, in every room; the number deleted.
_SQL_FORGET_EXPIRED_BANS: Final = """
    WITH d AS (DELETE FROM bans WHERE until IS NOT NULL AND until <= $1 RETURNING 1)
    SELECT count(*) FROM d"""
# The head's row lock orders the entries of one room, on every node: ids commit in order.
_SQL_LOG_ACTION: Final = f"""
    WITH head AS (
        INSERT INTO mod_log_heads (room_id, last_id) VALUES ($1, 1)
        ON CONFLICT (room_id) DO UPDATE SET last_id = mod_log_heads.last_id + 1
        RETURNING last_id
    )
    INSERT INTO mod_log (room_id, {sql_rows.L})
    VALUES ($1, (SELECT last_id FROM head), $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING id"""
_SQL_MOD_LOG: Final = (
    f"SELECT {sql_rows.L} FROM mod_log WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
)
_SQL_RECENT_TEXTS: Final = (
    "SELECT text FROM messages WHERE room_id = $1 AND user_id = $2 ORDER BY seq DESC LIMIT $3"
)
_SQL_FILTER_ENTRIES: Final = sql_rows.sql_filter_entries("$1")
# A new entry takes the next ``seq``; an entry whose pattern is listed keeps its place and
# takes the new action.
_SQL_PUT_FILTER_ENTRY: Final = (
    "INSERT INTO filter_entries (room_id, pattern, action) VALUES ($1, $2, $3)"
    " ON CONFLICT (room_id, pattern) DO UPDATE SET action = excluded.action"
)


async def _remove(conn: _Conn, table: str, column: str, room_id: str, key: str) -> bool:
    """Delete the room's row of ``table`` whose ``column`` is ``key``; False if none."""
    sql = f"DELETE FROM {table} WHERE room_id = $1 AND {column} = $2 RETURNING true"
    return bool(await conn.fetchval(sql, room_id, key))


# -- mutes and revocations (per user) ---------------------------------------------------------


async def put_mute(conn: _Conn, user_id: str, muted_id: str, ts: int) -> bool:
    return bool(await conn.fetchval(_SQL_PUT_MUTE, user_id, muted_id, ts))


async def remove_mute(conn: _Conn, user_id: str, muted_id: str) -> bool:
    return bool(await conn.fetchval(_SQL_REMOVE_MUTE, user_id, muted_id))


async def mutes_of(conn: _Conn, user_ids: Sequence[str]) -> dict[str, list[str]]:
    """The ids each of ``user_ids`` muted, oldest mute first; only those with a mute are keys."""
    found: dict[str, list[str]] = {}
    for user_id, muted_id in await conn.fetch(_SQL_MUTES_OF, list(user_ids)):
        found.setdefault(user_id, []).append(muted_id)
    return found


async def revoke_tokens(conn: _Conn, user_id: str, before: int) -> int:
    """Refuse the user's tokens issued before ``before``; the user's time now (an earlier
    ``before`` leaves a later one in place)."""
    return int(await conn.fetchval(_SQL_REVOKE, user_id, before))


async def revocations(conn: _Conn, since: int) -> dict[str, int]:
    rows = await conn.fetch(_SQL_REVOCATIONS, since)
    return {r[0]: int(r[1]) for r in rows}


# -- bans ---------------------------------------------------------------------------------------


async def put_ban(conn: _Conn, room_id: str, ban: Ban, types: frozenset[str]) -> None:
    """Ban, or ban again over the user's ban (in a transaction if ``types``)."""
    await conn.execute(_SQL_PUT_BAN, room_id, *sql_rows.ban_to_row(ban))
    if types:
        event = (hooks.USER_BANNED, room_id, ban.created_at, hooks.user_banned(ban))
        await record(conn, types, [event])


async def remove_ban(conn: _Conn, room_id: str, user_id: str, types: frozenset[str]) -> bool:
    """Lift the user's ban; False if there was none (in a transaction if ``types``)."""
    if not types:
        return await _remove(conn, "bans", "user_id", room_id, user_id)
    row = await conn.fetchrow(_SQL_REMOVE_BAN, room_id, user_id)
    if row is None:
        return False
    data = hooks.user_unbanned(sql_rows.ban_from_row(row))
    await record(conn, types, [(hooks.USER_UNBANNED, room_id, sql_rows.now_ms(), data)])
    return True


async def bans(conn: _Conn, room_id: str, now_ms: int) -> list[Ban]:
    """The room's bans in force at ``now_ms``, by user id."""
    rows = await conn.fetch(_SQL_BANS, room_id, now_ms)
    return [sql_rows.ban_from_row(row) for row in rows]


async def forget_expired_bans(conn: _Conn, now_ms: int) -> int:
    """Delete the bans that expired by ``now_ms``, in every room; how many."""
    count: int = await conn.fetchval(_SQL_FORGET_EXPIRED_BANS, now_ms)
    return count


# -- room settings and pins ---------------------------------------------------------------------


async def room_settings(conn: _Conn, room_id: str) -> RoomSettings:
    row = await conn.fetchrow(f"SELECT {sql_rows.S} FROM room_settings WHERE room_id = $1", room_id)
    return RoomSettings() if row is None else sql_rows.settings_from_row(row)


async def put_room_settings(conn: _Conn, room_id: str, settings: RoomSettings) -> None:
    await conn.execute(_SQL_PUT_SETTINGS, room_id, *sql_rows.settings_to_row(settings))


async def pin(conn: _Conn, room_id: str) -> Pin | None:
    text = await conn.fetchval("SELECT pin FROM pins WHERE room_id = $1", room_id)
    return None if text is None else sql_rows.pin_from_json(text)


async def put_pin(conn: _Conn, room_id: str, pin: Pin | None) -> None:
    if pin is None:
        await conn.execute("DELETE FROM pins WHERE room_id = $1", room_id)
    else:
        await conn.execute(_SQL_PUT_PIN, room_id, sql_rows.pin_to_json(pin))


# -- the moderation log, recent texts and the blocklist -----------------------------------------


async def log_action(conn: _Conn, room_id: str, action: ModAction) -> ModAction:
    """Append ``action`` to the room's log; it is returned with its id."""
    log_id = await conn.fetchval(_SQL_LOG_ACTION, room_id, *sql_rows.mod_action_to_row(action))
    return replace(action, id=log_id)


async def mod_log(conn: _Conn, room_id: str, before_id: int | None, limit: int) -> list[ModAction]:
    """The room's log entries before ``before_id`` (None: the newest), newest first."""
    before = sql_rows.MAX_SEQ if before_id is None else before_id
    rows = await conn.fetch(_SQL_MOD_LOG, room_id, before, limit)
    return [sql_rows.mod_action_from_row(row) for row in rows]


async def recent_texts(conn: _Conn, room_id: str, user_id: str, limit: int) -> list[str]:
    """The texts of the user's newest messages in the room, newest first."""
    rows = await conn.fetch(_SQL_RECENT_TEXTS, room_id, user_id, limit)
    return [row[0] for row in rows]


async def filter_entries(conn: _Conn, room_id: str) -> list[FilterEntry]:
    rows = await conn.fetch(_SQL_FILTER_ENTRIES, room_id)
    return [FilterEntry(pattern, action) for pattern, action in rows]


async def put_filter_entry(conn: _Conn, room_id: str, entry: FilterEntry) -> None:
    await conn.execute(_SQL_PUT_FILTER_ENTRY, room_id, entry.pattern, entry.action)


async def remove_filter_entry(conn: _Conn, room_id: str, pattern: str) -> bool:
    return await _remove(conn, "filter_entries", "pattern", room_id, pattern)
