"""Fixtures for the storage tests: every backend through one factory.

``STORE_FACTORIES`` maps a backend name to an async factory that builds (without opening)
a store on the test's own data: calling it twice in one test gives two stores on the same
data, which is how the persistence tests reopen a store. Cluster backends add an entry here
(and derive a unique key prefix or schema from ``tmp_path``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pchat.storage.base import MessageStore
from pchat.storage.sqlite import SQLiteStore

StoreFactory = Callable[[Path], Awaitable[MessageStore]]
StoreMaker = Callable[[], Awaitable[MessageStore]]


async def _sqlite(tmp_path: Path) -> MessageStore:
    return SQLiteStore(tmp_path / "pchat.db")


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite}


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


@pytest.fixture
async def store(make_store: StoreMaker) -> MessageStore:
    """An open store of each backend."""
    return await make_store()
