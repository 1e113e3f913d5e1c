"""The PostgreSQL store's webhooks: endpoints and the outbox, on a connection of its pool.

:func:`record` writes a change's events on the change's own connection, in its transaction.
A claim is one statement: it picks due rows with ``FOR UPDATE SKIP LOCKED`` (a row another
node is claiming is passed over, not waited for) and moves their ``next_at`` past the lease
in the same statement, so once it commits no other claimer finds them due; a claimer that
read a row just before another committed its claim re-checks ``next_at`` on the new row
version (``EvalPlanQual``) and drops it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg

from pchat.protocol import webhooks as events

from .base import WebhookBacklog, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = [
    "Event",
    "add",
    "backlog",
    "claim",
    "delivered",
    "failed",
    "forget_dead",
    "get",
    "listing",
    "record",
    "remove",
    "retry_dead",
    "set_room_live",
    "subscribed_types",
    "update",
]

#: An event to record: its type, room, time (ms) and data.
Event: TypeAlias = tuple[str, str, int, dict[str, Any]]

_E: Final = "id, url, secret, types, created_at, active, description"
# One row per event and active endpoint subscribed to its type, in the events' order.
_SQL_RECORD: Final = """
    INSERT INTO webhook_outbox (event_id, endpoint_id, type, room_id, created_at, body, next_at)
    SELECT ev.event_id, e.id, ev.type, ev.room_id, ev.ts, ev.body, ev.ts
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
        WITH ORDINALITY AS ev(event_id, type, room_id, ts, body, n)
    JOIN webhook_endpoints AS e ON e.active AND (ev.type = ANY(e.types) OR '*' = ANY(e.types))
    ORDER BY ev.n, e.id"""
_SQL_CLAIM: Final = """
    WITH due AS (
        SELECT o.id FROM webhook_outbox AS o JOIN webhook_endpoints AS e ON e.id = o.endpoint_id
        WHERE o.dead_at IS NULL AND o.next_at <= $2 AND e.active
        ORDER BY o.id LIMIT $4
        FOR UPDATE OF o SKIP LOCKED
    )
    UPDATE webhook_outbox AS o SET claim = $1, next_at = $2 + $3, attempts = o.attempts + 1
    FROM due, webhook_endpoints AS e
    WHERE o.id = due.id AND o.next_at <= $2 AND e.id = o.endpoint_id
    RETURNING o.id, o.event_id, o.type, o.room_id, o.created_at, o.body, o.attempts,
        o.endpoint_id, e.url, e.secret"""


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    id_, url, secret, types, created_at, active, description = row
    return WebhookEndpoint(id_, url, secret, tuple(types), created_at, active, description)


async def record(conn: _Conn, types: frozenset[str], batch: Sequence[Event]) -> None:
    """Write the events of ``batch`` that ``types`` (the store's
    :attr:`~pchat.storage.base.WebhookStore.webhook_types`) subscribes to, on ``conn``."""
    wanted = [e for e in batch if events.subscribed(types, e[0])]
    if not wanted:
        return
    ids = [events.new_event_id() for _ in wanted]
    bodies = [
        events.body(event_id, kind, room_id, ts, data)
        for event_id, (kind, room_id, ts, data) in zip(ids, wanted, strict=True)
    ]
    await conn.execute(
        _SQL_RECORD,
        ids,
        [e[0] for e in wanted],
        [e[1] for e in wanted],
        [e[2] for e in wanted],
        bodies,
    )


async def subscribed_types(conn: _Conn) -> frozenset[str]:
    rows = await conn.fetch("SELECT DISTINCT unnest(types) FROM webhook_endpoints WHERE active")
    return frozenset(row[0] for row in rows)


async def add(conn: _Conn, endpoint: WebhookEndpoint) -> None:
    e = endpoint
    try:
        await conn.execute(
            f"INSERT INTO webhook_endpoints ({_E}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            e.id,
            e.url,
            e.secret,
            list(e.types),
            e.created_at,
            e.active,
            e.description,
        )
    except asyncpg.UniqueViolationError as exc:
        raise ValueError(f"webhook {e.id!r} exists") from exc


async def listing(conn: _Conn) -> list[WebhookEndpoint]:
    rows = await conn.fetch(f"SELECT {_E} FROM webhook_endpoints ORDER BY created_at, id")
    return [_endpoint(row) for row in rows]


async def get(conn: _Conn, endpoint_id: str) -> WebhookEndpoint | None:
    row = await conn.fetchrow(f"SELECT {_E} FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return None if row is None else _endpoint(row)


async def update(conn: _Conn, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint | None:
    """Set ``changes`` (column -> value, ``types`` a tuple) on the endpoint."""
    if "types" in changes:
        changes = {**changes, "types": list(changes["types"])}
    if changes:
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
        await conn.execute(
            f"UPDATE webhook_endpoints SET {sets} WHERE id = $1", endpoint_id, *changes.values()
        )
    return await get(conn, endpoint_id)


async def remove(conn: _Conn, endpoint_id: str) -> bool:
    await conn.execute("DELETE FROM webhook_outbox WHERE endpoint_id = $1", endpoint_id)
    removed = await conn.fetchval(
        "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING true", endpoint_id
    )
    return bool(removed)


async def backlog(conn: _Conn, endpoint_id: str) -> WebhookBacklog:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE dead_at IS NULL),
                  count(*) FILTER (WHERE dead_at IS NOT NULL),
                  (SELECT last_error FROM webhook_outbox
                   WHERE endpoint_id = $1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)
           FROM webhook_outbox WHERE endpoint_id = $1""",
        endpoint_id,
    )
    assert row is not None
    return WebhookBacklog(row[0], row[1], row[2])


async def set_room_live(
    conn: _Conn, types: frozenset[str], room_id: str, live: bool, ts: int, online: int
) -> bool:
    """Flip the room's recorded state; write its event if it flipped (in a transaction)."""
    if live:
        changed = await conn.fetchval(
            "INSERT INTO webhook_rooms (room_id, since) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING true",
            room_id,
            ts,
        )
    else:
        changed = await conn.fetchval(
            "DELETE FROM webhook_rooms WHERE room_id = $1 RETURNING true", room_id
        )
    if not changed:
        return False
    kind = events.ROOM_LIVE if live else events.ROOM_EMPTY
    await record(conn, types, [(kind, room_id, ts, events.room_liveness(online))])
    return True


async def claim(conn: _Conn, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
    token = secrets.token_hex(8)
    rows = await conn.fetch(_SQL_CLAIM, token, now_ms, lease_ms, limit)
    deliveries = [
        WebhookDelivery(
            row[0], token, row[1], row[2], row[3], row[4], bytes(row[5]), row[6], *row[7:10]
        )
        for row in rows
    ]
    deliveries.sort(key=lambda d: d.id)
    return deliveries


async def delivered(conn: _Conn, delivery_id: int, token: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM webhook_outbox WHERE id = $1 AND claim = $2 RETURNING true",
        delivery_id,
        token,
    )
    return bool(deleted)


async def failed(
    conn: _Conn, delivery_id: int, token: str, error: str, retry_at: int | None, now_ms: int
) -> bool:
    dead_at = now_ms if retry_at is None else None
    changed = await conn.fetchval(
        "UPDATE webhook_outbox SET claim = NULL, last_error = $3, next_at = $4, dead_at = $5"
        " WHERE id = $1 AND claim = $2 RETURNING true",
        delivery_id,
        token,
        error,
        now_ms if retry_at is None else retry_at,
        dead_at,
    )
    return bool(changed)


async def retry_dead(conn: _Conn, endpoint_id: str, now_ms: int) -> int:
    count: int = await conn.fetchval(
        """WITH r AS (
            UPDATE webhook_outbox SET dead_at = NULL, attempts = 0, next_at = $2
            WHERE endpoint_id = $1 AND dead_at IS NOT NULL RETURNING 1
        ) SELECT count(*) FROM r""",
        endpoint_id,
        now_ms,
    )
    return count


async def forget_dead(conn: _Conn, before_ms: int) -> int:
    count: int = await conn.fetchval(
        """WITH d AS (
            DELETE FROM webhook_outbox WHERE dead_at IS NOT NULL AND dead_at < $1 RETURNING 1
        ) SELECT count(*) FROM d""",
        before_ms,
    )
    return count
