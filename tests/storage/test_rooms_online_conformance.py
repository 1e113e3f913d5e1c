"""``Presence.rooms_online`` — every room with connections and its room-wide count — run
against every broker backend, with two nodes where the backend has several."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pchat.storage.base import Broker

BrokerMaker = Callable[..., Awaitable[Broker]]


async def test_the_rooms_online_are_those_with_a_count(make_broker: BrokerMaker) -> None:
    broker = await make_broker()
    assert await broker.rooms_online() == {}
    await broker.set_presence("lobby", 3)
    await broker.set_presence("hall", 1)
    assert await broker.rooms_online() == {"lobby": 3, "hall": 1}
    await broker.set_presence("lobby", 2)
    await broker.set_presence("hall", 0)
    assert await broker.rooms_online() == {"lobby": 2}
    await broker.set_presence("lobby", 0)
    assert await broker.rooms_online() == {}


async def test_rooms_online_sums_the_nodes(make_broker: BrokerMaker) -> None:
    a = await make_broker()
    b = await make_broker()
    await a.set_presence("lobby", 3)
    await b.set_presence("lobby", 2)
    await b.set_presence("hall", 1)
    expected = {"lobby": 5, "hall": 1}
    if type(a).__name__ == "MemoryBroker":  # no other node: each knows its own
        expected = {"lobby": 3}
    assert await a.rooms_online() == expected
    await b.set_presence("lobby", 0)
    await b.set_presence("hall", 0)
    assert await a.rooms_online() == {"lobby": 3}
