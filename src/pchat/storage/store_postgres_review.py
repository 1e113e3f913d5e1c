"""The PostgreSQL store's review queue: held messages, on a connection of the store's pool.

Every node of a cluster shares the queue, so each write decides under the database's locks:

- **Holding is idempotent across nodes.** The insert skips a row with the same ``(room,
  user, cid)`` (the unique index ``held_cid``); a cid whose held message was released in the
  meantime is then found in ``messages``. An insert that had to wait for a concurrent
  release of its cid goes ahead once that one committed, so the message is looked up again
  after a successful insert (a new statement sees what committed before it) and the insert
  undone if it is there.
- **One releaser wins.** Releasing and rejecting start by deleting the held row: a second
  caller waits for the first one's row lock, then finds nothing. The store appends a
  released message in the same transaction (taking the room's lock after the held row's;
  nothing takes them the other way round).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

from pchat.protocol.moderation import Held

from . import sql_rows
from .base import HoldResult, StoreUnavailable
from .sql_rows import H, M, held_from_row, message_from_row

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = ["due", "get", "hold", "listing", "take"]

_SQL_HOLD: Final = (
    f"INSERT INTO held_messages (room_id, {H})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(sql_rows.HELD_COLUMNS) + 2))})"
    " ON CONFLICT DO NOTHING RETURNING true"
)
_SQL_GET: Final = f"SELECT {H} FROM held_messages WHERE room_id = $1 AND id = $2"
_SQL_LIST: Final = f"SELECT {H} FROM held_messages WHERE room_id = $1 ORDER BY ts, id LIMIT $2"
_SQL_BY_CID: Final = (
    f"SELECT {H} FROM held_messages WHERE room_id = $1 AND user_id = $2 AND cid = $3"
)
_SQL_MESSAGE_BY_CID: Final = (
    f"SELECT {M} FROM messages WHERE room_id = $1 AND user_id = $2 AND cid = $3"
)
_SQL_UNHOLD: Final = "DELETE FROM held_messages WHERE room_id = $1 AND id = $2"
_SQL_TAKE: Final = f"DELETE FROM held_messages WHERE room_id = $1 AND id = $2 RETURNING {H}"
_SQL_DUE: Final = (
    "SELECT room_id, id FROM held_messages"
    " WHERE release_at IS NOT NULL AND release_at <= $1 ORDER BY release_at LIMIT $2"
)
#: Attempts at holding when the cid's row keeps disappearing between the insert and the
#: lookup (released or rejected meanwhile, each time).
_HOLD_ATTEMPTS: Final = 3


async def hold(conn: _Conn, room_id: str, held: Held) -> HoldResult:
    """Hold ``held`` unless its cid is in the stream or held already (in a transaction)."""
    row = sql_rows.held_to_row(held)
    if held.cid is None:
        await conn.execute(_SQL_HOLD, room_id, *row)  # the same id again: a retried hold
        return HoldResult(held, created=True)
    key = (room_id, held.user.id, held.cid)
    for _ in range(_HOLD_ATTEMPTS):
        message = await conn.fetchrow(_SQL_MESSAGE_BY_CID, *key)
        if message is not None:
            return HoldResult(message_from_row(message), created=False)
        if await conn.fetchval(_SQL_HOLD, room_id, *row):
            # The insert may have waited for a release of this cid: look again.
            message = await conn.fetchrow(_SQL_MESSAGE_BY_CID, *key)
            if message is None:
                return HoldResult(held, created=True)
            await conn.execute(_SQL_UNHOLD, room_id, held.id)
            return HoldResult(message_from_row(message), created=False)
        earlier = await conn.fetchrow(_SQL_BY_CID, *key)
        if earlier is not None:
            return HoldResult(held_from_row(earlier), created=False)
        # Held before, and released or rejected since the insert: look again.
    raise StoreUnavailable(f"the cid {held.cid!r} is being held and released; retry")


async def listing(conn: _Conn, room_id: str, limit: int) -> list[Held]:
    return [held_from_row(row) for row in await conn.fetch(_SQL_LIST, room_id, limit)]


async def get(conn: _Conn, room_id: str, held_id: str) -> Held | None:
    row = await conn.fetchrow(_SQL_GET, room_id, held_id)
    return None if row is None else held_from_row(row)


async def take(conn: _Conn, room_id: str, held_id: str) -> Held | None:
    """Remove the held message from the queue and return it, or None."""
    row = await conn.fetchrow(_SQL_TAKE, room_id, held_id)
    return None if row is None else held_from_row(row)


async def due(conn: _Conn, now_ms: int, limit: int) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in await conn.fetch(_SQL_DUE, now_ms, limit)]
