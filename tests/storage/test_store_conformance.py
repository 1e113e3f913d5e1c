"""The MessageStore contract, run against every backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import ConflictError, InvalidRequestError, NotFoundError
from pchat.protocol.models import Message, Poll, PollOption, User
from pchat.storage.base import MessageStore, StoreUnavailable

StoreMaker = Callable[[], Awaitable[MessageStore]]

ALICE = User("u-alice", "alice", "viewer")
BOB = User("u-bob", "bob", "viewer")
MOD = User("u-mod", "mod", "moderator")
T0 = 1_700_000_000_000


async def send(
    store: MessageStore,
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


# -- rooms and appends ------------------------------------------------------------------------


async def test_room_is_created_on_first_use(store: MessageStore) -> None:
    info = await store.room("lobby")
    assert (info.room_id, info.last_seq) == ("lobby", 0)
    assert len(info.epoch) >= 8
    assert await store.room("lobby") == info
    assert (await store.room("other")).epoch != info.epoch


async def test_append_assigns_the_next_position(store: MessageStore) -> None:
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


async def test_concurrent_appends_are_gap_free(store: MessageStore) -> None:
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


async def test_a_repeated_cid_returns_the_first_message(store: MessageStore) -> None:
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


async def test_a_cid_sent_twice_concurrently_stores_one_message(store: MessageStore) -> None:
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


async def test_history_pages_by_seq(store: MessageStore) -> None:
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


async def test_history_pages_by_ts_with_ties(store: MessageStore) -> None:
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


async def test_history_includes_deleted_messages_without_text(store: MessageStore) -> None:
    await send(store, "lobby", 3)
    await store.delete_message("lobby", "m1", by=MOD, ts=T0 + 50)
    page = await store.history("lobby")
    assert seqs(page) == [1, 2, 3]  # the delete event is not a message
    assert [m.text for m in page] == ["text 0", "", "text 2"]
    deleted = page[1]
    assert (deleted.deleted, deleted.deleted_by, deleted.deleted_at) == (True, MOD, T0 + 50)
    assert deleted.user == ALICE and deleted.ts == T0 + 1


# -- deletes and the stream ---------------------------------------------------------------------


async def test_delete_message(store: MessageStore) -> None:
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


async def test_events_since_replays_the_current_state(store: MessageStore) -> None:
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


async def test_concurrent_deletes_of_one_message(store: MessageStore) -> None:
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


async def test_a_failing_write_fails_alone(store: MessageStore) -> None:
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


async def test_history_and_epoch_survive_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    await send(store, "lobby", 5)
    await store.delete_message("lobby", "m2", by=MOD, ts=T0 + 9)
    await store.add_reactions("lobby", {"like": 3})
    await store.create_poll("lobby", make_poll("p1"))
    await store.vote("lobby", "p1", ALICE.id, 1)
    before = await store.room("lobby")
    history = await store.history("lobby")
    await store.close()

    reopened = await make_store()
    assert await reopened.room("lobby") == before
    assert await reopened.history("lobby") == history
    assert await reopened.reaction_stats("lobby") == {"like": 3}
    assert await reopened.user_votes("lobby", ALICE.id) == {"p1": 1}
    [after] = await send(reopened, "lobby", 1, prefix="n")
    assert after.seq == before.last_seq + 1


# -- reactions ----------------------------------------------------------------------------------


async def test_reactions_accumulate(store: MessageStore) -> None:
    assert await store.reaction_stats("lobby") == {}
    await store.add_reactions("lobby", {"like": 2, "love": 1})
    await store.add_reactions("lobby", {"like": 3})
    await store.add_reactions("lobby", {})
    await asyncio.gather(*(store.add_reactions("lobby", {"fire": 1}) for _ in range(50)))
    assert await store.reaction_stats("lobby") == {"like": 5, "love": 1, "fire": 50}
    assert await store.reaction_stats("other") == {}


# -- polls ------------------------------------------------------------------------------------


async def test_poll_lifecycle(store: MessageStore) -> None:
    poll = make_poll("p1")
    assert await store.create_poll("lobby", poll) == poll
    assert await store.get_poll("lobby", "p1") == poll
    assert await store.get_poll("lobby", "nope") is None
    assert await store.get_poll("other", "p1") is None

    voted = await store.vote("lobby", "p1", ALICE.id, 2)
    assert [o.votes for o in voted.options] == [0, 0, 1]
    assert voted.my_vote == 2
    voted = await store.vote("lobby", "p1", BOB.id, 2)
    assert [o.votes for o in voted.options] == [0, 0, 2]
    assert voted.total_votes == 2

    with pytest.raises(ConflictError) as conflict:
        await store.vote("lobby", "p1", ALICE.id, 0)
    assert conflict.value.code is ErrorCode.ALREADY_VOTED
    for option in (-1, 3):
        with pytest.raises(InvalidRequestError) as invalid:
            await store.vote("lobby", "p1", "u-carol", option)
        assert invalid.value.code is ErrorCode.INVALID_FIELD
    with pytest.raises(NotFoundError) as missing:
        await store.vote("lobby", "nope", ALICE.id, 0)
    assert missing.value.code is ErrorCode.NOT_FOUND
    stored = await store.get_poll("lobby", "p1")
    assert stored is not None
    assert [o.votes for o in stored.options] == [0, 0, 2]
    assert await store.user_votes("lobby", ALICE.id) == {"p1": 2}

    finished = await store.finish_poll("lobby", "p1", T0 + 500)
    assert (finished.status, finished.finished_at) == ("finished", T0 + 500)
    assert [o.votes for o in finished.options] == [0, 0, 2]
    assert await store.get_poll("lobby", "p1") == finished
    with pytest.raises(ConflictError) as closed:
        await store.vote("lobby", "p1", "u-carol", 0)
    assert closed.value.code is ErrorCode.POLL_NOT_OPEN
    with pytest.raises(ConflictError) as again:
        await store.finish_poll("lobby", "p1", T0 + 600)
    assert again.value.code is ErrorCode.POLL_NOT_OPEN
    with pytest.raises(NotFoundError):
        await store.finish_poll("lobby", "nope", T0)


async def test_scheduled_poll_is_published_exactly_once(store: MessageStore) -> None:
    poll = make_poll("p1", status="scheduled", publish_at=T0 + 1000)
    await store.create_poll("lobby", poll)
    await store.create_poll("hall", make_poll("p2", status="scheduled", publish_at=T0 + 500))
    await store.create_poll("hall", make_poll("p3"))
    assert sorted(await store.scheduled_polls()) == [
        ("hall", "p2", T0 + 500),
        ("lobby", "p1", T0 + 1000),
    ]
    with pytest.raises(ConflictError) as early:
        await store.vote("lobby", "p1", ALICE.id, 0)
    assert early.value.code is ErrorCode.POLL_NOT_OPEN

    results = await asyncio.gather(
        *(store.publish_poll("lobby", "p1", T0 + 1000 + i) for i in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    [published] = winners
    assert published.status == "open"
    assert published.published_at is not None and published.published_at >= T0 + 1000
    assert published.publish_at == T0 + 1000
    assert await store.get_poll("lobby", "p1") == published
    assert await store.scheduled_polls() == [("hall", "p2", T0 + 500)]
    assert await store.publish_poll("lobby", "p1", T0 + 2000) is None
    assert await store.publish_poll("lobby", "nope", T0 + 2000) is None
    assert await store.publish_poll("hall", "p3", T0 + 2000) is None  # already open
    voted = await store.vote("lobby", "p1", ALICE.id, 0)
    assert voted.total_votes == 1


async def test_a_scheduled_poll_can_be_finished(store: MessageStore) -> None:
    await store.create_poll("lobby", make_poll("p1", status="scheduled", publish_at=T0 + 9))
    finished = await store.finish_poll("lobby", "p1", T0 + 5)
    assert finished.status == "finished"
    assert await store.scheduled_polls() == []
    assert await store.publish_poll("lobby", "p1", T0 + 9) is None


async def test_concurrent_votes_are_counted_exactly(store: MessageStore) -> None:
    await store.create_poll("lobby", make_poll("p1"))
    results = await asyncio.gather(
        *(store.vote("lobby", "p1", f"user-{i}", i % 3) for i in range(100))
    )
    assert [r.my_vote for r in results] == [i % 3 for i in range(100)]
    assert max(r.total_votes for r in results) == 100
    poll = await store.get_poll("lobby", "p1")
    assert poll is not None
    assert [o.votes for o in poll.options] == [34, 33, 33]
    assert await store.user_votes("lobby", "user-4") == {"p1": 1}


async def test_concurrent_double_votes_count_once(store: MessageStore) -> None:
    await store.create_poll("lobby", make_poll("p1"))
    results = await asyncio.gather(
        *(store.vote("lobby", "p1", ALICE.id, i % 3) for i in range(10)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Poll)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(won) == 1 and len(refused) == 9
    assert all(e.code is ErrorCode.ALREADY_VOTED for e in refused)
    poll = await store.get_poll("lobby", "p1")
    assert poll is not None and poll.total_votes == 1
    assert await store.user_votes("lobby", ALICE.id) == {"p1": won[0].my_vote}


async def test_list_polls_and_user_votes(store: MessageStore) -> None:
    await store.create_poll("lobby", make_poll("b", created_at=T0 + 2))
    await store.create_poll("lobby", make_poll("a", created_at=T0 + 1, options=("x", "y")))
    await store.create_poll("lobby", make_poll("c", created_at=T0 + 3, status="scheduled"))
    await store.create_poll("lobby", make_poll("d", created_at=T0 + 4))
    await store.create_poll("hall", make_poll("e", created_at=T0))
    await store.vote("lobby", "a", ALICE.id, 1)
    await store.vote("lobby", "d", ALICE.id, 0)
    await store.vote("hall", "e", ALICE.id, 2)
    await store.finish_poll("lobby", "d", T0 + 9)

    assert [p.id for p in await store.list_polls("lobby", ["open"])] == ["a", "b"]
    listed = await store.list_polls("lobby", ("open", "scheduled", "finished"))
    assert [p.id for p in listed] == ["a", "b", "c", "d"]
    assert [o.text for o in listed[0].options] == ["x", "y"]
    assert [o.votes for o in listed[0].options] == [0, 1]
    assert listed[3].status == "finished"
    assert [p.id for p in await store.list_polls("lobby", {"scheduled"})] == ["c"]
    assert await store.list_polls("lobby", []) == []
    assert await store.list_polls("empty", ["open"]) == []
    assert await store.user_votes("lobby", ALICE.id) == {"a": 1, "d": 0}
    assert await store.user_votes("hall", ALICE.id) == {"e": 2}
    assert await store.user_votes("lobby", BOB.id) == {}


async def test_health_follows_the_store_and_a_closed_store_is_unavailable(
    make_store: StoreMaker,
) -> None:
    store = await make_store()
    assert store.healthy  # open
    await store.room("lobby")
    assert store.healthy
    await store.close()
    assert not store.healthy
    with pytest.raises(StoreUnavailable):
        await store.history("lobby")
