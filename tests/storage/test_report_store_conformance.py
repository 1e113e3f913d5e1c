"""The ReportStore contract, run against every store backend of ``conftest.STORE_FACTORIES``:
reports (one per reporter and message), the open reports of a room, and the hiding and
showing again of a reported message as stream events."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from pchat.protocol.models import User
from pchat.protocol.moderation import Report
from pchat.storage.base import MessageStore, ReportsResolved, ReportStore, StreamEvent
from tests.storage.conformance import ALICE, BOB, MOD, T0, StoreMaker, old_schema, send, send_old

CARL = User("u-carl", "carl", "viewer")


async def reporters(store: ReportStore, message_id: str, n: int, *, room: str = "lobby") -> None:
    """``n`` users report the message, user i at ``T0 + i`` with the reason ``why {i}``."""
    for i in range(n):
        assert await store.add_report(room, message_id, f"u-{i}", f"why {i}", T0 + i) == i + 1


async def test_a_report_counts_once_per_reporter(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    assert await store.report("lobby", message.id) is None
    assert await store.add_report("lobby", message.id, BOB.id, "spam", T0) == 1
    assert await store.add_report("lobby", message.id, CARL.id, "", T0 + 5) == 2
    # Again: nothing changes, not even the reason or the time.
    assert await store.add_report("lobby", message.id, BOB.id, "rude", T0 + 9) is None
    assert await store.report("lobby", message.id) == Report(message, 2, ("spam",), T0 + 5)


async def test_reasons_are_distinct_newest_first_and_at_most_ten(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    await reporters(store, message.id, 12)
    await store.add_report("lobby", message.id, "u-a", "why 3", T0 + 20)  # given again
    await store.add_report("lobby", message.id, "u-b", "", T0 + 21)  # none given
    report = await store.report("lobby", message.id)
    assert report is not None and report.count == 14 and report.last_ts == T0 + 21
    # "why 3" once, at its newest; then the others newest first, up to ten.
    newest = ("why 3", "why 11", "why 10", *(f"why {i}" for i in range(9, 3, -1)), "why 2")
    assert report.reasons == newest
    assert not report.hidden


async def test_open_reports_are_the_most_recently_reported_first(store: MessageStore) -> None:
    messages = await send(store, "lobby", 4)
    await store.add_report("lobby", messages[0].id, BOB.id, "a", T0 + 30)
    await store.add_report("lobby", messages[1].id, BOB.id, "b", T0 + 10)
    await store.add_report("lobby", messages[2].id, BOB.id, "c", T0 + 20)
    await store.add_report("lobby", messages[1].id, CARL.id, "d", T0 + 40)
    await store.add_report("other", messages[3].id, BOB.id, "elsewhere", T0 + 50)
    listed = await store.open_reports("lobby", 10)
    assert [(r.message.id, r.count, r.reasons, r.last_ts) for r in listed] == [
        (messages[1].id, 2, ("d", "b"), T0 + 40),
        (messages[0].id, 1, ("a",), T0 + 30),
        (messages[2].id, 1, ("c",), T0 + 20),
    ]
    assert [r.message for r in listed] == [messages[1], messages[0], messages[2]]
    assert [r.message.id for r in await store.open_reports("lobby", 2)] == [
        messages[1].id,
        messages[0].id,
    ]
    assert await store.open_reports("lobby", 0) == []
    assert await store.open_reports("empty", 10) == []


async def test_the_reports_of_a_deleted_message_are_closed(store: MessageStore) -> None:
    kept, deleted = await send(store, "lobby", 2)
    for message in (kept, deleted):
        await store.add_report("lobby", message.id, BOB.id, "spam", T0)
    await store.delete_message("lobby", deleted.id, by=MOD, ts=T0 + 1)
    assert [r.message.id for r in await store.open_reports("lobby", 10)] == [kept.id]
    assert await store.report("lobby", deleted.id) is None
    assert await store.hide_message("lobby", deleted.id, T0 + 2) is None


async def test_hiding_is_a_stream_event(store: MessageStore) -> None:
    first, second = await send(store, "lobby", 2)
    await reporters(store, first.id, 2)
    # Not reported often enough yet: nothing happens.
    assert await store.hide_message("lobby", first.id, T0 + 50, min_reports=3) is None
    assert (await store.room("lobby")).last_seq == 2

    hidden = replace(first, hidden=True)
    assert await store.hide_message("lobby", first.id, T0 + 60, min_reports=2) == (3, hidden)
    assert (await store.room("lobby")).last_seq == 3
    assert await store.get_message("lobby", first.id) == hidden
    assert await store.history("lobby") == [hidden, second]
    report = await store.report("lobby", first.id)
    assert report is not None and report.hidden and report.message == hidden
    # A hidden message is hidden once.
    assert await store.hide_message("lobby", first.id, T0 + 70) is None
    assert await store.hide_message("lobby", "nope", T0 + 70) is None
    assert (await store.room("lobby")).last_seq == 3

    events = await store.events_since("lobby", 0, 10)
    assert events == [
        StreamEvent(1, "message", hidden),
        StreamEvent(2, "message", second),
        StreamEvent(3, "message_hide", hidden, ts=T0 + 60),
    ]
    # Positions stay without gaps: the next message follows the hide.
    [third] = await send(store, "lobby", 1, prefix="n")
    assert third.seq == 4


async def test_a_message_without_reports_is_not_hidden(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    assert await store.hide_message("lobby", message.id, T0) is None
    assert not (await store.get_message("lobby", message.id) or message).hidden


async def test_dismissing_shows_a_hidden_message_again(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    assert await store.resolve_reports("lobby", message.id, restore_ts=T0) is None
    await reporters(store, message.id, 3)
    await store.hide_message("lobby", message.id, T0 + 10)

    resolved = await store.resolve_reports("lobby", message.id, restore_ts=T0 + 20)
    assert resolved == ReportsResolved(3, (3, message))
    assert await store.get_message("lobby", message.id) == message
    assert await store.report("lobby", message.id) is None
    assert await store.open_reports("lobby", 10) == []
    assert await store.resolve_reports("lobby", message.id, restore_ts=T0 + 30) is None
    assert [(e.seq, e.kind, e.message, e.ts) for e in await store.events_since("lobby", 1, 10)] == [
        (2, "message_hide", message, T0 + 10),
        (3, "message_restore", message, T0 + 20),
    ]
    # Reported again from scratch: the earlier reporters count anew.
    assert await store.add_report("lobby", message.id, "u-0", "again", T0 + 40) == 1


async def test_resolving_without_restoring_leaves_the_message_as_it_is(
    store: MessageStore,
) -> None:
    shown, hidden = await send(store, "lobby", 2)
    for message in (shown, hidden):
        await reporters(store, message.id, 1)
    await store.hide_message("lobby", hidden.id, T0)
    assert await store.resolve_reports("lobby", hidden.id) == ReportsResolved(1)
    assert (await store.get_message("lobby", hidden.id) or hidden).hidden
    # Restoring a message that is not hidden appends nothing.
    assert await store.resolve_reports("lobby", shown.id, restore_ts=T0) == ReportsResolved(1)
    assert (await store.room("lobby")).last_seq == 3


async def test_a_hidden_message_deleted_stays_deleted(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    await reporters(store, message.id, 1)
    await store.hide_message("lobby", message.id, T0)
    deleted = await store.delete_message("lobby", message.id, by=MOD, ts=T0 + 1)
    assert deleted is not None and deleted.seq == 3
    # Its reports are closed; dropping their rows restores nothing.
    assert await store.resolve_reports("lobby", message.id, restore_ts=T0 + 2) == ReportsResolved(1)
    after = await store.events_since("lobby", 0, 10)
    assert [e.kind for e in after] == ["message", "message_hide", "message_delete"]
    assert all(e.message is not None and e.message.deleted and not e.message.text for e in after)


async def test_concurrent_reports_all_count(store: MessageStore) -> None:
    [message] = await send(store, "lobby", 1)
    counts = await asyncio.gather(
        *(store.add_report("lobby", message.id, f"u-{i}", "", T0 + i) for i in range(20)),
        store.add_report("lobby", message.id, "u-0", "", T0),
    )
    # Each reporter has a count of its own: the one that reaches a threshold knows it.
    assert sorted(c for c in counts if c is not None) == list(range(1, 21))
    assert counts.count(None) == 1
    report = await store.report("lobby", message.id)
    assert report is not None and report.count == 20


async def test_of_concurrent_hides_and_resolutions_one_wins(make_store: StoreMaker) -> None:
    # Two stores on the same data: two nodes of a cluster (SQLite: two processes' writers).
    one, two = await make_store(), await make_store()
    [message] = await send(one, "lobby", 1)
    await reporters(one, message.id, 2)
    hides = await asyncio.gather(
        *(s.hide_message("lobby", message.id, T0 + 10) for s in (one, two, one, two))
    )
    assert [h for h in hides if h is not None] == [(2, replace(message, hidden=True))]
    resolutions = await asyncio.gather(
        *(s.resolve_reports("lobby", message.id, restore_ts=T0 + 20) for s in (one, two, two))
    )
    assert [r for r in resolutions if r is not None] == [ReportsResolved(2, (3, message))]
    assert (await two.room("lobby")).last_seq == 3


async def test_reports_and_hiding_survive_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    [message] = await send(store, "lobby", 1)
    await reporters(store, message.id, 2)
    await store.hide_message("lobby", message.id, T0 + 5)
    await store.close()

    reopened = await make_store()
    hidden = replace(message, hidden=True)
    assert await reopened.report("lobby", message.id) == Report(
        hidden, 2, ("why 1", "why 0"), T0 + 1
    )
    assert await reopened.events_since("lobby", 1, 10) == [
        StreamEvent(2, "message_hide", hidden, ts=T0 + 5)
    ]


async def test_a_store_from_before_reports_is_migrated(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 5)  # before reports, hiding and the time of an event
    old = await make_store()
    written = await send_old(old, "lobby", 2)
    await old.close()
    monkeypatch.undo()

    store = await make_store()
    assert await store.events_since("lobby", 0, 10) == [
        StreamEvent(m.seq, "message", m) for m in written
    ]
    assert await store.add_report("lobby", written[0].id, ALICE.id, "x", T0) == 1
    assert await store.hide_message("lobby", written[0].id, T0 + 1) == (
        3,
        replace(written[0], hidden=True),
    )
