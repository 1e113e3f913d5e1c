"""server/metrics.py without a network: what is counted, and that nothing is counted per
recipient (the node tells its observer once per publication)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pchat.core.node import Node, Push
from pchat.core.settings import CoreSettings
from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.models import Message, User
from pchat.server.metrics import Metrics
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.store_sqlite import SQLiteStore
from tests.core.test_room import FakeSink

ANN = User("ann", "Ann", "viewer")


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


class CountingMetrics(Metrics):
    """Metrics that also count how often the node called them."""

    def __init__(self) -> None:
        super().__init__("test-node")
        self.calls = 0

    def delivered(self, kind: Push | None, recipients: int) -> None:
        self.calls += 1
        super().delivered(kind, recipients)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    store = SQLiteStore(tmp_path / "chat.sqlite3")
    await store.open()
    broker = MemoryBroker()
    n = Node(CoreSettings(), store=store, pubsub=broker)
    yield n
    await n.close()
    await store.close()


async def live_sinks(node: Node, room_id: str, count: int) -> list[FakeSink]:
    sinks = []
    for _ in range(count):
        sink = FakeSink()
        room = await node.join(room_id, sink)
        assert room.last_seq is not None
        room.activate(sink, room.last_seq)
        sinks.append(sink)
    return sinks


async def test_deliveries_are_counted_once_per_publication(node: Node) -> None:
    metrics = CountingMetrics()
    node.observer = metrics
    sinks = await live_sinks(node, "r", 50)
    async with node.opened("r"):  # a hold is no recipient
        for seq in (1, 2, 3):
            message = Message(f"m{seq}", seq, 0, ANN, "hi")
            await node.publish_message("r", seq, message, b'{"type":"message"}')
        await node.publish("r", Push.REACTION, b'{"type":"reaction"}')
        node.push_local("r", b'{"type":"online"}')
    assert all(len(s.frames) == 5 for s in sinks)
    assert metrics.calls == 5  # not 5 x 50
    assert value(metrics, "pchat_publications_total", kind="message") == 3
    assert value(metrics, "pchat_deliveries_total", kind="message") == 150
    assert value(metrics, "pchat_deliveries_total", kind="reaction") == 50
    assert value(metrics, "pchat_deliveries_total", kind="local") == 50
    assert value(metrics, "pchat_delivery_lag_seconds_count") == 3


async def test_a_broker_publish_is_timed_without_this_nodes_delivery() -> None:
    metrics = Metrics("test-node")
    broker = metrics.timed_broker(MemoryBroker())
    handled: list[int | None] = []

    def slow_handler(room_id: str, seq: int | None, payload: bytes) -> None:
        time.sleep(0.05)  # a big local fan-out
        handled.append(seq)

    await broker.subscribe("r", slow_handler)
    await broker.publish("r", 7, b"x")
    assert handled == [7]
    assert value(metrics, "pchat_broker_operation_seconds_count", op="publish") == 1
    assert value(metrics, "pchat_broker_operation_seconds_sum", op="publish") < 0.01
    assert value(metrics, "pchat_broker_operation_seconds_count", op="subscribe") == 1
    assert broker.healthy  # not a coroutine: the broker's own


async def test_a_store_operation_is_timed_and_its_errors_counted(tmp_path: Path) -> None:
    metrics = Metrics("test-node")

    class Failing:
        healthy = False

        async def room(self, room_id: str) -> str:
            return room_id

        async def history(self, room_id: str) -> Any:
            raise RuntimeError("down")

        async def delete_message(self, room_id: str) -> Any:
            raise request_error(ErrorCode.ALREADY_DELETED, "deleted before")

    store: Any = metrics.timed_store(Failing())
    assert await store.room("a") == "a"
    assert store.room is store.room  # made once, kept
    with pytest.raises(RuntimeError):
        await store.history("a")
    with pytest.raises(RequestError):
        await store.delete_message("a")
    assert store.healthy is False
    assert value(metrics, "pchat_store_operation_seconds_count", op="room") == 1
    assert value(metrics, "pchat_store_operation_errors_total", op="room") == 0
    assert value(metrics, "pchat_store_operation_errors_total", op="history") == 1
    # A refusal the protocol names is an answer, not a failure of the store.
    assert value(metrics, "pchat_store_operation_seconds_count", op="delete_message") == 1
    assert value(metrics, "pchat_store_operation_errors_total", op="delete_message") == 0


def test_send_outcomes_recoveries_and_closes() -> None:
    metrics = Metrics("test-node")
    metrics.replied("send", {"message": {}, "duplicate": False})
    metrics.replied("send", {"message": {}, "duplicate": True})
    metrics.replied("send", {"message": None, "held": {}, "duplicate": False})
    metrics.refused("send", "rate_limited")
    metrics.refused("history", "invalid_field")  # not a message
    metrics.replied("connect", {"recovery": {"recovered": True, "events": []}})
    metrics.replied("connect", {"recovery": {"recovered": False, "reason": "gap_too_large"}})
    metrics.replied("connect", {"room": {}})  # no recovery asked for
    for code in (CloseCode.SLOW_CONSUMER, 1000, None, 3999, 4001):
        metrics.closed(code)
    m = "pchat_messages_total"
    assert value(metrics, m, outcome="stored", reason="") == 1
    assert value(metrics, m, outcome="duplicate", reason="") == 1
    assert value(metrics, m, outcome="held", reason="") == 1
    assert value(metrics, m, outcome="refused", reason="rate_limited") == 1
    assert value(metrics, m, outcome="refused", reason="invalid_field") == 0
    assert value(metrics, "pchat_recoveries_total", outcome="recovered") == 1
    assert value(metrics, "pchat_recoveries_total", outcome="gap_too_large") == 1
    assert value(metrics, "pchat_closes_total", code="4001") == 2
    assert value(metrics, "pchat_closes_total", code="1006") == 1  # no close frame
    assert value(metrics, "pchat_closes_total", code="other") == 1  # a client's own code
    assert value(metrics, "pchat_slow_consumer_closes_total") == 2


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def exposed_names(metrics: Metrics) -> set[str]:
    """Every series name ``/metrics`` can carry."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in metrics.registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_dashboard_and_the_alerts_use_only_metrics_that_exist() -> None:
    exposed = exposed_names(Metrics("test-node"))
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) > 20
    alerts = (DEPLOY / "prometheus-alerts.yml").read_text()
    used = set(re.findall(r"\b(?:pchat|process)_[a-z_]+", " ".join(exprs) + alerts))
    assert used - exposed == set()
    # Every metric is on the dashboard.
    assert {n for n in exposed if n.startswith("pchat_")} - used <= {
        f"{histogram}_{part}"
        for histogram in (
            "pchat_delivery_lag_seconds",
            "pchat_event_loop_lag_seconds",
            "pchat_store_operation_seconds",
            "pchat_broker_operation_seconds",
        )
        for part in ("count", "sum")
    }
