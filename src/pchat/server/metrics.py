"""Prometheus metrics: ``GET /metrics`` in the text format, and what feeds it.

Everything is counted at the edges of the chat core, which imports nothing of this:

- the store and the broker are wrapped (:class:`TimedBackend`, :class:`TimedBroker`):
  every coroutine method is timed, by its name, on its way in and out;
- the node tells a :class:`~pchat.core.node.DeliveryObserver` (this) once per publication
  how many connections it was handed to, and how long each stream event it stored took to
  reach its connections — one counter increment per publication, never one per recipient,
  so the fan-out's hot loop is untouched;
- the WebSocket endpoint reports each ``send``'s outcome, each recovery and each close code
  (:meth:`Metrics.replied`, :meth:`Metrics.refused`, :meth:`Metrics.closed`); the token
  service's route is wrapped to count its answers by status;
- the gauges (connections, rooms, health) are read from the service when scraped.

With ``pchat serve --workers N`` every worker is a process of its own and any of them may
answer a scrape (they share the port). prometheus_client's multiprocess mode makes them
agree: :func:`shared_between_workers` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start, each worker keeps its values in files there, and the
worker that answers adds them all up. Counters and histograms are summed over the workers
(those of a worker that died are kept: what it counted happened); the gauges are per worker
(each is a node, labelled ``node``) and a dead worker's are dropped. Workers write their
gauges every :data:`PROBE_INTERVAL` seconds, so another worker's may be that old.

Settings: ``PCHAT_METRICS=false`` turns all of it off (no ``/metrics``, nothing wrapped).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import inspect
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from pchat.core.node import Push
from pchat.core.service import ChatService
from pchat.protocol.codes import CloseCode
from pchat.protocol.errors import RequestError
from pchat.storage.base import Broker, BrokerHandler, MessageStore

__all__ = [
    "METRICS_KEY",
    "PROBE_INTERVAL",
    "Metrics",
    "TimedBackend",
    "TimedBroker",
    "shared_between_workers",
]

#: prometheus_client's switch to its multiprocess mode (read when a process imports it).
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between event-loop lag probes (and, with workers, gauge writes).
PROBE_INTERVAL: Final = 1.0

#: Store and broker operations: 100 µs to 10 s.
OPERATION_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
#: Delivery and event-loop lag: 500 µs to 10 s.
LAG_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Close codes counted as themselves; any other a client sends is counted as ``other``
#: (a client chooses its own code: it must not be able to make a series per code).
_KNOWN_CLOSES: Final = frozenset({*(int(c) for c in CloseCode), 1005})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """The metrics of one node (one server process) and its ``/metrics`` endpoint."""

    def __init__(self, node: str) -> None:
        # No ``*_created`` series beside every counter (process-wide, as the library has it).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.node = node
        #: Whether values go to files shared with the other workers (see the module).
        self.multiprocess = MULTIPROC_ENV in os.environ
        self.registry = CollectorRegistry()
        if not self.multiprocess:  # a worker's own process metrics would not add up
            ProcessCollector(registry=self.registry)
        self._service: ChatService | None = None
        r = self.registry

        def gauge(name: str, doc: str, mode: Any = "livesum") -> Gauge:
            return Gauge(name, doc, ["node"], registry=r, multiprocess_mode=mode).labels(node)

        self._connections = gauge("pchat_connections", "Open client WebSocket connections.")
        self._rooms = gauge("pchat_rooms", "Rooms open on the node (with a connection here).")
        self._store_healthy = gauge(
            "pchat_store_healthy", "1 while the store is healthy, else 0.", "livemin"
        )
        self._broker_healthy = gauge(
            "pchat_broker_healthy", "1 while the broker is healthy, else 0.", "livemin"
        )
        self._serving = gauge(
            "pchat_serving", "1 while the node takes new clients (/readyz), else 0.", "livemin"
        )
        self._messages = Counter(
            "pchat_messages",
            "Client send requests by outcome (stored, duplicate, held, refused) and, for "
            "refusals, the protocol's error name.",
            ["outcome", "reason"],
            registry=r,
        )
        self._stored = self._messages.labels("stored", "")
        self._publications = Counter(
            "pchat_publications",
            "Publications handed to a room's connections on the node, by kind.",
            ["kind"],
            registry=r,
        )
        self._deliveries = Counter(
            "pchat_deliveries",
            "Frames handed to connections: each publication times the room's connections.",
            ["kind"],
            registry=r,
        )
        self._by_kind: dict[Push | None, tuple[Counter, Counter]] = {}
        self._lag = Histogram(
            "pchat_delivery_lag_seconds",
            "Per stream event stored by the node: seconds from its store call's return to "
            "its write to the room's connections on the node.",
            registry=r,
            buckets=LAG_BUCKETS,
        )
        self._recoveries = Counter(
            "pchat_recoveries",
            "Connects that asked to recover, by outcome (recovered, gap_too_large, epoch_changed).",
            ["outcome"],
            registry=r,
        )
        self._closes = Counter(
            "pchat_closes", "Closed client connections by close code.", ["code"], registry=r
        )
        self._slow = Counter(
            "pchat_slow_consumer_closes",
            "Connections closed (4001) because they did not read their output.",
            registry=r,
        )
        self._token_calls = Counter(
            "pchat_token_requests",
            "Token service calls (/public-chat/token/) by HTTP status.",
            ["status"],
            registry=r,
        )
        self._store_seconds = Histogram(
            "pchat_store_operation_seconds",
            "Store operations by name (op): seconds from call to result.",
            ["op"],
            registry=r,
            buckets=OPERATION_BUCKETS,
        )
        self._store_errors = Counter(
            "pchat_store_operation_errors",
            "Store operations that failed (a protocol refusal is none), by name (op).",
            ["op"],
            registry=r,
        )
        self._broker_seconds = Histogram(
            "pchat_broker_operation_seconds",
            "Broker operations by name (op): seconds from call to result; publish without "
            "the node's own delivery (see pchat_delivery_lag_seconds).",
            ["op"],
            registry=r,
            buckets=OPERATION_BUCKETS,
        )
        self._broker_errors = Counter(
            "pchat_broker_operation_errors",
            "Broker operations that failed, by name (op).",
            ["op"],
            registry=r,
        )
        self._loop_lag = Histogram(
            "pchat_event_loop_lag_seconds",
            f"How late the event loop ran a timer due every {PROBE_INTERVAL:g} s.",
            registry=r,
            buckets=LAG_BUCKETS,
        )

    # Wiring ---------------------------------------------------------------------------------

    def timed_store(self, store: MessageStore) -> MessageStore:
        """``store`` with each operation timed."""
        return TimedBackend(store, self._store_seconds, self._store_errors)

    def timed_broker(self, broker: Broker) -> Broker:
        """``broker`` with each operation timed."""
        return TimedBroker(broker, self._broker_seconds, self._broker_errors)

    def watch(self, service: ChatService) -> None:
        """Read the gauges from ``service`` and observe its node's deliveries."""
        self._service = service
        service.node.observer = self

    def count_token_calls(self, handler: Handler) -> Handler:
        """``handler`` (the token service's), counting its answers by status."""
        calls = self._token_calls

        async def counted(request: web.Request) -> web.StreamResponse:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                calls.labels(str(exc.status)).inc()
                raise
            except Exception:
                calls.labels("500").inc()
                raise
            calls.labels(str(response.status)).inc()
            return response

        return counted

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """An aiohttp cleanup context: the lag probe runs while the application does."""
        task = asyncio.get_running_loop().create_task(self._probe())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.multiprocess:  # this worker's gauges go with it
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    # The node's observer (once per publication) ---------------------------------------------

    def delivered(self, kind: Push | None, recipients: int) -> None:
        counters = self._by_kind.get(kind)
        if counters is None:
            label = "local" if kind is None else kind.value
            counters = (self._publications.labels(label), self._deliveries.labels(label))
            self._by_kind[kind] = counters
        counters[0].inc()
        if recipients > 0:
            counters[1].inc(recipients)

    def stored_to_written(self, seconds: float) -> None:
        self._lag.observe(seconds)

    # What the WebSocket endpoint reports ----------------------------------------------------

    def replied(self, rtype: str, result: dict[str, Any]) -> None:
        """A request of type ``rtype`` succeeded with ``result``."""
        if rtype == "send":
            if result.get("duplicate"):
                self._messages.labels("duplicate", "").inc()
            elif result.get("held") is not None:
                self._messages.labels("held", "").inc()
            else:
                self._stored.inc()
        elif rtype == "connect":
            recovery = result.get("recovery")
            if recovery is not None:
                outcome = "recovered" if recovery.get("recovered") else recovery.get("reason")
                self._recoveries.labels(str(outcome)).inc()

    def refused(self, rtype: str, reason: str) -> None:
        """A request of type ``rtype`` was refused with the protocol error ``reason``."""
        if rtype == "send":
            self._messages.labels("refused", reason).inc()

    def closed(self, code: int | None) -> None:
        """A client connection closed with ``code`` (None: no close frame, as 1006)."""
        code = 1006 if code is None else int(code)
        self._closes.labels(str(code) if code in _KNOWN_CLOSES else "other").inc()
        if code == CloseCode.SLOW_CONSUMER:
            self._slow.inc()

    # The endpoint ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Set the gauges from the service's state."""
        service = self._service
        if service is None:
            return
        self._connections.set(len(service.connections.sessions))
        self._rooms.set(len(service.node.room_ids()))
        self._store_healthy.set(1 if service.store.healthy else 0)
        self._broker_healthy.set(1 if service.broker.healthy else 0)
        self._serving.set(1 if service.serving else 0)

    async def handle(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the Prometheus text format (0.0.4)."""
        self.refresh()
        if self.multiprocess:
            path = os.environ[MULTIPROC_ENV]
            _forget_dead_workers(path)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(PROBE_INTERVAL)
            self._loop_lag.observe(max(0.0, loop.time() - start - PROBE_INTERVAL))
            if self.multiprocess:
                self.refresh()  # for the scrapes other workers answer


class TimedBackend:
    """A store or broker whose coroutine methods are timed, each under its own name (``op``),
    and counted when they fail (raise anything but a protocol refusal); everything else
    (``healthy``, ``on_reconnect``) is the backend's own, as it is.

    The timed method is made on first use and kept on the instance, so later calls find it
    without passing through ``__getattr__``."""

    def __init__(self, inner: Any, seconds: Histogram, errors: Counter) -> None:
        self._inner = inner
        self._seconds = seconds
        self._errors = errors

    @property
    def inner(self) -> Any:
        """The backend itself, untimed."""
        return self._inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        timed = self._timed(name, value)
        setattr(self, name, timed)
        return timed

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        observe = self._seconds.labels(name).observe
        errors = self._errors.labels(name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            except RequestError:
                raise  # a refusal the protocol names (already_deleted, …): no failure
            except Exception:
                errors.inc()
                raise
            finally:
                observe(time.perf_counter() - start)

        return timed


class TimedBroker(TimedBackend):
    """A timed broker whose ``publish`` is timed without this node's own delivery.

    Every broker hands a publication to this node's handler at once, within ``publish``
    (the fan-out to this node's connections, measured as the delivery lag): the time spent
    in the handlers during the call is taken off."""

    def __init__(self, inner: Any, seconds: Histogram, errors: Counter) -> None:
        super().__init__(inner, seconds, errors)
        #: Seconds spent in this node's handlers, ever: what a publish subtracts.
        self._in_handlers = 0.0
        self._publish_seconds = seconds.labels("publish")
        self._publish_errors = errors.labels("publish")
        self._subscribe = self._timed("subscribe", inner.subscribe)

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        def handle(channel: str, seq: int | None, payload: bytes) -> None:
            start = time.perf_counter()
            try:
                handler(channel, seq, payload)
            finally:
                self._in_handlers += time.perf_counter() - start

        await self._subscribe(room_id, handle)

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        start = time.perf_counter()
        before = self._in_handlers
        try:
            await self._inner.publish(room_id, seq, payload)
        except Exception:
            self._publish_errors.inc()
            raise
        finally:
            spent = time.perf_counter() - start - (self._in_handlers - before)
            self._publish_seconds.observe(max(0.0, spent))


@contextlib.contextmanager
def shared_between_workers() -> Iterator[str]:
    """Run ``--workers N`` in prometheus_client's multiprocess mode: the variable set for the
    workers (which inherit it), a fresh directory (the operator's own, if set, emptied),
    removed again at the end if it was made here."""
    given = os.environ.get(MULTIPROC_ENV)
    path = given or tempfile.mkdtemp(prefix="pchat-metrics-")
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if given is None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def _forget_dead_workers(path: str) -> None:
    """Drop the gauges of workers that are gone (a worker that died and was restarted)."""
    dead = set()
    for name in os.listdir(path):
        match = _LIVE_FILE.match(name)
        if match is not None and not _alive(int(match[1])):
            dead.add(int(match[1]))
    for pid in dead:
        mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: The application's metrics (absent with ``PCHAT_METRICS=false``).
METRICS_KEY: Final = web.AppKey("metrics", Metrics)
