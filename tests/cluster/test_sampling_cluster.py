"""Sampling of a huge room across nodes (docs/protocol.md §4, Sampling): each node measures
the room's rate from the publications it gets and samples its own viewers; the sample is the
positions that are multiples of ``every`` on every node, and a message left out still
reaches, on any node, its author, the users it mentions and the staff."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cluster.conftest import Cluster, raw_client, until

SETTINGS = {
    "viewer_max_rate": 4.0,
    "sample_min_members": 3,
    "rate_messages": None,
    "rate_frames": None,
}


def _messages(client: Any) -> list[dict[str, Any]]:
    return [p for p in client.pushes if p["type"] == "message"]


def _every(stream: list[dict[str, Any]]) -> dict[int, int]:
    """From a staff connection's pushes (every message, in order): the ``every`` in force
    on its node for each message."""
    every, found = 1, {}
    for push in stream:
        if push["type"] == "sampled":
            every = push["every"]
        elif push["type"] == "message":
            found[push["seq"]] = every
    return found


async def test_each_node_samples_its_viewers_and_keeps_what_they_are_owed(
    cluster: Cluster,
) -> None:
    a = await cluster.start_node(**SETTINGS)
    b = await cluster.start_node(**SETTINGS)
    mod_a = await raw_client(cluster, a, "arena", "mia", "moderator", sampling=True)
    ann = await raw_client(cluster, a, "arena", "ann", sampling=True)
    zed = await raw_client(cluster, a, "arena", "zed", sampling=True)
    mod_b = await raw_client(cluster, b, "arena", "max", "moderator", sampling=True)
    bob = await raw_client(cluster, b, "arena", "bob", sampling=True)
    cat = await raw_client(cluster, b, "arena", "cat", sampling=True)
    clients = [mod_a, ann, zed, mod_b, bob, cat]
    try:
        await ann.ok("send", text="hi all")  # a recent author: bob's node can mention ann
        sent: list[int] = []
        while not all(any(p["type"] == "sampled" for p in c.pushes) for c in (ann, cat)):
            assert len(sent) < 300, "never sampled on both nodes"
            sent.append((await bob.ok("send", text=f"m{len(sent)}"))["message"]["seq"])
            await asyncio.sleep(0.03)
        for _ in range(20):
            sent.append((await bob.ok("send", text=f"m{len(sent)}"))["message"]["seq"])
            await asyncio.sleep(0.03)
        # The mention at a position out of node a's sample (its last every, as told).
        every_a = [p["every"] for p in mod_a.pushes if p["type"] == "sampled"][-1]
        while (sent[-1] + 1) % every_a == 0:
            sent.append((await bob.ok("send", text=f"m{len(sent)}"))["message"]["seq"])
        mention = (await bob.ok("send", text="over here @ann"))["message"]["seq"]
        fence = (await mod_b.ok("send", text="fence"))["message"]["seq"]
        for client in clients:
            await until(lambda c=client: any(p["seq"] == fence for p in _messages(c)), 15)

        for staff, viewers in ((mod_a, (ann, zed)), (mod_b, (cat,))):
            every = _every(staff.pushes)
            assert set(sent) <= set(every) and {every[s] for s in sent} - {1}
            for viewer in viewers:
                got = {p["seq"] for p in _messages(viewer)}
                sample = {s for s in sent if every[s] == 1 or s % every[s] == 0}
                assert got & set(sent) == sample, viewer.connected["user"]["id"]
        at = _every(mod_a.pushes)[mention]
        assert mention in {p["seq"] for p in _messages(ann)}  # from the other node
        assert (mention in {p["seq"] for p in _messages(zed)}) == (mention % at == 0)
        assert set(sent) <= {p["seq"] for p in _messages(bob)}  # its own, on its node
    finally:
        for client in clients:
            await client.close()
