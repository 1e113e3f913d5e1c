"""Fan-out between the worker processes of one machine: a hub on a Unix socket.

``pchat serve --workers N`` runs N worker processes that share the listening port
(``SO_REUSEPORT``) and the SQLite store. The parent process runs :class:`LocalHub`; each
worker's :class:`LocalBroker` connects to it. A publication is delivered to the publishing
worker's own room at once and relayed by the hub to every other worker subscribed to the
room; each worker's room hub puts stream publications back in ``seq`` order. Presence:
each worker reports its count per room, the hub answers with the sum.

Wire format between worker and hub: ``!IB`` (body length, op) then the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from .base import BrokerHandler

__all__ = ["LocalBroker", "LocalHub"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!IB")
_PUB_HEAD = struct.Struct("!qH")  # seq (-1: none), room length
_PRESENCE = struct.Struct("!IiH")  # request id, count, room length
_PRESENCE_REPLY = struct.Struct("!Ii")  # request id, total

OP_SUB, OP_UNSUB, OP_PUB, OP_PRESENCE, OP_PRESENCE_REPLY = 1, 2, 3, 4, 5


def _frame(op: int, body: bytes) -> bytes:
    return _HEADER.pack(len(body), op) + body


def _pub_body(room_id: str, seq: int | None, payload: bytes) -> bytes:
    room = room_id.encode()
    return _PUB_HEAD.pack(-1 if seq is None else seq, len(room)) + room + payload


def _parse_pub(body: bytes) -> tuple[str, int | None, bytes]:
    seq, n = _PUB_HEAD.unpack_from(body)
    start = _PUB_HEAD.size
    room = body[start : start + n].decode()
    return room, None if seq < 0 else seq, body[start + n :]


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    length, op = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return op, await reader.readexactly(length)


class LocalHub:
    """The parent process's relay between workers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server: asyncio.Server | None = None
        self._subs: dict[str, set[asyncio.StreamWriter]] = defaultdict(set)
        self._presence: dict[str, dict[asyncio.StreamWriter, int]] = defaultdict(dict)

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                op, body = await _read_frame(reader)
                if op == OP_PUB:
                    room, _seq, _payload = _parse_pub(body)
                    data = _frame(OP_PUB, body)
                    for other in self._subs.get(room, ()):
                        if other is not writer:
                            other.write(data)
                elif op == OP_SUB:
                    self._subs[body.decode()].add(writer)
                elif op == OP_UNSUB:
                    self._subs[body.decode()].discard(writer)
                elif op == OP_PRESENCE:
                    rid, count, n = _PRESENCE.unpack_from(body)
                    room = body[_PRESENCE.size : _PRESENCE.size + n].decode()
                    counts = self._presence[room]
                    counts[writer] = count
                    total = sum(counts.values())
                    writer.write(_frame(OP_PRESENCE_REPLY, _PRESENCE_REPLY.pack(rid, total)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for subs in self._subs.values():
                subs.discard(writer)
            for counts in self._presence.values():
                counts.pop(writer, None)
            writer.close()


class LocalBroker:
    """A worker's side of :class:`LocalHub`; implements :class:`~pchat.storage.base.Broker`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handlers: dict[str, BrokerHandler] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0

    async def open(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(str(self.path))
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    @property
    def healthy(self) -> bool:
        """Whether the connection to the worker hub is up."""
        return (
            self._writer is not None
            and not self._writer.is_closing()
            and self._reader_task is not None
            and not self._reader_task.done()
        )

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                op, body = await _read_frame(reader)
                if op == OP_PUB:
                    room, seq, payload = _parse_pub(body)
                    handler = self._handlers.get(room)
                    if handler is not None:
                        handler(room, seq, payload)
                elif op == OP_PRESENCE_REPLY:
                    rid, total = _PRESENCE_REPLY.unpack(body)
                    fut = self._pending.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(total)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.error("lost the connection to the worker hub")

    def _send(self, op: int, body: bytes) -> None:
        assert self._writer is not None, "LocalBroker.open() was not awaited"
        self._writer.write(_frame(op, body))

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        handler = self._handlers.get(room_id)
        if handler is not None:
            handler(room_id, seq, payload)
        self._send(OP_PUB, _pub_body(room_id, seq, payload))

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        self._handlers[room_id] = handler
        self._send(OP_SUB, room_id.encode())

    async def unsubscribe(self, room_id: str) -> None:
        self._handlers.pop(room_id, None)
        self._send(OP_UNSUB, room_id.encode())

    async def take_token(self, key: str, rate: float, burst: int) -> float | None:
        """No shared counters here: the node's own buckets apply."""
        return None

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Never called: the hub lives as long as the workers, over a Unix socket."""

    async def set_presence(self, room_id: str, node_count: int) -> int:
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        room = room_id.encode()
        self._send(OP_PRESENCE, _PRESENCE.pack(rid, node_count, len(room)) + room)
        try:
            return await asyncio.wait_for(fut, 2.0)
        except TimeoutError:
            self._pending.pop(rid, None)
            return node_count
