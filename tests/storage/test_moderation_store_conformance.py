"""The ModerationStore contract, run against every store backend of
``conftest.STORE_FACTORIES``: bans, room settings, pins, the moderation log, the recent
texts of unique-chat mode and the word filter's blocklists."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from pchat.protocol.models import User
from pchat.protocol.moderation import Ban, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry
from pchat.storage.base import MessageStore, ModerationStore, Purge, StoreUnavailable, StreamEvent
from tests.storage.conformance import (
    ALICE,
    BOB,
    MOD,
    T0,
    StoreMaker,
    moderate_old,
    old_schema,
    send,
    send_old,
)

ADMIN = User("u-admin", "admin", "admin")
SERVER = "*"  # the server-wide blocklist


def ban(user: User, *, until: int | None = None, reason: str = "") -> Ban:
    return Ban(user.id, MOD, T0, until, reason)


def action(name: str, i: int = 0, *, target: User | None = ALICE) -> ModAction:
    return ModAction(
        action=name,
        by=MOD,
        ts=T0 + i,
        target_user_id=target.id if target else None,
        message_id=f"m{i}" if target else None,
        reason=f"reason {i}",
        details={"i": i, "minutes": [1, 2], "note": "é ✓"},
    )


async def test_a_ban_is_put_replaced_and_removed(store: ModerationStore) -> None:
    assert await store.bans("lobby", T0) == []
    first = ban(ALICE, reason="spam")
    await store.put_ban("lobby", first)
    assert await store.bans("lobby", T0) == [first]

    replaced = Ban(ALICE.id, ADMIN, T0 + 5, T0 + 60_000, "still spam")
    await store.put_ban("lobby", replaced)
    assert await store.bans("lobby", T0 + 5) == [replaced]

    assert await store.remove_ban("lobby", ALICE.id) is True
    assert await store.bans("lobby", T0) == []
    assert await store.remove_ban("lobby", ALICE.id) is False
    assert await store.remove_ban("lobby", BOB.id) is False


async def test_bans_are_in_force_until_they_end(store: ModerationStore) -> None:
    timeout = ban(ALICE, until=T0 + 1000)
    forever = ban(BOB)
    await store.put_ban("lobby", timeout)
    await store.put_ban("lobby", forever)
    in_force = await store.bans("lobby", T0 + 999)
    assert sorted(in_force, key=lambda b: b.user_id) == [timeout, forever]
    assert await store.bans("lobby", T0 + 1000) == [forever]  # ``until`` is the first ms free
    assert await store.bans("lobby", T0 + 10**9) == [forever]
    # The time asked about decides, not the clock: the timeout was over long ago.
    assert len(await store.bans("lobby", T0)) == 2

    # A new timeout replaces the expired one; lifting an unexpired ban leaves the others.
    again = Ban(ALICE.id, MOD, T0 + 2000, T0 + 3000, "again")
    await store.put_ban("lobby", again)
    assert sorted(await store.bans("lobby", T0 + 2500), key=lambda b: b.user_id) == [again, forever]
    assert await store.remove_ban("lobby", BOB.id) is True
    assert await store.bans("lobby", T0 + 2500) == [again]


async def test_bans_of_one_room_stay_in_it(store: ModerationStore) -> None:
    in_lobby, in_hall = ban(ALICE), ban(BOB, until=T0 + 5000)
    await store.put_ban("lobby", in_lobby)
    await store.put_ban("hall", in_hall)
    assert await store.bans("lobby", T0) == [in_lobby]
    assert await store.bans("hall", T0) == [in_hall]
    assert await store.bans("other", T0) == []
    assert await store.remove_ban("hall", ALICE.id) is False
    assert await store.bans("lobby", T0) == [in_lobby]
    assert await store.remove_ban("lobby", ALICE.id) is True
    assert await store.bans("hall", T0) == [in_hall]


async def test_expired_bans_are_forgotten_in_every_room(store: ModerationStore) -> None:
    carol, dave = User("u-carol", "carol"), User("u-dave", "dave")
    now = T0 + 10_000
    gone = {  # ended before now, or at it (``until`` is the first ms free)
        "lobby": [ban(ALICE, until=T0 + 1000), ban(BOB, until=now)],
        "hall": [ban(ALICE, until=T0 + 9_999)],
    }
    kept = {  # running at now, or permanent
        "lobby": [ban(carol, until=now + 1), ban(dave)],
        "hall": [ban(BOB, until=now + 60_000), ban(carol)],
    }
    for room in ("lobby", "hall"):
        for b in gone[room] + kept[room]:
            await store.put_ban(room, b)
    assert await store.forget_expired_bans(T0) == 0  # nothing had ended at T0
    assert await store.forget_expired_bans(now) == 3
    for room in ("lobby", "hall"):
        # Asked about a time when the forgotten ones were in force: they are gone.
        listed = await store.bans(room, T0)
        assert sorted(listed, key=lambda b: b.user_id) == kept[room]
    assert await store.forget_expired_bans(now) == 0
    assert await store.remove_ban("lobby", ALICE.id) is False
    assert await store.remove_ban("lobby", carol.id) is True


async def test_room_settings_default_and_round_trip(store: ModerationStore) -> None:
    assert await store.room_settings("lobby") == RoomSettings()
    slow = RoomSettings(slow_mode=30, unique_chat=True, max_message_chars=200, mode="open")
    await store.put_room_settings("lobby", slow)
    assert await store.room_settings("lobby") == slow
    assert await store.room_settings("hall") == RoomSettings()

    for mode in ("moderators_only", "reactions_only"):
        changed = slow.updated({"mode": mode, "unique_chat": False})
        await store.put_room_settings("lobby", changed)
        assert await store.room_settings("lobby") == changed
    await store.put_room_settings("lobby", RoomSettings())
    assert await store.room_settings("lobby") == RoomSettings()


async def test_a_pin_is_set_replaced_and_cleared(store: MessageStore) -> None:
    assert await store.pin("lobby") is None
    await store.put_pin("lobby", None)  # unpinning an unpinned room
    assert await store.pin("lobby") is None

    [message] = await send(store, "lobby", 1)
    pinned = Pin(by=MOD, ts=T0 + 10, message=message)
    await store.put_pin("lobby", pinned)
    assert await store.pin("lobby") == pinned
    assert await store.pin("hall") is None

    deleted = await store.delete_message("lobby", message.id, by=MOD, ts=T0 + 11)
    assert deleted is not None
    announcement = Pin(by=ADMIN, ts=T0 + 20, text="The show starts at 8 ✓")
    both = Pin(by=MOD, ts=T0 + 30, message=deleted.message, text="see this")
    for pin in (announcement, both):
        await store.put_pin("lobby", pin)
        assert await store.pin("lobby") == pin

    await store.put_pin("hall", announcement)
    await store.put_pin("lobby", None)
    assert await store.pin("lobby") is None
    assert await store.pin("hall") == announcement


async def test_the_log_gives_increasing_ids_per_room(store: ModerationStore) -> None:
    lobby: list[ModAction] = []
    hall: list[ModAction] = []
    for i in range(5):
        lobby.append(await store.log_action("lobby", action("ban", i)))
        if i % 2:
            hall.append(await store.log_action("hall", action("pin", i, target=None)))
    for entries in (lobby, hall):
        ids = [e.id for e in entries]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > 0
    assert lobby[2] == replace(action("ban", 2), id=lobby[2].id)  # as logged, with its id

    # Entries logged at once: each id distinct and above every earlier one of the room.
    together = await asyncio.gather(
        *(store.log_action("lobby", action("timeout", 10 + i)) for i in range(20))
    )
    ids = [e.id for e in together]
    assert len(set(ids)) == 20 and min(ids) > lobby[-1].id
    assert [(e.action, e.ts) for e in together] == [("timeout", T0 + 10 + i) for i in range(20)]
    later = await store.log_action("lobby", action("unban", 99))
    assert later.id > max(ids)

    newest_first = await store.mod_log("lobby", before_id=None, limit=100)
    assert [e.id for e in newest_first] == sorted([*ids, later.id, *(e.id for e in lobby)])[::-1]
    assert newest_first[-len(lobby) :] == lobby[::-1]
    assert await store.mod_log("hall", before_id=None, limit=100) == hall[::-1]
    assert await store.mod_log("other", before_id=None, limit=100) == []


async def test_the_log_pages_newest_first(store: ModerationStore) -> None:
    logged = [await store.log_action("lobby", action("delete", i)) for i in range(7)]
    await store.log_action("hall", action("delete", 100))

    pages: list[list[ModAction]] = []
    before: int | None = None
    while page := await store.mod_log("lobby", before_id=before, limit=3):
        pages.append(page)
        before = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e for p in pages for e in p] == logged[::-1]

    assert await store.mod_log("lobby", before_id=logged[3].id, limit=2) == [logged[2], logged[1]]
    assert await store.mod_log("lobby", before_id=logged[0].id, limit=5) == []
    assert await store.mod_log("lobby", before_id=None, limit=0) == []
    assert await store.mod_log("lobby", before_id=logged[-1].id + 1000, limit=1) == [logged[-1]]


async def test_recent_texts_are_the_users_newest_in_the_room(store: MessageStore) -> None:
    await send(store, "lobby", 5, prefix="a")  # alice: text 0 … text 4
    await send(store, "lobby", 3, user=BOB, prefix="b")
    await send(store, "hall", 2, prefix="h")
    await store.append_message(
        "lobby", message_id="a5", user=ALICE, text="Hello again", cid="c-1", ts=T0 + 50
    )
    await store.delete_message("lobby", "a3", by=MOD, ts=T0 + 60)

    assert await store.recent_texts("lobby", ALICE.id, 3) == ["Hello again", "text 4", ""]
    assert await store.recent_texts("lobby", ALICE.id, 100) == [
        "Hello again",
        "text 4",
        "",  # deleted: the text as stored
        "text 2",
        "text 1",
        "text 0",
    ]
    assert await store.recent_texts("lobby", BOB.id, 2) == ["text 2", "text 1"]
    assert await store.recent_texts("hall", ALICE.id, 10) == ["text 1", "text 0"]
    assert await store.recent_texts("hall", BOB.id, 10) == []
    assert await store.recent_texts("lobby", ALICE.id, 0) == []


async def test_moderation_survives_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    [message] = await send(store, "lobby", 1)
    timeout, forever = ban(ALICE, until=T0 + 60_000, reason="flood"), ban(BOB)
    await store.put_ban("lobby", timeout)
    await store.put_ban("lobby", forever)
    settings = RoomSettings(slow_mode=5, unique_chat=True, max_message_chars=100)
    await store.put_room_settings("lobby", settings)
    pin = Pin(by=MOD, ts=T0, message=message, text="read me")
    await store.put_pin("lobby", pin)
    logged = [await store.log_action("lobby", action("ban", i)) for i in range(3)]
    await store.close()
    for call in (
        store.bans("lobby", T0),
        store.forget_expired_bans(T0),
        store.put_pin("lobby", None),
        store.log_action("x", action("ban")),
    ):
        with pytest.raises(StoreUnavailable):  # closed: like every other operation
            await call

    reopened = await make_store()
    assert sorted(await reopened.bans("lobby", T0), key=lambda b: b.user_id) == [timeout, forever]
    assert await reopened.room_settings("lobby") == settings
    assert await reopened.pin("lobby") == pin
    assert await reopened.mod_log("lobby", before_id=None, limit=10) == logged[::-1]
    assert await reopened.recent_texts("lobby", ALICE.id, 5) == [message.text]
    after = await reopened.log_action("lobby", action("unban"))
    assert after.id > logged[-1].id


async def test_a_store_from_before_moderation_is_migrated(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 1)  # before moderation: the stream, reactions, polls
    old = await make_store()
    written = await send_old(old, "lobby", 3)
    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError), match="bans"):
        await old.bans("lobby", T0)
    await old.close()
    monkeypatch.undo()

    store = await make_store()
    assert await store.history("lobby") == written
    assert await store.recent_texts("lobby", ALICE.id, 2) == ["text 2", "text 1"]
    assert await store.room_settings("lobby") == RoomSettings()
    await store.put_ban("lobby", ban(BOB))
    assert await store.bans("lobby", T0) == [ban(BOB)]
    assert (await store.log_action("lobby", action("ban"))).id > 0


# -- the word filter's blocklists ---------------------------------------------------------------


async def test_a_filter_entry_is_added_changed_and_removed(store: ModerationStore) -> None:
    assert await store.filter_entries("lobby") == []
    await store.put_filter_entry("lobby", FilterEntry("spam"))
    assert await store.filter_entries("lobby") == [FilterEntry("spam", "block")]

    # The same pattern again: its action changes, no second entry.
    await store.put_filter_entry("lobby", FilterEntry("spam", "mask"))
    assert await store.filter_entries("lobby") == [FilterEntry("spam", "mask")]
    await store.put_filter_entry("lobby", FilterEntry("spam", "mask"))  # unchanged
    assert await store.filter_entries("lobby") == [FilterEntry("spam", "mask")]

    assert await store.remove_filter_entry("lobby", "spam") is True
    assert await store.filter_entries("lobby") == []
    assert await store.remove_filter_entry("lobby", "spam") is False
    assert await store.remove_filter_entry("lobby", "never") is False


async def test_patterns_are_kept_as_given(store: ModerationStore) -> None:
    # The store compares patterns as they are: folding them is the filter's business.
    entries = [
        FilterEntry("*ass*"),
        FilterEntry("scam*", "mask"),
        FilterEntry("*coin"),
        FilterEntry("Spam"),
        FilterEntry("spam", "mask"),
        FilterEntry("ѕраm ✓"),
        FilterEntry("it's"),
    ]
    for entry in entries:
        await store.put_filter_entry("lobby", entry)
    assert await store.filter_entries("lobby") == entries
    assert await store.remove_filter_entry("lobby", "SPAM") is False
    assert await store.remove_filter_entry("lobby", "*ass") is False
    assert await store.remove_filter_entry("lobby", "Spam") is True
    assert await store.filter_entries("lobby") == [e for e in entries if e.pattern != "Spam"]


async def test_a_blocklist_is_oldest_first(store: ModerationStore) -> None:
    words = [f"w{(i * 7919) % 200:03d}" for i in range(200)]  # not in alphabetical order
    for word in words:
        await store.put_filter_entry("lobby", FilterEntry(word))
    assert [e.pattern for e in await store.filter_entries("lobby")] == words

    # A changed action keeps the entry's place; a removed entry added again goes last.
    await store.put_filter_entry("lobby", FilterEntry(words[0], "mask"))
    assert await store.remove_filter_entry("lobby", words[1]) is True
    await store.put_filter_entry("lobby", FilterEntry("new"))
    await store.put_filter_entry("lobby", FilterEntry(words[1], "mask"))
    expected = [
        FilterEntry(words[0], "mask"),
        *(FilterEntry(w) for w in words[2:]),
        FilterEntry("new"),
        FilterEntry(words[1], "mask"),
    ]
    assert await store.filter_entries("lobby") == expected

    # Removing the newest entry and adding another: still after every remaining one.
    assert await store.remove_filter_entry("lobby", words[1]) is True
    await store.put_filter_entry("lobby", FilterEntry("newer"))
    assert await store.filter_entries("lobby") == [*expected[:-1], FilterEntry("newer")]


async def test_entries_added_at_once_are_each_listed_once(store: ModerationStore) -> None:
    words = [f"word{i}" for i in range(30)]
    await asyncio.gather(*(store.put_filter_entry("lobby", FilterEntry(w)) for w in words))
    await asyncio.gather(
        *(store.put_filter_entry("lobby", FilterEntry("same", a)) for a in ["block", "mask"] * 5)
    )
    listed = await store.filter_entries("lobby")
    assert sorted(e.pattern for e in listed) == sorted([*words, "same"])
    assert [e for e in listed if e.pattern == "same"] in (
        [FilterEntry("same", "block")],
        [FilterEntry("same", "mask")],
    )


async def test_rooms_and_the_server_list_are_separate(store: ModerationStore) -> None:
    await store.put_filter_entry(SERVER, FilterEntry("spam"))
    await store.put_filter_entry("lobby", FilterEntry("spam", "mask"))
    await store.put_filter_entry("lobby", FilterEntry("scam"))
    await store.put_filter_entry("hall", FilterEntry("*coin"))
    assert await store.filter_entries(SERVER) == [FilterEntry("spam")]
    assert await store.filter_entries("lobby") == [FilterEntry("spam", "mask"), FilterEntry("scam")]
    assert await store.filter_entries("hall") == [FilterEntry("*coin")]
    assert await store.filter_entries("other") == []

    # A change in one list leaves the others as they were.
    await store.put_filter_entry(SERVER, FilterEntry("spam", "mask"))
    assert await store.filter_entries("lobby") == [FilterEntry("spam", "mask"), FilterEntry("scam")]
    assert await store.remove_filter_entry("hall", "spam") is False
    assert await store.remove_filter_entry(SERVER, "scam") is False
    assert await store.remove_filter_entry("lobby", "spam") is True
    assert await store.filter_entries(SERVER) == [FilterEntry("spam", "mask")]
    assert await store.filter_entries("lobby") == [FilterEntry("scam")]
    assert await store.filter_entries("hall") == [FilterEntry("*coin")]


async def test_blocklists_survive_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    server = [FilterEntry("spam"), FilterEntry("*coin", "mask")]
    lobby = [FilterEntry("scam*", "mask"), FilterEntry("ѕраm")]
    for room, entries in ((SERVER, server), ("lobby", lobby)):
        for entry in entries:
            await store.put_filter_entry(room, entry)
    await store.close()
    for call in (
        store.filter_entries("lobby"),
        store.put_filter_entry("lobby", FilterEntry("x")),
        store.remove_filter_entry("lobby", "scam*"),
    ):
        with pytest.raises(StoreUnavailable):  # closed: like every other operation
            await call

    reopened = await make_store()
    assert await reopened.filter_entries(SERVER) == server
    assert await reopened.filter_entries("lobby") == lobby
    await reopened.put_filter_entry("lobby", FilterEntry("later"))
    assert await reopened.filter_entries("lobby") == [*lobby, FilterEntry("later")]


async def test_a_store_from_before_the_word_filter_is_migrated(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_schema(monkeypatch, 3)  # before the word filter
    old = await make_store()
    alice = await send_old(old, "lobby", 3)
    bob = await send_old(old, "lobby", 2, user=BOB, prefix="b")
    purged = await old.purge_user("lobby", BOB.id, since=0, by=MOD, ts=T0 + 10)
    settings = RoomSettings(slow_mode=10)
    await moderate_old(old, "lobby", ban(BOB, reason="spam"), settings)
    logged = await old.log_action("lobby", action("purge", 1))
    history = [*alice, *(m.as_deleted(MOD, T0 + 10) for m in bob)]
    events = [StreamEvent(m.seq, "message", m) for m in history]
    events.append(StreamEvent(6, "message_purge", None, Purge(BOB.id, 0, MOD, T0 + 10, 2)))
    with pytest.raises(
        (sqlite3.OperationalError, asyncpg.UndefinedTableError), match="filter_entries"
    ):
        await old.filter_entries("lobby")
    await old.close()
    monkeypatch.undo()

    store = await make_store()
    assert purged == (6, Purge(BOB.id, 0, MOD, T0 + 10, 2))
    assert await store.history("lobby") == history
    assert await store.events_since("lobby", 0, 10) == events
    assert await store.bans("lobby", T0) == [ban(BOB, reason="spam")]
    assert await store.room_settings("lobby") == settings
    assert await store.mod_log("lobby", before_id=None, limit=10) == [logged]
    assert await store.filter_entries("lobby") == []
    await store.put_filter_entry(SERVER, FilterEntry("spam"))
    await store.put_filter_entry("lobby", FilterEntry("scam", "mask"))
    assert await store.filter_entries(SERVER) == [FilterEntry("spam")]
    assert await store.filter_entries("lobby") == [FilterEntry("scam", "mask")]
