"""Who sees what, over a real server: shadow bans and personal mutes.

A shadow-banned user's messages reach only their own connections (unmarked) and the staff
(marked ``shadow``); a muted user's messages never reach the user who muted them. Everyone
else gets ``skip`` at that stream position — live, in recovery and (left out) in history —
so that no client sees a gap. Both survive a restart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import RunningServer, t


async def _first_of(client: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The first push of one of ``kinds`` (stream pushes: in order), taken out."""
    async with asyncio.timeout(t(10)):
        while True:
            for i, frame in enumerate(client.pushes):
                if frame["type"] in kinds:
                    return client.pushes.pop(i)
            client._push_event.clear()
            await client._push_event.wait()


def _texts(pushes: list[dict[str, Any]]) -> list[str | None]:
    return [p["message"]["text"] if p["type"] == "message" else None for p in pushes]


async def test_a_shadow_ban_shows_the_messages_to_their_author_and_the_staff_only(
    raw: Any, server: RunningServer
) -> None:
    mod = await raw("s1", user="mia", role="moderator")
    bob = await raw("s1", user="bob")
    ann = await raw("s1", user="ann")
    ban = (await mod.ok("ban", user_id="bob", shadow=True, reason="spam"))["ban"]
    assert ban["shadow"] is True
    sent = (await bob.ok("send", text="buy now"))["message"]
    assert "shadow" not in sent  # the author sees no difference
    seq = sent["seq"]
    await ann.ok("send", text="hello")

    ann_got = [await _first_of(ann, ("message", "skip")) for _ in range(2)]
    assert ann_got[0] == {"type": "skip", "seq": seq}
    assert _texts(ann_got[1:]) == ["hello"]
    bob_got = await _first_of(bob, ("message", "skip"))
    assert bob_got["message"]["text"] == "buy now" and "shadow" not in bob_got["message"]
    mod_got = await _first_of(mod, ("message", "skip"))
    assert mod_got["message"]["text"] == "buy now" and mod_got["message"]["shadow"] is True
    assert "banned" not in {p["type"] for p in bob.pushes}

    def history_texts(result: dict[str, Any]) -> list[str]:
        return [m["text"] for m in result["messages"]]

    assert history_texts(await ann.ok("history")) == ["hello"]
    assert history_texts(await bob.ok("history")) == ["buy now", "hello"]
    assert all("shadow" not in m for m in (await bob.ok("history"))["messages"])
    staff_view = (await mod.ok("history"))["messages"]
    assert [m.get("shadow", False) for m in staff_view] == [True, False]
    # The ban is the staff's to see; the user's connect reply shows none.
    listed = (await mod.ok("bans"))["bans"]
    assert [(b["user_id"], b["shadow"]) for b in listed] == [("bob", True)]
    again = await raw("s1", user="bob")
    assert again.connected["room"]["ban"] is None

    # It survives a restart, and recovery replays the skip.
    epoch = ann.connected["room"]["epoch"]
    since = ann.connected["room"]["seq"]
    await server.restart()
    bob2 = await raw("s1", user="bob")
    await bob2.ok("send", text="still spam")
    ann2 = await raw("s1", user="ann", recover={"epoch": epoch, "seq": since})
    events = ann2.connected["recovery"]["events"]
    assert ann2.connected["recovery"]["recovered"] is True
    assert [e["type"] for e in events] == ["skip", "message", "skip"]
    mod2 = await raw("s1", user="mia", role="moderator")
    await mod2.ok("unban", user_id="bob")
    assert (await bob2.ok("send", text="seen again"))["message"]["text"] == "seen again"
    assert (await _first_of(ann2, ("message", "skip")))["message"]["text"] == "seen again"
    assert "unbanned" not in {p["type"] for p in bob2.pushes}


async def test_shadow_ban_rules(raw: Any) -> None:
    mod = await raw("s2", user="mia", role="moderator")
    viewer = await raw("s2", user="vic")
    assert (await viewer.request("ban", user_id="bob", shadow=True))["error"]["code"] == 111
    error = (await mod.request("ban", user_id="bob", shadow=True, kick=True))["error"]
    assert error["code"] == 104
    assert (await mod.request("ban", user_id="bob", shadow="yes"))["error"]["code"] == 104
    log = (await mod.ok("ban", user_id="bob", shadow=True, duration=60))["ban"]
    assert log["until"] is not None
    entries = (await mod.ok("mod_log"))["entries"]
    assert entries[0]["action"] == "shadow_ban" and entries[0]["target_user_id"] == "bob"


async def test_a_mute_withholds_the_muted_users_messages_from_the_muter_only(
    raw: Any, server: RunningServer
) -> None:
    ann = await raw("u1", user="ann")
    bob = await raw("u1", user="bob")
    cat = await raw("u1", user="cat")
    assert ann.connected["room"]["mutes"] == []
    assert (await ann.ok("mute", user_id="bob")) == {"user_id": "bob"}
    assert (await ann.push("muted"))["user_id"] == "bob"
    first = (await bob.ok("send", text="noise"))["message"]
    await cat.ok("send", text="signal")
    ann_got = [await _first_of(ann, ("message", "skip")) for _ in range(2)]
    assert ann_got[0] == {"type": "skip", "seq": first["seq"]}
    assert _texts(ann_got[1:]) == ["signal"]
    cat_got = [await _first_of(cat, ("message", "skip")) for _ in range(2)]
    assert _texts(cat_got) == ["noise", "signal"]
    assert [m["text"] for m in (await ann.ok("history"))["messages"]] == ["signal"]
    assert (await ann.ok("mutes")) == {"user_ids": ["bob"]}

    # The mute is the user's, kept by the server: another device, another room, a restart.
    await server.restart()
    phone = await raw("u2", user="ann")
    assert phone.connected["room"]["mutes"] == ["bob"]
    bob2 = await raw("u2", user="bob")
    sent = (await bob2.ok("send", text="elsewhere"))["message"]
    assert await _first_of(phone, ("message", "skip")) == {"type": "skip", "seq": sent["seq"]}
    back = await raw("u1", user="ann")
    assert [m["text"] for m in (await back.ok("history"))["messages"]] == ["signal"]
    assert (await back.ok("unmute", user_id="bob")) == {"user_id": "bob"}
    assert (await back.push("unmuted"))["user_id"] == "bob"
    assert [m["text"] for m in (await back.ok("history"))["messages"]] == ["noise", "signal"]
    assert (await back.request("unmute", user_id="bob"))["error"]["code"] == 112
    assert (await back.request("mute", user_id="ann"))["error"]["code"] == 104
    assert (await back.request("mute", user_id="bad id!"))["error"]["code"] == 104
    assert (await back.request("mute"))["error"]["code"] == 103


async def test_recovery_replays_a_muted_users_messages_as_skips(raw: Any) -> None:
    ann = await raw("u3", user="ann")
    bob = await raw("u3", user="bob")
    await ann.ok("mute", user_id="bob")
    epoch, since = ann.connected["room"]["epoch"], ann.connected["room"]["seq"]
    await ann.close()
    sent = [(await bob.ok("send", text=f"b{i}"))["message"]["seq"] for i in range(3)]
    deleted = await bob.ok("delete", message_id=(await bob.ok("history"))["messages"][0]["id"])
    back = await raw("u3", user="ann", recover={"epoch": epoch, "seq": since})
    recovery = back.connected["recovery"]
    assert recovery["recovered"] is True
    assert recovery["events"] == [{"type": "skip", "seq": s} for s in [*sent, deleted["seq"]]]
