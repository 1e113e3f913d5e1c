"""The RetentionStore contract — rooms' own rules, and the removal of old history as a prefix
of the stream, in bounded batches, without a hole after ``first_seq`` — run against every
store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio

import pytest

from pchat.protocol.moderation import Pin
from pchat.storage.base import MessageStore, RetentionRule, StreamEvent, Trimmed
from tests.storage.conformance import ALICE, BOB, MOD, T0, StoreMaker, old_schema, send, seqs

# -- helpers --------------------------------------------------------------------------------


async def events(store: MessageStore, room: str, after: int = 0) -> list[StreamEvent]:
    return await store.events_since(room, after, 100_000)


async def trim_all(
    store: MessageStore,
    room: str,
    *,
    before_ts: int | None = None,
    keep: int | None = None,
    limit: int = 1000,
    keep_since_ts: int | None = None,
) -> list[Trimmed]:
    """Trim until done; every batch, in order."""
    batches = []
    while True:
        batch = await store.trim_room(
            room, before_ts=before_ts, keep=keep, limit=limit, keep_since_ts=keep_since_ts
        )
        batches.append(batch)
        if batch.done:
            return batches
        assert len(batches) < 1000


async def assert_whole(store: MessageStore, room: str) -> None:
    """From ``first_seq`` on, every event is there, in order, each with its message."""
    info = await store.room(room)
    found = await events(store, room, info.first_seq - 1)
    assert [e.seq for e in found] == list(range(info.first_seq, info.last_seq + 1))
    assert all(e.message is not None for e in found if e.kind != "message_purge")


# -- by count and by age -------------------------------------------------------------------------


async def test_keep_the_newest_messages(store: MessageStore) -> None:
    messages = await send(store, "lobby", 10)  # seq 1-10
    elsewhere = await send(store, "hall", 3)
    assert await store.trim_room("lobby", before_ts=None, keep=4, limit=100) == Trimmed(
        6, 6, 7, True
    )
    assert await store.history("lobby") == messages[6:]
    assert seqs(messages[6:]) == [e.seq for e in await events(store, "lobby")]
    info = await store.room("lobby")
    assert (info.first_seq, info.last_seq) == (7, 10)
    for m in messages[:6]:
        assert await store.get_message("lobby", m.id) is None
    # Again: nothing more to do.
    assert await store.trim_room("lobby", before_ts=None, keep=4, limit=100) == Trimmed(
        0, 0, 7, True
    )
    # Other rooms are not touched; fewer messages than kept: nothing to do.
    assert await store.history("hall") == elsewhere
    assert await store.trim_room("hall", before_ts=None, keep=4, limit=100) == Trimmed(
        0, 0, 1, True
    )


async def test_keep_the_messages_sent_since_a_time(store: MessageStore) -> None:
    messages = await send(store, "lobby", 10, ts=lambda i: T0 + 1000 * i)
    batches = await trim_all(store, "lobby", before_ts=T0 + 5000)
    assert batches == [Trimmed(5, 5, 6, True)]  # ts == before_ts is kept
    assert await store.history("lobby") == messages[5:]
    await assert_whole(store, "lobby")


async def test_the_stricter_rule_wins(store: MessageStore) -> None:
    messages = await send(store, "lobby", 10, ts=lambda i: T0 + 1000 * i)
    await trim_all(store, "lobby", before_ts=T0 + 2000, keep=5)  # count is stricter
    assert await store.history("lobby") == messages[5:]
    await trim_all(store, "lobby", before_ts=T0 + 8000, keep=5)  # age is stricter
    assert await store.history("lobby") == messages[8:]
    assert (await store.room("lobby")).first_seq == 9


async def test_recent_messages_are_kept_whatever_the_bounds(store: MessageStore) -> None:
    messages = await send(store, "lobby", 10, ts=lambda i: T0 + 1000 * i)
    await trim_all(store, "lobby", keep=2, before_ts=T0 + 1000, keep_since_ts=T0 + 6000, limit=3)
    assert await store.history("lobby") == messages[6:]  # not only the newest 2
    await trim_all(store, "lobby", keep=2, before_ts=T0 + 9000, keep_since_ts=T0 + 7500)
    assert await store.history("lobby") == messages[8:]  # ts T0 + 8000 on are spared
    await trim_all(store, "lobby", keep=1, keep_since_ts=T0 + 20_000)  # none that recent
    assert await store.history("lobby") == messages[9:]
    await assert_whole(store, "lobby")


async def test_when_every_message_is_too_old_the_whole_stream_goes(store: MessageStore) -> None:
    await send(store, "lobby", 4)
    deleted = await store.delete_message("lobby", "m3", by=MOD, ts=T0 + 50)  # seq 5
    assert deleted is not None
    assert await trim_all(store, "lobby", before_ts=T0 + 10_000) == [Trimmed(4, 5, 6, True)]
    info = await store.room("lobby")
    assert (info.first_seq, info.last_seq) == (6, 5)
    assert await store.history("lobby") == []
    assert await events(store, "lobby") == []
    # The stream goes on where it was: positions are never reused.
    [later] = await send(store, "lobby", 1, prefix="later", ts=lambda i: T0 + 20_000)
    assert later.seq == 6
    assert await store.history("lobby") == [later]
    assert [e.seq for e in await events(store, "lobby")] == [6]


async def test_batches_are_bounded(store: MessageStore) -> None:
    messages = await send(store, "lobby", 10)
    batches = await trim_all(store, "lobby", keep=1, limit=4)
    assert batches == [
        Trimmed(4, 4, 5, False),
        Trimmed(4, 4, 9, False),
        Trimmed(1, 1, 10, True),
    ]
    assert await store.history("lobby") == messages[9:]


async def test_an_unknown_room_has_nothing_to_trim(store: MessageStore) -> None:
    assert await store.trim_room("nowhere", before_ts=T0, keep=1, limit=10) == Trimmed(
        0, 0, 1, True
    )
    assert await store.find_room("nowhere") is None


async def test_limits_are_checked(store: MessageStore) -> None:
    with pytest.raises(ValueError):
        await store.trim_room("lobby", before_ts=None, keep=0, limit=10)
    with pytest.raises(ValueError):
        await store.trim_room("lobby", before_ts=None, keep=1, limit=0)


# -- what goes with the messages, and what stays ---------------------------------------------------


async def test_a_kept_event_keeps_the_message_it_names(store: MessageStore) -> None:
    messages = await send(store, "lobby", 6)  # seq 1-6
    deleted = await store.delete_message("lobby", "m1", by=MOD, ts=T0 + 50)  # seq 7
    hidden = await store.hide_message("lobby", "m2", T0 + 60, min_reports=0)  # seq 8
    assert deleted is not None and hidden is not None
    later = await send(store, "lobby", 2, prefix="n", ts=lambda i: T0 + 100 + i)  # seq 9, 10
    # Keep 4 messages: m4, m5, n0, n1 — the first kept event is m4's (seq 5).
    assert await trim_all(store, "lobby", keep=4) == [Trimmed(2, 4, 5, True)]
    # m1 and m2 stay for the delete and the hide that name them (replayed with them)...
    found = await events(store, "lobby", 4)
    assert [(e.seq, e.kind) for e in found] == [
        (5, "message"),
        (6, "message"),
        (7, "message_delete"),
        (8, "message_hide"),
        (9, "message"),
        (10, "message"),
    ]
    assert found[2].message == deleted.message
    assert found[3].message == hidden[1]
    # ... but history ends at the first kept position.
    assert await store.history("lobby") == [*messages[4:], *later]
    assert await store.get_message("lobby", "m0") is None
    await assert_whole(store, "lobby")
    # Once those events go too, so do their messages.
    await send(store, "lobby", 4, prefix="o", ts=lambda i: T0 + 200 + i)
    await trim_all(store, "lobby", keep=2)
    for message_id in ("m1", "m2", "m4", "m5", "n0", "n1"):
        assert await store.get_message("lobby", message_id) is None
    await assert_whole(store, "lobby")


async def test_a_batch_never_leaves_a_kept_event_without_its_message(store: MessageStore) -> None:
    await send(store, "lobby", 6)  # seq 1-6
    assert await store.delete_message("lobby", "m0", by=MOD, ts=T0 + 50) is not None  # seq 7
    await send(store, "lobby", 3, prefix="n", ts=lambda i: T0 + 100 + i)  # seq 8-10
    firsts = []
    while True:  # after each batch, the kept delete still has m0 to replay with
        batch = await store.trim_room("lobby", before_ts=None, keep=1, limit=2)
        firsts.append(batch.first_seq)
        await assert_whole(store, "lobby")
        if batch.done:
            break
    assert firsts == [3, 5, 7, 9, 10]
    assert await store.get_message("lobby", "m0") is None


async def test_the_pinned_message_stays_while_pinned(store: MessageStore) -> None:
    messages = await send(store, "lobby", 5)
    await store.put_pin("lobby", Pin(by=MOD, ts=T0 + 10, message=messages[0]))
    await trim_all(store, "lobby", keep=2)
    assert await store.get_message("lobby", "m0") == messages[0]
    assert await store.history("lobby") == messages[3:]  # not in history
    await store.put_pin("lobby", None)
    # The next trim takes it, though no event is left to remove.
    assert await store.trim_room("lobby", before_ts=None, keep=2, limit=10) == Trimmed(
        1, 0, 4, True
    )
    assert await store.get_message("lobby", "m0") is None


async def test_reports_of_removed_messages_go_with_them(store: MessageStore) -> None:
    messages = await send(store, "lobby", 4)
    for m in messages[:3]:
        assert await store.add_report("lobby", m.id, BOB.id, "spam", T0 + 10) == 1
    await trim_all(store, "lobby", keep=2)
    listed = await store.open_reports("lobby", 10)
    assert [r.message.id for r in listed] == ["m2"]
    assert await store.report("lobby", "m0") is None
    # The old report is gone: the same reporter counts again as the first.
    assert await store.add_report("lobby", "m0", BOB.id, "spam", T0 + 20) == 1


async def test_purges_go_with_their_events(store: MessageStore) -> None:
    await send(store, "lobby", 3)  # seq 1-3
    purge = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 40)  # seq 4
    assert purge is not None
    later = await send(store, "lobby", 3, user=BOB, prefix="b", ts=lambda i: T0 + 100 + i)
    # Keeping 3: the first kept is b0 (seq 5), so the purge before it goes.
    assert await trim_all(store, "lobby", keep=3) == [Trimmed(3, 4, 5, True)]
    assert [e.kind for e in await events(store, "lobby")] == ["message"] * 3
    assert await store.history("lobby") == later
    # A purge kept (after the first kept message) is replayed as it was.
    purge = await store.purge_user("lobby", BOB.id, since=T0 + 101, by=MOD, ts=T0 + 150)
    assert purge is not None
    await trim_all(store, "lobby", keep=2)
    found = await events(store, "lobby")
    assert [e.kind for e in found] == ["message", "message", "message_purge"]
    assert found[-1].purge == purge[1]


async def test_trims_beside_concurrent_writers(make_store: StoreMaker) -> None:
    """Two nodes' stores: one appends and deletes while both trim; the stream stays whole."""
    writer, other = await make_store(), await make_store()

    async def write() -> None:
        for i in range(60):
            message = (
                await writer.append_message(
                    "lobby", message_id=f"c{i}", user=ALICE, text="x", cid=None, ts=T0 + i
                )
            ).message
            if i % 5 == 4:
                await writer.delete_message("lobby", f"c{i - 3}", by=MOD, ts=message.ts)

    async def trim(store: MessageStore) -> None:
        for _ in range(40):
            await store.trim_room("lobby", before_ts=None, keep=5, limit=3)
            await asyncio.sleep(0)

    await writer.room("lobby")
    await asyncio.gather(write(), trim(writer), trim(other))
    await trim_all(writer, "lobby", keep=5)
    await assert_whole(writer, "lobby")
    assert [m.id for m in await writer.history("lobby")] == [f"c{i}" for i in range(55, 60)]


# -- candidates ---------------------------------------------------------------------------------


async def test_candidates_are_the_rooms_with_something_to_remove(store: MessageStore) -> None:
    await send(store, "a-busy", 5)
    await send(store, "b-quiet", 2)
    await send(store, "c-old", 2, ts=lambda i: T0 - 10_000 + i)
    await send(store, "d-busy", 6)

    async def listed(before_ts: int | None, keep: int | None) -> list[str]:
        found: list[str] = []
        after = ""
        while page := await store.trim_candidates(
            after=after, limit=2, before_ts=before_ts, keep=keep
        ):
            found += page
            after = page[-1]
        return found

    assert await listed(None, 3) == ["a-busy", "d-busy"]
    assert await listed(T0, None) == ["c-old"]
    assert await listed(T0, 3) == ["a-busy", "c-old", "d-busy"]
    assert await listed(None, None) == []
    await trim_all(store, "a-busy", keep=3)
    assert await listed(None, 3) == ["d-busy"]


# -- rules ----------------------------------------------------------------------------------------


async def test_rooms_own_rules(store: MessageStore) -> None:
    assert await store.retention_rules() == {}
    assert await store.room_retention("lobby") is None
    await store.set_room_retention("lobby", RetentionRule(days=1.5, messages=None))
    await store.set_room_retention("hall", RetentionRule(days=0, messages=100))
    await store.set_room_retention("nowhere", RetentionRule(days=None, messages=0))
    assert await store.room_retention("lobby") == RetentionRule(1.5, None)
    assert await store.retention_rules() == {
        "hall": RetentionRule(0, 100),
        "lobby": RetentionRule(1.5, None),
        "nowhere": RetentionRule(None, 0),
    }
    assert await store.find_room("nowhere") is None  # a rule creates no room
    await store.set_room_retention("lobby", RetentionRule(days=7, messages=10))  # replaced
    await store.set_room_retention("hall", None)
    await store.set_room_retention("nowhere", RetentionRule())  # nothing set: removed
    assert await store.retention_rules() == {"lobby": RetentionRule(7, 10)}


async def test_a_room_of_an_older_schema_starts_whole(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 9)  # before retention
    old = await make_store()
    await send(old, "lobby", 3)
    await old.close()
    monkeypatch.undo()
    store = await make_store()
    assert (await store.room("lobby")).first_seq == 1
    assert len(await store.history("lobby")) == 3
    await trim_all(store, "lobby", keep=1)
    assert [m.id for m in await store.history("lobby")] == ["m2"]
