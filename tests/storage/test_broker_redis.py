"""What only the Redis broker promises: several nodes, presence expiry, outages, resync.

Every test runs on a Redis of its own (``own_redis``): the outage tests pause, restart and
kill connections of it, which must not reach the machine's shared Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from pchat.storage.broker_redis import RedisBroker
from tests.helpers import t
from tests.procs import RedisProcess, private_redis
from tests.storage.backends import hold_resubscription

Got = list[tuple[str, int | None, bytes]]
MakeNode = Callable[..., Awaitable[RedisBroker]]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


def recorder(got: Got) -> Callable[[str, int | None, bytes], None]:
    return lambda room, seq, payload: got.append((room, seq, payload))


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A private ``redis-server`` of this test, killed by its pid at teardown."""
    async with private_redis(tmp_path / "redis") as redis:
        yield redis


@pytest.fixture
async def admin(own_redis: RedisProcess) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def make_node(own_redis: RedisProcess) -> AsyncIterator[MakeNode]:
    """Brokers on the test's Redis: the nodes of one cluster."""
    nodes: list[RedisBroker] = []

    async def make(**options: Any) -> RedisBroker:
        options.setdefault("timeout", 0.5)
        node = RedisBroker(own_redis.url, prefix="t:", **options)
        await node.open()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        await node.close()


async def test_publications_cross_nodes_once_and_in_order(make_node: MakeNode) -> None:
    a, b, c = await make_node(), await make_node(), await make_node()
    on_a: Got = []
    on_b: Got = []
    await a.subscribe("lobby", recorder(on_a))
    await b.subscribe("lobby", recorder(on_b))
    await c.subscribe("hall", recorder([]))
    for i in range(1, 101):
        await (a if i % 2 else b).publish("lobby", None, b"%d" % i)
    await c.publish("lobby", 7, b"from c")
    await until(lambda: len(on_a) == 101 and len(on_b) == 101)
    # Each node's publications come in its publish order, once (no echo to the publisher).
    for got in (on_a, on_b):
        payloads = [p for _, _, p in got]
        assert [p for p in payloads if p != b"from c" and int(p) % 2] == [
            b"%d" % i for i in range(1, 101, 2)
        ]
        assert [p for p in payloads if p != b"from c" and not int(p) % 2] == [
            b"%d" % i for i in range(2, 101, 2)
        ]
        assert ("lobby", 7, b"from c") in got
    await asyncio.sleep(0.1)
    assert len(on_a) == len(on_b) == 101


async def test_a_node_subscribes_only_to_rooms_it_serves(make_node: MakeNode, admin: Redis) -> None:
    a, b = await make_node(), await make_node()
    await a.subscribe("lobby", recorder([]))
    channel = f"{a.prefix}room:lobby"
    counts = dict(await admin.pubsub_numsub(channel, f"{a.prefix}room:hall"))
    assert counts == {channel.encode(): 1, f"{a.prefix}room:hall".encode(): 0}
    await b.subscribe("lobby", recorder([]))
    assert dict(await admin.pubsub_numsub(channel))[channel.encode()] == 2
    await a.unsubscribe("lobby")
    await until(lambda: True)
    await asyncio.sleep(0.05)
    assert dict(await admin.pubsub_numsub(channel))[channel.encode()] == 1


async def test_presence_is_room_wide_and_a_dead_nodes_count_expires(make_node: MakeNode) -> None:
    a = await make_node(presence_ttl=0.6)
    b = await make_node(presence_ttl=0.6)
    assert await a.set_presence("lobby", 3) == 3
    assert await b.set_presence("lobby", 2) == 5
    assert await b.set_presence("hall", 1) == 1
    assert await a.set_presence("lobby", 4) == 6
    # Heartbeats keep the counts alive beyond the TTL.
    await asyncio.sleep(1.0)
    assert await a.set_presence("lobby", 4) == 6
    assert await b.set_presence("lobby", 0) == 4
    assert await b.set_presence("lobby", 2) == 6
    # b dies without a word: its heartbeat stops and its count expires.
    for task in b._tasks:
        task.cancel()
    client, b._redis = b._redis, None  # so that closing b withdraws nothing
    assert client is not None
    try:
        await asyncio.sleep(0.8)
        assert await a.set_presence("lobby", 4) == 4
    finally:
        await client.aclose()


async def test_a_lost_publication_is_handed_over_by_the_heartbeat(
    make_node: MakeNode, admin: Redis
) -> None:
    a = await make_node(heartbeat=0.1)
    b = await make_node(heartbeat=0.1)
    got: Got = []
    await b.subscribe("lobby", recorder(got))
    await a.publish("lobby", 1, b"one")
    await until(lambda: len(got) == 1)
    # seq 2 and 3 recorded as the room's last publication but never sent on the channel:
    # what b sees when pub/sub lost them.
    last = f"{a.prefix}last:lobby"
    header = b"\x00" * 8 + (3).to_bytes(8, "big") + (99).to_bytes(8, "big")  # node, seq, index
    await admin.hset(last, mapping={"seq": 3, "data": header + b"three"})
    await until(lambda: len(got) == 2)
    assert got[1] == ("lobby", 3, b"three")
    await asyncio.sleep(0.3)
    assert len(got) == 2  # handed over once


async def test_a_new_subscriber_is_not_handed_old_publications(make_node: MakeNode) -> None:
    a = await make_node(heartbeat=0.1)
    await a.publish("lobby", 5, b"old")
    await asyncio.sleep(0.1)
    b = await make_node(heartbeat=0.1)
    got: Got = []
    await b.subscribe("lobby", recorder(got))
    await asyncio.sleep(0.3)
    assert got == []
    await a.publish("lobby", 6, b"new")
    await until(lambda: got == [("lobby", 6, b"new")])


async def test_the_subscriber_reconnects_after_its_connection_is_killed(
    make_node: MakeNode, admin: Redis
) -> None:
    a = await make_node(heartbeat=0.2)
    b = await make_node(heartbeat=0.2)
    got: Got = []
    await b.subscribe("lobby", recorder(got))
    await a.publish("lobby", 1, b"one")
    await until(lambda: len(got) == 1)
    await admin.client_kill_filter(_type="pubsub")
    await until(lambda: not b.healthy or len(got) > 1, timeout=3)
    await until(lambda: b.healthy, timeout=5)
    await a.publish("lobby", 2, b"two")
    await until(lambda: [s for _, s, _ in got] == [1, 2])


async def test_a_paused_redis_degrades_health_and_nothing_is_lost(
    make_node: MakeNode, admin: Redis
) -> None:
    a = await make_node(heartbeat=0.2)
    b = await make_node(heartbeat=0.2)
    got: Got = []
    on_a: Got = []
    await a.subscribe("lobby", recorder(on_a))
    await b.subscribe("lobby", recorder(got))
    assert a.healthy and b.healthy
    await admin.execute_command("CLIENT", "PAUSE", 2500, "ALL")
    try:
        for i in range(1, 21):
            await a.publish("lobby", i, b"%d" % i)  # never blocks
        assert len(on_a) == 20  # delivered on its own node at once
        assert await a.set_presence("lobby", 2) >= 2  # answers at once from what it knows
        await until(lambda: not a.healthy and not b.healthy, timeout=2.4)
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
    await until(lambda: a.healthy and b.healthy)
    # Publications b's subscriber missed while it reconnected are not replayed by pub/sub,
    # but the last one is handed over: the room hub fetches the rest from the store.
    await until(lambda: bool(got) and got[-1][1] == 20)
    seqs = [s for _, s, _ in got]
    assert seqs == sorted(set(seqs))


async def test_rate_limit_buckets_are_shared_by_the_nodes(make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    # burst 3 at 1 token/s: three takes pass, wherever they are made, then the bucket is dry
    waits = [
        await a.take_token("msg:ann", 1.0, 3),
        await b.take_token("msg:ann", 1.0, 3),
        await a.take_token("msg:ann", 1.0, 3),
    ]
    assert waits == [0.0, 0.0, 0.0]
    dry = await b.take_token("msg:ann", 1.0, 3)
    assert dry is not None and 0.5 < dry <= 1.0
    assert await a.take_token("msg:bob", 1.0, 3) == 0.0  # another user's bucket
    await asyncio.sleep(0.3)
    again = await a.take_token("msg:ann", 10.0, 3)  # refills at the given rate
    assert again == 0.0


async def test_rate_limit_falls_back_to_the_node_when_redis_is_away(make_node: MakeNode) -> None:
    node = await make_node()
    node._set_cmd_ok(False)  # as after a failed command
    assert await node.take_token("msg:ann", 1.0, 3) is None


async def test_after_an_outage_publications_wait_for_the_other_nodes_to_resubscribe(
    make_node: MakeNode, own_redis: RedisProcess
) -> None:
    a = await make_node(heartbeat=0.1, timeout=0.3, settle=5.0)
    b = await make_node(heartbeat=0.1, timeout=0.3)
    reconnects: list[str] = []
    a.on_reconnect(lambda: reconnects.append("a"))
    got: Got = []
    await a.subscribe("lobby", recorder([]))
    await b.subscribe("lobby", recorder(got))
    await until(lambda: a._subscribers.get("lobby") == 2)  # a's heartbeat counted both
    gate = hold_resubscription(b)
    own_redis.pause()
    try:
        await until(lambda: not a._sub_ok and not b._sub_ok)
        for i in range(10):
            await a.publish("lobby", None, b"%d" % i)
    finally:
        own_redis.resume()
    asyncio.get_running_loop().call_later(1.0, gate.set)  # b back a second after a
    await until(lambda: len(got) == 10, timeout=8)
    assert [p for _, _, p in got] == [b"%d" % i for i in range(10)]
    await until(lambda: reconnects == ["a"])


async def test_a_batch_that_timed_out_and_was_sent_again_arrives_once(
    make_node: MakeNode, own_redis: RedisProcess
) -> None:
    # The listeners do not notice a short pause (heartbeat 5 s): their subscriptions hold,
    # and the batch that timed out during it is executed by Redis when it resumes.
    a = await make_node(heartbeat=5.0, timeout=0.3)
    b = await make_node(heartbeat=5.0, timeout=0.3)
    got: Got = []
    await b.subscribe("lobby", recorder(got))
    own_redis.pause()
    try:
        for i in range(5):
            await a.publish("lobby", None, b"%d" % i)
        await until(lambda: not a.healthy)  # the batch timed out
        await asyncio.sleep(1.0)
    finally:
        own_redis.resume()
    await until(lambda: len(got) >= 5)
    await asyncio.sleep(0.5)
    assert [p for _, _, p in got] == [b"%d" % i for i in range(5)]  # once each


async def test_on_reconnect_is_called_once_redis_is_back(
    make_node: MakeNode, own_redis: RedisProcess
) -> None:
    a = await make_node(heartbeat=0.1, timeout=0.3)
    calls: list[float] = []
    a.on_reconnect(lambda: calls.append(asyncio.get_running_loop().time()))
    await a.subscribe("lobby", recorder([]))
    await asyncio.sleep(0.3)
    assert calls == []  # not for the first connection
    await own_redis.restart()  # empty, on the same port
    await until(lambda: a.healthy and bool(calls), timeout=8)
    await asyncio.sleep(0.5)
    assert len(calls) == 1
