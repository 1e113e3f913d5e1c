"""The SQLite store's webhooks: endpoints and the outbox, as jobs of its worker threads.

Each function runs on the store's writer or reader connection (see
:mod:`~pchat.storage.store_sqlite`). The writer runs one job at a time, in a transaction
shared with the jobs of its batch, so :func:`record` called by a change's job writes the
event in the change's transaction, and a claim — one ``UPDATE … RETURNING`` — hands each due
row to one claimer, however many processes share the file (SQLite takes the write lock
first: ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from typing import Any, Final

import orjson

from pchat.protocol import webhooks as events

from .base import WebhookBacklog, WebhookDelivery, WebhookEndpoint

__all__ = [
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

_E: Final = "id, url, secret, types, created_at, active, description"
# One row per active endpoint subscribed to the type (?2); the body names the event id (?1).
_SQL_RECORD: Final = """
    INSERT INTO webhook_outbox (event_id, endpoint_id, type, room_id, created_at, body, next_at)
    SELECT ?1, id, ?2, ?3, ?4, ?5, ?4 FROM webhook_endpoints
    WHERE active AND EXISTS (SELECT 1 FROM json_each(types) WHERE value IN (?2, '*'))"""
# Due rows of active endpoints, oldest event first; the claim moves ``next_at`` past the lease.
_SQL_CLAIM: Final = """
    UPDATE webhook_outbox SET claim = ?1, next_at = ?2 + ?3, attempts = attempts + 1
    WHERE id IN (
        SELECT o.id FROM webhook_outbox AS o JOIN webhook_endpoints AS e ON e.id = o.endpoint_id
        WHERE o.dead_at IS NULL AND o.next_at <= ?2 AND e.active
        ORDER BY o.id LIMIT ?4
    )
    RETURNING id, event_id, type, room_id, created_at, body, attempts, endpoint_id"""


def _endpoint(row: Iterable[Any]) -> WebhookEndpoint:
    id_, url, secret, types, created_at, active, description = row
    return WebhookEndpoint(
        id_, url, secret, tuple(orjson.loads(types)), created_at, bool(active), description
    )


def record(
    conn: sqlite3.Connection,
    types: frozenset[str],
    event_type: str,
    room_id: str,
    ts: int,
    data: dict[str, Any],
) -> None:
    """Write the event to the outbox for its subscribers, if ``types`` (the store's
    :attr:`~pchat.storage.base.WebhookStore.webhook_types`) has any (writer)."""
    if not events.subscribed(types, event_type):
        return
    event_id = events.new_event_id()
    body = events.body(event_id, event_type, room_id, ts, data)
    conn.execute(_SQL_RECORD, (event_id, event_type, room_id, ts, body))


def subscribed_types(conn: sqlite3.Connection) -> frozenset[str]:
    rows = conn.execute("SELECT types FROM webhook_endpoints WHERE active")
    return frozenset(t for (types,) in rows for t in orjson.loads(types))


def add(conn: sqlite3.Connection, endpoint: WebhookEndpoint) -> None:
    e = endpoint
    try:
        conn.execute(
            f"INSERT INTO webhook_endpoints ({_E}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                e.id,
                e.url,
                e.secret,
                orjson.dumps(list(e.types)).decode(),
                e.created_at,
                e.active,
                e.description,
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise ValueError(f"webhook {e.id!r} exists") from exc


def listing(conn: sqlite3.Connection) -> list[WebhookEndpoint]:
    rows = conn.execute(f"SELECT {_E} FROM webhook_endpoints ORDER BY created_at, id")
    return [_endpoint(row) for row in rows]


def get(conn: sqlite3.Connection, endpoint_id: str) -> WebhookEndpoint | None:
    row = conn.execute(
        f"SELECT {_E} FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
    ).fetchone()
    return None if row is None else _endpoint(row)


def update(
    conn: sqlite3.Connection, endpoint_id: str, changes: dict[str, Any]
) -> WebhookEndpoint | None:
    """Set ``changes`` (column -> value, ``types`` a tuple) on the endpoint (writer)."""
    if "types" in changes:
        changes = {**changes, "types": orjson.dumps(list(changes["types"])).decode()}
    if changes:
        sets = ", ".join(f"{column} = ?" for column in changes)
        conn.execute(
            f"UPDATE webhook_endpoints SET {sets} WHERE id = ?", (*changes.values(), endpoint_id)
        )
    return get(conn, endpoint_id)


def remove(conn: sqlite3.Connection, endpoint_id: str) -> bool:
    conn.execute("DELETE FROM webhook_outbox WHERE endpoint_id = ?", (endpoint_id,))
    return conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,)).rowcount > 0


def backlog(conn: sqlite3.Connection, endpoint_id: str) -> WebhookBacklog:
    pending, dead = conn.execute(
        "SELECT count(*) FILTER (WHERE dead_at IS NULL),"
        " count(*) FILTER (WHERE dead_at IS NOT NULL)"
        " FROM webhook_outbox WHERE endpoint_id = ?",
        (endpoint_id,),
    ).fetchone()
    row = conn.execute(
        "SELECT last_error FROM webhook_outbox WHERE endpoint_id = ? AND last_error IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (endpoint_id,),
    ).fetchone()
    return WebhookBacklog(pending, dead, None if row is None else row[0])


def set_room_live(
    conn: sqlite3.Connection,
    types: frozenset[str],
    room_id: str,
    live: bool,
    ts: int,
    online: int,
) -> bool:
    """Flip the room's recorded state; write its event if it flipped (writer)."""
    if live:
        changed = conn.execute(
            "INSERT INTO webhook_rooms (room_id, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (room_id, ts),
        ).rowcount
    else:
        changed = conn.execute("DELETE FROM webhook_rooms WHERE room_id = ?", (room_id,)).rowcount
    if changed <= 0:
        return False
    kind = events.ROOM_LIVE if live else events.ROOM_EMPTY
    record(conn, types, kind, room_id, ts, events.room_liveness(online))
    return True


def claim(
    conn: sqlite3.Connection, now_ms: int, lease_ms: int, limit: int
) -> list[WebhookDelivery]:
    token = secrets.token_hex(8)
    rows = conn.execute(_SQL_CLAIM, (token, now_ms, lease_ms, limit)).fetchall()
    if not rows:
        return []
    ids = sorted({row[7] for row in rows})
    marks = ", ".join("?" * len(ids))
    targets = {
        id_: (url, secret)
        for id_, url, secret in conn.execute(
            f"SELECT id, url, secret FROM webhook_endpoints WHERE id IN ({marks})", ids
        )
    }
    rows.sort(key=lambda row: row[0])
    return [
        WebhookDelivery(
            id_,
            token,
            event_id,
            kind,
            room_id,
            created,
            bytes(body),
            attempts,
            endpoint_id,
            *targets[endpoint_id],
        )
        for id_, event_id, kind, room_id, created, body, attempts, endpoint_id in rows
    ]


def delivered(conn: sqlite3.Connection, delivery_id: int, token: str) -> bool:
    deleted = conn.execute(
        "DELETE FROM webhook_outbox WHERE id = ? AND claim = ?", (delivery_id, token)
    ).rowcount
    return deleted > 0


def failed(
    conn: sqlite3.Connection,
    delivery_id: int,
    token: str,
    error: str,
    retry_at: int | None,
    now_ms: int,
) -> bool:
    dead_at = now_ms if retry_at is None else None
    params = (error, now_ms if retry_at is None else retry_at, dead_at)
    changed = conn.execute(
        "UPDATE webhook_outbox SET claim = NULL, last_error = ?, next_at = ?, dead_at = ?"
        " WHERE id = ? AND claim = ?",
        (*params, delivery_id, token),
    ).rowcount
    return changed > 0


def retry_dead(conn: sqlite3.Connection, endpoint_id: str, now_ms: int) -> int:
    changed: int = conn.execute(
        "UPDATE webhook_outbox SET dead_at = NULL, attempts = 0, next_at = ?"
        " WHERE endpoint_id = ? AND dead_at IS NOT NULL",
        (now_ms, endpoint_id),
    ).rowcount
    return changed


def forget_dead(conn: sqlite3.Connection, before_ms: int) -> int:
    deleted: int = conn.execute(
        "DELETE FROM webhook_outbox WHERE dead_at IS NOT NULL AND dead_at < ?", (before_ms,)
    ).rowcount
    return deleted
