"""Moderation over a real server: bans and timeouts, kicks, room modes, the pin, the log.

Each test checks who may act, the pushes each client sees, the error a refused attempt
gets, and that the state survives a restart of the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import RunningServer


async def test_a_timeout_stops_writes_not_reading_and_ends_by_itself(raw: Any) -> None:
    mod = await raw("m1", user="mia", role="moderator")
    bob = await raw("m1", user="bob")
    ann = await raw("m1", user="ann", role="moderator")
    poll = (await ann.ok("poll_create", question="Q?", options=["a", "b"]))["poll"]
    ban = (await mod.ok("ban", user_id="bob", duration=2, reason="calm down"))["ban"]
    assert ban["user_id"] == "bob" and ban["until"] is not None and ban["reason"] == "calm down"
    told = await bob.push("banned")
    assert told["until"] == ban["until"] and told["reason"] == "calm down"
    for request, args in [
        ("send", {"text": "hi"}),
        ("react", {"reaction": "like"}),
        ("poll_vote", {"poll_id": poll["id"], "option": 0}),
    ]:
        error = (await bob.request(request, **args))["error"]
        assert error["code"] == 122 and error["name"] == "banned", error
        assert error["until"] == ban["until"] and error["temporary"] is True
        assert 0 < error["retry_after_ms"] <= 2000
    # Still reads: history and live messages.
    await mod.ok("send", text="the room goes on")
    assert (await bob.push("message"))["message"]["text"] == "the room goes on"
    assert (await bob.ok("history"))["messages"][-1]["text"] == "the room goes on"
    await asyncio.sleep(2.1)
    assert (await bob.ok("send", text="back"))["message"]["text"] == "back"


async def test_ban_until_lifted_kick_and_unban(raw: Any, server: RunningServer) -> None:
    mod = await raw("m2", user="mia", role="moderator")
    bob = await raw("m2", user="bob")
    ban = (await mod.ok("ban", user_id="bob", kick=True))["ban"]
    assert ban["until"] is None
    assert (await bob.push("banned"))["until"] is None
    assert await bob.closed() == 4506
    # A banned user may come back to read; the connect reply says so.
    again = await raw("m2", user="bob")
    assert again.connected["room"]["ban"]["user_id"] == "bob"
    error = (await again.request("send", text="x"))["error"]
    assert error["code"] == 122 and error["until"] is None and error["temporary"] is False
    assert [b["user_id"] for b in (await mod.ok("bans"))["bans"]] == ["bob"]
    # It survives a restart.
    await server.restart()
    after = await raw("m2", user="bob")
    assert (await after.request("send", text="x"))["error"]["code"] == 122
    mod2 = await raw("m2", user="mia", role="moderator")
    await mod2.ok("unban", user_id="bob")
    await after.push("unbanned")
    assert (await after.ok("send", text="free"))["message"]["text"] == "free"
    assert (await mod2.request("unban", user_id="bob"))["error"]["code"] == 112


async def test_who_may_ban(raw: Any) -> None:
    viewer = await raw("m3", user="vic")
    assert (await viewer.request("ban", user_id="bob"))["error"]["code"] == 111
    mod = await raw("m3", user="mia", role="moderator")
    await raw("m3", user="max", role="moderator")
    await raw("m3", user="ada", role="admin")
    for target in ("max", "ada"):
        assert (await mod.request("ban", user_id=target))["error"]["code"] == 111, target
    assert (await mod.request("ban", user_id="mia"))["error"]["code"] == 104  # oneself
    # A ban made while the target was away does not act on them as a moderator either.
    await mod.ok("ban", user_id="sam")
    sam_mod = await raw("m3", user="sam", role="moderator")
    assert sam_mod.connected["room"]["ban"] is None
    assert (await sam_mod.ok("send", text="as a moderator"))["message"]
    sam_viewer = await raw("m3", user="sam")
    assert (await sam_viewer.request("send", text="as a viewer"))["error"]["code"] == 122
    admin = await raw("m3", user="ada2", role="admin")
    await admin.ok("ban", user_id="max", duration=60)  # an admin bans a moderator


async def test_malformed_moderation_requests(raw: Any) -> None:
    mod = await raw("m4", user="mia", role="moderator")
    for request, args in [
        ("ban", {"user_id": "bob", "duration": 0}),
        ("ban", {"user_id": "bob", "duration": 10**9}),
        ("ban", {"user_id": "bob", "kick": "yes"}),
        ("ban", {"user_id": "bob", "reason": "x" * 201}),
        ("ban", {"user_id": "bad id!"}),
        ("room_mode", {"mode": "party"}),
        ("room_mode", {"slow_mode": 99999}),
        ("room_mode", {"max_message_chars": 5000}),
        ("room_mode", {"unique_chat": 1}),
        ("pin", {}),
        ("pin", {"message_id": "m", "text": "t"}),
        ("mod_log", {"limit": 1000}),
    ]:
        error = (await mod.request(request, **args))["error"]
        assert error["code"] == 104, (request, args, error)
    assert (await mod.request("room_mode"))["error"]["code"] == 103
    assert (await mod.request("pin", message_id="nope"))["error"]["code"] == 112


async def test_room_modes(raw: Any, server: RunningServer) -> None:
    mod = await raw("m5", user="mia", role="moderator")
    bob = await raw("m5", user="bob")
    settings = (await mod.ok("room_mode", slow_mode=30))["settings"]
    assert settings == {
        "slow_mode": 30,
        "unique_chat": False,
        "max_message_chars": 0,
        "mode": "open",
        "hold": False,
        "delay": 0,
    }
    assert (await bob.push("room_settings"))["settings"] == settings
    await bob.ok("send", text="one")
    error = (await bob.request("send", text="two"))["error"]
    assert error["code"] == 108 and error["retry_after_ms"] > 20_000
    await mod.ok("send", text="moderators are exempt")
    await mod.ok("send", text="twice")

    await mod.ok("room_mode", slow_mode=0, unique_chat=True, max_message_chars=12)
    carol = await raw("m5", user="carol")
    assert carol.connected["room"]["settings"]["unique_chat"] is True
    await carol.ok("send", text="Hello  there")
    assert (await carol.request("send", text="hello there"))["error"]["code"] == 124
    assert (await carol.request("send", text="x" * 13))["error"]["code"] == 109

    await mod.ok("room_mode", mode="reactions_only", unique_chat=False, max_message_chars=0)
    assert (await carol.request("send", text="hi"))["error"]["code"] == 123
    await carol.ok("react", reaction="like")
    await mod.ok("room_mode", mode="moderators_only")
    assert (await carol.request("react", reaction="like"))["error"]["code"] == 123
    await mod.ok("send", text="before the show")

    await server.restart()
    later = await raw("m5", user="dan")
    assert later.connected["room"]["settings"]["mode"] == "moderators_only"
    assert (await later.request("send", text="hi"))["error"]["code"] == 123


async def test_pin_and_unpin(raw: Any, server: RunningServer) -> None:
    mod = await raw("m6", user="mia", role="moderator")
    bob = await raw("m6", user="bob")
    assert bob.connected["room"]["pin"] is None
    sent = (await bob.ok("send", text="pin me"))["message"]
    assert (await bob.request("pin", message_id=sent["id"]))["error"]["code"] == 111
    pin = (await mod.ok("pin", message_id=sent["id"]))["pin"]
    assert pin["message"]["id"] == sent["id"] and pin["by"]["id"] == "mia"
    assert (await bob.push("pin"))["pin"]["message"]["id"] == sent["id"]
    await mod.ok("pin", text="Show starts at 8")
    assert (await bob.push("pin"))["pin"]["text"] == "Show starts at 8"
    await server.restart()
    late = await raw("m6", user="cat")
    assert late.connected["room"]["pin"]["text"] == "Show starts at 8"
    mod2 = await raw("m6", user="mia", role="moderator")
    await mod2.ok("unpin")
    assert (await late.push("pin"))["pin"] is None


async def test_the_moderation_log(raw: Any) -> None:
    mod = await raw("m7", user="mia", role="moderator")
    viewer = await raw("m7", user="vic")
    await mod.ok("ban", user_id="bob", duration=60, reason="spam")
    await mod.ok("unban", user_id="bob")
    await mod.ok("room_mode", slow_mode=5)
    await mod.ok("pin", text="hello")
    await mod.ok("unpin")
    assert (await viewer.request("mod_log"))["error"]["code"] == 111
    page = await mod.ok("mod_log", limit=3)
    assert [e["action"] for e in page["entries"]] == ["unpin", "pin", "room_mode"]
    assert page["has_more"] is True
    rest = await mod.ok("mod_log", before=page["entries"][-1]["id"])
    assert [e["action"] for e in rest["entries"]] == ["unban", "timeout"]
    assert rest["has_more"] is False
    timeout = rest["entries"][-1]
    assert timeout["target_user_id"] == "bob" and timeout["reason"] == "spam"
    assert timeout["by"]["id"] == "mia" and timeout["details"]["until"] is not None


async def test_deleting_the_pinned_message_unpins_it(raw: Any) -> None:
    mod = await raw("m8", user="mia", role="moderator")
    bob = await raw("m8", user="bob")
    sent = (await bob.ok("send", text="pinned, then deleted"))["message"]
    await mod.ok("pin", message_id=sent["id"])
    assert (await bob.push("pin"))["pin"]["message"]["id"] == sent["id"]
    await bob.ok("delete", message_id=sent["id"])
    assert (await bob.push("pin"))["pin"] is None
    late = await raw("m8", user="cat")
    assert late.connected["room"]["pin"] is None
    actions = [e["action"] for e in (await mod.ok("mod_log"))["entries"]]
    assert actions[:2] == ["unpin", "pin"]


async def test_unban_of_an_expired_timeout_is_not_found(raw: Any) -> None:
    mod = await raw("m9", user="mia", role="moderator")
    await mod.ok("ban", user_id="bob", duration=1)
    await asyncio.sleep(1.1)
    assert (await mod.request("unban", user_id="bob"))["error"]["code"] == 112


async def test_purge_removes_a_users_messages_in_one_stream_event(
    raw: Any, server: RunningServer
) -> None:
    mod = await raw("p1", user="mia", role="moderator")
    spam = await raw("p1", user="spam")
    ann = await raw("p1", user="ann")
    sent = [(await spam.ok("send", text=f"spam {i}"))["message"] for i in range(5)]
    kept = (await ann.ok("send", text="ann stays"))["message"]
    before = len(ann.pushes)
    assert (await ann.request("purge", user_id="spam"))["error"]["code"] == 111
    result = await mod.ok("purge", user_id="spam")
    assert result == {"seq": kept["seq"] + 1, "count": 5}
    push = await ann.push("message_purge")
    assert push["seq"] == result["seq"] and push["user_id"] == "spam" and push["count"] == 5
    assert push["deleted_by"]["id"] == "mia" and push["since"] == 0
    # One event for all of them: no message_delete pushes.
    assert not [p for p in ann.pushes[before:] if p["type"] == "message_delete"]
    history = (await ann.ok("history"))["messages"]
    by_id = {m["id"]: m for m in history}
    assert all(by_id[m["id"]]["deleted"] and by_id[m["id"]]["text"] == "" for m in sent)
    assert not by_id[kept["id"]]["deleted"]
    # Recovery replays it: a client that was away since before the purge gets the event.
    epoch = ann.connected["room"]["epoch"]
    back = await raw("p1", user="bob", recover={"epoch": epoch, "seq": kept["seq"]})
    events = back.connected["recovery"]["events"]
    assert back.connected["recovery"]["recovered"] is True
    assert [e["type"] for e in events] == ["message_purge"]
    # Nothing left: no event, count 0; the log has both.
    assert await mod.ok("purge", user_id="spam") == {"seq": None, "count": 0}
    log = (await mod.ok("mod_log"))["entries"]
    assert [e["action"] for e in log[:2]] == ["purge", "purge"]
    assert log[1]["details"]["count"] == 5


async def test_purge_within_the_last_seconds(raw: Any) -> None:
    mod = await raw("p2", user="mia", role="moderator")
    spam = await raw("p2", user="spam")
    old = (await spam.ok("send", text="long ago"))["message"]
    await asyncio.sleep(1.2)
    new = (await spam.ok("send", text="just now"))["message"]
    assert (await mod.ok("purge", user_id="spam", within=1))["count"] == 1
    history = {m["id"]: m for m in (await mod.ok("history"))["messages"]}
    assert history[new["id"]]["deleted"] and not history[old["id"]]["deleted"]
    assert (await mod.request("purge", user_id="spam", within=0))["error"]["code"] == 104


async def test_the_word_filter_blocks_and_masks(raw: Any, server: RunningServer) -> None:
    admin = await raw("w1", user="ada", role="admin")
    mod = await raw("w1", user="mia", role="moderator")
    bob = await raw("w1", user="bob")
    for who in (mod, bob):
        assert (await who.request("filter_add", pattern="spam"))["error"]["code"] == 111
    await admin.ok("filter_add", pattern="spam")
    await admin.ok("filter_add", pattern="darn", action="mask")
    await admin.ok("filter_add", pattern="scam*", scope="server")
    for text in ("buy SPAM", "s p a m", "ѕраm!", "sp\u200bam"):
        error = (await bob.request("send", text=text))["error"]
        assert error["code"] == 125 and error["name"] == "blocked_word", text
    sent = (await bob.ok("send", text="oh D.A.R.N it"))["message"]
    assert sent["text"] == "oh ******* it"
    assert (await bob.push("message"))["message"]["text"] == "oh ******* it"
    assert (await bob.ok("send", text="a classic spammer-free class"))["message"]
    # The server-wide list acts in every room.
    other = await raw("w2", user="bob")
    assert (await other.request("send", text="scammers here"))["error"]["code"] == 125
    listing = await admin.ok("filters")
    assert listing["entries"] == [
        {"pattern": "spam", "action": "block"},
        {"pattern": "darn", "action": "mask"},
    ]
    assert (await admin.ok("filters", scope="server"))["entries"] == [
        {"pattern": "scam*", "action": "block"}
    ]
    for args in (
        {"pattern": "***"},
        {"pattern": "x", "action": "hide"},
        {"pattern": "x", "scope": "all"},
    ):
        assert (await admin.request("filter_add", **args))["error"]["code"] == 104, args
    # It survives a restart; removing an entry lets the word through.
    await server.restart()
    admin2 = await raw("w1", user="ada", role="admin")
    bob2 = await raw("w1", user="bob")
    assert (await bob2.request("send", text="spam"))["error"]["code"] == 125
    await admin2.ok("filter_remove", pattern="spam")
    await asyncio.sleep(0.2)  # the room's nodes re-read the list
    assert (await bob2.ok("send", text="spam"))["message"]["text"] == "spam"
    assert (await admin2.request("filter_remove", pattern="spam"))["error"]["code"] == 112
    actions = [e["action"] for e in (await admin2.ok("mod_log"))["entries"]]
    assert actions[0] == "filter_remove" and "filter_add" in actions
