"""What only the worker hub's broker shows: two workers on one hub, and its health.

The PubSub, Presence and RateLimits contracts run against it in the conformance suites.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.storage.broker_local import LocalBroker
from pchat.storage.hub_local import LocalHub
from tests.storage.conformance import Got, recorder, until


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[LocalHub]:
    hub = LocalHub(tmp_path / "hub.sock")
    await hub.start()
    yield hub
    await hub.close()


async def test_local_broker_reports_health(hub: LocalHub) -> None:
    broker = LocalBroker(hub.path)
    assert not broker.healthy
    await broker.open()
    try:
        assert broker.healthy
    finally:
        await broker.close()
    assert not broker.healthy


async def test_two_workers_share_publications_and_presence(hub: LocalHub) -> None:
    a, b = LocalBroker(hub.path), LocalBroker(hub.path)
    await a.open()
    await b.open()
    try:
        on_a: Got = []
        on_b: Got = []
        await a.subscribe("lobby", recorder(on_a))
        await b.subscribe("lobby", recorder(on_b))
        assert await a.set_presence("lobby", 2) == 2  # the hub answers after the SUBs
        for i in range(1, 21):
            await (a if i % 2 else b).publish("lobby", i, b"%d" % i)
        expected = [("lobby", i, b"%d" % i) for i in range(1, 21)]
        await until(lambda: len(on_a) == 20 and len(on_b) == 20)
        # Each worker's own publications at once, the other's through the hub: each once,
        # and each publisher's in its publish order.
        for got in (on_a, on_b):
            assert sorted(got, key=lambda g: g[1] or 0) == expected
            assert [g for g in got if (g[1] or 0) % 2 == 1] == expected[0::2]  # a's
            assert [g for g in got if (g[1] or 0) % 2 == 0] == expected[1::2]  # b's
        assert await b.set_presence("lobby", 3) == 5
        assert await a.set_presence("lobby", 0) == 3
        await b.unsubscribe("lobby")
        await a.publish("lobby", 21, b"21")
        await until(lambda: len(on_a) == 21)
        assert len(on_b) == 20
    finally:
        await a.close()
        await b.close()
