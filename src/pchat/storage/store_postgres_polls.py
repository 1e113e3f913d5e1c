"""The PostgreSQL store's polls: their options and votes, on a connection of its pool.

Every node of a cluster shares the polls, so each write decides under the database's locks
(the rules they apply are :mod:`~pchat.storage.poll_rules`'):

- **Exactly once.** :func:`publish_poll` is a conditional ``UPDATE``: of the callers
  publishing one scheduled poll, on any node, one wins.
- **Exact tallies.** :func:`vote` and :func:`finish_poll` lock the poll's row first (in a
  transaction), so each vote sees the ones before it, and none is counted after the finish.

Creating, publishing and finishing a poll take ``types``, the store's
:attr:`~pchat.storage.base.WebhookStore.webhook_types`, and write their webhook event on
their connection (:func:`~pchat.storage.store_postgres_webhooks.record`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg

from pchat.protocol import webhooks as hooks
from pchat.protocol.models import Poll

from . import poll_rules, sql_rows
from .sql_rows import P_JOINED, P, poll_from_row, poll_to_row
from .store_postgres_webhooks import record

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

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

_SQL_POLL_ROWS: Final = f"""
    SELECT {P_JOINED}, o.text AS option_text, o.votes FROM polls AS p
    JOIN poll_options AS o ON o.room_id = p.room_id AND o.poll_id = p.id"""
_SQL_CREATE: Final = f"""
    WITH p AS (
        INSERT INTO polls (room_id, {P})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    )
    INSERT INTO poll_options (room_id, poll_id, idx, text, votes)
    SELECT $1, $2, o.idx - 1, o.text, o.votes
    FROM unnest($12::text[], $13::bigint[]) WITH ORDINALITY AS o(text, votes, idx)"""
_SQL_VOTE: Final = """
    WITH v AS (
        INSERT INTO poll_votes (room_id, poll_id, user_id, option, ts)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1
    )
    UPDATE poll_options SET votes = votes + 1
    WHERE room_id = $1 AND poll_id = $2 AND idx = $4 AND EXISTS (SELECT 1 FROM v)
    RETURNING true"""


def _polls(rows: Iterable[asyncpg.Record]) -> list[Poll]:
    """Polls from rows of ``_SQL_POLL_ROWS`` ordered by poll, then option."""
    polls: list[Poll] = []
    head: tuple[Any, ...] | None = None
    options: list[tuple[str, int]] = []
    for row in rows:
        if head is None or row[0] != head[0]:
            if head is not None:
                polls.append(poll_from_row(head, options))
            head, options = tuple(row[:10]), []
        options.append((row[10], row[11]))
    if head is not None:
        polls.append(poll_from_row(head, options))
    return polls


async def create_poll(conn: _Conn, room_id: str, poll: Poll, types: frozenset[str]) -> Poll:
    """Store ``poll`` with its options; ``types`` is empty unless the poll is open (then in
    a transaction: its publication is recorded too)."""
    poll = replace(poll, my_vote=None)
    await conn.execute(
        _SQL_CREATE,
        room_id,
        *poll_to_row(poll),
        [o.text for o in poll.options],
        [o.votes for o in poll.options],
    )
    if types:
        ts = poll.published_at or poll.created_at
        await record(conn, types, [(hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))])
    return poll


async def get_poll(conn: _Conn, room_id: str, poll_id: str) -> Poll | None:
    rows = await conn.fetch(
        f"{_SQL_POLL_ROWS} WHERE p.room_id = $1 AND p.id = $2 ORDER BY o.idx", room_id, poll_id
    )
    polls = _polls(rows)
    return polls[0] if polls else None


async def list_polls(conn: _Conn, room_id: str, statuses: list[str]) -> list[Poll]:
    rows = await conn.fetch(
        f"{_SQL_POLL_ROWS} WHERE p.room_id = $1 AND p.status = ANY($2::text[])"
        " ORDER BY p.created_at, p.id, o.idx",
        room_id,
        statuses,
    )
    return _polls(rows)


async def scheduled_polls(conn: _Conn) -> list[tuple[str, str, int]]:
    rows = await conn.fetch(
        "SELECT room_id, id, coalesce(publish_at, 0) FROM polls"
        " WHERE status = 'scheduled' ORDER BY publish_at"
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def publish_poll(
    conn: _Conn, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll | None:
    """Open the scheduled poll; None if it is not scheduled (in a transaction)."""
    won = await conn.fetchval(
        "UPDATE polls SET status = 'open', published_at = $3"
        " WHERE room_id = $1 AND id = $2 AND status = 'scheduled' RETURNING true",
        room_id,
        poll_id,
        ts,
    )
    poll = await get_poll(conn, room_id, poll_id) if won else None
    if poll is not None and types:
        await record(conn, types, [(hooks.POLL_PUBLISHED, room_id, ts, hooks.poll_event(poll))])
    return poll


async def _locked_poll(conn: _Conn, room_id: str, poll_id: str) -> Poll | None:
    # Lock first, read after: a statement that waited for the lock would read the
    # options as they were before the previous holder committed.
    locked = await conn.fetchval(
        "SELECT true FROM polls WHERE room_id = $1 AND id = $2 FOR UPDATE", room_id, poll_id
    )
    return await get_poll(conn, room_id, poll_id) if locked else None


async def vote(conn: _Conn, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
    """Count the user's vote (in a transaction)."""
    # The poll's row lock orders the votes of one poll: each sees the ones before.
    poll = poll_rules.poll_to_vote(await _locked_poll(conn, room_id, poll_id), option)
    counted = await conn.fetchval(_SQL_VOTE, room_id, poll_id, user_id, option, sql_rows.now_ms())
    poll_rules.first_vote(bool(counted))
    return poll_rules.counted(poll, option)


async def finish_poll(
    conn: _Conn, room_id: str, poll_id: str, ts: int, types: frozenset[str]
) -> Poll:
    """Finish the poll (in a transaction)."""
    poll = poll_rules.poll_to_finish(await _locked_poll(conn, room_id, poll_id))
    await conn.execute(
        "UPDATE polls SET status = 'finished', finished_at = $3 WHERE room_id = $1 AND id = $2",
        room_id,
        poll_id,
        ts,
    )
    poll = poll_rules.finished(poll, ts)
    if types:
        await record(conn, types, [(hooks.POLL_FINISHED, room_id, ts, hooks.poll_event(poll))])
    return poll


async def user_votes(conn: _Conn, room_id: str, user_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT poll_id, option FROM poll_votes WHERE room_id = $1 AND user_id = $2",
        room_id,
        user_id,
    )
    return {row[0]: row[1] for row in rows}
