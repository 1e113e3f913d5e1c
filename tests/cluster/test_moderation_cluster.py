"""Moderation across nodes: a ban, a room mode and a pin made on one node act on the
clients of the other nodes within one second (issue 11)."""

from __future__ import annotations

import time
from typing import Any

from tests.cluster.conftest import Cluster, raw_client, until
from tests.helpers import t


async def _within_a_second(action: Any, check: Any, what: str) -> float:
    """Run ``action`` then wait until ``check()`` holds; the seconds it took (< 1 s)."""
    start = time.monotonic()
    await action()
    await until(check, timeout=1.0, what=what)
    return time.monotonic() - start


async def test_ban_mode_and_pin_reach_the_other_nodes_within_a_second(cluster: Cluster) -> None:
    a, b, c = [await cluster.start_node() for _ in range(3)]
    mod = await raw_client(cluster, a, "show", "mia", "moderator")
    bob = await raw_client(cluster, b, "show", "bob")
    cat = await raw_client(cluster, c, "show", "cat")
    clients = [mod, bob, cat]
    try:
        # A ban made on node a: bob on node b is told, and refused, within a second.
        took = await _within_a_second(
            lambda: mod.ok("ban", user_id="bob", duration=60),
            lambda: any(p["type"] == "banned" for p in bob.pushes),
            "bob's banned push on node b",
        )
        frame = await bob.request("send", text="can I?", timeout=t(5))
        assert frame["error"]["code"] == 122, frame
        assert took < 1.0

        # A room mode set on node a: node c's viewer is told and held to it.
        await _within_a_second(
            lambda: mod.ok("room_mode", mode="moderators_only"),
            lambda: any(p["type"] == "room_settings" for p in cat.pushes),
            "the room_settings push on node c",
        )
        assert (await cat.request("send", text="hi"))["error"]["code"] == 123

        # A pin made on node a reaches node b and c.
        await _within_a_second(
            lambda: mod.ok("pin", text="Starting soon"),
            lambda: all(any(p["type"] == "pin" for p in x.pushes) for x in (bob, cat)),
            "the pin push on nodes b and c",
        )
        # A newcomer on any node gets all of it in the connect reply.
        late = await raw_client(cluster, c, "show", "bob")
        clients.append(late)
        room = late.connected["room"]
        assert room["ban"]["user_id"] == "bob"
        assert room["settings"]["mode"] == "moderators_only"
        assert room["pin"]["text"] == "Starting soon"

        # Lifting the ban on node a frees bob on node b.
        await mod.ok("room_mode", mode="open")
        await _within_a_second(
            lambda: mod.ok("unban", user_id="bob"),
            lambda: any(p["type"] == "unbanned" for p in bob.pushes),
            "bob's unbanned push on node b",
        )
        assert (await bob.ok("send", text="thanks"))["message"]["text"] == "thanks"
    finally:
        for client in clients:
            await client.close()


async def test_a_kick_on_one_node_closes_the_users_connections_on_the_others(
    cluster: Cluster,
) -> None:
    a, b = [await cluster.start_node() for _ in range(2)]
    mod = await raw_client(cluster, a, "kick", "mia", "moderator")
    on_b = await raw_client(cluster, b, "kick", "spammer")
    on_a = await raw_client(cluster, a, "kick", "spammer")
    try:
        await mod.ok("ban", user_id="spammer", kick=True)
        assert await on_b.closed(timeout=t(1)) == 4506
        assert await on_a.closed(timeout=t(1)) == 4506
    finally:
        for client in (mod, on_a, on_b):
            await client.close()


async def test_a_purge_on_one_node_reaches_the_others_within_a_second(cluster: Cluster) -> None:
    a, b, c = [await cluster.start_node() for _ in range(3)]
    mod = await raw_client(cluster, a, "raid", "mia", "moderator")
    spammer = await raw_client(cluster, b, "raid", "spammer")
    watcher = await raw_client(cluster, c, "raid", "cat")
    try:
        sent = [(await spammer.ok("send", text=f"spam {i}"))["message"] for i in range(3)]
        await until(
            lambda: sum(p["type"] == "message" for p in watcher.pushes) == 3,
            what="the spam on node c",
        )
        took = await _within_a_second(
            lambda: mod.ok("purge", user_id="spammer"),
            lambda: any(p["type"] == "message_purge" for p in watcher.pushes),
            "the message_purge push on node c",
        )
        assert took < 1.0
        purge = next(p for p in watcher.pushes if p["type"] == "message_purge")
        assert purge["count"] == 3 and purge["seq"] == sent[-1]["seq"] + 1
    finally:
        for client in (mod, spammer, watcher):
            await client.close()
