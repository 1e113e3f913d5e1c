"""A pchat cluster on loopback: nodes on real PostgreSQL and Redis, clients that fail over.

Each test gets its own schema and key prefix (dropped at teardown) and one data directory
shared by its nodes. The nodes' keys live in the test's schema (a PostgreSQL store keeps
the keys too: docs/operations.md, Keys in a cluster), so every node signs and checks tokens
with the same keys; :meth:`Cluster.create_api_key` adds one there.

Nodes run in this process (:class:`tests.helpers.RunningServer`, so a test can look at a
node's broker), or as a ``pchat serve`` subprocess (:class:`ProcessNode`) that a test can
``kill -9``. Clients are :class:`~pchat.sdk.PChatSDK` instances whose connector tries
their own node first and then the others, as a load balancer would send them elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pchat.core.apikeys import create_api_key
from pchat.protocol.errors import ConnectionClosedError
from pchat.sdk import PChatSDK
from pchat.sdk.connection import AiohttpConnector, Connector, Transport
from pchat.server.key_stores import opened_key_stores
from tests.helpers import (
    RawClient,
    RunningServer,
    free_port,
    make_settings,
    start_server,
    t,
    wait_until_serving,
)
from tests.procs import RedisProcess, private_redis
from tests.storage.backends import (
    drop_redis_prefix,
    drop_schema,
    postgres_dsn,
    redis_url,
    require_postgres,
    require_redis,
    unique_name,
)

#: Settings of every node: fast periodic pushes, no rate limits in the way of the load.
NODE_SETTINGS: dict[str, Any] = {
    "stats_interval": 0.1,
    "poll_tally_interval": 0.05,
    "poll_scan_interval": 0.5,
    "rate_messages": None,
    "rate_reactions": None,
    "rate_frames": None,
    "serve_demo": False,
}


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds (scaled timeout)."""
    try:
        async with asyncio.timeout(t(timeout)):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


@dataclass
class ProcessNode:
    """``pchat serve`` in a subprocess, on the cluster's store and broker."""

    data_dir: Path
    store: str
    broker: str
    port: int = 0
    proc: asyncio.subprocess.Process | None = None
    #: More ``PCHAT_*`` settings (after NODE_SETTINGS).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/public-chat/ws"

    async def start(self) -> None:
        """Start (on the port of its last run, if it ran before) and wait for /healthz."""
        self.port = self.port or free_port()
        env = dict(os.environ)
        env.update({f"PCHAT_{k.upper()}": str(v) for k, v in NODE_SETTINGS.items()})
        env.update(self.env)
        log = (self.data_dir / f"node-{self.port}.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pchat", "serve", "--port", str(self.port)),
            *("--data-dir", str(self.data_dir), "--store", self.store, "--broker", self.broker),
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{self.url}/healthz", proc=self.proc)

    async def kill(self) -> None:
        """``kill -9``: no close frame, no cleanup, nothing flushed."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()


Node = RunningServer | ProcessNode


@dataclass
class Cluster:
    """The nodes of one test and the clients connected to them."""

    data_dir: Path
    store: str
    broker: str
    nodes: list[Node] = field(default_factory=list)
    sdks: list[PChatSDK] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None
    #: The cluster's own Redis, when it has one (``cluster_on_own_redis``).
    redis: RedisProcess | None = None
    _first: RunningServer | None = None

    async def start_node(self, *, process: bool = False, **overrides: Any) -> Node:
        """A node; ``overrides`` change settings of an in-process node."""
        node: Node
        if process:
            node = ProcessNode(self.data_dir, self.store, self.broker)
            await node.start()
        else:
            settings = {**NODE_SETTINGS, **overrides}
            node = await start_server(
                self.data_dir, store=self.store, broker=self.broker, **settings
            )
            if self._first is None:
                self._first = node
        self.nodes.append(node)
        return node

    @property
    def urls(self) -> list[str]:
        return [n.ws_url for n in self.nodes]

    async def create_api_key(self) -> tuple[str, str]:
        """A new API key and secret in the cluster's key store (its PostgreSQL schema)."""
        settings = make_settings(self.data_dir, store=self.store)
        async with opened_key_stores(settings) as stores:
            return await create_api_key(stores.keys)

    async def token(self, sub: str, role: str | None = None) -> str:
        """A token from the token service (of the first in-process node: keys are shared)."""
        assert self._first is not None
        return await self._first.token(sub, role)

    def failover(self, first: Node) -> Connector:
        """Connect to ``first``, else to the next node that answers."""
        connector = AiohttpConnector()
        current = self.nodes.index(first)

        async def connect(_url: str) -> Transport:
            nonlocal current
            error: ConnectionClosedError | None = None
            for step in range(len(self.nodes)):
                index = (current + step) % len(self.nodes)
                try:
                    transport = await connector(self.nodes[index].ws_url)
                except ConnectionClosedError as exc:
                    error = exc
                    continue
                current = index
                return transport
            assert error is not None
            raise error

        return connect

    async def client(
        self, node: Node, room: str, name: str, *, role: str | None = None, **options: Any
    ) -> PChatSDK:
        """A connected SDK client of ``node`` that fails over to the other nodes."""
        options.setdefault("request_timeout", t(5))
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.3)
        options.setdefault("rng", random.Random(len(self.sdks)))
        sdk = PChatSDK(node.url, connector=self.failover(node), **options)
        self.sdks.append(sdk)
        await sdk.connect(room, name, await self.token(name, role), role=role)
        return sdk

    async def close(self) -> None:
        for sdk in self.sdks:
            await sdk.disconnect()
            await sdk.drain()
        for node in reversed(self.nodes):
            await node.stop()
        if self._first is not None and self._first.http is not None:
            await self._first.http.close()
        for node in self.nodes:
            if isinstance(node, RunningServer) and node is not self._first and node.http:
                await node.http.close()


@contextlib.asynccontextmanager
async def make_cluster(
    tmp_path: Path, redis: str, broker_options: str = ""
) -> AsyncIterator[Cluster]:
    """An empty cluster on this test's schema, and ``redis`` with this test's prefix
    (``broker_options``: more query parameters of the broker URL, ``&name=value``)."""
    await require_postgres()
    name = unique_name(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    store = f"{postgres_dsn()}?schema={name}"
    broker = f"{redis}?prefix={name}:{broker_options}"
    c = Cluster(data_dir, store, broker)
    try:
        yield c
    finally:
        await c.close()
        await drop_schema(name)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """An empty cluster on the shared PostgreSQL and Redis (this test's schema and prefix);
    start nodes with ``start_node``. Tests that pause or restart Redis use
    ``cluster_on_own_redis``."""
    await require_redis()
    try:
        async with make_cluster(tmp_path, redis_url()) as c:
            yield c
    finally:
        await drop_redis_prefix(f"{unique_name(tmp_path)}:")


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A private ``redis-server`` of this test (free port, no persistence), killed by pid."""
    async with private_redis(tmp_path / "redis") as redis:
        yield redis


#: Broker options of the clusters on their own Redis: a short heartbeat, so that a node
#: notices a paused Redis within about a second (the default, 5 s, takes 12 s).
FAULT_BROKER_OPTIONS = "&heartbeat=0.3&timeout=0.5&settle=4"


@pytest.fixture
async def cluster_on_own_redis(tmp_path: Path, own_redis: RedisProcess) -> AsyncIterator[Cluster]:
    """An empty cluster on the shared PostgreSQL (this test's schema) and ``own_redis``,
    which the test may pause, restart or kill (``cluster.redis``)."""
    async with make_cluster(tmp_path, own_redis.url, FAULT_BROKER_OPTIONS) as c:
        c.redis = own_redis
        yield c


async def raw_client(
    cluster: Cluster,
    node: Any,
    room: str,
    user: str,
    role: str | None = None,
    *,
    sampling: bool = False,
) -> RawClient:
    """A raw protocol client connected to ``room`` on ``node`` as ``user`` (with ``role``;
    ``sampling``: it takes a sampled stream, docs/protocol.md §4)."""
    assert isinstance(node, RunningServer) and node.http is not None
    client = RawClient(await node.http.ws_connect(node.ws_url))
    args: dict[str, Any] = {
        "room": room,
        "username": user,
        "token": await cluster.token(user, role),
    }
    if role:
        args["role"] = role
    if sampling:
        args["sampling"] = True
    client.connected = await client.ok("connect", **args)
    return client
