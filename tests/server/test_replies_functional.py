"""Replies and mentions over a real server (issue 11, item 8)."""

from __future__ import annotations

from typing import Any

from tests.helpers import RunningServer


async def test_a_reply_names_the_message_it_answers(raw: Any, server: RunningServer) -> None:
    ann = await raw("r1", user="ann")
    bob = await raw("r1", user="bob")
    first = (await ann.ok("send", text="anyone here?"))["message"]
    reply = (await bob.ok("send", text="yes!", reply_to=first["id"]))["message"]
    assert reply["reply_to"] == first["id"]
    pushed = await ann.push("message")
    while pushed["message"]["id"] != reply["id"]:
        pushed = await ann.push("message")
    assert pushed["message"]["reply_to"] == first["id"]
    assert "reply_to" not in first  # only replies carry it
    missing = await bob.request("send", text="to what?", reply_to="nope")
    assert missing["error"]["code"] == 112
    await server.restart()
    cat = await raw("r1", user="cat")
    history = {m["id"]: m for m in (await cat.ok("history"))["messages"]}
    assert history[reply["id"]]["reply_to"] == first["id"]


async def test_mentions_name_users_in_the_room(raw: Any) -> None:
    ann = await raw("r2", user="ann", name="Ann Lee")
    await raw("r2", user="bob", name="Bob")
    cat = await raw("r2", user="cat", name="Cat")
    msg = (await cat.ok("send", text="hi @ann lee and @BOB, not @nobody or @bobby"))["message"]
    assert sorted(msg["mentions"]) == ["ann", "bob"]
    plain = (await cat.ok("send", text="no mentions here"))["message"]
    assert "mentions" not in plain
    # Someone who wrote in the room counts even when not connected here (another node).
    await ann.ok("send", text="brb")
    await ann.close()
    again = (await cat.ok("send", text="@Ann Lee are you back?"))["message"]
    assert again["mentions"] == ["ann"]
    own = (await cat.ok("send", text="talking to myself, @Cat"))["message"]
    assert "mentions" not in own
