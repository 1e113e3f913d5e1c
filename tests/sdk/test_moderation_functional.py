"""The Python SDK's moderation calls, events and state against the real server on port 0.

A moderator times out, bans, kicks and unbans a viewer, sets room modes, pins, purges a
spammer and pages the moderation log; the viewer's SDK fires the events, holds the state and
raises the errors (docs/moderation.md).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import (
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
)
from pchat.protocol.models import Message
from pchat.protocol.moderation import Pin, RoomSettings
from pchat.sdk import (
    BannedEvent,
    ConnectEvent,
    DisconnectEvent,
    Events,
    InvalidArgumentError,
    PChatSDK,
    PurgeEvent,
    PurgeResult,
    States,
)
from tests.helpers import RunningServer, t
from tests.sdk.support import Gate, MakeSDK, cut_off, join, record, until


async def test_a_timeout_fires_banned_refuses_writes_and_ends_by_itself(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "mod-t", "mia", "moderator")
    bob = await join(server, make_sdk, "mod-t", "bob")
    seen = record(bob, Events.BANNED, Events.UNBANNED)
    ban = await mod.ban("bob", timedelta(seconds=2), reason="calm down")
    assert ban.user_id == "bob" and ban.by.id == "mia" and ban.until is not None
    await until(lambda: len(seen) == 1)
    assert seen == [(Events.BANNED, BannedEvent(ban.until, "calm down"))]
    assert bob.my_ban is not None and bob.my_ban.until == ban.until
    with pytest.raises(ForbiddenError) as refused:
        await bob.send_message("hi")
    assert refused.value.code is ErrorCode.BANNED and refused.value.until == ban.until
    assert refused.value.temporary and 0 < (refused.value.retry_after_ms or 0) <= 2000
    with pytest.raises(ForbiddenError):
        await bob.send_reaction("like")
    # The server pushes nothing when a timeout ends; the SDK fires UNBANNED itself.
    await until(lambda: len(seen) == 2, timeout=4)
    assert seen[1] == (Events.UNBANNED, None) and bob.my_ban is None
    assert (await bob.send_message("back")).text == "back"


async def test_ban_until_lifted_and_unban(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod = await join(server, make_sdk, "mod-b", "mia", "moderator")
    bob = await join(server, make_sdk, "mod-b", "bob")
    seen = record(bob, Events.BANNED, Events.UNBANNED)
    await mod.ban("bob", reason="spam")
    await until(lambda: bob.my_ban is not None)
    assert seen == [(Events.BANNED, BannedEvent(None, "spam"))]
    with pytest.raises(ForbiddenError) as refused:
        await bob.send_message("hi")
    assert refused.value.until is None and not refused.value.temporary
    assert [b.user_id for b in await mod.get_bans()] == ["bob"]
    await mod.unban("bob")
    await until(lambda: len(seen) == 2)
    assert seen[1] == (Events.UNBANNED, None) and bob.my_ban is None
    assert (await bob.send_message("free")).text == "free"
    assert await mod.get_bans() == []
    with pytest.raises(NotFoundError):
        await mod.unban("bob")


async def test_a_kick_ends_the_viewers_client_for_good(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "mod-k", "mia", "moderator")
    bob = await join(server, make_sdk, "mod-k", "bob")
    disconnects: list[DisconnectEvent] = []
    bob.on(Events.DISCONNECT, disconnects.append)
    await mod.ban("bob", 600, kick=True)
    await until(lambda: bob.state is States.DISCONNECTED)
    assert disconnects == [DisconnectEvent(CloseCode.KICKED, "banned from the room", False)]
    await asyncio.sleep(t(0.5))  # no reconnect follows
    assert bob.state is States.DISCONNECTED and len(disconnects) == 1
    # Coming back to read: the connect reply holds the timeout.
    await bob.connect("mod-k", "Bob", await server.token("bob"))
    assert bob.my_ban is not None and bob.my_ban.by.id == "mia"
    with pytest.raises(ForbiddenError):
        await bob.send_message("let me in")


async def test_room_modes(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod = await join(server, make_sdk, "mod-r", "mia", "moderator")
    bob = await join(server, make_sdk, "mod-r", "bob")
    settings: list[RoomSettings] = []
    bob.on(Events.ROOM_SETTINGS, settings.append)
    held = await mod.set_room_mode(slow_mode=timedelta(seconds=30))
    assert held == RoomSettings(slow_mode=30) == mod.room_settings
    await until(lambda: settings == [held])
    assert bob.room_settings.slow_mode == 30
    await bob.send_message("one")
    with pytest.raises(RateLimitedError) as limited:
        await bob.send_message("two")
    assert (limited.value.retry_after_ms or 0) > 20_000
    await mod.send_message("moderators are exempt")

    await mod.set_room_mode(slow_mode=0, mode="moderators_only")
    await until(lambda: bob.room_settings.mode == "moderators_only")
    with pytest.raises(ForbiddenError) as refused:
        await bob.send_message("hi")
    assert refused.value.code is ErrorCode.ROOM_MODE
    late = await join(server, make_sdk, "mod-r", "cat")
    assert late.room_settings == RoomSettings(mode="moderators_only")
    with pytest.raises(InvalidArgumentError):
        await mod.set_room_mode(slow_mode=1.5)
    with pytest.raises(ForbiddenError):
        await bob.set_room_mode(mode="open")


async def test_pin_message_announcement_and_unpin(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod = await join(server, make_sdk, "mod-p", "mia", "moderator")
    bob = await join(server, make_sdk, "mod-p", "bob")
    pins: list[Pin | None] = []
    bob.on(Events.PIN, pins.append)
    assert bob.pin is None
    sent = await bob.send_message("pin me")
    with pytest.raises(ForbiddenError):
        await bob.pin_message(sent.id)
    pin = await mod.pin_message(sent.id)
    assert pin.message is not None and pin.message.id == sent.id and mod.pin == pin
    await until(lambda: len(pins) == 1)
    assert pins[0] == pin == bob.pin
    announcement = await mod.pin_announcement("Show starts at 8")
    await until(lambda: len(pins) == 2)
    assert bob.pin == announcement and announcement.text == "Show starts at 8"
    late = await join(server, make_sdk, "mod-p", "cat")
    assert late.pin == announcement
    await mod.unpin()
    await until(lambda: len(pins) == 3)
    assert pins[2] is None and bob.pin is None and mod.pin is None


async def test_the_moderation_log_in_pages(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod = await join(server, make_sdk, "mod-l", "mia", "moderator")
    viewer = await join(server, make_sdk, "mod-l", "vic")
    await mod.ban("bob", 60, reason="spam")
    await mod.unban("bob")
    await mod.set_room_mode(slow_mode=5)
    await mod.pin_announcement("hello")
    await mod.unpin()
    with pytest.raises(ForbiddenError):
        await viewer.get_mod_log()
    page = await mod.get_mod_log(limit=3)
    assert [e.action for e in page.entries] == ["unpin", "pin", "room_mode"] and page.has_more
    rest = await mod.get_mod_log(before=page.entries[-1].id)
    assert [e.action for e in rest.entries] == ["unban", "timeout"] and not rest.has_more
    timeout = rest.entries[-1]
    assert (timeout.target_user_id, timeout.reason, timeout.by.id) == ("bob", "spam", "mia")
    assert page.entries[2].details == {"slow_mode": 5}


def deleted_ids(sdk: PChatSDK) -> list[tuple[str, bool]]:
    return [(m.id, m.deleted) for m in sdk.messages]


async def test_a_purge_removes_a_spammers_messages_without_a_reconnect(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "mod-purge", "mia", "moderator")
    spam = await join(server, make_sdk, "mod-purge", "spam")
    ann = await join(server, make_sdk, "mod-purge", "ann")
    seen = record(ann, Events.MESSAGE_DELETE, Events.PURGE, Events.STATE_CHANGE, Events.DISCONNECT)
    sent = [await spam.send_message(f"buy now {i}") for i in range(3)]
    kept = await ann.send_message("a real question")
    await until(lambda: len(ann.messages) == 4)
    with pytest.raises(ForbiddenError):
        await ann.purge("spam")
    result = await mod.purge("spam")
    assert result == PurgeResult(kept.seq + 1, 3)
    # The call returns once the moderator's own client applied the purge.
    assert [m.deleted for m in mod.messages] == [True, True, True, False]
    await until(lambda: any(event is Events.PURGE for event, _ in seen))
    deletes = [m for event, m in seen if event is Events.MESSAGE_DELETE]
    assert [m.id for m in deletes] == [m.id for m in sent]
    assert all(isinstance(m, Message) and m.text == "" for m in deletes)
    [purge] = [p for event, p in seen if event is Events.PURGE]
    assert isinstance(purge, PurgeEvent)
    assert (purge.user_id, purge.since, purge.count, purge.deleted_by.id) == ("spam", 0, 3, "mia")
    assert [(m.text, m.deleted) for m in ann.messages] == [("", True)] * 3 + [(kept.text, False)]
    assert all(m.deleted_by is not None and m.deleted_by.id == "mia" for m in ann.messages[:3])
    assert all(m.deleted_at == purge.ts for m in ann.messages[:3])
    await until(lambda: [m.deleted for m in spam.messages] == [True, True, True, False])
    # The stream goes on with no gap: the next message arrives and nothing reconnected.
    after = await mod.send_message("carry on")
    await until(lambda: after.id in [m.id for m in ann.messages])
    assert ann.last_seq == after.seq and ann.state is States.CONNECTED
    assert [event for event, _ in seen if event in (Events.STATE_CHANGE, Events.DISCONNECT)] == []
    # Nothing left to purge; within as a timedelta; a fraction of a second is refused.
    assert await mod.purge("spam", timedelta(minutes=10)) == PurgeResult(None, 0)
    with pytest.raises(InvalidArgumentError):
        await mod.purge("spam", 1.5)


async def test_a_client_away_during_a_purge_recovers_it(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "mod-away", "mia", "moderator")
    spam = await join(server, make_sdk, "mod-away", "spam")
    gate = Gate()
    bob = await join(server, make_sdk, "mod-away", "bob", connector=gate)
    seen = record(bob, Events.CONNECT, Events.MESSAGE_DELETE, Events.PURGE)
    held = [await spam.send_message(f"spam {i}") for i in range(2)]
    await until(lambda: len(bob.messages) == 2)
    # Bob's network goes down: his connection drops and no reconnect gets through.
    await cut_off(server, bob, gate)
    missed = await spam.send_message("spam while away")
    kept = await mod.send_message("welcome back")
    assert (await mod.purge("spam")).count == 3
    gate.down = False
    await until(lambda: any(event is Events.PURGE for event, _ in seen))
    connects = [e for event, e in seen if event is Events.CONNECT]
    assert [c.recovered for c in connects if isinstance(c, ConnectEvent)] == [True]
    assert deleted_ids(bob) == deleted_ids(mod)
    assert deleted_ids(bob) == [(m.id, True) for m in [*held, missed]] + [(kept.id, False)]
    # The two held messages fire MESSAGE_DELETE; the one missed was replayed already deleted.
    assert [m.id for event, m in seen if event is Events.MESSAGE_DELETE] == [m.id for m in held]
    assert [event for event, _ in seen][-1] is Events.PURGE


async def test_the_word_filter_from_the_sdk(server: RunningServer, make_sdk: MakeSDK) -> None:
    from pchat.protocol.errors import ForbiddenError, InvalidRequestError, NotFoundError
    from pchat.protocol.wordfilter import FilterEntry

    ada = await join(server, make_sdk, "wf", "ada", "admin")
    bob = await join(server, make_sdk, "wf", "bob")
    with pytest.raises(ForbiddenError):
        await bob.add_filter_entry("spam")
    assert await ada.add_filter_entry("spam") == FilterEntry("spam", "block")
    await ada.add_filter_entry("darn", "mask")
    await ada.add_filter_entry("scam*", server=True)
    assert await ada.get_filter_entries() == [
        FilterEntry("spam", "block"),
        FilterEntry("darn", "mask"),
    ]
    assert await ada.get_filter_entries(server=True) == [FilterEntry("scam*", "block")]
    with pytest.raises(InvalidRequestError) as refused:
        await bob.send_message("s p a m")
    assert refused.value.code == 125
    assert (await bob.send_message("darn it")).text == "**** it"
    await ada.remove_filter_entry("spam")
    with pytest.raises(NotFoundError):
        await ada.remove_filter_entry("spam")
    await asyncio.sleep(0.2)
    assert (await bob.send_message("spam")).text == "spam"
