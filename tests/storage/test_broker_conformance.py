"""The Broker contract, run against every backend of ``conftest.BROKER_FACTORIES``.

Delivery may be asynchronous (Redis): each check waits until the publications arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from pchat.storage.base import Broker
from tests.helpers import t

BrokerMaker = Callable[..., Awaitable[Broker]]
Got = list[tuple[str, int | None, bytes]]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


def recorder(got: Got) -> Callable[[str, int | None, bytes], None]:
    return lambda room, seq, payload: got.append((room, seq, payload))


async def test_publications_reach_the_room_handler_in_order(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    got: Got = []
    other: Got = []
    await broker.subscribe("lobby", recorder(got))
    await broker.subscribe("hall", recorder(other))
    for i in range(1, 51):
        await broker.publish("lobby", i, b"m%d" % i)
    await broker.publish("lobby", None, b"typing")
    await broker.publish("nobody", 1, b"lost")
    expected = [("lobby", i, b"m%d" % i) for i in range(1, 51)] + [("lobby", None, b"typing")]
    await until(lambda: len(got) >= len(expected))
    assert got == expected
    await asyncio.sleep(0.05)
    assert other == []
    assert len(got) == len(expected)  # delivered once


async def test_unsubscribe_stops_delivery(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    got: Got = []
    await broker.subscribe("lobby", recorder(got))
    await broker.publish("lobby", 1, b"before")
    await until(lambda: len(got) == 1)
    await broker.unsubscribe("lobby")
    await broker.unsubscribe("lobby")  # harmless
    await broker.unsubscribe("never")  # harmless
    await broker.publish("lobby", 2, b"after")
    await asyncio.sleep(0.1)
    assert got == [("lobby", 1, b"before")]


async def test_subscribing_again_replaces_the_handler(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    first: Got = []
    second: Got = []
    await broker.subscribe("lobby", recorder(first))
    await broker.subscribe("lobby", recorder(second))
    await broker.publish("lobby", 1, b"x")
    await until(lambda: len(second) == 1)
    assert first == []
    assert second == [("lobby", 1, b"x")]


async def test_a_failing_handler_does_not_reach_the_publisher(
    make_broker: BrokerMaker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = await make_broker()
    calls: list[bytes] = []

    def broken(room: str, seq: int | None, payload: bytes) -> None:
        calls.append(payload)
        raise RuntimeError("boom")

    await broker.subscribe("lobby", broken)
    with caplog.at_level(logging.ERROR, logger="pchat.storage"):
        await broker.publish("lobby", 1, b"x")
        await broker.publish("lobby", 2, b"y")
        await until(lambda: len(calls) == 2)
    assert "lobby" in caplog.text


async def test_presence_of_one_node_is_its_count(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    assert await broker.set_presence("lobby", 3) == 3
    assert await broker.set_presence("lobby", 5) == 5
    assert await broker.set_presence("hall", 1) == 1
    assert await broker.set_presence("lobby", 0) == 0


async def test_take_token_is_shared_or_declined(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    first = await broker.take_token("k", 1.0, 1)
    if first is None:  # a one-node broker: the node's own buckets apply
        return
    assert first == 0.0
    second = await broker.take_token("k", 1.0, 1)
    assert second is not None and second > 0


async def test_on_reconnect_takes_a_callback_and_is_quiet_while_connected(
    make_broker: BrokerMaker,
) -> None:
    broker = await make_broker()
    calls: list[None] = []
    broker.on_reconnect(lambda: calls.append(None))
    got: Got = []
    await broker.subscribe("lobby", recorder(got))
    await broker.publish("lobby", 1, b"x")
    await until(lambda: len(got) == 1)
    await asyncio.sleep(0.1)
    assert calls == []  # only after an outage (tests/storage/test_redis_broker.py)
