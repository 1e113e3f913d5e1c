"""The StreamStore contract (rooms, appends, history, deletes, replay), run against every
store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import ConflictError
from pchat.protocol.models import Message
from pchat.storage.base import StreamStore
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

# -- rooms and appends ------------------------------------------------------------------------


async def test_room_is_created_on_first_use(store: StreamStore) -> None:
    info = await store.room("lobby")
    assert (info.room_id, info.last_seq) == ("lobby", 0)
    assert len(info.epoch) >= 8
    assert await store.room("lobby") == info
    assert (await store.room("other")).epoch != info.epoch


async def test_append_assigns_the_next_position(store: StreamStore) -> None:
    first = await store.append_message(
        "lobby", message_id="a", user=ALICE, text="hello", cid="c1", ts=T0
    )
    second = await store.append_message(
        "lobby", message_id="b", user=BOB, text="hi", cid=None, ts=T0 + 5
    )
    assert first.created and second.created
    assert first.message == Message(id="a", seq=1, ts=T0, user=ALICE, text="hello", cid="c1")
    assert second.message == Message(id="b", seq=2, ts=T0 + 5, user=BOB, text="hi")
    assert (await store.room("lobby")).last_seq == 2
    assert await store.get_message("lobby", "a") == first.message
    assert await store.get_message("lobby", "b") == second.message
    assert await store.get_message("lobby", "nope") is None
    assert await store.get_message("elsewhere", "a") is None


async def test_concurrent_appends_are_gap_free(store: StreamStore) -> None:
    rooms = ("r1", "r2")
    results = await asyncio.gather(
        *(
            store.append_message(
                rooms[i % 2], message_id=f"m{i}", user=ALICE, text=str(i), cid=None, ts=T0 + i
            )
            for i in range(200)
        )
    )
    for k, room in enumerate(rooms):
        assert sorted(r.message.seq for r in results[k::2]) == list(range(1, 101))
        assert (await store.room(room)).last_seq == 100
        events = await store.events_since(room, 0, 1000)
        assert [e.seq for e in events] == list(range(1, 101))
        assert all(e.message.seq == e.seq for e in events)
        assert sorted(int(e.message.text) for e in events) == list(range(k, 200, 2))


async def test_a_repeated_cid_returns_the_first_message(store: StreamStore) -> None:
    first = await store.append_message(
        "lobby", message_id="a", user=ALICE, text="hello", cid="c1", ts=T0
    )
    again = await store.append_message(
        "lobby", message_id="b", user=ALICE, text="hello?", cid="c1", ts=T0 + 9
    )
    assert not again.created
    assert again.message == first.message
    assert (await store.room("lobby")).last_seq == 1
    assert await store.get_message("lobby", "b") is None
    # The cid is scoped to the user and the room; no cid means no deduplication.
    other_user = await store.append_message(
        "lobby", message_id="c", user=BOB, text="x", cid="c1", ts=T0
    )
    other_room = await store.append_message(
        "hall", message_id="d", user=ALICE, text="x", cid="c1", ts=T0
    )
    assert other_user.created and other_room.created
    for mid in ("e", "f"):
        result = await store.append_message(
            "lobby", message_id=mid, user=ALICE, text="x", cid=None, ts=T0
        )
        assert result.created
    assert (await store.room("lobby")).last_seq == 4


async def test_a_cid_sent_twice_concurrently_stores_one_message(store: StreamStore) -> None:
    results = await asyncio.gather(
        *(
            store.append_message(
                "lobby", message_id=f"m{i}", user=ALICE, text="once", cid="same", ts=T0 + i
            )
            for i in range(2)
        )
    )
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].message == results[1].message
    assert len(await store.history("lobby")) == 1
    assert (await store.room("lobby")).last_seq == 1


# -- history ------------------------------------------------------------------------------------


async def test_history_pages_by_seq(store: StreamStore) -> None:
    await send(store, "lobby", 120)
    await send(store, "other", 3)
    page = await store.history("lobby")
    assert seqs(page) == list(range(71, 121))  # the newest 50, oldest first
    page = await store.history("lobby", before_seq=page[0].seq)
    assert seqs(page) == list(range(21, 71))
    page = await store.history("lobby", before_seq=page[0].seq, limit=50)
    assert seqs(page) == list(range(1, 21))
    assert await store.history("lobby", before_seq=1) == []
    assert seqs(await store.history("lobby", limit=3)) == [118, 119, 120]
    assert seqs(await store.history("lobby", before_seq=10_000, limit=2)) == [119, 120]
    assert await store.history("empty") == []
    first = (await store.history("lobby", before_seq=2))[0]
    assert first == Message(id="m0", seq=1, ts=T0, user=ALICE, text="text 0")


async def test_history_pages_by_ts_with_ties(store: StreamStore) -> None:
    stamps = [1000, 1000, 1000, 2000, 2000, 3000]
    await send(store, "lobby", len(stamps), ts=lambda i: T0 + stamps[i])
    assert seqs(await store.history("lobby", before_ts=T0 + 2000)) == [1, 2, 3]  # strict
    assert seqs(await store.history("lobby", before_ts=T0 + 2001)) == [1, 2, 3, 4, 5]
    assert seqs(await store.history("lobby", before_ts=T0 + 3000, limit=2)) == [4, 5]
    assert seqs(await store.history("lobby", before_ts=T0 + 1001, limit=2)) == [2, 3]
    assert await store.history("lobby", before_ts=T0 + 1000) == []
    assert seqs(await store.history("lobby", before_ts=T0 + 9999)) == [1, 2, 3, 4, 5, 6]
    # Both bounds: older than both.
    assert seqs(await store.history("lobby", before_seq=3, before_ts=T0 + 2000)) == [1, 2]
    assert seqs(await store.history("lobby", before_seq=6, before_ts=T0 + 9999)) == [1, 2, 3, 4, 5]
    assert seqs(await store.history("lobby", before_seq=5, before_ts=T0 + 1500)) == [1, 2, 3]


async def test_history_includes_deleted_messages_without_text(store: StreamStore) -> None:
    await send(store, "lobby", 3)
    await store.delete_message("lobby", "m1", by=MOD, ts=T0 + 50)
    page = await store.history("lobby")
    assert seqs(page) == [1, 2, 3]  # the delete event is not a message
    assert [m.text for m in page] == ["text 0", "", "text 2"]
    deleted = page[1]
    assert (deleted.deleted, deleted.deleted_by, deleted.deleted_at) == (True, MOD, T0 + 50)
    assert deleted.user == ALICE and deleted.ts == T0 + 1


# -- deletes and the stream ---------------------------------------------------------------------


async def test_delete_message(store: StreamStore) -> None:
    await send(store, "lobby", 2)
    result = await store.delete_message("lobby", "m0", by=MOD, ts=T0 + 99)
    assert result is not None
    assert result.seq == 3
    assert result.message.seq == 1
    assert (result.message.text, result.message.deleted) == ("", True)
    assert (result.message.deleted_by, result.message.deleted_at) == (MOD, T0 + 99)
    assert await store.get_message("lobby", "m0") == result.message
    assert (await store.room("lobby")).last_seq == 3
    with pytest.raises(ConflictError) as caught:
        await store.delete_message("lobby", "m0", by=MOD, ts=T0 + 100)
    assert caught.value.code is ErrorCode.ALREADY_DELETED
    assert await store.delete_message("lobby", "nope", by=MOD, ts=T0) is None
    assert await store.delete_message("other", "m1", by=MOD, ts=T0) is None
    assert (await store.room("lobby")).last_seq == 3
    [after] = await send(store, "lobby", 1, prefix="later")
    assert after.seq == 4


async def test_events_since_replays_the_current_state(store: StreamStore) -> None:
    await send(store, "lobby", 3)  # seq 1, 2, 3
    await store.delete_message("lobby", "m1", by=MOD, ts=T0 + 10)  # seq 4
    await send(store, "lobby", 1, prefix="n")  # seq 5
    events = await store.events_since("lobby", 0, 100)
    assert [(e.seq, e.kind) for e in events] == [
        (1, "message"),
        (2, "message"),
        (3, "message"),
        (4, "message_delete"),
        (5, "message"),
    ]
    # The deleted message is replayed deleted, at its own position and at the delete's.
    for event in (events[1], events[3]):
        assert (event.message.id, event.message.seq) == ("m1", 2)
        assert (event.message.text, event.message.deleted) == ("", True)
        assert event.message.deleted_by == MOD
    assert events[0].message.text == "text 0"
    assert [e.seq for e in await store.events_since("lobby", 2, 2)] == [3, 4]
    assert [e.seq for e in await store.events_since("lobby", 4, 10)] == [5]
    assert await store.events_since("lobby", 5, 10) == []
    assert await store.events_since("empty", 0, 10) == []


async def test_concurrent_deletes_of_one_message(store: StreamStore) -> None:
    await send(store, "lobby", 1)
    results = await asyncio.gather(
        *(store.delete_message("lobby", "m0", by=MOD, ts=T0 + i) for i in range(5)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ConflictError)]
    assert len(won) == 1 and len(lost) == 4
    assert all(e.code is ErrorCode.ALREADY_DELETED for e in lost)
    assert (await store.room("lobby")).last_seq == 2


async def test_a_failing_write_fails_alone(store: StreamStore) -> None:
    await send(store, "lobby", 1)
    await store.delete_message("lobby", "m0", by=MOD, ts=T0)
    results = await asyncio.gather(
        store.append_message("lobby", message_id="a", user=ALICE, text="a", cid=None, ts=T0),
        store.delete_message("lobby", "m0", by=MOD, ts=T0),
        store.append_message("lobby", message_id="b", user=ALICE, text="b", cid=None, ts=T0),
        return_exceptions=True,
    )
    assert isinstance(results[1], ConflictError)
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert seqs(await store.history("lobby")) == [1, 3, 4]
    assert (await store.room("lobby")).last_seq == 4


# -- replies and mentions -----------------------------------------------------------------------


async def test_a_reply_and_its_mentions_are_stored_with_it(make_store: StoreMaker) -> None:
    store = await make_store()
    [first] = await send(store, "lobby", 1)
    reply = await store.append_message(
        "lobby",
        message_id="r",
        user=BOB,
        text="@mod @alice yes",
        cid="c-r",
        ts=T0 + 5,
        reply_to=first.id,
        mentions=(MOD.id, ALICE.id),  # in the order given
    )
    assert reply.message == Message(
        id="r",
        seq=2,
        ts=T0 + 5,
        user=BOB,
        text="@mod @alice yes",
        cid="c-r",
        reply_to="m0",
        mentions=(MOD.id, ALICE.id),
    )
    assert (first.reply_to, first.mentions) == (None, ())
    assert await store.get_message("lobby", "r") == reply.message
    assert await store.history("lobby") == [first, reply.message]
    events = await store.events_since("lobby", 0, 10)
    assert [e.message for e in events] == [first, reply.message]

    # Deleted, a message keeps them (only its text goes), in every read and in the replay.
    deleted = await store.delete_message("lobby", "r", by=MOD, ts=T0 + 9)
    assert deleted is not None
    assert deleted.message == reply.message.as_deleted(MOD, T0 + 9)
    assert (deleted.message.reply_to, deleted.message.mentions) == ("m0", (MOD.id, ALICE.id))
    assert await store.get_message("lobby", "r") == deleted.message
    events = await store.events_since("lobby", 0, 10)
    assert [e.message for e in events] == [first, deleted.message, deleted.message]
    await store.close()

    reopened = await make_store()
    assert await reopened.get_message("lobby", "r") == deleted.message
    assert await reopened.history("lobby") == [first, deleted.message]
    assert await reopened.events_since("lobby", 0, 10) == events


async def test_a_repeated_cid_returns_the_first_reply_and_mentions(store: StreamStore) -> None:
    await send(store, "lobby", 2)
    first = await store.append_message(
        "lobby", message_id="a", user=BOB, text="x", cid="c1", ts=T0, reply_to="m0", mentions=("u",)
    )
    again = await store.append_message(
        "lobby", message_id="b", user=BOB, text="x", cid="c1", ts=T0, reply_to="m1", mentions=()
    )
    assert not again.created and again.message == first.message
    assert (again.message.reply_to, again.message.mentions) == ("m0", ("u",))
    # A first send without them: its repeat with them returns it without them.
    plain = await store.append_message("lobby", message_id="c", user=BOB, text="y", cid="c2", ts=T0)
    repeat = await store.append_message(
        "lobby", message_id="d", user=BOB, text="y", cid="c2", ts=T0, reply_to="a", mentions=("u",)
    )
    assert repeat.message == plain.message
    assert (repeat.message.reply_to, repeat.message.mentions) == (None, ())


async def test_concurrent_replies_keep_their_own_fields(store: StreamStore) -> None:
    # Appends to one room may be written together (PostgreSQL groups them in one
    # transaction): each keeps its own reply_to and mentions, none or several.
    def fields(i: int) -> tuple[str | None, tuple[str, ...]]:
        return (f"m{i - 1}" if i % 3 else None, tuple(f"u{j}" for j in range(i % 4)))

    results = await asyncio.gather(
        *(
            store.append_message(
                "lobby",
                message_id=f"m{i}",
                user=ALICE,
                text=str(i),
                cid=f"c{i % 40}",  # the last ten repeat a cid of the first forty
                ts=T0 + i,
                reply_to=fields(i)[0],
                mentions=fields(i)[1],
            )
            for i in range(50)
        )
    )
    stored = {m.id: m for m in await store.history("lobby", limit=100)}
    assert len(stored) == 40
    for result in results:
        i = int(result.message.text)
        assert (result.message.reply_to, result.message.mentions) == fields(i)
        assert stored[result.message.id] == result.message
    replayed = [e.message for e in await store.events_since("lobby", 0, 100)]
    assert replayed == sorted(stored.values(), key=lambda m: m.seq)


async def test_a_store_from_before_replies_is_migrated(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 4)  # before replies
    old = await make_store()
    written = await send_old(old, "lobby", 3)
    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedColumnError), match="reply_to"):
        await old.history("lobby")
    await old.close()
    monkeypatch.undo()

    store = await make_store()
    assert all((m.reply_to, m.mentions) == (None, ()) for m in written)
    assert await store.history("lobby") == written
    assert await store.get_message("lobby", "m1") == written[1]
    assert [e.message for e in await store.events_since("lobby", 0, 10)] == written
    # A repeat of an old send returns the old message; new ones store their fields.
    repeat = await store.append_message(
        "lobby", message_id="x", user=ALICE, text="?", cid="m2", ts=T0, reply_to="m0"
    )
    assert not repeat.created and repeat.message == written[2]
    reply = await store.append_message(
        "lobby",
        message_id="r",
        user=BOB,
        text="hi",
        cid=None,
        ts=T0 + 9,
        reply_to="m0",
        mentions=(ALICE.id,),
    )
    assert reply.message.seq == 4
    assert await store.get_message("lobby", "r") == reply.message
    assert await store.history("lobby") == [*written, reply.message]
