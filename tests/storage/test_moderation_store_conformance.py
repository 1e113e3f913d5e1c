"""The ModerationStore contract, run against every store backend of
``conftest.STORE_FACTORIES``: bans, room settings, pins, the moderation log and the recent
texts of unique-chat mode."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from pchat.protocol.models import User
from pchat.protocol.moderation import Ban, ModAction, Pin, RoomSettings
from pchat.storage import store_postgres, store_sqlite
from pchat.storage.base import MessageStore, ModerationStore, StoreUnavailable
from tests.storage.conformance import ALICE, BOB, MOD, T0, StoreMaker, send

ADMIN = User("u-admin", "admin", "admin")


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
    for module in (store_sqlite, store_postgres):  # schema 1: the stream, reactions, polls
        monkeypatch.setattr(module, "_MIGRATIONS", module._MIGRATIONS[:1])
        monkeypatch.setattr(module, "SCHEMA_VERSION", 1)
    old = await make_store()
    written = await send(old, "lobby", 3)
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
