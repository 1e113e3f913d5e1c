"""The purge of the StreamStore contract — a user's messages in a room soft-deleted at once,
as one ``message_purge`` event — run against every store backend of
``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from pchat.protocol.models import Message, User
from pchat.storage.base import Purge, StreamEvent, StreamStore
from tests.storage.conformance import (
    ALICE,
    BOB,
    MOD,
    T0,
    StoreMaker,
    old_schema,
    send,
    send_old,
    seqs,
)

ADMIN = User("u-admin", "admin", "admin")


def by_id(messages: list[Message]) -> dict[str, Message]:
    return {m.id: m for m in messages}


def purged(message: Message, ts: int, by: User = MOD) -> Message:
    return message.as_deleted(by, ts)


async def positions(store: StreamStore, room: str) -> list[int]:
    return [e.seq for e in await store.events_since(room, 0, 10_000)]


async def test_a_purge_deletes_the_users_messages_in_the_room(store: StreamStore) -> None:
    alice = await send(store, "lobby", 3, prefix="a")  # seq 1-3
    bob = await send(store, "lobby", 2, user=BOB, prefix="b")  # seq 4, 5
    elsewhere = await send(store, "hall", 2, prefix="h")

    result = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 100)
    assert result == (6, Purge(ALICE.id, 0, MOD, T0 + 100, 3))
    assert (await store.room("lobby")).last_seq == 6

    history = await store.history("lobby")
    assert history == [*(purged(m, T0 + 100) for m in alice), *bob]
    for m in alice:
        assert await store.get_message("lobby", m.id) == purged(m, T0 + 100)
    assert await store.history("hall") == elsewhere
    assert (await store.room("hall")).last_seq == 2


async def test_a_purge_since_deletes_only_the_later_messages(store: StreamStore) -> None:
    alice = await send(store, "lobby", 5, ts=lambda i: T0 + 1000 * i, prefix="a")  # seq 1-5
    bob = await send(store, "lobby", 2, user=BOB, ts=lambda i: T0 + 5000 + i, prefix="b")

    result = await store.purge_user("lobby", ALICE.id, since=T0 + 2000, by=MOD, ts=T0 + 9000)
    assert result == (8, Purge(ALICE.id, T0 + 2000, MOD, T0 + 9000, 3))  # ts == since counts
    kept, gone = alice[:2], alice[2:]
    assert await store.history("lobby") == [*kept, *(purged(m, T0 + 9000) for m in gone), *bob]

    # Later, everything: only what is left.
    result = await store.purge_user("lobby", ALICE.id, since=0, by=ADMIN, ts=T0 + 9500)
    assert result == (9, Purge(ALICE.id, 0, ADMIN, T0 + 9500, 2))
    history = by_id(await store.history("lobby"))
    assert [history[m.id] for m in kept] == [purged(m, T0 + 9500, ADMIN) for m in kept]
    assert [history[m.id] for m in gone] == [purged(m, T0 + 9000) for m in gone]


async def test_a_purge_skips_messages_deleted_before(store: StreamStore) -> None:
    alice = await send(store, "lobby", 3, prefix="a")  # seq 1-3
    deleted = await store.delete_message("lobby", "a1", by=ADMIN, ts=T0 + 50)  # seq 4
    assert deleted is not None

    result = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 60)
    assert result == (5, Purge(ALICE.id, 0, MOD, T0 + 60, 2))
    assert await store.history("lobby") == [
        purged(alice[0], T0 + 60),
        deleted.message,  # deleted by whoever deleted it first, when they did
        purged(alice[2], T0 + 60),
    ]
    # Nothing left to delete: nothing appended.
    assert await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 70) is None
    assert (await store.room("lobby")).last_seq == 5
    assert await positions(store, "lobby") == [1, 2, 3, 4, 5]


async def test_a_purge_with_nothing_to_delete_appends_nothing(store: StreamStore) -> None:
    await send(store, "lobby", 3, ts=lambda i: T0 + i)
    await send(store, "hall", 1, user=BOB)
    for room, user_id, since in (
        ("lobby", BOB.id, 0),  # no message of the user in the room
        ("lobby", "u-nobody", 0),
        ("lobby", ALICE.id, T0 + 3),  # none at ``since`` or later
        ("nowhere", ALICE.id, 0),  # no such room
    ):
        assert await store.purge_user(room, user_id, since=since, by=MOD, ts=T0 + 9) is None
    assert (await store.room("lobby")).last_seq == 3
    assert await positions(store, "lobby") == [1, 2, 3]
    assert await store.events_since("nowhere", 0, 10) == []
    assert [m.deleted for m in await store.history("lobby")] == [False] * 3
    [after] = await send(store, "lobby", 1, prefix="later")
    assert after.seq == 4


async def test_positions_stay_gap_free_around_a_purge(store: StreamStore) -> None:
    await send(store, "lobby", 2, prefix="a")  # seq 1, 2
    await send(store, "lobby", 1, user=BOB, prefix="b")  # seq 3
    first = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 10)  # seq 4
    later = await send(store, "lobby", 2, prefix="c")  # seq 5, 6
    deleted = await store.delete_message("lobby", "b0", by=MOD, ts=T0 + 11)  # seq 7
    second = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 12)  # seq 8
    [last] = await send(store, "lobby", 1, user=BOB, prefix="d")  # seq 9

    assert first is not None and first[0] == 4
    assert seqs(later) == [5, 6]
    assert deleted is not None and deleted.seq == 7
    assert second == (8, Purge(ALICE.id, 0, MOD, T0 + 12, 2))
    assert last.seq == 9
    assert (await store.room("lobby")).last_seq == 9
    events = await store.events_since("lobby", 0, 100)
    assert [(e.seq, e.kind) for e in events] == [
        (1, "message"),
        (2, "message"),
        (3, "message"),
        (4, "message_purge"),
        (5, "message"),
        (6, "message"),
        (7, "message_delete"),
        (8, "message_purge"),
        (9, "message"),
    ]
    assert seqs(await store.history("lobby")) == [1, 2, 3, 5, 6, 9]  # a purge is no message


async def test_events_since_replays_a_purge_with_its_purge(store: StreamStore) -> None:
    alice = await send(store, "lobby", 2, prefix="a")  # seq 1, 2
    [bob] = await send(store, "lobby", 1, user=BOB, prefix="b")  # seq 3
    result = await store.purge_user("lobby", ALICE.id, since=T0, by=MOD, ts=T0 + 10)  # seq 4
    assert result is not None
    seq, purge = result

    events = await store.events_since("lobby", 0, 100)
    assert events[3] == StreamEvent(seq, "message_purge", None, purge)
    # The purged messages are replayed deleted at their own positions, the others as sent.
    assert [e.message for e in events[:3]] == [*(purged(m, T0 + 10) for m in alice), bob]
    assert all(e.purge is None for e in events[:3])
    assert await store.events_since("lobby", 3, 1) == [events[3]]
    assert await store.events_since("lobby", 2, 2) == events[2:]
    assert await store.events_since("lobby", 4, 10) == []


async def test_concurrent_sends_and_purges_stay_gap_free(make_store: StoreMaker) -> None:
    # Two stores on the same data: two nodes, or two processes on one SQLite file.
    nodes = [await make_store(), await make_store()]
    await send(nodes[0], "lobby", 10, prefix="early")
    purges: list[tuple[int, Purge]] = []

    async def write(n: int) -> None:
        node = nodes[n % 2]
        for i in range(20):
            user = ALICE if i % 2 else BOB
            await node.append_message(
                "lobby", message_id=f"w{n}-{i}", user=user, text="x", cid=None, ts=T0 + 100 + i
            )

    async def purge(n: int) -> None:
        node = nodes[n % 2]
        for i in range(5):
            ts = T0 + 10_000 + 10 * n + i  # tells which purge deleted a message
            result = await node.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=ts)
            if result is not None:
                purges.append(result)
            await asyncio.sleep(0)

    await asyncio.gather(*(write(n) for n in range(4)), *(purge(n) for n in range(2)))

    events = await nodes[1].events_since("lobby", 0, 10_000)
    total = 10 + 4 * 20 + len(purges)
    assert [e.seq for e in events] == list(range(1, total + 1))
    assert (await nodes[0].room("lobby")).last_seq == total
    assert sorted(purges) == [(e.seq, e.purge) for e in events if e.purge is not None]
    assert all(e.purge.count > 0 for e in events if e.purge is not None)

    # Each purge deleted exactly alice's messages between the purge before it and itself.
    messages = await nodes[0].history("lobby", limit=1000)
    assert len(messages) == 10 + 4 * 20
    done = 0
    for seq, p in sorted(purges):
        mine = [m for m in messages if done < m.seq < seq and m.user == ALICE]
        assert [(m.deleted_by, m.deleted_at) for m in mine] == [(MOD, p.ts)] * p.count
        done = seq
    assert not any(m.deleted for m in messages if m.user == BOB or m.seq > done)


async def test_a_purge_survives_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    alice = await send(store, "lobby", 2)
    result = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 5)
    events = await store.events_since("lobby", 0, 10)
    await store.close()

    reopened = await make_store()
    assert await reopened.events_since("lobby", 0, 10) == events
    assert result is not None and events[-1].purge == result[1]
    assert await reopened.history("lobby") == [purged(m, T0 + 5) for m in alice]


async def test_a_store_from_before_purges_is_migrated(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 2)  # before purges
    old = await make_store()
    written = await send_old(old, "lobby", 3)
    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError), match="purges"):
        await old.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 9)
    await old.close()
    monkeypatch.undo()

    store = await make_store()
    assert [e.message for e in await store.events_since("lobby", 0, 10)] == written
    result = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 9)
    assert result == (4, Purge(ALICE.id, 0, MOD, T0 + 9, 3))
    assert await positions(store, "lobby") == [1, 2, 3, 4]
