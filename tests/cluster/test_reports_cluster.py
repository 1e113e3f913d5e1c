"""Reports across nodes (issue 11): reports made on one node reach the moderators of the
others (``report_add``), the hide they cause reaches the viewers of every node, and a
dismissal on another node shows the message again everywhere (``report_remove`` to the
staff wherever they are)."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import Cluster, raw_client, until


def _of(client: Any, ptype: str) -> list[dict[str, Any]]:
    return [p for p in client.pushes if p["type"] == ptype]


async def test_reports_hide_and_dismissals_act_on_every_node(cluster: Cluster) -> None:
    a, b = [await cluster.start_node() for _ in range(2)]
    mod = await raw_client(cluster, a, "rep", "mia", "moderator")
    viewer = await raw_client(cluster, a, "rep", "cat")
    bob = await raw_client(cluster, b, "rep", "bob")
    reporters = [await raw_client(cluster, b, "rep", f"v{i}") for i in range(3)]
    other_mod = await raw_client(cluster, b, "rep", "max", "moderator")
    clients = [mod, viewer, bob, other_mod, *reporters]
    try:
        sent = (await bob.ok("send", text="reported on node b"))["message"]
        for i, reporter in enumerate(reporters):
            await reporter.ok("report", message_id=sent["id"], reason=f"r{i}")
        await until(lambda: len(_of(mod, "report_add")) == 3, what="report_add on node a")
        last = _of(mod, "report_add")[-1]["report"]
        assert last["count"] == 3 and last["hidden"] is True
        await until(lambda: bool(_of(viewer, "message_hide")), what="the hide on node a")
        assert _of(viewer, "message_hide")[0]["message_id"] == sent["id"]

        await other_mod.ok("report_resolve", message_id=sent["id"], action="dismiss")
        await until(lambda: bool(_of(viewer, "message_restore")), what="the restore on node a")
        assert _of(viewer, "message_restore")[0]["message"]["id"] == sent["id"]
        await until(lambda: bool(_of(mod, "report_remove")), what="report_remove on node a")
        removed = _of(mod, "report_remove")[0]
        assert removed["outcome"] == "dismissed" and removed["by"]["id"] == "max"
        # Node a has handled every publication up to the last: the viewer there got none of
        # the staff's.
        assert _of(viewer, "report_add") == [] and _of(viewer, "report_remove") == []
    finally:
        for client in clients:
            await client.close()
