"""The review queue across nodes: a message held on one node is reviewed from another, its
sender and the viewers on a third are told, and a delayed message whose node is gone is
released by the others (issue 11)."""

from __future__ import annotations

from tests.cluster.conftest import Cluster, raw_client


async def test_held_on_one_node_reviewed_on_another(cluster: Cluster) -> None:
    a, b, c = [await cluster.start_node() for _ in range(3)]
    mod = await raw_client(cluster, a, "show", "mia", "moderator")
    bob = await raw_client(cluster, b, "show", "bob")
    cat = await raw_client(cluster, c, "show", "cat")
    clients = [mod, bob, cat]
    try:
        await mod.ok("room_mode", hold=True)
        await bob.push("room_settings")
        held = (await bob.ok("send", text="may I?"))["held"]
        assert (await mod.push("review_add"))["item"] == held
        approved = (await mod.ok("review_approve", message_id=held["id"]))["message"]
        assert (await cat.push("message"))["message"] == approved
        assert (await bob.push("message"))["message"]["id"] == held["id"]

        other = (await bob.ok("send", text="and this?"))["held"]
        await mod.push("review_add")
        await mod.ok("review_reject", message_id=other["id"], reason="no")
        assert await bob.push("message_rejected") == {
            "type": "message_rejected",
            "id": other["id"],
            "reason": "no",
        }
        assert not [p for p in cat.pushes if p["type"] == "message_rejected"]
    finally:
        for client in clients:
            await client.close()


async def test_a_delayed_message_of_a_node_gone_is_released_by_another(cluster: Cluster) -> None:
    a, b, c = [await cluster.start_node() for _ in range(3)]
    mod = await raw_client(cluster, a, "show", "mia", "moderator")
    bob = await raw_client(cluster, b, "show", "bob")
    cat = await raw_client(cluster, c, "show", "cat")
    clients = [mod, cat]
    try:
        await mod.ok("room_mode", delay=2)
        await bob.push("room_settings")
        held = (await bob.ok("send", text="from a node about to go"))["held"]
        assert (await mod.push("review_add"))["item"] == held
        await bob.close()
        await b.stop()  # its timer goes with it
        released = (await cat.push("message", timeout=10))["message"]
        assert released["id"] == held["id"] and released["ts"] >= held["release_at"]
        removed = await mod.push("review_remove")
        assert removed["outcome"] == "released" and removed["by"] is None
        assert (await mod.ok("review_queue"))["items"] == []
    finally:
        for client in clients:
            await client.close()
