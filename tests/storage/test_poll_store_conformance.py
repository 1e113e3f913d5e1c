"""The PollStore contract and the rules of polls (:mod:`pchat.storage.poll_rules`), run
against every store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import ConflictError, InvalidRequestError, NotFoundError
from pchat.protocol.models import Poll
from pchat.storage.base import PollStore
from tests.storage.conformance import ALICE, BOB, T0, make_poll


async def test_poll_lifecycle(store: PollStore) -> None:
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


async def test_scheduled_poll_is_published_exactly_once(store: PollStore) -> None:
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


async def test_a_scheduled_poll_can_be_finished(store: PollStore) -> None:
    await store.create_poll("lobby", make_poll("p1", status="scheduled", publish_at=T0 + 9))
    finished = await store.finish_poll("lobby", "p1", T0 + 5)
    assert finished.status == "finished"
    assert await store.scheduled_polls() == []
    assert await store.publish_poll("lobby", "p1", T0 + 9) is None


async def test_concurrent_votes_are_counted_exactly(store: PollStore) -> None:
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


async def test_concurrent_double_votes_count_once(store: PollStore) -> None:
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


async def test_list_polls_and_user_votes(store: PollStore) -> None:
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
