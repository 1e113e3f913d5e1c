"""Held messages from the Python SDK against the real server on port 0: the room's hold
mode, the word filter's ``hold`` entries and the chat delay (docs/protocol.md §2 ``send``,
``review_queue``, ``review_approve``, ``review_reject``; docs/python-sdk.md).

``send_message`` returns a :class:`Held` for a message that waits; moderators are told
(``REVIEW_ADDED``) and decide; an approved or released message enters the stream with the
held id (``MESSAGE`` everywhere), a rejected one fires ``MESSAGE_REJECTED`` on its sender's
clients.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from pchat.protocol.errors import ForbiddenError, NotFoundError
from pchat.protocol.models import Message
from pchat.protocol.moderation import Held, RoomSettings
from pchat.sdk import (
    Events,
    InvalidArgumentError,
    MessageRejectedEvent,
    ReviewRemovedEvent,
    States,
)
from tests.helpers import RunningServer
from tests.sdk.support import MakeSDK, join, record, until


async def test_hold_mode_approve_and_reject(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod = await join(server, make_sdk, "review", "mia", "moderator")
    bob = await join(server, make_sdk, "review", "bob")
    ann = await join(server, make_sdk, "review", "ann")
    queue = record(mod, Events.REVIEW_ADDED, Events.REVIEW_REMOVED)
    told = record(bob, Events.MESSAGE, Events.MESSAGE_REJECTED)
    saw = record(ann, Events.MESSAGE)
    with pytest.raises(ForbiddenError):
        await bob.set_room_mode(hold=True)
    settings = await mod.set_room_mode(hold=True)
    assert settings == RoomSettings(hold=True) == mod.room_settings
    await until(lambda: bob.room_settings.hold)

    held = await bob.send_message("first!", cid="c-1")
    assert isinstance(held, Held) and not isinstance(held, Message)
    assert (held.text, held.reason, held.release_at, held.cid) == ("first!", "hold", None, "c-1")
    assert held.user.id == "bob" and bob.messages == [] and told == []
    again = await bob.send_message("first!", cid="c-1")  # the same cid: the same held message
    assert again == held
    await until(lambda: len(queue) == 1)
    assert queue == [(Events.REVIEW_ADDED, held)]
    assert await mod.get_review_queue() == [held]
    with pytest.raises(ForbiddenError):
        await bob.get_review_queue()
    with pytest.raises(ForbiddenError):
        await bob.approve(held.id)
    # Moderators write as usual; viewers see nothing of the held message.
    meanwhile = await mod.send_message("meanwhile")
    assert isinstance(meanwhile, Message)
    await until(lambda: len(saw) == 1)

    approved = await mod.approve(held.id)
    assert (approved.id, approved.text, approved.user.id) == (held.id, "first!", "bob")
    assert approved.seq == meanwhile.seq + 1 and mod.messages[-1] == approved
    await until(lambda: len(saw) == 2 and len(told) == 2)
    assert [m.id for _, m in saw] == [meanwhile.id, held.id]
    assert [m.id for _, m in told] == [meanwhile.id, held.id]  # the sender sees it arrive
    await until(lambda: len(queue) == 2)
    assert queue[1] == (Events.REVIEW_REMOVED, ReviewRemovedEvent(held.id, "approved", mod.user))
    assert await mod.get_review_queue() == []
    with pytest.raises(NotFoundError):
        await mod.approve(held.id)

    second = await bob.send_message("second")
    assert isinstance(second, Held)
    await until(lambda: len(queue) == 3)
    await mod.reject(second.id, reason="off-topic")
    await until(lambda: len(told) == 3 and len(queue) == 4)
    assert told[2] == (Events.MESSAGE_REJECTED, MessageRejectedEvent(second.id, "off-topic"))
    assert queue[3] == (Events.REVIEW_REMOVED, ReviewRemovedEvent(second.id, "rejected", mod.user))
    with pytest.raises(NotFoundError):
        await mod.reject(second.id)
    assert second.id not in [m.id for m in ann.messages + bob.messages + mod.messages]
    entries = (await mod.get_mod_log()).entries
    assert [e.action for e in entries[:2]] == ["review_reject", "review_approve"]

    await mod.set_room_mode(hold=False)
    await until(lambda: not bob.room_settings.hold)
    assert isinstance(await bob.send_message("free again"), Message)


async def test_the_chat_delay_releases_a_message_by_itself(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "delay", "mia", "moderator")
    bob = await join(server, make_sdk, "delay", "bob")
    ann = await join(server, make_sdk, "delay", "ann")
    queue = record(mod, Events.REVIEW_ADDED, Events.REVIEW_REMOVED)
    with pytest.raises(InvalidArgumentError):
        await mod.set_room_mode(delay=0.5)  # whole seconds only
    await mod.set_room_mode(delay=timedelta(seconds=1))
    await until(lambda: bob.room_settings.delay == 1)
    held = await bob.send_message("a little late")
    assert isinstance(held, Held) and held.reason == "delay"
    assert held.release_at is not None and 900 <= held.release_at - held.ts <= 1100
    await until(lambda: len(queue) == 1)
    assert ann.messages == []
    # Released by the server when the delay ends: everyone gets it, with the held id.
    await until(lambda: len(ann.messages) == 1 and len(bob.messages) == 1, timeout=5)
    assert ann.messages[0].id == bob.messages[0].id == held.id
    await until(lambda: len(queue) == 2)
    assert queue[1] == (Events.REVIEW_REMOVED, ReviewRemovedEvent(held.id, "released", None))


async def test_a_filter_hold_entry_and_the_queue_across_a_restart(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ada = await join(server, make_sdk, "review-filter", "ada", "admin")
    bob = await join(server, make_sdk, "review-filter", "bob")
    await ada.add_filter_entry("spoiler", "hold", server=True)  # in force at once
    held = await bob.send_message("a SPOILER: he dies")
    assert isinstance(held, Held) and held.reason == "filter"
    reconnects = record(ada, Events.CONNECT)
    await server.restart()
    await until(lambda: len(reconnects) == 1, timeout=10)
    assert ada.state is States.CONNECTED
    assert await ada.get_review_queue() == [held]
    approved = await ada.approve(held.id)
    assert approved.id == held.id and ada.messages[-1].id == held.id
