"""Webhooks in a cluster on real PostgreSQL and Redis, against a real receiver
(tests/webhook_receiver.py): the node delivering an event is ``kill -9``ed while the
receiver holds its request, and another node delivers the event once the dead node's lease
ends — nothing lost; with three nodes claiming the same outbox, every event arrives exactly
once (counted by event id)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pchat.server.appkeys import SERVICE_KEY
from tests.cluster.conftest import Cluster, ProcessNode
from tests.helpers import RunningServer
from tests.webhook_receiver import Receiver

BASE = "/public-chat/admin/v1"
#: An attempt may take 1 s: a claim's lease is 2 x 1 + 5 = 7 s.
TIMEOUT = 1.0
LEASE = 2 * TIMEOUT + 5
FAST: dict[str, Any] = {
    "webhook_timeout": TIMEOUT,
    "webhook_retry_base": 0.2,
    "webhook_retry_max": 1.0,
    "webhook_poll_interval": 0.05,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def api(node: RunningServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    assert node.http is not None
    headers = {"auth-api-key": node.api_key, "auth-api-secret": node.api_secret}
    async with node.http.request(
        method, node.url + BASE + path, json=body, headers=headers
    ) as response:
        result: dict[str, Any] = await response.json()
        assert response.status in (200, 201), result
        return result


async def register(node: RunningServer, receiver: Receiver, types: list[str]) -> None:
    created = await api(node, "POST", "/webhooks", {"url": receiver.url, "types": types})
    receiver.secret = created["secret"]


async def test_an_event_whose_node_is_killed_mid_delivery_is_delivered_by_another(
    cluster: Cluster, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process nodes read these (and NODE_SETTINGS) from their environment.
    for name, value in FAST.items():
        monkeypatch.setenv(f"PCHAT_{name.upper()}", str(value))
    # The API's node records events but delivers none within the test (its first look at
    # the outbox is an hour away): the one that delivers is the process node, ``doomed``.
    entry = await cluster.start_node(**{**FAST, "webhook_poll_interval": 3600})
    assert isinstance(entry, RunningServer)
    await register(entry, receiver, ["message.posted"])
    doomed = await cluster.start_node(process=True)
    assert isinstance(doomed, ProcessNode)

    receiver.hold = 1  # the first request hangs: the node that sent it is mid-delivery
    sent = [
        (await api(entry, "POST", "/rooms/lobby/messages", {"text": f"m{i}"}))["message"]
        for i in range(5)
    ]
    await receiver.until(
        lambda: len(receiver.got) == 5 and len(receiver.delivered()) == 4,
        timeout=15,
        what="four delivered and one held by the receiver",
    )
    [held] = [g for g in receiver.got if g.status is None]
    assert held.headers["pchat-delivery-attempt"] == "1"

    await doomed.kill()  # kill -9: no cleanup, its claim stays until the lease ends
    survivor = await cluster.start_node(process=True)
    assert isinstance(survivor, ProcessNode)
    after = (await api(entry, "POST", "/rooms/lobby/messages", {"text": "later"}))["message"]

    await receiver.until(
        lambda: len(receiver.delivered()) == 6, timeout=LEASE + 15, what="the held event again"
    )
    again = receiver.attempts(held.event_id)
    assert len(again) == 2 and again[1].status == 200
    assert again[1].headers["pchat-delivery-attempt"] == "2"  # the dead node's claim counted
    assert again[1].raw == held.raw  # the same event, byte for byte, freshly signed
    assert again[1].at - held.at >= LEASE - 1  # not before the dead node's lease ended
    assert all(g.signed for g in receiver.got)

    # Every message was delivered (2xx) exactly once.
    delivered = Counter(g.body["data"]["message"]["id"] for g in receiver.delivered())
    assert delivered == Counter(m["id"] for m in [*sent, after])


async def test_three_nodes_deliver_every_event_exactly_once(
    cluster: Cluster, receiver: Receiver
) -> None:
    nodes = [await cluster.start_node(**FAST) for _ in range(3)]
    servers = [n for n in nodes if isinstance(n, RunningServer)]
    assert len(servers) == 3
    await register(servers[0], receiver, ["*"])
    # The other nodes record events too once they read the endpoint (within 2 s).
    for server in servers:
        store = server.runner.app[SERVICE_KEY].store  # type: ignore[union-attr]
        await store.reload_webhook_types()

    receiver.delay = 0.03  # slow answers keep deliveries in flight while the nodes claim
    count = 60
    rooms = ["a", "b", "c"]

    async def publish(i: int) -> None:
        await api(servers[i % 3], "POST", f"/rooms/{rooms[i % 3]}/messages", {"text": f"m{i}"})

    await asyncio.gather(*(publish(i) for i in range(count)))
    for i, server in enumerate(servers):
        await api(server, "POST", f"/rooms/{rooms[i]}/bans", {"user_id": f"troll{i}"})
    expected = count + 3
    await receiver.until(
        lambda: len(receiver.delivered()) == expected, timeout=30, what="every event"
    )
    # A second delivery would come from a second claim, made as the first one was: give
    # every node a few more looks at the outbox; nothing more may arrive.
    await asyncio.sleep(10 * FAST["webhook_poll_interval"])
    per_event = Counter(g.event_id for g in receiver.got)
    assert len(per_event) == expected
    assert set(per_event.values()) == {1}, [e for e, n in per_event.items() if n > 1]
    assert all(g.signed and g.status == 200 for g in receiver.got)
    kinds = Counter(g.type for g in receiver.got)
    assert kinds == {"message.posted": count, "user.banned": 3}
