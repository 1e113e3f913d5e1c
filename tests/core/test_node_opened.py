"""``Node.opened``: a room held open without a connection (the server API's calls) — open
and current while held, closed and forgotten after, never counted as a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.core.node import Node, Push
from pchat.core.settings import CoreSettings
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.store_sqlite import SQLiteStore
from tests.core.test_node import live_sink


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    store = SQLiteStore(tmp_path / "chat.sqlite3")
    await store.open()
    broker = MemoryBroker()
    await broker.open()
    n = Node(CoreSettings(), store=store, pubsub=broker)
    yield n
    await n.close()
    await broker.close()
    await store.close()


async def test_a_hold_opens_the_room_and_closing_it_forgets_the_room(node: Node) -> None:
    closed: list[str] = []

    async def on_closed(room_id: str) -> None:
        closed.append(room_id)

    node.on_room_closed(on_closed)
    async with node.opened("r") as room:
        assert node.room("r") is room and room.last_seq == 0
        assert node.sizes() == {"r": 0}  # a hold is not a connection
        async with node.opened("r") as again:  # holds nest
            assert again is room
        assert closed == [] and node.room("r") is room
    assert node.room("r") is None and closed == ["r"]


async def test_a_hold_beside_connections_counts_only_them(node: Node) -> None:
    sink = await live_sink(node, "r")
    async with node.opened("r"):
        assert node.sizes() == {"r": 1}
        await node.publish("r", Push.ONLINE, b'{"type":"online","online":1}')
        assert sink.frames  # the connection gets the publication; the hold gets nothing
    assert node.sizes() == {"r": 1}  # the room stays open for its connection
    await node.leave("r", sink)
    assert node.room("r") is None
