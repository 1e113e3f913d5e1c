"""Three ``pchat serve`` nodes behind Debian's nginx running the shipped deploy/nginx.conf
(tests/nginx.py: only its two include files are the test's), on PostgreSQL and Redis.

Through nginx: static files, the token service, WebSocket upgrades spread over the nodes, the
request id nginx gives each request; each node sees the caller's own address (from
``X-Forwarded-For``, nginx being ``PCHAT_TRUSTED_PROXIES``), so that a per-address limit
applies to the caller and not to nginx; a node killed (``kill -9``) while clients talk, and a
rolling restart (SIGTERM, each node in turn, the drain of server/drain.py): every client
ends connected and recovered, holding every acknowledged message once and in order.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pchat.protocol.codes import CloseCode
from pchat.sdk import Events, PChatSDK, States
from pchat.sdk.backoff import reconnect_hint
from pchat.sdk.events import ConnectEvent, DisconnectEvent
from pchat.server.config import Settings
from pchat.server.runner import stop_timeout
from tests.cluster.conftest import Cluster, ProcessNode, until
from tests.cluster.test_faults import Talkers, assert_everyone_has_everything
from tests.helpers import RawClient, t
from tests.nginx import Nginx, nginx_binary
from tests.server.test_edge_functional import upgrade

#: The drain of the nodes: short, so that a rolling restart of three fits a test.
READY_DELAY, WINDOW = 1.0, 2.0

INDEX = "<!doctype html><title>pchat behind nginx</title>"


@dataclass
class Edge:
    """nginx in front of the cluster's process nodes; SDK clients that connect through it."""

    cluster: Cluster
    nginx: Nginx
    key: str
    secret: str
    http: aiohttp.ClientSession
    nodes: list[ProcessNode] = field(default_factory=list)
    #: Each client's CONNECT and DISCONNECT events.
    connects: dict[PChatSDK, list[ConnectEvent]] = field(default_factory=dict)
    disconnects: dict[PChatSDK, list[DisconnectEvent]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.nginx.url

    async def token(self, sub: str) -> str:
        """From the token service, through nginx."""
        headers = {"auth-api-key": self.key, "auth-api-secret": self.secret}
        url = f"{self.url}/public-chat/token/"
        async with self.http.get(url, params={"sub": sub}, headers=headers) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["token"])

    async def client(self, room: str, name: str) -> PChatSDK:
        """A connected SDK client of nginx's address (it knows no node)."""
        sdk = PChatSDK(
            self.url,
            request_timeout=t(5),
            backoff_base=0.05,
            backoff_max=0.3,
            rng=random.Random(len(self.cluster.sdks)),
        )
        self.cluster.sdks.append(sdk)
        self.connects[sdk], self.disconnects[sdk] = [], []
        sdk.on(Events.CONNECT, self.connects[sdk].append)
        sdk.on(Events.DISCONNECT, self.disconnects[sdk].append)
        await sdk.connect(room, name, await self.token(name))
        return sdk

    def node_log(self, node: ProcessNode) -> list[dict[str, Any]]:
        """The node's JSON log lines (stdout's few plain lines left out)."""
        text = (node.data_dir / f"node-{node.port}.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


EdgeFactory = Callable[..., Awaitable[Edge]]


@pytest.fixture
async def edge(cluster: Cluster, tmp_path: Path) -> AsyncIterator[EdgeFactory]:
    """``await edge(**env)``: three nodes with ``env`` (``PCHAT_*``) and nginx before them."""
    nginx_binary()  # skip before starting anything when there is no nginx
    key, secret = await cluster.create_api_key()  # in the cluster's PostgreSQL
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text(INDEX)
    (static / "app.js").write_text("console.log('pchat');\n")
    made: list[Edge] = []

    async def start(**env: str) -> Edge:
        base = {
            "PCHAT_TRUSTED_PROXIES": "127.0.0.1",  # nginx
            "PCHAT_SERVE_DEMO": "true",
            "PCHAT_STATIC_DIR": str(static),
            "PCHAT_LOG_FORMAT": "json",
            "PCHAT_LOG_LEVEL": "debug",
            "PCHAT_DRAIN_READY_DELAY": str(READY_DELAY),
            "PCHAT_DRAIN_WINDOW": str(WINDOW),
        }
        nodes = [
            ProcessNode(cluster.data_dir, cluster.store, cluster.broker, env=base | env)
            for _ in range(3)
        ]
        for node in nodes:
            await node.start()
            cluster.nodes.append(node)  # stopped by the cluster, after its clients
        nginx = Nginx(tmp_path / "nginx", [node.port for node in nodes])
        await nginx.start()
        made.append(Edge(cluster, nginx, key, secret, aiohttp.ClientSession(), nodes))
        return made[-1]

    yield start
    for e in made:
        for sdk in e.cluster.sdks:
            await sdk.disconnect()
        await e.nginx.stop()
        await e.http.close()


async def test_the_shipped_nginx_serves_pages_tokens_and_websockets_of_every_node(
    edge: EdgeFactory,
) -> None:
    e = await edge()
    async with e.http.get(f"{e.url}/") as r:
        assert r.status == 200 and await r.text() == INDEX
    async with e.http.get(f"{e.url}/app.js") as r:
        assert r.status == 200 and "pchat" in await r.text()
    # The metrics are the nodes' own, not the public's.
    async with e.http.get(f"{e.url}/metrics") as r:
        assert r.status == 404
    async with e.http.get(f"{e.nodes[0].url}/metrics") as r:
        assert r.status == 200 and "pchat_connections" in await r.text()
    # The token service; nginx's request id reaches the node, which logs it and echoes it.
    headers = {"auth-api-key": e.key, "auth-api-secret": "sk_" + "x" * 43}
    async with e.http.get(f"{e.url}/public-chat/token/?sub=u", headers=headers) as r:
        assert r.status == 401
        request_id = r.headers["X-Request-Id"]
    assert len(request_id) == 32  # nginx's $request_id, not one a node made (16)
    logged = [
        line for node in e.nodes for line in e.node_log(node) if line.get("req") == request_id
    ]
    assert [(line["msg"], line["status"]) for line in logged] == [("http request", 401)]
    # WebSockets: upgraded through nginx and spread over all three nodes (least_conn).
    ws_url = f"ws://127.0.0.1:{e.nginx.port}/public-chat/ws"
    raws = [RawClient(await e.http.ws_connect(ws_url)) for _ in range(6)]
    try:
        for i, raw in enumerate(raws):
            raw.connected = await raw.ok(
                "connect", room="lobby", username=f"r{i}", token=await e.token(f"r{i}")
            )
        assert len({raw.connected["node"] for raw in raws}) == 3
        alice, bob = await e.client("lobby", "alice"), await e.client("lobby", "bob")
        sent = await alice.send_message("hello through nginx")
        await until(lambda: [m.id for m in bob.messages] == [sent.id], 10, "bob to get it")
        for raw in raws:
            assert (await raw.push("message"))["message"]["id"] == sent.id
    finally:
        for raw in raws:
            await raw.close()


async def test_behind_nginx_each_node_limits_the_caller_not_nginx(edge: EdgeFactory) -> None:
    e = await edge(PCHAT_MAX_CONNECTIONS_PER_ADDRESS="1", PCHAT_LIMIT_CONNECTIONS_BEHIND_PROXY="1")
    conns = []
    try:
        # One WebSocket per caller per node: 127.0.0.2 gets one on each node, then 429.
        statuses: list[int] = []
        while 429 not in statuses:
            assert len(statuses) < 4, statuses
            conns.append(await upgrade(e.nginx.port, local="127.0.0.2"))
            statuses.append(conns[-1].status)
        assert statuses[0] == 101 and statuses.count(101) == len(statuses) - 1
        # nginx's own address is not what is counted: another caller is let in.
        conns.append(await upgrade(e.nginx.port, local="127.0.0.3"))
        assert conns[-1].status == 101
    finally:
        for conn in conns:
            conn.close()

    def opened() -> list[str]:
        """The callers of the WebSockets the nodes logged (each after its 101 went out)."""
        lines = [line for node in e.nodes for line in e.node_log(node)]
        return sorted(line["client"] for line in lines if line["msg"] == "connection opened")

    expected = ["127.0.0.2"] * (len(statuses) - 1) + ["127.0.0.3"]
    await until(lambda: opened() == expected, 10, f"the nodes to log {expected}")


async def test_clients_fail_over_through_nginx_when_a_node_is_killed(edge: EdgeFactory) -> None:
    e = await edge()
    clients = [await e.client("arena", f"c{i}") for i in range(6)]
    talkers = Talkers(clients[:3])
    await talkers.more(40)
    victim = e.nodes[0]
    await victim.kill()  # kill -9: no close frame, no drain
    await until(
        lambda: all(len(e.connects[sdk]) >= 2 for sdk in clients if e.disconnects[sdk]),
        20,
        "the killed node's clients to reconnect",
    )
    await talkers.more(40)
    acked = await talkers.stop()
    assert any(e.disconnects.values()), "nobody was on the killed node"
    await assert_everyone_has_everything(acked, clients)
    for sdk in clients:
        assert sdk.state is States.CONNECTED
        assert all(event.recovered for event in e.connects[sdk][1:]), sdk.user


@pytest.mark.timeout(240)
async def test_a_rolling_restart_through_nginx_loses_nothing_and_nobody(edge: EdgeFactory) -> None:
    e = await edge()
    clients = [await e.client("stage", f"c{i}") for i in range(9)]
    talkers = Talkers(clients[:4], gap=0.03)
    await talkers.more(30)
    longest = stop_timeout(Settings(drain_ready_delay=READY_DELAY, drain_window=WINDOW))
    for node in e.nodes:
        assert node.proc is not None
        async with aiohttp.ClientSession() as direct:
            node.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # Out of rotation first (a load balancer that polls readiness stops here).
            async with asyncio.timeout(t(READY_DELAY)):
                while True:
                    async with direct.get(f"{node.url}/readyz") as r:
                        if r.status == 503:
                            break
                    await asyncio.sleep(0.02)
        assert await asyncio.wait_for(node.proc.wait(), t(longest + 5)) == 0
        assert time.monotonic() - signalled >= READY_DELAY  # out of rotation, then drained
        drained = [line["msg"] for line in e.node_log(node) if line["msg"].startswith("drain:")]
        assert [msg.split()[1] for msg in drained[-3:]] == ["not", "closing", "done"]
        await node.start()  # the same port: nginx's upstream again
        await talkers.more(30, timeout=30)
    acked = await talkers.stop()
    await assert_everyone_has_everything(acked, clients)
    for sdk in clients:
        assert sdk.state is States.CONNECTED, sdk.user
        # Each was on a node that restarted: moved at least once, recovered every time.
        assert len(e.connects[sdk]) >= 2, sdk.user
        assert all(event.recovered for event in e.connects[sdk][1:]), sdk.user
        # Every close was the drain's: 4000 with a hint, never a dropped connection.
        for event in e.disconnects[sdk]:
            assert event.code == CloseCode.SHUTDOWN and reconnect_hint(event.reason), event
