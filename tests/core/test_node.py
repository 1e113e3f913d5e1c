"""The node: rooms opened and closed, typed publications, filters, stream repair.

Run on the embedded defaults (the in-memory broker and a SQLite file), as one node runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.core.node import Node, Push
from pchat.core.settings import CoreSettings
from pchat.core.stream import message_push
from pchat.protocol.models import User
from pchat.protocol.wsframe import encode_text_frame
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.store_sqlite import SQLiteStore
from tests.core.test_room import FakeSink

ANN = User("ann", "Ann", "viewer")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "chat.sqlite3")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def node(store: SQLiteStore) -> AsyncIterator[Node]:
    broker = MemoryBroker()
    await broker.open()
    n = Node(CoreSettings(), store=store, pubsub=broker)
    yield n
    await n.close()
    await broker.close()


async def live_sink(node: Node, room_id: str) -> FakeSink:
    sink = FakeSink()
    room = await node.join(room_id, sink)
    assert room.last_seq is not None
    room.activate(sink, room.last_seq)
    return sink


async def test_every_kind_is_delivered_as_its_frame(node: Node) -> None:
    sink = await live_sink(node, "r")
    for kind in Push:
        seq = 1 if kind is Push.STREAM else None
        await node.publish("r", kind, f'{{"type":"{kind}"}}'.encode(), seq=seq)
    assert sink.frames == [encode_text_frame(f'{{"type":"{k}"}}'.encode()) for k in Push]


async def test_a_filter_holds_back_what_it_refuses_of_its_kind_only(node: Node) -> None:
    sink = await live_sink(node, "r")
    node.filter(Push.POLL, lambda room_id, frame: b"stale" not in frame)
    await node.publish("r", Push.POLL, b'{"type":"poll","v":"stale"}')
    await node.publish("r", Push.POLL, b'{"type":"poll","v":"new"}')
    await node.publish("r", Push.REACTION, b'{"type":"reaction","v":"stale"}')
    assert sink.frames == [
        encode_text_frame(b'{"type":"poll","v":"new"}'),
        encode_text_frame(b'{"type":"reaction","v":"stale"}'),
    ]


async def test_a_publication_of_unknown_kind_is_dropped(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    sink = await live_sink(node, "r")
    await node.pubsub.publish("r", None, b"\xff" + b'{"type":"future"}')
    await node.pubsub.publish("r", None, b"")
    assert sink.frames == []
    assert "unknown kind 255" in caplog.text


async def test_the_last_one_out_closes_the_room(node: Node) -> None:
    closed: list[str] = []

    async def hook(room_id: str) -> None:
        closed.append(room_id)

    node.on_room_closed(hook)
    a, b = await live_sink(node, "r"), await live_sink(node, "r")
    assert node.sizes() == {"r": 2}
    await node.leave("r", a)
    assert node.sizes() == {"r": 1} and closed == []
    await node.leave("r", b)
    assert node.sizes() == {} and closed == ["r"]
    # Unsubscribed: a publication to the room reaches nobody and nothing breaks.
    await node.publish("r", Push.REACTION, b"{}")
    assert a.frames == b.frames == []


async def test_catch_up_to_fetches_what_the_broker_never_delivered(
    node: Node, store: SQLiteStore
) -> None:
    sink = await live_sink(node, "r")
    # Stored by another node whose publications were lost: this node never heard of them.
    stored = [
        await store.append_message("r", message_id=f"m{i}", user=ANN, text=f"t{i}", cid=None, ts=i)
        for i in range(3)
    ]
    room = node.room("r")
    assert room is not None and room.last_seq == 0
    await node.catch_up_to(room, 2)
    assert room.last_seq == 3
    assert sink.frames == [
        encode_text_frame(message_push(r.message.seq, r.message)) for r in stored
    ]
    await node.catch_up_to(room, 3)  # nothing more
    assert len(sink.frames) == 3
