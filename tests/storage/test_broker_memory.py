"""MemoryBroker: in-process fan-out."""

from __future__ import annotations

import logging

import pytest

from pchat.storage.broker_memory import MemoryBroker


async def test_publications_reach_the_room_handler_in_order() -> None:
    broker = MemoryBroker()
    await broker.open()
    got: list[tuple[str, int | None, bytes]] = []
    other: list[bytes] = []
    await broker.subscribe("lobby", lambda room, seq, payload: got.append((room, seq, payload)))
    await broker.subscribe("hall", lambda room, seq, payload: other.append(payload))
    for i in range(5):
        await broker.publish("lobby", i, b"m%d" % i)
    await broker.publish("lobby", None, b"typing")
    await broker.publish("nobody", 1, b"lost")
    assert got == [("lobby", i, b"m%d" % i) for i in range(5)] + [("lobby", None, b"typing")]
    assert other == []

    await broker.unsubscribe("lobby")
    await broker.unsubscribe("lobby")  # harmless
    await broker.publish("lobby", 9, b"after")
    assert len(got) == 6
    await broker.close()


async def test_subscribing_again_replaces_the_handler() -> None:
    broker = MemoryBroker()
    first: list[bytes] = []
    second: list[bytes] = []
    await broker.subscribe("lobby", lambda room, seq, payload: first.append(payload))
    await broker.subscribe("lobby", lambda room, seq, payload: second.append(payload))
    await broker.publish("lobby", 1, b"x")
    assert (first, second) == ([], [b"x"])


async def test_a_failing_handler_does_not_reach_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()

    def broken(room: str, seq: int | None, payload: bytes) -> None:
        raise RuntimeError("boom")

    await broker.subscribe("lobby", broken)
    with caplog.at_level(logging.ERROR, logger="pchat.storage"):
        await broker.publish("lobby", 1, b"x")
    assert "lobby" in caplog.text


async def test_presence_is_this_nodes_count() -> None:
    broker = MemoryBroker()
    assert await broker.set_presence("lobby", 3) == 3
    assert await broker.set_presence("lobby", 0) == 0


def test_memory_broker_is_always_healthy() -> None:
    assert MemoryBroker().healthy
