"""What the conformance suites share: sample users and polls, and waiting for deliveries.

One suite per interface of :mod:`pchat.storage.base` (``test_<interface>_conformance.py``),
each run against every backend that implements it through the factories of ``conftest.py``.
A test names the narrowest interface it exercises in its signature.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pchat.protocol.models import Message, Poll, PollOption, User
from pchat.protocol.moderation import Ban, RoomSettings
from pchat.storage import store_postgres_schema, store_sqlite_schema
from pchat.storage.base import Broker, MessageStore, StreamStore
from pchat.storage.store_sqlite import SQLiteStore
from tests.helpers import t

__all__ = [
    "ALICE",
    "BOB",
    "MOD",
    "T0",
    "BrokerMaker",
    "Got",
    "StoreMaker",
    "make_poll",
    "old_schema",
    "recorder",
    "send",
    "send_old",
    "seqs",
    "until",
]

StoreMaker = Callable[[], Awaitable[MessageStore]]
BrokerMaker = Callable[..., Awaitable[Broker]]
Got = list[tuple[str, int | None, bytes]]

ALICE = User("u-alice", "alice", "viewer")
BOB = User("u-bob", "bob", "viewer")
MOD = User("u-mod", "mod", "moderator")
T0 = 1_700_000_000_000


# -- stores -------------------------------------------------------------------------------------


async def send(
    store: StreamStore,
    room: str,
    n: int,
    *,
    user: User = ALICE,
    ts: Callable[[int], int] = lambda i: T0 + i,
    prefix: str = "m",
) -> list[Message]:
    """Append ``n`` messages one after the other; message i has id ``{prefix}{i}``."""
    messages = []
    for i in range(n):
        result = await store.append_message(
            room, message_id=f"{prefix}{i}", user=user, text=f"text {i}", cid=None, ts=ts(i)
        )
        messages.append(result.message)
    return messages


def old_schema(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """Have the stores opened next stop at schema ``version``, as a pchat of then
    (``monkeypatch.undo()``: the stores opened after migrate to today's)."""
    for module in (store_sqlite_schema, store_postgres_schema):
        monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:version])
        monkeypatch.setattr(module, "SCHEMA_VERSION", version)


async def send_old(
    store: StreamStore, room: str, n: int, *, user: User = ALICE, prefix: str = "m"
) -> list[Message]:
    """Append ``n`` messages as a pchat from before replies and mentions did (schema 4 and
    older; today's store code names their columns, which such a schema lacks): in SQL on the
    store's own connection. Message i has id and cid ``{prefix}{i}``, and ``ts`` ``T0`` plus
    its position. Returns them as a store reads them after migrating."""
    last = await _old_last_seq(store, room)
    messages = [
        Message(
            id=f"{prefix}{i}", seq=seq, ts=T0 + seq, user=user, text=f"text {i}", cid=f"{prefix}{i}"
        )
        for i, seq in enumerate(range(last + 1, last + n + 1))
    ]
    await _execute(
        store,
        (
            "INSERT INTO messages (room_id, seq, id, user_id, username, role, text, cid, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (room, m.seq, m.id, user.id, user.username, user.role, m.text, m.cid, m.ts)
                for m in messages
            ],
        ),
        (
            "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, 'message', ?)",
            [(room, m.seq, m.seq) for m in messages],
        ),
        (
            "UPDATE rooms SET last_seq = ?, last_ts = ? WHERE room_id = ?",
            [(last + n, T0 + last + n, room)],
        ),
    )
    return messages


async def moderate_old(store: StreamStore, room: str, ban: Ban, settings: RoomSettings) -> None:
    """Store a ban and room settings as a pchat from before shadow bans, hold mode and chat
    delay did (schema 5 and older), in SQL on the store's own connection."""
    by = ban.by
    await _execute(
        store,
        (
            "INSERT INTO bans (room_id, user_id, by_id, by_name, by_role, created_at, until,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    room,
                    ban.user_id,
                    by.id,
                    by.username,
                    by.role,
                    ban.created_at,
                    ban.until,
                    ban.reason,
                )
            ],
        ),
        (
            "INSERT INTO room_settings (room_id, slow_mode, unique_chat, max_message_chars, mode)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    room,
                    settings.slow_mode,
                    settings.unique_chat,
                    settings.max_message_chars,
                    settings.mode,
                )
            ],
        ),
    )


async def _old_last_seq(store: StreamStore, room: str) -> int:
    """The room's position, the room created if need be, in SQL that every schema knows
    (``store.room`` reads the columns of today's)."""
    await _execute(
        store,
        (
            "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at)"
            " VALUES (?, 'old', 0, 0, 0) ON CONFLICT (room_id) DO NOTHING",
            [(room,)],
        ),
    )
    sql = "SELECT last_seq FROM rooms WHERE room_id = ?"
    if isinstance(store, SQLiteStore):
        return int(await store._read(lambda conn: conn.execute(sql, (room,)).fetchone()[0]))
    return int(await store._run(lambda conn: conn.fetchval(_numbered(sql), room)))


async def _execute(store: StreamStore, *statements: tuple[str, list[tuple[Any, ...]]]) -> None:
    """Run each ``(sql, rows)`` for every row, in one transaction on the store's own
    connection (``?`` marks a parameter, numbered for PostgreSQL)."""
    if isinstance(store, SQLiteStore):

        def write(conn: Any) -> None:
            for sql, rows in statements:
                conn.executemany(sql, rows)

        await store._write(write)
        return

    async def run(conn: Any) -> None:
        for sql, rows in statements:
            await conn.executemany(_numbered(sql), rows)

    await store._tx(run)


def _numbered(sql: str) -> str:
    """``sql`` with PostgreSQL's parameters: ``$1``, ``$2``, … for its ``?``."""
    numbers = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


def make_poll(
    poll_id: str,
    *,
    status: str = "open",
    options: tuple[str, ...] = ("red", "green", "blue"),
    created_at: int = T0,
    publish_at: int | None = None,
) -> Poll:
    return Poll(
        id=poll_id,
        question=f"question {poll_id}?",
        options=tuple(PollOption(text) for text in options),
        status=status,
        created_by=MOD,
        created_at=created_at,
        publish_at=publish_at,
        published_at=created_at if status == "open" else None,
    )


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


# -- brokers ------------------------------------------------------------------------------------


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (delivery may be asynchronous: Redis, the hub)."""
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


def recorder(got: Got) -> Callable[[str, int | None, bytes], None]:
    return lambda room, seq, payload: got.append((room, seq, payload))
