"""Fixtures for the storage tests: every backend through one factory.

``STORE_FACTORIES`` maps a backend name to an async factory that builds (without opening)
a store on the test's own data: calling it twice in one test gives two stores on the same
data, which is how the persistence tests reopen a store. Cluster backends derive a unique
schema (PostgreSQL) or key prefix (Redis) from ``tmp_path`` and drop it at teardown
(``STORE_CLEANUPS``).

``BROKER_FACTORIES`` does the same for brokers: ``make_broker()`` called twice in one test
gives two brokers sharing the test's channels, as two nodes of one cluster would (Redis: the
test's key prefix; local: a worker hub of the test's own, started on first use and closed at
teardown).

A backend whose service is unreachable is skipped, with the reason, unless ``CI`` is set:
in CI every backend must run (see :mod:`tests.storage.backends`).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pchat.storage.base import Broker, MessageStore
from pchat.storage.broker_local import LocalBroker
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.hub_local import LocalHub
from pchat.storage.store_sqlite import SQLiteStore
from tests.storage.backends import (
    drop_redis_prefix,
    drop_schema,
    postgres_dsn,
    redis_url,
    require_postgres,
    require_redis,
    unique_name,
)

StoreFactory = Callable[[Path], Awaitable[MessageStore]]
StoreMaker = Callable[[], Awaitable[MessageStore]]
Cleanup = Callable[[Path], Awaitable[None]]
BrokerFactory = Callable[[Path], Awaitable[Broker]]
BrokerMaker = Callable[..., Awaitable[Broker]]


async def _sqlite(tmp_path: Path) -> MessageStore:
    return SQLiteStore(tmp_path / "pchat.db")


async def _postgres(tmp_path: Path) -> MessageStore:
    from pchat.storage.store_postgres import PostgresStore

    await require_postgres()
    return PostgresStore(postgres_dsn(), schema=unique_name(tmp_path))


async def _drop_postgres(tmp_path: Path) -> None:
    await drop_schema(unique_name(tmp_path))


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgres": _postgres}
STORE_CLEANUPS: dict[str, Cleanup] = {"postgres": _drop_postgres}


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreMaker]:
    """Open a new store of the backend on this test's data; closed at teardown."""
    factory = STORE_FACTORIES[request.param]
    opened: list[MessageStore] = []

    async def make() -> MessageStore:
        store = await factory(tmp_path)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in reversed(opened):
        await store.close()
    cleanup = STORE_CLEANUPS.get(request.param)
    if cleanup is not None and opened:
        await cleanup(tmp_path)


@pytest.fixture
async def store(make_store: StoreMaker) -> MessageStore:
    """An open store of each backend."""
    return await make_store()


async def _memory_broker(tmp_path: Path, **options: float) -> Broker:
    return MemoryBroker()


_hubs: dict[Path, LocalHub] = {}


async def _local_broker(tmp_path: Path, **options: float) -> Broker:
    hub = _hubs.get(tmp_path)
    if hub is None:
        # In the temporary directory, not tmp_path: a Unix socket's path has ~100 bytes.
        hub = LocalHub(Path(tempfile.gettempdir()) / f"{unique_name(tmp_path)}.sock")
        await hub.start()
        _hubs[tmp_path] = hub
    return LocalBroker(hub.path)


async def _stop_local_hub(tmp_path: Path) -> None:
    hub = _hubs.pop(tmp_path, None)
    if hub is not None:
        await hub.close()


async def _redis_broker(tmp_path: Path, **options: float) -> Broker:
    from pchat.storage.broker_redis import RedisBroker

    await require_redis()
    return RedisBroker(redis_url(), prefix=f"{unique_name(tmp_path)}:", **options)


async def _drop_redis(tmp_path: Path) -> None:
    await drop_redis_prefix(f"{unique_name(tmp_path)}:")


BROKER_FACTORIES: dict[str, Callable[..., Awaitable[Broker]]] = {
    "local": _local_broker,
    "memory": _memory_broker,
    "redis": _redis_broker,
}
BROKER_CLEANUPS: dict[str, Cleanup] = {"local": _stop_local_hub, "redis": _drop_redis}


@pytest.fixture(params=sorted(BROKER_FACTORIES))
async def make_broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerMaker]:
    """Open a new broker (a node) of the backend on this test's channels; closed at teardown.

    Keyword arguments go to the backend (memory and local ignore them).
    """
    factory = BROKER_FACTORIES[request.param]
    opened: list[Broker] = []

    async def make(**options: float) -> Broker:
        broker = await factory(tmp_path, **options)
        await broker.open()
        opened.append(broker)
        return broker

    yield make
    for broker in reversed(opened):
        await broker.close()
    cleanup = BROKER_CLEANUPS.get(request.param)
    if cleanup is not None and opened:
        await cleanup(tmp_path)


@pytest.fixture
def broker_backend(make_broker: BrokerMaker, request: pytest.FixtureRequest) -> str:
    """The name of the broker backend under test."""
    name: str = request.node.callspec.params["make_broker"]
    return name
