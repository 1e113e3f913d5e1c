"""Reports over a real server: viewers report, enough reports hide a message, moderators
dismiss or delete.

Each test checks who may act, the pushes each client sees (viewers: ``message_hide`` and
``message_restore`` in the stream; the staff: ``report_add`` and ``report_remove`` too), the
error a refused attempt gets, that reports and the hidden state survive a restart, and that
recovery replays the hiding and the showing again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pchat.server.config import Settings
from tests.helpers import RawClient, RunningServer, start_server


async def marker(sender: RawClient, *readers: RawClient, text: str = "marker") -> None:
    """A message from ``sender`` that each reader has received: every push published before
    it has reached them too (a room's pushes arrive in order)."""
    await sender.ok("send", text=text)
    for reader in readers:
        while (await reader.push("message"))["message"]["text"] != text:
            pass


def types(client: RawClient, *wanted: str) -> list[str]:
    """The types of the pushes ``client`` holds now, of those ``wanted``."""
    return [p["type"] for p in client.pushes if p["type"] in wanted]


async def test_three_reports_hide_a_message_from_viewers_until_a_moderator_decides(
    raw: Any,
) -> None:
    mod = await raw("r1", user="mia", role="moderator")
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")
    reporters = [await raw("r1", user=f"v{i}") for i in range(3)]
    kept = (await bob.ok("send", text="fine"))["message"]
    sent = (await bob.ok("send", text="buy followers at spam.example"))["message"]

    assert await reporters[0].ok("report", message_id=sent["id"], reason="  spam\n") == {}
    first = (await mod.push("report_add"))["report"]
    assert first["count"] == 1 and first["reasons"] == ["spam"] and first["hidden"] is False
    assert first["message"]["id"] == sent["id"] and first["last_ts"] > 0
    # Once per user and message: again changes nothing (and the staff hear nothing).
    assert await reporters[0].ok("report", message_id=sent["id"], reason="really") == {}
    assert await reporters[1].ok("report", message_id=sent["id"]) == {}
    second = (await mod.push("report_add"))["report"]
    assert second["count"] == 2 and second["reasons"] == ["spam"]

    assert await reporters[2].ok("report", message_id=sent["id"], reason="rude") == {}
    for who in (carol, mod, bob):
        hide = await who.push("message_hide")
        assert hide == {
            "type": "message_hide",
            "seq": sent["seq"] + 1,
            "message_id": sent["id"],
            "message_seq": sent["seq"],
            "ts": hide["ts"],
        }
        assert hide["ts"] >= sent["ts"]
    third = (await mod.push("report_add"))["report"]
    assert third["count"] == 3 and third["reasons"] == ["rude", "spam"]
    assert third["hidden"] is True and third["message"]["hidden"] is True
    # Reports go to the staff only.
    await marker(mod, carol, bob)
    assert types(carol, "report_add", "report_remove") == []
    assert types(bob, "report_add", "report_remove") == []

    # Viewers' history leaves it out; the staff see it marked.
    seen = [m["id"] for m in (await carol.ok("history"))["messages"]]
    assert sent["id"] not in seen and kept["id"] in seen
    staff_view = {m["id"]: m for m in (await mod.ok("history"))["messages"]}
    assert staff_view[sent["id"]]["hidden"] is True
    assert "hidden" not in staff_view[kept["id"]]
    listed = (await mod.ok("reports"))["reports"]
    assert [(r["message"]["id"], r["count"], r["hidden"]) for r in listed] == [
        (sent["id"], 3, True)
    ]
    # Only the staff list and decide.
    assert (await carol.request("reports"))["error"]["code"] == 111
    forbidden = await carol.request("report_resolve", message_id=sent["id"], action="dismiss")
    assert forbidden["error"]["code"] == 111

    # Recovery from before the message: a viewer gets a skip at its place, then the hide;
    # the staff the message itself, marked.
    epoch = carol.connected["room"]["epoch"]
    back = await raw("r1", user="dan", recover={"epoch": epoch, "seq": kept["seq"]})
    events = back.connected["recovery"]["events"]
    assert [e["type"] for e in events] == ["skip", "message_hide", "message"]
    assert events[0]["seq"] == sent["seq"] and events[1]["message_id"] == sent["id"]
    since = {"epoch": epoch, "seq": kept["seq"]}
    staff_back = await raw("r1", user="max", role="moderator", recover=since)
    staff_events = staff_back.connected["recovery"]["events"]
    assert [e["type"] for e in staff_events] == ["message", "message_hide", "message"]
    assert staff_events[0]["message"]["hidden"] is True


async def test_dismissing_shows_the_message_again(raw: Any) -> None:
    mod = await raw("r2", user="mia", role="moderator")
    bob = await raw("r2", user="bob")
    carol = await raw("r2", user="carol")
    sent = (await bob.ok("send", text="a hot take"))["message"]
    for i in range(3):
        await (await raw("r2", user=f"v{i}")).ok("report", message_id=sent["id"], reason="meh")
    await carol.push("message_hide")

    assert await mod.ok("report_resolve", message_id=sent["id"], action="dismiss") == {}
    restore = await carol.push("message_restore")
    assert restore["seq"] == sent["seq"] + 2
    assert restore["message"] == sent  # as it was sent: not marked, text and all
    removed = await mod.push("report_remove")
    assert removed == {
        "type": "report_remove",
        "message_id": sent["id"],
        "outcome": "dismissed",
        "by": {"id": "mia", "username": "mia", "role": "moderator"},
    }
    assert [m["id"] for m in (await carol.ok("history"))["messages"]] == [sent["id"]]
    assert (await mod.ok("reports"))["reports"] == []
    again = await mod.request("report_resolve", message_id=sent["id"], action="dismiss")
    assert again["error"]["code"] == 112
    entry = (await mod.ok("mod_log"))["entries"][0]
    assert entry["action"] == "report_dismiss" and entry["message_id"] == sent["id"]
    assert entry["target_user_id"] == "bob" and entry["by"]["id"] == "mia"
    assert entry["details"] == {"count": 3, "restored": True}

    # Recovery replays the hide and the restore after the message itself.
    epoch = carol.connected["room"]["epoch"]
    back = await raw("r2", user="dan", recover={"epoch": epoch, "seq": 0})
    events = back.connected["recovery"]["events"]
    assert [e["type"] for e in events] == ["message", "message_hide", "message_restore"]
    assert events[2]["message"] == sent
    # Reported again later, it starts from nothing: one report does not hide it.
    await (await raw("r2", user="v0")).ok("report", message_id=sent["id"])
    [report] = (await mod.ok("reports"))["reports"]
    assert report["count"] == 1 and report["hidden"] is False


async def test_deleting_a_reported_message(raw: Any) -> None:
    mod = await raw("r3", user="mia", role="moderator")
    bob = await raw("r3", user="bob")
    carol = await raw("r3", user="carol")
    first = (await bob.ok("send", text="spam one"))["message"]
    second = (await bob.ok("send", text="spam two"))["message"]
    await carol.ok("report", message_id=first["id"], reason="spam")
    await carol.ok("report", message_id=second["id"], reason="spam")

    # A moderator decides: deleted as `delete` deletes, for everyone.
    assert await mod.ok("report_resolve", message_id=first["id"], action="delete") == {}
    deleted = await carol.push("message_delete")
    assert deleted["message_id"] == first["id"] and deleted["deleted_by"]["id"] == "mia"
    removed = await mod.push("report_remove")
    assert removed["message_id"] == first["id"] and removed["outcome"] == "deleted"
    history = {m["id"]: m for m in (await carol.ok("history"))["messages"]}
    assert history[first["id"]]["deleted"] is True and history[first["id"]]["text"] == ""
    entry = (await mod.ok("mod_log"))["entries"][0]
    assert entry["action"] == "report_delete" and entry["message_id"] == first["id"]
    assert entry["target_user_id"] == "bob" and entry["details"] == {"count": 1}
    gone = await mod.request("report_resolve", message_id=first["id"], action="delete")
    assert gone["error"]["code"] == 112

    # Deleted by its author: its reports are closed with it.
    await bob.ok("delete", message_id=second["id"])
    removed = await mod.push("report_remove")
    assert removed["message_id"] == second["id"] and removed["outcome"] == "deleted"
    assert removed["by"]["id"] == "bob"
    assert (await mod.ok("reports"))["reports"] == []


async def test_the_deleted_pinned_message_is_unpinned(raw: Any) -> None:
    mod = await raw("r4", user="mia", role="moderator")
    bob = await raw("r4", user="bob")
    sent = (await bob.ok("send", text="pinned, reported, deleted"))["message"]
    await mod.ok("pin", message_id=sent["id"])
    await bob.push("pin")
    await (await raw("r4", user="carol")).ok("report", message_id=sent["id"])
    await mod.ok("report_resolve", message_id=sent["id"], action="delete")
    assert (await bob.push("pin"))["pin"] is None


async def test_refused_reports(raw: Any) -> None:
    mod = await raw("r5", user="mia", role="moderator")
    bob = await raw("r5", user="bob")
    carol = await raw("r5", user="carol")
    sent = (await bob.ok("send", text="hello"))["message"]
    doomed = (await bob.ok("send", text="soon gone"))["message"]
    await bob.ok("delete", message_id=doomed["id"])
    for who, args, code in [
        (bob, {"message_id": sent["id"]}, 104),  # one's own
        (carol, {"message_id": doomed["id"]}, 119),
        (carol, {"message_id": "nope"}, 112),
        (carol, {"message_id": sent["id"], "reason": "x" * 201}, 104),
        (carol, {"message_id": sent["id"], "reason": 5}, 104),
        (carol, {"message_id": 5}, 104),
        (carol, {}, 103),
    ]:
        error = (await who.request("report", **args))["error"]
        assert error["code"] == code, (args, error)
    assert await carol.ok("report", message_id=sent["id"], reason="x" * 200) == {}
    for args, code in [
        ({"message_id": sent["id"], "action": "ban"}, 104),
        ({"message_id": sent["id"]}, 103),
        ({"action": "dismiss"}, 103),
        ({"message_id": doomed["id"], "action": "dismiss"}, 112),
        ({"message_id": "nope", "action": "delete"}, 112),
    ]:
        error = (await mod.request("report_resolve", **args))["error"]
        assert error["code"] == code, (args, error)
    for limit, code in [(0, 104), (101, 104), ("5", 104)]:
        assert (await mod.request("reports", limit=limit))["error"]["code"] == code
    assert len((await mod.ok("reports", limit=100))["reports"]) == 1


async def test_the_staffs_messages_are_not_hidden(raw: Any) -> None:
    mod = await raw("r6", user="mia", role="moderator")
    carol = await raw("r6", user="carol")
    sent = (await mod.ok("send", text="the rules: be nice"))["message"]
    for i in range(4):
        await (await raw("r6", user=f"v{i}")).ok("report", message_id=sent["id"])
    while (report := (await mod.push("report_add"))["report"])["count"] < 4:
        pass
    assert report["hidden"] is False
    await marker(mod, carol)
    assert types(carol, "message_hide") == []
    assert sent["id"] in [m["id"] for m in (await carol.ok("history"))["messages"]]


async def test_reports_are_rate_limited(tmp_path: Path) -> None:
    srv = await start_server(tmp_path / "d", rate_reports=0.5, rate_reports_burst=2)
    try:
        bob = await _client(srv, "r7", "bob")
        carol = await _client(srv, "r7", "carol")
        sent = [(await bob.ok("send", text=f"m{i}"))["message"] for i in range(3)]
        for message in sent[:2]:
            await carol.ok("report", message_id=message["id"])
        limited = (await carol.request("report", message_id=sent[2]["id"]))["error"]
        assert limited["code"] == 108 and 0 < limited["retry_after_ms"] <= 2000
        # Another user has a budget of their own.
        await (await _client(srv, "r7", "dan")).ok("report", message_id=sent[2]["id"])
    finally:
        await _stop(srv)


async def test_the_number_of_reports_that_hides_is_the_servers(tmp_path: Path) -> None:
    srv = await start_server(tmp_path / "d", reports_to_hide=1)
    try:
        bob = await _client(srv, "r8", "bob")
        sent = (await bob.ok("send", text="one report is enough"))["message"]
        await (await _client(srv, "r8", "carol")).ok("report", message_id=sent["id"])
        assert (await bob.push("message_hide"))["message_id"] == sent["id"]
    finally:
        await _stop(srv)
    never = await start_server(tmp_path / "e", reports_to_hide=0)
    try:
        mod = await _client(never, "r8", "mia", "moderator")
        bob = await _client(never, "r8", "bob")
        sent = (await bob.ok("send", text="never hidden"))["message"]
        for i in range(5):
            await (await _client(never, "r8", f"v{i}")).ok("report", message_id=sent["id"])
        while (await mod.push("report_add"))["report"]["count"] < 5:
            pass
        await marker(mod, bob)
        assert types(bob, "message_hide") == []
    finally:
        await _stop(never)


def test_the_report_settings_come_from_the_environment() -> None:
    env = {"PCHAT_REPORTS_TO_HIDE": "0", "PCHAT_RATE_REPORTS": "none"}
    settings = Settings.from_env(env).core()
    assert settings.reports_to_hide == 0 and settings.rate_reports is None
    defaults = Settings.from_env({}).core()
    assert (defaults.reports_to_hide, defaults.rate_reports, defaults.rate_reports_burst) == (
        3,
        1.0,
        5,
    )


async def test_reports_and_hiding_survive_a_restart(raw: Any, server: RunningServer) -> None:
    bob = await raw("r9", user="bob")
    sent = (await bob.ok("send", text="reported, then the server restarts"))["message"]
    for i in range(3):
        await (await raw("r9", user=f"v{i}")).ok("report", message_id=sent["id"], reason=f"r{i}")
    await bob.push("message_hide")
    epoch = bob.connected["room"]["epoch"]

    await server.restart()
    carol = await raw("r9", user="carol")
    assert sent["id"] not in [m["id"] for m in (await carol.ok("history"))["messages"]]
    mod = await raw("r9", user="mia", role="moderator")
    [report] = (await mod.ok("reports"))["reports"]
    assert report["count"] == 3 and report["hidden"] is True
    assert report["reasons"] == ["r2", "r1", "r0"]
    # A reporter from before the restart still counts once.
    assert await (await raw("r9", user="v0")).ok("report", message_id=sent["id"]) == {}
    assert (await mod.ok("reports"))["reports"][0]["count"] == 3
    back = await raw("r9", user="bob", recover={"epoch": epoch, "seq": sent["seq"]})
    assert [e["type"] for e in back.connected["recovery"]["events"]] == ["message_hide"]

    await mod.ok("report_resolve", message_id=sent["id"], action="dismiss")
    assert (await carol.push("message_restore"))["message"]["id"] == sent["id"]


async def _client(srv: RunningServer, room: str, user: str, role: str | None = None) -> RawClient:
    assert srv.http is not None
    client = RawClient(await srv.http.ws_connect(srv.ws_url))
    args: dict[str, Any] = {"room": room, "username": user, "token": await srv.token(user, role)}
    if role:
        args["role"] = role
    client.connected = await client.ok("connect", **args)
    return client


async def _stop(srv: RunningServer) -> None:
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()
