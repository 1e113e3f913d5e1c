"""The node: rooms opened and closed, typed publications, filters, stream repair.

Run on the embedded defaults (the in-memory broker and a SQLite file), as one node runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.core.node import MessageHeader, Node, Push
from pchat.core.room import Tailored
from pchat.core.settings import CoreSettings
from pchat.core.stream import message_push
from pchat.protocol.models import Message, User
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


#: Kinds that need a tailor or a consumer to reach anyone.
_ADDRESSED = (Push.MESSAGE, Push.STAFF, Push.USER, Push.MUTES)


async def test_every_kind_is_delivered_as_its_frame(node: Node) -> None:
    sink = await live_sink(node, "r")
    plain = [kind for kind in Push if kind not in _ADDRESSED]
    for kind in plain:
        seq = 1 if kind is Push.STREAM else None
        await node.publish("r", kind, f'{{"type":"{kind}"}}'.encode(), seq=seq)
    assert sink.frames == [encode_text_frame(f'{{"type":"{k}"}}'.encode()) for k in plain]


async def test_a_message_reaches_everyone_without_its_header_unless_tailored(node: Node) -> None:
    sink = await live_sink(node, "r")
    message = Message("m1", 1, 0, User("u-bob", "bob", "viewer"), "hi", shadow=True)
    await node.publish_message("r", 1, message, b'{"type":"message","seq":1}')
    assert sink.frames == [encode_text_frame(b'{"type":"message","seq":1}')]
    seen: list[tuple[str, int | None, MessageHeader, bytes]] = []

    def tailor(room_id: str, seq: int | None, body: bytes) -> Tailored:
        header, frame = node.split_message(body)
        seen.append((room_id, seq, header, frame))
        return Tailored(lambda s: None if s is sink else frame)

    node.tailor(Push.MESSAGE, tailor)
    other = await live_sink(node, "r")
    await node.publish_message("r", 2, message, b'{"type":"message","seq":2}')
    assert seen == [("r", 2, MessageHeader("u-bob", shadow=True), b'{"type":"message","seq":2}')]
    assert len(sink.frames) == 1
    assert other.frames == [encode_text_frame(b'{"type":"message","seq":2}')]


async def test_staff_user_and_mute_publications_reach_nobody_without_a_consumer(
    node: Node,
) -> None:
    sink = await live_sink(node, "r")
    await node.to_staff("r", b'{"type":"report_add"}')
    await node.to_user("r", "u-bob", b'{"type":"message_rejected"}')
    await node.publish("r", Push.MUTES, b"{}")
    assert sink.frames == []
    got: list[tuple[str, bytes]] = []
    node.consume(Push.USER, lambda room_id, body: got.append((room_id, body)))
    await node.to_user("r", "u-bob", b"{}")
    assert got == [("r", b"u-bob\0{}")]


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
