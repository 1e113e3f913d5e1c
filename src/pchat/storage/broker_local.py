"""A worker's :class:`~pchat.storage.base.Broker` under ``pchat serve --workers N``.

Each worker process connects a :class:`LocalBroker` to the parent's
:class:`~pchat.storage.hub_local.LocalHub` over a Unix socket. A publication is delivered to
the publishing worker's own room at once and relayed by the hub to every other worker
subscribed to the room; each worker's room hub puts stream publications back in ``seq``
order. Presence: each worker reports its count per room, the hub answers with the sum. Rate
limits stay per worker (no shared counters), and the hub lives as long as the workers, so
nothing is lost to an outage: ``on_reconnect`` is never called.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

from .base import BrokerHandler, deliver
from .hub_local import (
    OP_PRESENCE,
    OP_PRESENCE_REPLY,
    OP_PUB,
    OP_ROOMS,
    OP_ROOMS_REPLY,
    OP_SUB,
    OP_UNSUB,
    PRESENCE,
    PRESENCE_REPLY,
    REQUEST_ID,
    frame,
    parse_pub,
    pub_body,
    read_frame,
)

__all__ = ["LocalBroker"]

log = logging.getLogger(__name__)


class LocalBroker:
    """A worker's side of :class:`~pchat.storage.hub_local.LocalHub` at ``path``.

    One handler per room (subscribing again replaces it). A handler that raises is logged;
    neither the publisher nor the delivery of later publications is affected.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handlers: dict[str, BrokerHandler] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._pending_rooms: dict[int, asyncio.Future[dict[str, int]]] = {}
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
                op, body = await read_frame(reader)
                if op == OP_PUB:
                    self._deliver(*parse_pub(body))
                elif op == OP_PRESENCE_REPLY:
                    rid, total = PRESENCE_REPLY.unpack(body)
                    fut = self._pending.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(total)
                elif op == OP_ROOMS_REPLY:
                    (rid,) = REQUEST_ID.unpack_from(body)
                    rooms = self._pending_rooms.pop(rid, None)
                    if rooms is not None and not rooms.done():
                        rooms.set_result(json.loads(body[REQUEST_ID.size :]))
        except (asyncio.IncompleteReadError, ConnectionError):
            log.error("lost the connection to the worker hub")

    def _send(self, op: int, body: bytes) -> None:
        assert self._writer is not None, "LocalBroker.open() was not awaited"
        self._writer.write(frame(op, body))

    def _deliver(self, room_id: str, seq: int | None, payload: bytes) -> None:
        handler = self._handlers.get(room_id)
        if handler is not None:
            deliver(handler, room_id, seq, payload)

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        self._deliver(room_id, seq, payload)
        self._send(OP_PUB, pub_body(room_id, seq, payload))

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
        self._send(OP_PRESENCE, PRESENCE.pack(rid, node_count, len(room)) + room)
        try:
            return await asyncio.wait_for(fut, 2.0)
        except TimeoutError:
            self._pending.pop(rid, None)
            return node_count

    async def rooms_online(self) -> dict[str, int]:
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        self._pending_rooms[rid] = fut
        self._send(OP_ROOMS, REQUEST_ID.pack(rid))
        try:
            return await asyncio.wait_for(fut, 2.0)
        except TimeoutError:
            self._pending_rooms.pop(rid, None)
            return {}
