"""Faults in a three-node cluster: a node killed, Redis paused, Redis restarted.

The invariant after each: every client holds every acknowledged message, in position
order, once; positions are gap-free; the nodes' brokers report degraded health during a
Redis outage and healthy after it; what is not in the stream (reactions, polls, reaction
totals) reaches every node's clients once Redis is back.

The Redis tests pause (``SIGSTOP``), restart and kill a Redis of their own
(``cluster_on_own_redis``), never the machine's.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter

import aiohttp

from pchat.protocol.errors import ConnectionClosedError, StateError
from pchat.protocol.models import Message
from pchat.sdk import Events, PChatSDK, States
from pchat.sdk.events import ConnectEvent
from pchat.server.metrics import TimedBroker
from pchat.server.ws import SERVICE_KEY
from pchat.storage.broker_redis import RedisBroker
from tests.cluster.conftest import Cluster, Node, until
from tests.helpers import RunningServer
from tests.storage.backends import hold_resubscription as hold_broker_resubscription

#: How long Redis stays paused (the issue's runs paused it 10-15 s; the nodes of these tests
#: notice a silent Redis within about a second, so a few seconds show the same).
PAUSE = float(os.environ.get("PCHAT_TEST_REDIS_PAUSE", "5"))


class Talkers:
    """Clients that send messages one after the other until stopped; the acknowledged."""

    def __init__(self, clients: list[PChatSDK], gap: float = 0.02) -> None:
        self.acked: list[Message] = []
        self._stop = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._talk(sdk, i, gap)) for i, sdk in enumerate(clients)
        ]

    async def _talk(self, sdk: PChatSDK, index: int, gap: float) -> None:
        n = 0
        while not self._stop.is_set():
            self.acked.append(await self._send(sdk, f"{index}:{n}"))
            n += 1
            await asyncio.sleep(gap)

    @staticmethod
    async def _send(sdk: PChatSDK, text: str) -> Message:
        """Send until acknowledged, as an application does: while the client reconnects,
        wait; if the connection drops under the request, send again with the same cid
        (the server stores it once)."""
        cid = uuid.uuid4().hex
        while True:
            await until(lambda: sdk.state is States.CONNECTED, 15, "the client to reconnect")
            try:
                return await sdk.send_message(text, cid=cid)
            except (StateError, ConnectionClosedError):
                await asyncio.sleep(0.02)

    async def more(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` more messages were acknowledged."""
        goal = len(self.acked) + count
        await until(lambda: len(self.acked) >= goal, timeout, f"{count} more acknowledgements")

    async def stop(self) -> list[Message]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.acked


def broker_of(node: Node) -> RedisBroker:
    assert isinstance(node, RunningServer) and node.runner is not None
    broker = node.runner.app[SERVICE_KEY].broker
    if isinstance(broker, TimedBroker):  # the metrics' timing around it
        broker = broker.inner
    assert isinstance(broker, RedisBroker)
    return broker


async def assert_everyone_has_everything(acked: list[Message], clients: list[PChatSDK]) -> None:
    total = len(acked)
    assert sorted(m.seq for m in acked) == list(range(1, total + 1)), "positions not gap-free"
    by_seq = {m.seq: m.id for m in acked}
    for sdk in clients:
        await until(
            lambda sdk=sdk: len(sdk.messages) >= total, 15, f"{sdk.user} to hold {total} messages"
        )
        assert [m.id for m in sdk.messages] == [by_seq[s] for s in range(1, total + 1)]


def ordered_log(sdk: PChatSDK) -> list[int]:
    """The positions of the MESSAGE events ``sdk`` fires (of a client that does not send)."""
    log: list[int] = []
    sdk.on(Events.MESSAGE, lambda m: log.append(m.seq))
    return log


async def test_a_killed_nodes_clients_recover_every_message(cluster: Cluster) -> None:
    a, b = await cluster.start_node(), await cluster.start_node()
    victim = await cluster.start_node(process=True)
    stranded = [await cluster.client(victim, "arena", f"k{i}") for i in range(3)]
    watchers = [await cluster.client(node, "arena", f"w{i}") for i, node in enumerate((a, b))]
    logs = [ordered_log(sdk) for sdk in (*stranded[1:], *watchers)]
    reconnects: list[ConnectEvent] = []
    for sdk in stranded:
        sdk.on(Events.CONNECT, reconnects.append)
    senders = [
        stranded[0],
        await cluster.client(a, "arena", "sa"),
        await cluster.client(b, "arena", "sb"),
    ]
    talkers = Talkers(senders)
    await talkers.more(60)
    await victim.kill()  # kill -9, mid-stream
    await until(lambda: len(reconnects) == 3, 10, "the stranded clients to reconnect")
    assert all(e.recovered for e in reconnects)  # recovered, not reset
    assert all(s.state is States.CONNECTED for s in stranded)
    await talkers.more(60)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, [*stranded, *watchers, *senders])
    for log in logs:
        assert log == list(range(1, len(acked) + 1))  # in order, once, across the failover


async def health(node: Node) -> tuple[int, str]:
    """The node's /healthz status code and status."""
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/healthz") as response:
        return response.status, (await response.json())["status"]


async def three_nodes_with_talk(cluster: Cluster) -> tuple[list[Node], list[PChatSDK], Talkers]:
    nodes = [await cluster.start_node() for _ in range(3)]
    watchers = [await cluster.client(node, "hall", f"w{i}") for i, node in enumerate(nodes)]
    senders = [await cluster.client(node, "hall", f"s{i}") for i, node in enumerate(nodes)]
    assert all(broker_of(n).healthy for n in nodes)
    talkers = Talkers(senders, gap=0.05)
    await talkers.more(20)
    return nodes, [*watchers, *senders], talkers


async def test_a_paused_redis_degrades_health_and_loses_nothing(
    cluster_on_own_redis: Cluster,
) -> None:
    cluster = cluster_on_own_redis
    assert cluster.redis is not None
    nodes, clients, talkers = await three_nodes_with_talk(cluster)
    logs = [ordered_log(sdk) for sdk in clients[:3]]
    cluster.redis.pause()
    try:
        paused_at = time.monotonic()
        await until(lambda: not any(broker_of(n).healthy for n in nodes), PAUSE, "degraded")
        assert await health(nodes[0]) == (503, "degraded")
        await talkers.more(10, PAUSE)  # sends are acknowledged meanwhile: PostgreSQL is up
        await asyncio.sleep(max(0.0, PAUSE - (time.monotonic() - paused_at)))
    finally:
        cluster.redis.resume()
    await until(lambda: all(broker_of(n).healthy for n in nodes), 20, "healthy again")
    assert await health(nodes[0]) == (200, "ok")
    await talkers.more(20)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, clients)
    for log in logs:  # attached while the talk was going on already
        assert log == list(range(log[0], len(acked) + 1))


async def test_a_restarted_redis_degrades_health_and_loses_nothing(
    cluster_on_own_redis: Cluster,
) -> None:
    cluster = cluster_on_own_redis
    assert cluster.redis is not None
    nodes, clients, talkers = await three_nodes_with_talk(cluster)
    logs = [ordered_log(sdk) for sdk in clients[:3]]
    await cluster.redis.kill()  # gone, with everything it held
    await until(lambda: not any(broker_of(n).healthy for n in nodes), 10, "degraded")
    await talkers.more(10)
    await cluster.redis.start()  # on the same port, empty
    await until(lambda: all(broker_of(n).healthy for n in nodes), 20, "healthy again")
    await talkers.more(20)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, clients)
    for log in logs:
        assert log == list(range(log[0], len(acked) + 1))


# Finding 2 of issue #8: pushes that are not part of the stream, lost between nodes when
# Redis came back, because each node sent what it had queued before the others had
# subscribed again.


def hold_resubscription(node: Node) -> asyncio.Event:
    """Until the returned event is set, ``node``'s Redis listener cannot subscribe again
    (each attempt times out), as when it reconnects later than the other nodes: the race of
    finding 2 then happens on every run, not on some."""
    return hold_broker_resubscription(broker_of(node))


async def pause_redis(cluster: Cluster, nodes: list[Node], room: str) -> list[asyncio.Event]:
    """Pause the cluster's Redis until every node noticed; its listeners held. First wait
    until each node's heartbeat saw every node subscribed to ``room`` (a broker knows how
    many nodes to wait for after an outage as of its last heartbeat)."""
    assert cluster.redis is not None
    await until(
        lambda: all(broker_of(n)._subscribers.get(room) == len(nodes) for n in nodes),
        5,
        "the heartbeats to count the subscribers",
    )
    gates = [hold_resubscription(node) for node in nodes]
    cluster.redis.pause()
    await until(lambda: not any(broker_of(n)._sub_ok for n in nodes), 10, "listeners down")
    return gates


def resume_redis(cluster: Cluster, gates: list[asyncio.Event], hold: float = 1.5) -> None:
    """Resume Redis; the listeners may subscribe again ``hold`` seconds later."""
    assert cluster.redis is not None
    cluster.redis.resume()
    loop = asyncio.get_running_loop()
    for gate in gates:
        loop.call_later(hold, gate.set)


async def test_reactions_sent_while_redis_is_paused_reach_every_nodes_clients(
    cluster_on_own_redis: Cluster,
) -> None:
    cluster = cluster_on_own_redis
    nodes = [await cluster.start_node() for _ in range(3)]
    watchers = [await cluster.client(node, "stage", f"w{i}") for i, node in enumerate(nodes)]
    reactors = [await cluster.client(node, "stage", f"r{i}") for i, node in enumerate(nodes)]
    got: list[Counter[tuple[str, int]]] = [Counter() for _ in watchers]
    for sdk, counter in zip(watchers, got, strict=True):
        sdk.on(Events.REACTION, lambda r, c=counter: c.update([(r.user.id, r.ts)]))
    gates = await pause_redis(cluster, nodes, "stage")
    try:
        for _ in range(20):  # 60 reactions, 180 deliveries
            for sdk in reactors:
                await sdk.send_reaction("like")
            await asyncio.sleep(0.01)
        await asyncio.sleep(PAUSE - 2)
    finally:
        resume_redis(cluster, gates)
    sent = 3 * 20
    try:
        await until(lambda: all(sum(c.values()) >= sent for c in got), 10)
    except AssertionError:
        raise AssertionError(
            f"of {sent} reactions, the watchers got {[len(c) for c in got]}"
        ) from None
    await asyncio.sleep(0.5)
    for counter in got:
        assert len(counter) == sent and set(counter.values()) == {1}  # each once
    # Reaction totals converge: every client ends with the store's totals.
    totals = await watchers[0].get_reactions_stats()
    assert totals.get("like") == sent
    await until(
        lambda: all(sdk.reactions_stats.get("like") == sent for sdk in watchers),
        5,
        "the totals on every node",
    )


async def test_a_poll_due_while_redis_is_paused_reaches_every_node(
    cluster_on_own_redis: Cluster,
) -> None:
    cluster = cluster_on_own_redis
    nodes = [await cluster.start_node() for _ in range(3)]
    staff = await cluster.client(nodes[0], "forum", "mod", role="moderator")
    viewers = [await cluster.client(node, "forum", f"v{i}") for i, node in enumerate(nodes)]
    assert all(sdk.polls == {} for sdk in viewers)
    poll_id = ""

    def is_open(sdk: PChatSDK) -> bool:
        held = sdk.polls.get(poll_id)
        return held is not None and held.status == "open"

    gates = await pause_redis(cluster, nodes, "forum")
    try:
        # Due a second into the pause: every node arms its timer (poll_scan_interval), one
        # publishes it in the store and pushes it, through a Redis that does not answer.
        due = int(time.time() * 1000) + 1000
        poll_id = (await staff.create_poll("Lunch?", ["yes", "no"], scheduled_date=due)).id
        await asyncio.sleep(PAUSE - 2)
        assert is_open(viewers[0]) or is_open(viewers[1]) or is_open(viewers[2])
    finally:
        resume_redis(cluster, gates)
    back = time.monotonic()

    await until(lambda: all(is_open(sdk) for sdk in viewers), 8, "the poll push on every node")
    for node in nodes:  # a request lists it, a new viewer's connect reply has it
        probe = await cluster.client(node, "forum", f"late{nodes.index(node)}")
        assert is_open(probe), f"connect reply of {node.url} without the poll"
        assert poll_id in {p.id for p in await probe.get_polls()}
    assert time.monotonic() - back < 10


# Finding 3 of issue #8: a client that reconnects to a node behind the store was told that
# the stream was reset.


async def test_a_reconnect_to_a_node_behind_the_store_recovers(
    cluster_on_own_redis: Cluster,
) -> None:
    cluster = cluster_on_own_redis
    assert cluster.redis is not None
    # The periodic catch-up with the store every 5 periods: 10 s here, so that the other
    # nodes are still behind when the stranded clients arrive.
    a = await cluster.start_node(stats_interval=2.0)
    b = await cluster.start_node(stats_interval=2.0)
    victim = await cluster.start_node(process=True)
    stranded = [await cluster.client(victim, "arena", f"k{i}") for i in range(3)]
    watchers = [await cluster.client(node, "arena", f"w{i}") for i, node in enumerate((a, b))]
    logs = [ordered_log(sdk) for sdk in stranded[1:]]
    reconnects: list[ConnectEvent] = []
    for sdk in stranded:
        sdk.on(Events.CONNECT, reconnects.append)
    talkers = Talkers([stranded[0]])  # the room's only sender, on the victim
    await talkers.more(20)
    cluster.redis.pause()
    try:
        await until(lambda: not broker_of(a).healthy, 10, "degraded")
        await talkers.more(20)  # reach the victim's clients only
        await victim.kill()
        await until(lambda: len(reconnects) == 3, 10, "the stranded clients to reconnect")
    finally:
        cluster.redis.resume()
    assert [e.recovered for e in reconnects] == [True, True, True]
    await talkers.more(10)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, [*stranded, *watchers])
    for log in logs:
        assert log == list(range(1, len(acked) + 1))  # once each: none fired again
