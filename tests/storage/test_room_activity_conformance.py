"""What the server API reads of a room without creating it — ``find_room`` — and its
message rate — ``messages_since`` —, run against every store backend."""

from __future__ import annotations

from pchat.storage.base import StreamStore
from tests.storage.conformance import BOB, MOD, T0, send


async def test_find_room_creates_nothing(store: StreamStore) -> None:
    assert await store.find_room("lobby") is None
    assert await store.find_room("lobby") is None  # still not: the read created nothing
    info = await store.room("lobby")
    assert await store.find_room("lobby") == info
    await send(store, "lobby", 3)
    found = await store.find_room("lobby")
    assert found is not None
    assert (found.epoch, found.last_seq) == (info.epoch, 3)
    assert await store.find_room("other") is None


async def test_messages_since_counts_by_time_in_one_room(store: StreamStore) -> None:
    await send(store, "lobby", 5, ts=lambda i: T0 + 1000 * i)  # T0, T0+1 s, … T0+4 s
    await send(store, "lobby", 2, user=BOB, ts=lambda i: T0 + 10_000 + i, prefix="b")
    await send(store, "other", 4, ts=lambda i: T0 + 20_000 + i)
    assert await store.messages_since("lobby", 0) == 7
    assert await store.messages_since("lobby", T0 + 3000) == 4  # at ts or later
    assert await store.messages_since("lobby", T0 + 3001) == 3
    assert await store.messages_since("lobby", T0 + 30_000) == 0
    assert await store.messages_since("nowhere", 0) == 0
    # Deleted messages were sent all the same.
    await store.delete_message("lobby", "b0", by=MOD, ts=T0 + 11_000)
    assert await store.messages_since("lobby", T0 + 10_000) == 2
