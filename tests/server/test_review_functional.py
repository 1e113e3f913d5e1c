"""Hold for review and the chat delay over a real server: who sees a held message and when,
approving and rejecting it, the delay's release (after a restart too), cid idempotence, and
the errors of a refused or malformed request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.helpers import RawClient, RunningServer, t


async def next_message(client: RawClient, timeout: float = 5.0) -> dict[str, Any]:
    """The message of ``client``'s next ``message`` push."""
    message: dict[str, Any] = (await client.push("message", timeout))["message"]
    return message


async def history_ids(client: RawClient) -> list[str]:
    return [m["id"] for m in (await client.ok("history"))["messages"]]


async def test_a_held_message_reaches_the_moderators_and_enters_on_approval(raw: Any) -> None:
    admin = await raw("r1", user="ada", role="admin")
    # Server-wide: in force on this node once the reply is in (a room's list is re-read).
    await admin.ok("filter_add", pattern="spoiler", action="hold", scope="server")
    await admin.ok("filter_add", pattern="darn", action="mask", scope="server")
    mod = await raw("r1", user="mia", role="moderator")
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")

    reply = await bob.ok("send", text="oh darn a SPOILER: he dies", cid="c-1")
    assert reply["message"] is None and reply["duplicate"] is False
    held = reply["held"]
    assert held["reason"] == "filter" and held["release_at"] is None
    assert held["text"] == "oh **** a SPOILER: he dies"  # masked where a mask entry says so
    assert held["user"] == {"id": "bob", "username": "bob", "role": "viewer"}
    assert held["cid"] == "c-1"
    assert (await mod.push("review_add"))["item"] == held
    assert (await admin.push("review_add"))["item"] == held
    assert (await mod.ok("review_queue"))["items"] == [held]

    # The same cid again: the same held message, nobody told twice.
    again = await bob.ok("send", text="oh darn a SPOILER: he dies", cid="c-1")
    assert again == {"message": None, "held": held, "duplicate": True}

    # Viewers see nothing of it, live or in history: their next message is a later one.
    later = (await mod.ok("send", text="meanwhile"))["message"]
    assert (await next_message(carol))["id"] == later["id"]
    assert held["id"] not in await history_ids(carol)

    approved = (await mod.ok("review_approve", message_id=held["id"]))["message"]
    assert approved["id"] == held["id"] and approved["seq"] == later["seq"] + 1
    assert approved["text"] == held["text"] and approved["cid"] == "c-1"
    assert approved["user"]["id"] == "bob"
    assert await next_message(carol) == approved
    assert (await next_message(bob))["id"] == later["id"]
    assert await next_message(bob) == approved  # the sender sees its message arrive
    removed = await mod.push("review_remove")
    assert removed == {
        "type": "review_remove",
        "id": held["id"],
        "outcome": "approved",
        "by": {"id": "mia", "username": "mia", "role": "moderator"},
    }
    assert (await mod.ok("review_queue"))["items"] == []
    assert held["id"] in await history_ids(carol)

    # Decided once: approving or rejecting again finds nothing; the cid is the message now.
    assert (await mod.request("review_approve", message_id=held["id"]))["error"]["code"] == 112
    assert (await mod.request("review_reject", message_id=held["id"]))["error"]["code"] == 112
    retried = await bob.ok("send", text="oh darn a SPOILER: he dies", cid="c-1")
    assert retried == {"message": approved, "duplicate": True}
    assert not [p for p in mod.pushes if p["type"] == "review_add"]

    entry = (await mod.ok("mod_log"))["entries"][0]
    assert entry["action"] == "review_approve" and entry["by"]["id"] == "mia"
    assert entry["target_user_id"] == "bob" and entry["message_id"] == held["id"]


async def test_hold_mode_holds_viewers_and_a_rejection_tells_the_sender(raw: Any) -> None:
    mod = await raw("r2", user="mia", role="moderator")
    bob = await raw("r2", user="bob")
    bob_phone = await raw("r2", user="bob")
    carol = await raw("r2", user="carol")
    settings = (await mod.ok("room_mode", hold=True))["settings"]
    assert settings["hold"] is True and settings["delay"] == 0
    assert (await carol.push("room_settings"))["settings"] == settings

    held = (await bob.ok("send", text="first!"))["held"]
    assert held["reason"] == "hold" and held["release_at"] is None
    assert (await mod.push("review_add"))["item"] == held
    # The staff are never held.
    assert (await mod.ok("send", text="welcome"))["message"]["text"] == "welcome"

    assert (await mod.ok("review_reject", message_id=held["id"], reason="  off   topic ")) == {}
    told = {"type": "message_rejected", "id": held["id"], "reason": "off topic"}
    assert await bob.push("message_rejected") == told
    assert await bob_phone.push("message_rejected") == told
    removed = await mod.push("review_remove")
    assert removed["id"] == held["id"] and removed["outcome"] == "rejected"
    assert removed["by"]["id"] == "mia"
    assert (await mod.ok("review_queue"))["items"] == []
    entry = (await mod.ok("mod_log"))["entries"][0]
    assert entry["action"] == "review_reject" and entry["reason"] == "off topic"
    assert entry["target_user_id"] == "bob" and entry["message_id"] == held["id"]
    # Nobody else is told; the viewers never saw it.
    await mod.ok("send", text="marker")
    assert (await next_message(carol))["text"] == "welcome"
    assert (await next_message(carol))["text"] == "marker"
    assert not [p for p in carol.pushes if p["type"] in ("message_rejected", "review_add")]

    # Oldest first (of one millisecond, by id); hold mode off: straight into the stream.
    one = (await bob.ok("send", text="one"))["held"]
    two = (await carol.ok("send", text="two"))["held"]
    oldest_first = sorted([one, two], key=lambda item: (item["ts"], item["id"]))
    assert (await mod.ok("review_queue"))["items"] == oldest_first
    assert (await mod.ok("review_queue", limit=1))["items"] == oldest_first[:1]
    await mod.ok("room_mode", hold=False)
    await carol.push("room_settings")
    assert (await bob.ok("send", text="free again"))["message"]["text"] == "free again"
    assert len((await mod.ok("review_queue"))["items"]) == 2  # still waiting for a decision


async def test_who_may_review_and_malformed_requests(raw: Any) -> None:
    mod = await raw("r3", user="mia", role="moderator")
    bob = await raw("r3", user="bob")
    await mod.ok("room_mode", hold=True)
    await bob.push("room_settings")
    held = (await bob.ok("send", text="hello"))["held"]
    for request, args in [
        ("review_queue", {}),
        ("review_approve", {"message_id": held["id"]}),
        ("review_reject", {"message_id": held["id"]}),
    ]:
        error = (await bob.request(request, **args))["error"]
        assert error["code"] == 111 and error["name"] == "forbidden", (request, error)
    for request, args in [
        ("review_queue", {"limit": 0}),
        ("review_queue", {"limit": 101}),
        ("review_approve", {"message_id": 7}),
        ("review_reject", {"message_id": held["id"], "reason": "x" * 201}),
        ("room_mode", {"delay": 61}),
        ("room_mode", {"delay": -1}),
        ("room_mode", {"hold": "yes"}),
        ("room_mode", {"hold": 1}),
    ]:
        error = (await mod.request(request, **args))["error"]
        assert error["code"] == 104, (request, args, error)
    for request in ("review_approve", "review_reject"):
        assert (await mod.request(request))["error"]["code"] == 103
        assert (await mod.request(request, message_id="nope"))["error"]["code"] == 112
    # Another room's held message is not this room's.
    other = await raw("r3-other", user="max", role="moderator")
    assert (await other.request("review_approve", message_id=held["id"]))["error"]["code"] == 112
    assert (await mod.ok("review_queue"))["items"] == [held]
    assert (await mod.ok("room_mode", delay=60))["settings"]["delay"] == 60


async def test_the_chat_delay_releases_late_and_moderators_act_first(raw: Any) -> None:
    mod = await raw("r4", user="mia", role="moderator")
    bob = await raw("r4", user="bob")
    carol = await raw("r4", user="carol")
    assert (await mod.ok("room_mode", delay=2))["settings"]["delay"] == 2
    await carol.push("room_settings")

    started = time.monotonic()
    reply = await bob.ok("send", text="hello @carol", cid="d-1")
    held = reply["held"]
    assert reply["message"] is None and held["reason"] == "delay"
    assert held["release_at"] == held["ts"] + 2000 and held["mentions"] == ["carol"]
    # The moderators see it at once, in the queue too; a second one they reject in time.
    assert (await mod.push("review_add"))["item"] == held
    assert (await mod.ok("review_queue"))["items"] == [held]
    bad = (await bob.ok("send", text="something awful"))["held"]
    assert (await mod.push("review_add"))["item"] == bad
    await mod.ok("review_reject", message_id=bad["id"])
    assert (await bob.push("message_rejected"))["id"] == bad["id"]
    # Staff messages are not delayed.
    assert (await mod.ok("send", text="at once"))["message"]
    assert (await next_message(carol))["text"] == "at once"

    released = await next_message(carol, timeout=10)
    assert time.monotonic() - started >= 2.0
    assert released["id"] == held["id"] and released["text"] == "hello @carol"
    assert released["cid"] == "d-1" and released["mentions"] == ["carol"]
    assert released["ts"] >= held["release_at"]
    assert (await next_message(bob))["text"] == "at once"
    assert await next_message(bob) == released
    outcome = [await mod.push("review_remove") for _ in range(2)]
    assert {(r["id"], r["outcome"]) for r in outcome} == {
        (bad["id"], "rejected"),
        (held["id"], "released"),
    }
    assert [r["by"] for r in outcome if r["outcome"] == "released"] == [None]
    assert (await mod.ok("review_queue"))["items"] == []
    # The rejected one never reaches anyone; a retry of the released cid is a duplicate.
    assert bad["id"] not in await history_ids(carol)
    again = await bob.ok("send", text="hello @carol", cid="d-1")
    assert again["duplicate"] is True and again["message"]["id"] == held["id"]


async def test_a_moderator_may_approve_a_delayed_message_early(raw: Any) -> None:
    mod = await raw("r5", user="mia", role="moderator")
    bob = await raw("r5", user="bob")
    await mod.ok("room_mode", delay=30)
    await bob.push("room_settings")
    held = (await bob.ok("send", text="worth seeing now"))["held"]
    approved = (await mod.ok("review_approve", message_id=held["id"]))["message"]
    assert (await next_message(bob))["id"] == approved["id"] == held["id"]
    assert (await mod.push("review_remove"))["outcome"] == "approved"


async def test_held_messages_survive_a_restart_and_the_delay_still_ends(
    raw: Any, server: RunningServer
) -> None:
    admin = await raw("r6", user="ada", role="admin")
    await admin.ok("filter_add", pattern="spoiler", action="hold", scope="server")
    bob = await raw("r6", user="bob")
    waiting = (await bob.ok("send", text="a spoiler"))["held"]
    await admin.ok("room_mode", delay=3)
    await bob.push("room_settings")
    delayed = (await bob.ok("send", text="after the restart"))["held"]
    assert delayed["reason"] == "delay"

    await server.restart()  # the timer is gone with the old server; any node's job remains
    mod = await raw("r6", user="mia", role="moderator")
    carol = await raw("r6", user="carol")
    queue = (await mod.ok("review_queue"))["items"]
    assert waiting in queue
    async with asyncio.timeout(t(15)):
        while delayed["id"] not in await history_ids(carol):
            await asyncio.sleep(0.1)
    [message] = [m for m in (await carol.ok("history"))["messages"] if m["id"] == delayed["id"]]
    assert message["ts"] >= delayed["release_at"] and message["text"] == "after the restart"
    assert (await mod.ok("review_queue"))["items"] == [waiting]
    # The one held for review still waits for a moderator, and is approved as before.
    approved = (await mod.ok("review_approve", message_id=waiting["id"]))["message"]
    assert approved["id"] == waiting["id"]
    async with asyncio.timeout(t(5)):
        while (await next_message(carol))["id"] != waiting["id"]:
            pass  # the delayed one, released while carol was connected
