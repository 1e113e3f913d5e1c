"""Faults in a three-node cluster: a node killed, Redis paused, Redis restarted.

The invariant after each: every client holds every acknowledged message, in position
order, once; positions are gap-free; the nodes' brokers report degraded health during a
Redis outage and healthy after it.

The Redis tests stop the machine's real Redis (``SIGSTOP``, ``SHUTDOWN``) and always bring
it back (``SIGCONT``; ``scripts/services.sh``, the command that starts it in CI) in a
``finally`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from pchat.protocol.errors import ConnectionClosedError, StateError
from pchat.protocol.models import Message
from pchat.sdk import Events, PChatSDK, States
from pchat.sdk.events import ConnectEvent
from pchat.server.ws import SERVICE_KEY
from pchat.storage.redis import RedisBroker
from tests.cluster.conftest import Cluster, Node, until
from tests.helpers import RunningServer, t
from tests.storage.backends import redis_url

ROOT = Path(__file__).resolve().parents[2]
#: How long Redis stays paused (the issue asks for 10 s).
PAUSE = float(os.environ.get("PCHAT_TEST_REDIS_PAUSE", "10"))


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


@pytest.fixture
async def redis_admin() -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url(), socket_timeout=2, socket_connect_timeout=2)
    yield client
    with contextlib.suppress(Exception):
        await client.aclose()


async def redis_up() -> bool:
    client = Redis.from_url(redis_url(), socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


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
    cluster: Cluster, redis_admin: Redis
) -> None:
    nodes, clients, talkers = await three_nodes_with_talk(cluster)
    logs = [ordered_log(sdk) for sdk in clients[:3]]
    pid = int((await redis_admin.info("server"))["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        paused_at = asyncio.get_running_loop().time()
        await until(lambda: not any(broker_of(n).healthy for n in nodes), PAUSE, "degraded")
        assert await health(nodes[0]) == (503, "degraded")
        await talkers.more(10, PAUSE)  # sends are acknowledged meanwhile: PostgreSQL is up
        await asyncio.sleep(max(0.0, PAUSE - (asyncio.get_running_loop().time() - paused_at)))
    finally:
        os.kill(pid, signal.SIGCONT)
    await until(lambda: all(broker_of(n).healthy for n in nodes), 20, "healthy again")
    assert await health(nodes[0]) == (200, "ok")
    await talkers.more(20)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, clients)
    for log in logs:  # attached while the talk was going on already
        assert log == list(range(log[0], len(acked) + 1))


async def test_a_restarted_redis_degrades_health_and_loses_nothing(
    cluster: Cluster, redis_admin: Redis
) -> None:
    nodes, clients, talkers = await three_nodes_with_talk(cluster)
    logs = [ordered_log(sdk) for sdk in clients[:3]]
    try:
        with contextlib.suppress(Exception):
            await redis_admin.shutdown(nosave=True)
        await until(lambda: not any(broker_of(n).healthy for n in nodes), 10, "degraded")
        await talkers.more(10)
    finally:
        # Started again with the command CI uses (it does nothing if Redis answers).
        await asyncio.to_thread(
            subprocess.run, ["bash", str(ROOT / "scripts" / "services.sh")], check=False
        )
        async with asyncio.timeout(t(20)):
            while not await redis_up():
                await asyncio.sleep(0.1)
    await until(lambda: all(broker_of(n).healthy for n in nodes), 20, "healthy again")
    await talkers.more(20)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, clients)
    for log in logs:
        assert log == list(range(log[0], len(acked) + 1))
