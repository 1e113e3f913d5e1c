"""Replies and mentions in the Python SDK against the real server on port 0 (issue 11,
item 8): ``send_message(reply_to=…)``, ``Message.reply_to``/``mentions`` and ``MENTION``."""

from __future__ import annotations

import pytest

from pchat.protocol.errors import NotFoundError
from pchat.protocol.models import Message
from pchat.sdk import Events, PChatSDK
from tests.helpers import RunningServer
from tests.sdk.support import MakeSDK, until


async def join(server: RunningServer, make_sdk: MakeSDK, room: str, name: str) -> PChatSDK:
    sdk = make_sdk()
    await sdk.connect(room, name, await server.token(name.lower()))
    return sdk


async def test_a_reply_round_trips(server: RunningServer, make_sdk: MakeSDK) -> None:
    ann = await join(server, make_sdk, "replies", "Ann")
    bob = await join(server, make_sdk, "replies", "Bob")
    received: list[Message] = []
    ann.on(Events.MESSAGE, received.append)
    question = await ann.send_message("anyone here?")
    assert question.reply_to is None and question.mentions == ()

    answer = await bob.send_message("yes!", reply_to=question.id, cid="c-answer")
    assert (answer.reply_to, answer.cid) == (question.id, "c-answer")
    await until(lambda: any(m.id == answer.id for m in received))
    assert [m.reply_to for m in received if m.id == answer.id] == [question.id]

    with pytest.raises(NotFoundError):
        await bob.send_message("to what?", reply_to="no-such-message")

    cat = await join(server, make_sdk, "replies", "Cat")
    page = {m.id: m for m in await cat.load_history()}
    assert page[answer.id].reply_to == question.id
    assert page[question.id].reply_to is None


async def test_a_mention_fires_mention_on_that_users_client_only(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann = await join(server, make_sdk, "mentions", "Ann")
    bob = await join(server, make_sdk, "mentions", "Bob")
    cat = await join(server, make_sdk, "mentions", "Cat")
    mentioned: dict[str, list[str]] = {"ann": [], "bob": [], "cat": []}
    order: list[str] = []
    for name, sdk in (("ann", ann), ("bob", bob), ("cat", cat)):
        sdk.on(Events.MENTION, lambda m, name=name: mentioned[name].append(m.id))
    bob.on(Events.MESSAGE, lambda m: order.append(f"message:{m.id}"))
    bob.on(Events.MENTION, lambda m: order.append(f"mention:{m.id}"))

    hello = await ann.send_message("hi @Bob, how are you?")
    assert hello.mentions == ("bob",)
    plain = await ann.send_message("hi everyone")
    await until(lambda: all(any(m.id == plain.id for m in s.messages) for s in (bob, cat)))
    assert mentioned == {"ann": [], "bob": [hello.id], "cat": []}
    assert order == [f"message:{hello.id}", f"mention:{hello.id}", f"message:{plain.id}"]
    held = next(m for m in cat.messages if m.id == hello.id)
    assert held.mentions == ("bob",)

    # The user's own message naming themselves fires nothing.
    await bob.send_message("note to self, @Bob")
    # A history page fires nothing: Dan is mentioned live, then opens a second client.
    dan = await join(server, make_sdk, "mentions", "Dan")
    dan.on(Events.MENTION, lambda m: mentioned.setdefault("dan", []).append(m.id))
    welcome = await ann.send_message("welcome @Dan")
    await until(lambda: mentioned.get("dan") == [welcome.id])
    again = await join(server, make_sdk, "mentions", "Dan")
    again.on(Events.MENTION, lambda m: mentioned.setdefault("dan again", []).append(m.id))
    page = await again.load_history()
    assert [m.mentions for m in page if m.id == welcome.id] == [("dan",)]
    assert "dan again" not in mentioned
    assert mentioned["bob"] == [hello.id]
