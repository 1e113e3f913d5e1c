"""Who sees what, from the Python SDK against the real server on port 0: shadow bans and
personal mutes (docs/protocol.md §4 ``skip``, docs/python-sdk.md).

A shadow-banned user's messages reach only their own clients and the staff (marked
``shadow``); everyone else's clients get a ``skip`` in their place, live, in recovery and in
history. A muted user's messages stop reaching the user who muted them, on every device;
the SDK holds the mutes and drops the muted user's messages.
"""

from __future__ import annotations

import pytest

from pchat.protocol.errors import ForbiddenError, InvalidRequestError, NotFoundError
from pchat.sdk import ConnectEvent, Events
from tests.helpers import RunningServer
from tests.sdk.support import Gate, MakeSDK, cut_off, join, record, until


def texts(messages: list[object]) -> list[str]:
    return [m.text for m in messages]  # type: ignore[attr-defined]


async def test_a_shadow_banned_users_messages_reach_only_them_and_the_staff(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "shadow", "mia", "moderator")
    troll = await join(server, make_sdk, "shadow", "troll")
    ann = await join(server, make_sdk, "shadow", "ann")
    told = record(troll, Events.BANNED, Events.UNBANNED)
    ann_saw = record(ann, Events.MESSAGE)
    with pytest.raises(ForbiddenError):
        await ann.ban("troll", shadow=True)
    ban = await mod.ban("troll", shadow=True, reason="spam")
    assert ban.shadow and ban.until is None and ban.reason == "spam"
    assert [b.shadow for b in await mod.get_bans()] == [True]

    sent = await troll.send_message("buy now")
    after = await mod.send_message("hello all")
    # Everyone's position passes the shadow message; only its author and the staff hold it.
    await until(lambda: ann.last_seq == after.seq and troll.last_seq == after.seq)
    assert texts(troll.messages) == ["buy now", "hello all"] and not troll.messages[0].shadow
    assert troll.my_ban is None and told == []  # the user notices nothing
    assert [(m.text, m.shadow) for m in mod.messages] == [("buy now", True), ("hello all", False)]
    assert texts(ann.messages) == ["hello all"]
    assert [m.id for _, m in ann_saw] == [after.id]
    # History leaves it out for others, as the stream did.
    late = await join(server, make_sdk, "shadow", "cat")
    assert texts(await late.load_history()) == ["hello all"]
    assert texts(await make_history(server, make_sdk, "shadow", "troll")) == [
        "buy now",
        "hello all",
    ]
    staff_page = await make_history(server, make_sdk, "shadow", "ada", "admin")
    assert [(m.id, m.shadow) for m in staff_page] == [(sent.id, True), (after.id, False)]

    # Lifted: the user's new messages reach everyone again; the earlier ones stay unseen.
    await mod.unban("troll")
    back = await troll.send_message("sorry")
    await until(lambda: texts(ann.messages) == ["hello all", "sorry"])
    assert told == [] and ann.messages[-1].id == back.id and not ann.messages[-1].shadow


async def make_history(
    server: RunningServer, make_sdk: MakeSDK, room: str, sub: str, role: str | None = None
) -> list[object]:
    sdk = await join(server, make_sdk, room, sub, role)
    return list(await sdk.load_history())


async def test_a_client_away_recovers_skips_for_a_shadow_banned_users_messages(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "shadow-away", "mia", "moderator")
    troll = await join(server, make_sdk, "shadow-away", "troll")
    gate = Gate()
    ann = await join(server, make_sdk, "shadow-away", "ann", connector=gate)
    connects = record(ann, Events.CONNECT)
    await mod.ban("troll", shadow=True)
    await cut_off(server, ann, gate)
    await troll.send_message("while you were away")
    last = await mod.send_message("welcome back")
    gate.down = False
    await until(lambda: ann.last_seq == last.seq)
    assert [e.recovered for _, e in connects if isinstance(e, ConnectEvent)] == [True]
    assert texts(ann.messages) == ["welcome back"]


async def test_a_mute_drops_the_users_messages_on_every_device_and_follows_the_user(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    bob = await join(server, make_sdk, "mutes", "bob")
    ann = await join(server, make_sdk, "mutes", "ann")
    phone = await join(server, make_sdk, "mutes", "ann")  # Ann's second device
    cat = await join(server, make_sdk, "mutes", "cat")
    early = await bob.send_message("first")
    await until(lambda: len(ann.messages) == 1 and len(phone.messages) == 1)
    seen = record(ann, Events.MUTED, Events.UNMUTED, Events.MESSAGE)
    on_phone = record(phone, Events.MUTED, Events.UNMUTED)
    assert ann.mutes == []

    await ann.mute("bob")
    assert ann.mutes == ["bob"] and ann.messages == [] and seen == [(Events.MUTED, "bob")]
    await until(lambda: on_phone == [(Events.MUTED, "bob")])  # the push to her other device
    assert phone.mutes == ["bob"] and phone.messages == []
    assert seen == [(Events.MUTED, "bob")]  # her own push after the reply fired nothing
    assert await ann.get_mutes() == ["bob"] and len(seen) == 1

    hidden = await bob.send_message("you cannot see this")
    last = await cat.send_message("but this")
    await until(lambda: ann.last_seq == last.seq and phone.last_seq == last.seq)
    assert texts(ann.messages) == texts(phone.messages) == ["but this"]
    assert [m.id for _, m in seen[1:]] == [last.id]
    assert texts(cat.messages) == ["first", "you cannot see this", "but this"]
    # The mute is kept on the server: a new connect holds it, and history leaves Bob out.
    again = await join(server, make_sdk, "mutes", "ann")
    assert again.mutes == ["bob"]
    assert texts(await again.load_history()) == ["but this"]
    other_room = await join(server, make_sdk, "mutes-elsewhere", "ann")
    assert other_room.mutes == ["bob"]

    await ann.unmute("bob")
    assert ann.mutes == [] and seen[-1] == (Events.UNMUTED, "bob")
    await until(lambda: phone.mutes == [] and on_phone[-1] == (Events.UNMUTED, "bob"))
    back = await bob.send_message("hi again")
    await until(lambda: ann.last_seq == back.seq)
    assert texts(ann.messages) == ["but this", "hi again"]
    assert early.id not in [m.id for m in ann.messages]  # unmuting brings nothing back
    with pytest.raises(NotFoundError):
        await ann.unmute("bob")
    with pytest.raises(InvalidRequestError):
        await ann.mute("ann")
    assert hidden.id not in [m.id for m in ann.messages]


async def test_mutes_made_on_another_device_while_away_fire_on_reconnect(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    bob = await join(server, make_sdk, "mutes-away", "bob")
    gate = Gate()
    ann = await join(server, make_sdk, "mutes-away", "ann", connector=gate)
    first = await bob.send_message("before")
    await until(lambda: ann.last_seq == first.seq)
    seen = record(ann, Events.CONNECT, Events.MUTED, Events.MESSAGE)
    await cut_off(server, ann, gate)
    phone = await join(server, make_sdk, "mutes-away", "ann")
    await phone.mute("bob")
    missed = await bob.send_message("while away")
    gate.down = False
    await until(lambda: ann.last_seq == missed.seq)
    assert [event for event, _ in seen] == [Events.CONNECT, Events.MUTED]
    assert seen[1] == (Events.MUTED, "bob") and seen[0][1].recovered is True
    assert ann.mutes == ["bob"] and ann.messages == []
