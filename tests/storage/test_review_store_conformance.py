"""The ReviewStore contract, run against every store backend of ``conftest.STORE_FACTORIES``:
messages held outside the stream (for review or by the chat delay), idempotent by cid
across the queue and the stream, released into the stream with their id by exactly one of
concurrent releasers, rejected, and found when their delay is over."""

from __future__ import annotations

import asyncio

from pchat.protocol.models import Message
from pchat.protocol.moderation import Held
from pchat.storage.base import AppendResult, MessageStore, ReviewStore
from tests.storage.conformance import ALICE, BOB, T0, StoreMaker, send


def held(
    i: int,
    *,
    user: str = "alice",
    cid: str | None = None,
    reason: str = "hold",
    release_at: int | None = None,
    ts: int | None = None,
) -> Held:
    return Held(
        id=f"h{i}",
        ts=T0 + i if ts is None else ts,
        user=ALICE if user == "alice" else BOB,
        text=f"held text {i} é ✓",
        reason=reason,
        release_at=release_at,
        cid=cid,
    )


async def test_held_messages_are_listed_oldest_first_per_room(store: ReviewStore) -> None:
    assert await store.held_messages("lobby", 10) == []
    third, first, second = held(3), held(1), held(2, reason="filter")
    delayed = Held(
        id="h4",
        ts=T0 + 4,
        user=BOB,
        text="later",
        reason="delay",
        release_at=T0 + 5000,
        cid="c-4",
        reply_to="m0",
        mentions=("u-alice", "u-carol"),
    )
    for item in (third, first, second, delayed):
        result = await store.hold_message("lobby", item)
        assert result.item == item and result.created
    await store.hold_message("hall", held(9))
    assert await store.held_messages("lobby", 10) == [first, second, third, delayed]
    assert await store.held_messages("lobby", 2) == [first, second]
    assert await store.held_messages("hall", 10) == [held(9)]
    assert await store.held_messages("nowhere", 10) == []
    assert await store.get_held("lobby", "h4") == delayed
    assert await store.get_held("hall", "h4") is None
    assert await store.get_held("lobby", "nope") is None


async def test_holding_is_idempotent_by_user_and_cid(store: ReviewStore) -> None:
    first = held(1, cid="c-1")
    assert (await store.hold_message("lobby", first)).created
    again = await store.hold_message("lobby", held(2, cid="c-1"))  # a retry: a new id
    assert again.item == first and not again.created
    # Another user's cid, another room, or no cid: held anew.
    assert (await store.hold_message("lobby", held(3, user="bob", cid="c-1"))).created
    assert (await store.hold_message("hall", held(4, cid="c-1"))).created
    assert (await store.hold_message("lobby", held(5))).created
    assert (await store.hold_message("lobby", held(6))).created
    assert [h.id for h in await store.held_messages("lobby", 10)] == ["h1", "h3", "h5", "h6"]


async def test_a_cid_in_the_stream_is_not_held(store: MessageStore) -> None:
    sent = await store.append_message(
        "lobby", message_id="m1", user=ALICE, text="sent", cid="c-1", ts=T0
    )
    result = await store.hold_message("lobby", held(1, cid="c-1"))
    assert result.item == sent.message and not result.created
    assert await store.held_messages("lobby", 10) == []


async def test_release_appends_with_the_same_id_once(store: MessageStore) -> None:
    await send(store, "lobby", 2, ts=lambda i: T0 + 10_000 + i)  # positions 1 and 2
    item = Held(
        id="h1",
        ts=T0,
        user=BOB,
        text="approved later",
        reason="filter",
        cid="c-1",
        reply_to="m0",
        mentions=("u-alice",),
    )
    await store.hold_message("lobby", item)
    result = await store.release_held("lobby", "h1", T0 + 20_000)
    assert result is not None and result.created
    message = result.message
    assert message == item.as_message(3, T0 + 20_000)
    assert (message.id, message.seq, message.cid, message.reply_to) == ("h1", 3, "c-1", "m0")
    assert message.mentions == ("u-alice",) and message.user == BOB
    assert await store.get_message("lobby", "h1") == message
    assert (await store.history("lobby", limit=1)) == [message]
    [event] = await store.events_since("lobby", 2, 10)
    assert (event.seq, event.kind, event.message) == (3, "message", message)
    assert (await store.room("lobby")).last_seq == 3
    assert await store.held_messages("lobby", 10) == []
    assert await store.get_held("lobby", "h1") is None
    # Gone from the queue: a second release or a reject finds nothing.
    assert await store.release_held("lobby", "h1", T0 + 30_000) is None
    assert await store.reject_held("lobby", "h1") is None
    assert (await store.room("lobby")).last_seq == 3
    # Its cid now names the message: a retried send is not held again.
    retried = await store.hold_message("lobby", held(7, user="bob", cid="c-1"))
    assert retried.item == message and not retried.created


async def test_a_release_keeps_time_from_going_backwards(store: MessageStore) -> None:
    [last] = await send(store, "lobby", 1, ts=lambda i: T0 + 50_000)
    await store.hold_message("lobby", held(1))
    result = await store.release_held("lobby", "h1", T0 + 1)
    assert result is not None and result.message.ts == last.ts


async def test_a_release_into_an_empty_room_starts_its_stream(store: MessageStore) -> None:
    await store.hold_message("new-room", held(1))
    result = await store.release_held("new-room", "h1", T0)
    assert result is not None and result.message.seq == 1
    assert (await store.room("new-room")).last_seq == 1


async def test_a_release_whose_cid_was_sent_meanwhile_drops_it(store: MessageStore) -> None:
    await store.hold_message("lobby", held(1, cid="c-1"))
    # The room's hold mode ended and the client sent again with the same cid.
    sent = await store.append_message(
        "lobby", message_id="m1", user=ALICE, text="again", cid="c-1", ts=T0 + 5
    )
    result = await store.release_held("lobby", "h1", T0 + 10)
    assert result == AppendResult(sent.message, created=False)
    assert await store.held_messages("lobby", 10) == []
    assert (await store.room("lobby")).last_seq == 1
    assert await store.get_message("lobby", "h1") is None


async def test_reject_removes_it_once(store: MessageStore) -> None:
    item = held(1, cid="c-1")
    await store.hold_message("lobby", item)
    await store.hold_message("lobby", held(2))
    assert await store.reject_held("hall", "h1") is None
    assert await store.reject_held("lobby", "h1") == item
    assert await store.reject_held("lobby", "h1") is None
    assert await store.release_held("lobby", "h1", T0) is None
    assert [h.id for h in await store.held_messages("lobby", 10)] == ["h2"]
    assert (await store.room("lobby")).last_seq == 0
    # A rejected cid is free again: the sender may send it anew.
    assert (await store.hold_message("lobby", held(3, cid="c-1"))).created


async def test_due_held_are_the_delayed_ones_whose_time_came(store: ReviewStore) -> None:
    await store.hold_message("lobby", held(1, reason="delay", release_at=T0 + 3000))
    await store.hold_message("hall", held(2, reason="delay", release_at=T0 + 1000))
    await store.hold_message("lobby", held(3, reason="delay", release_at=T0 + 2000))
    await store.hold_message("lobby", held(4))  # waits for a moderator: never due
    assert await store.due_held(T0 + 999, 10) == []
    assert await store.due_held(T0 + 1000, 10) == [("hall", "h2")]
    assert await store.due_held(T0 + 10**9, 10) == [
        ("hall", "h2"),
        ("lobby", "h3"),
        ("lobby", "h1"),
    ]
    assert await store.due_held(T0 + 10**9, 2) == [("hall", "h2"), ("lobby", "h3")]
    await store.reject_held("lobby", "h3")
    assert await store.due_held(T0 + 2500, 10) == [("hall", "h2")]


async def test_of_two_releasers_exactly_one_wins(make_store: StoreMaker) -> None:
    """Two nodes (two stores on the same data) release the same items at once — a
    moderator's approve on one, the chat delay on the other: each item enters the stream
    once, and one caller gets it."""
    one, two = await make_store(), await make_store()
    items = [held(i, reason="delay", release_at=T0, cid=f"c-{i}") for i in range(10)]
    for item in items:
        await one.hold_message("lobby", item)
    results = await asyncio.gather(
        *(
            store.release_held("lobby", item.id, T0 + 1)
            for item in items
            for store in (one, two, one, two)
        )
    )
    won = [r for r in results if r is not None]
    assert sorted(r.message.id for r in won) == sorted(item.id for item in items)
    assert all(r.created for r in won)
    assert sorted(r.message.seq for r in won) == list(range(1, 11))
    events = await two.events_since("lobby", 0, 100)
    assert sorted(e.message.id for e in events if e.message) == sorted(i.id for i in items)
    assert await one.held_messages("lobby", 100) == []


async def test_of_a_release_and_a_reject_exactly_one_wins(make_store: StoreMaker) -> None:
    one, two = await make_store(), await make_store()
    for i in range(10):
        await one.hold_message("lobby", held(i))
    outcomes = await asyncio.gather(
        *(
            call
            for i in range(10)
            for call in (
                one.release_held("lobby", f"h{i}", T0),
                two.reject_held("lobby", f"h{i}"),
            )
        )
    )
    for i in range(10):
        released, rejected = outcomes[2 * i], outcomes[2 * i + 1]
        assert (released is None) != (rejected is None), i
    released_ids = {r.message.id for r in outcomes[::2] if isinstance(r, AppendResult)}
    events = await one.events_since("lobby", 0, 100)
    assert {e.message.id for e in events if e.message} == released_ids
    assert await two.held_messages("lobby", 100) == []


async def test_a_hold_racing_the_release_of_its_cid_holds_nothing_new(
    make_store: StoreMaker,
) -> None:
    """A client retries a send (same cid) on one node while another node releases the held
    original: the retry gets the held item or the message, never a second item."""
    one, two = await make_store(), await make_store()
    for i in range(10):
        await one.hold_message("lobby", held(i, cid=f"c-{i}"))
    outcomes = await asyncio.gather(
        *(
            call
            for i in range(10)
            for call in (
                one.release_held("lobby", f"h{i}", T0),
                two.hold_message("lobby", held(100 + i, cid=f"c-{i}")),
            )
        )
    )
    for i in range(10):
        released, retried = outcomes[2 * i], outcomes[2 * i + 1]
        assert isinstance(released, AppendResult) and released.created
        assert not retried.created, i
        if isinstance(retried.item, Message):
            assert retried.item == released.message
        else:
            assert retried.item.id == f"h{i}"
    assert await one.held_messages("lobby", 100) == []
    assert (await two.room("lobby")).last_seq == 10


async def test_concurrent_holds_of_one_cid_hold_one(make_store: StoreMaker) -> None:
    one, two = await make_store(), await make_store()
    results = await asyncio.gather(
        *(s.hold_message("lobby", held(i, cid="c-1")) for i in range(6) for s in (one, two))
    )
    assert sum(r.created for r in results) == 1
    [item] = await one.held_messages("lobby", 10)
    assert all(r.item == item for r in results)


async def test_held_messages_survive_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    waiting = held(1, cid="c-1", reason="filter")
    delayed = held(2, reason="delay", release_at=T0 + 100)
    await store.hold_message("lobby", waiting)
    await store.hold_message("lobby", delayed)
    await store.close()
    reopened = await make_store()
    assert await reopened.held_messages("lobby", 10) == [waiting, delayed]
    assert await reopened.due_held(T0 + 100, 10) == [("lobby", "h2")]
    result = await reopened.release_held("lobby", "h2", T0 + 100)
    assert result is not None and result.message.id == "h2"
