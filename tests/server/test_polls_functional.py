"""Polls over a real server: permissions, one vote, exact tallies, scheduled publish."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.helpers import RawClient, RunningServer, start_server


async def test_poll_lifecycle(raw: Any) -> None:
    mod = await raw("p1", user="mia", role="moderator")
    viewer = await raw("p1", user="bob")
    refused = await viewer.request("poll_create", question="Q?", options=["a", "b"])
    assert refused["error"]["name"] == "forbidden"
    poll = (await mod.ok("poll_create", question="Best?", options=["red", "blue"]))["poll"]
    assert poll["status"] == "open" and [o["votes"] for o in poll["options"]] == [0, 0]
    pushed = await viewer.push("poll")
    assert pushed["poll"]["id"] == poll["id"]
    voted = (await viewer.ok("poll_vote", poll_id=poll["id"], option=1))["poll"]
    assert voted["my_vote"] == 1 and voted["options"][1]["votes"] == 1
    again = await viewer.request("poll_vote", poll_id=poll["id"], option=0)
    assert again["error"]["code"] == 113
    out_of_range = await mod.request("poll_vote", poll_id=poll["id"], option=5)
    assert out_of_range["error"]["code"] == 104
    tally = await mod.push("poll")
    while tally["poll"]["total_votes"] < 1:
        tally = await mod.push("poll")
    assert "my_vote" not in tally["poll"]
    denied = await viewer.request("poll_finish", poll_id=poll["id"])
    assert denied["error"]["name"] == "forbidden"
    finished = (await mod.ok("poll_finish", poll_id=poll["id"]))["poll"]
    assert finished["status"] == "finished" and finished["finished_at"] is not None
    late = await mod.request("poll_vote", poll_id=poll["id"], option=0)
    assert late["error"]["code"] == 114
    listing = (await viewer.ok("polls"))["polls"]
    assert listing[0]["my_vote"] == 1 and listing[0]["status"] == "finished"
    assert (await viewer.request("poll_vote", poll_id="nope", option=0))["error"]["code"] == 112


async def test_concurrent_votes_are_exact(raw: Any) -> None:
    mod = await raw("p2", user="mia", role="admin")
    poll = (await mod.ok("poll_create", question="Q", options=["a", "b", "c"]))["poll"]
    voters = [await raw("p2", user=f"v{i}") for i in range(30)]
    await asyncio.gather(
        *[v.ok("poll_vote", poll_id=poll["id"], option=i % 3) for i, v in enumerate(voters)]
    )
    final = (await mod.ok("poll_finish", poll_id=poll["id"]))["poll"]
    assert [o["votes"] for o in final["options"]] == [10, 10, 10]


async def test_scheduled_poll_survives_restart_and_creator_leaving(
    server: RunningServer, raw: Any
) -> None:
    mod = await raw("p3", user="mia", role="moderator")
    publish_at = int(time.time() * 1000) + 1500
    poll = (
        await mod.ok("poll_create", question="Later?", options=["y", "n"], publish_at=publish_at)
    )["poll"]
    assert poll["status"] == "scheduled" and poll["publish_at"] == publish_at
    early = await raw("p3", user="bob")
    assert early.connected["room"]["polls"] == []  # viewers do not see scheduled polls
    vote = await early.request("poll_vote", poll_id=poll["id"], option=0)
    assert vote["error"]["code"] in (112, 114)
    await mod.close()
    await early.close()
    await server.restart()
    watcher = await raw("p3", user="carl")
    pushed = await watcher.push("poll", timeout=5)
    assert pushed["poll"]["id"] == poll["id"] and pushed["poll"]["status"] == "open"
    assert pushed["poll"]["published_at"] >= publish_at
    await asyncio.sleep(0.3)
    assert not [p for p in watcher.pushes if p["type"] == "poll"]  # published once
    assert (await watcher.ok("poll_vote", poll_id=poll["id"], option=0))["poll"]["total_votes"] == 1


async def test_polls_scheduled_elsewhere_are_armed_by_the_scan(tmp_path: Any) -> None:
    from pchat.protocol.models import Poll, PollOption, User
    from pchat.server.ws import SERVICE_KEY
    from tests.helpers import RawClient, start_server

    srv = await start_server(tmp_path / "d", poll_scan_interval=0.1)
    try:
        assert srv.http is not None and srv.runner is not None
        c = RawClient(await srv.http.ws_connect(srv.ws_url))
        await c.ok("connect", room="p4", username="v", token=await srv.token("v"))
        store = srv.runner.app[SERVICE_KEY].store
        now = int(time.time() * 1000)
        poll = Poll(
            id="from-another-node",
            question="Armed?",
            options=(PollOption("y"), PollOption("n")),
            status="scheduled",
            created_by=User("m", "M", "moderator"),
            created_at=now,
            publish_at=now + 300,
        )
        await store.create_poll("p4", poll)  # as another node would, without telling us
        pushed = await c.push("poll", timeout=3)
        assert pushed["poll"]["id"] == "from-another-node" and pushed["poll"]["status"] == "open"
        await c.close()
    finally:
        await srv.stop()
        await srv.http.close()


async def test_joiners_see_current_polls(raw: Any) -> None:
    mod = await raw("p5", user="mia", role="moderator")
    first = await raw("p5", user="a")
    assert first.connected["room"]["polls"] == []  # now cached on the server
    poll = (await mod.ok("poll_create", question="Now?", options=["y", "n"]))["poll"]
    await first.push("poll")
    second = await raw("p5", user="b")
    assert [p["id"] for p in second.connected["room"]["polls"]] == [poll["id"]]
    await second.ok("poll_vote", poll_id=poll["id"], option=1)
    while (await first.push("poll"))["poll"]["total_votes"] < 1:
        pass
    third = await raw("p5", user="c")
    assert third.connected["room"]["polls"][0]["options"][1]["votes"] == 1
    scheduled = await mod.ok(
        "poll_create",
        question="Later",
        options=["a", "b"],
        publish_at=int(time.time() * 1000) + 60_000,
    )
    other_mod = await raw("p5", user="max", role="moderator")
    ids = [p["id"] for p in other_mod.connected["room"]["polls"]]
    assert scheduled["poll"]["id"] in ids  # staff see scheduled polls at once
    assert scheduled["poll"]["id"] not in [
        p["id"] for p in (await raw("p5", user="d")).connected["room"]["polls"]
    ]


async def test_open_polls_are_capped_per_room(tmp_path: Any) -> None:
    """Issue 8, finding 10: polls had no count limit (300 made every connect reply 506 KB)."""
    srv = await start_server(tmp_path / "d", max_open_polls=3, rate_polls=None)
    try:
        mod = await _client(srv, "cap", "mia", "moderator")
        ids = []
        for i in range(3):
            ids.append((await mod.ok("poll_create", question=f"Q{i}", options=["a", "b"]))["poll"])
        later = int(time.time() * 1000) + 60_000
        refused = await mod.request("poll_create", question="Q", options=["a", "b"])
        assert refused["error"]["code"] == 121 and refused["error"]["name"] == "limit_reached"
        scheduled = await mod.request(
            "poll_create", question="Q", options=["a", "b"], publish_at=later
        )
        assert scheduled["error"]["code"] == 121  # scheduled polls count too
        await mod.ok("poll_finish", poll_id=ids[0]["id"])
        assert (await mod.ok("poll_create", question="Q3", options=["a", "b"]))["poll"]
    finally:
        await _stop(srv)


async def test_poll_creation_is_rate_limited(tmp_path: Any) -> None:
    srv = await start_server(tmp_path / "d", rate_polls=0.1, rate_polls_burst=2)
    try:
        mod = await _client(srv, "rate", "mia", "moderator")
        for i in range(2):
            await mod.ok("poll_create", question=f"Q{i}", options=["a", "b"])
        limited = await mod.request("poll_create", question="Q", options=["a", "b"])
        assert limited["error"]["code"] == 108 and limited["error"]["retry_after_ms"] > 0
    finally:
        await _stop(srv)


async def test_finished_polls_are_paged_not_all_in_the_connect_reply(tmp_path: Any) -> None:
    srv = await start_server(tmp_path / "d", rate_polls=None, polls_in_connect=5)
    try:
        mod = await _client(srv, "pages", "mia", "moderator")
        made = []
        for i in range(23):
            poll = (await mod.ok("poll_create", question=f"Q{i}", options=["a", "b"]))["poll"]
            if i < 20:
                await mod.ok("poll_finish", poll_id=poll["id"])
            made.append(poll["id"])
            await asyncio.sleep(0.002)  # one creation time each: the order is by time, then id
        viewer = await _client(srv, "pages", "bob")
        shown = viewer.connected["room"]["polls"]
        # The three open ones and the five newest finished, oldest first.
        assert [p["id"] for p in shown] == made[15:23]
        assert viewer.connected["room"]["polls_more"] is True
        page = await viewer.ok("polls", limit=10)
        assert [p["id"] for p in page["polls"]] == made[13:23] and page["has_more"] is True
        seen = [p["id"] for p in page["polls"]]
        while page["has_more"]:
            page = await viewer.ok("polls", limit=10, before=page["polls"][0]["id"])
            seen = [p["id"] for p in page["polls"]] + seen
        assert seen == made
        everything = await viewer.ok("polls")
        assert [p["id"] for p in everything["polls"]] == made and everything["has_more"] is False
        unknown = await viewer.request("polls", before="nope")
        assert unknown["error"]["code"] == 112
    finally:
        await _stop(srv)


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
