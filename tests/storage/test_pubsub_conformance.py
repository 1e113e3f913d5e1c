"""The PubSub contract, run against every broker backend of ``conftest.BROKER_FACTORIES``.

Delivery may be asynchronous (Redis, the worker hub): each check waits until the
publications arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from pchat.storage.base import PubSub
from tests.storage.conformance import Got, recorder, until

PubSubMaker = Callable[..., Awaitable[PubSub]]


async def test_publications_reach_the_room_handler_in_order(make_broker: PubSubMaker) -> None:
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


async def test_unsubscribe_stops_delivery(make_broker: PubSubMaker) -> None:
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


async def test_subscribing_again_replaces_the_handler(make_broker: PubSubMaker) -> None:
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
    make_broker: PubSubMaker, caplog: pytest.LogCaptureFixture
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


async def test_on_reconnect_takes_a_callback_and_is_quiet_while_connected(
    make_broker: PubSubMaker,
) -> None:
    broker = await make_broker()
    calls: list[None] = []
    broker.on_reconnect(lambda: calls.append(None))
    got: Got = []
    await broker.subscribe("lobby", recorder(got))
    await broker.publish("lobby", 1, b"x")
    await until(lambda: len(got) == 1)
    await asyncio.sleep(0.1)
    assert calls == []  # only after an outage (tests/storage/test_broker_redis.py)
