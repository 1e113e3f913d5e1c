"""The node: the rooms of this process, publishing through the broker, and delivery.

Theory of operation. A room is *open* on a node while it has connections here: the node
subscribes to the room's publications on the broker, reads the stream's position from the
store, and delivers what arrives to the room's :class:`~pchat.core.room.Room` hub, which
writes it to every connection. The last connection to leave closes it again.

Publications are typed. Each carries one of the :class:`Push` kinds as a one-byte tag in
front of its frame, so that the node hands a publication to the features that care about
its kind (a filter per kind may hold back a stale one) without looking inside the JSON.
Stream publications (``message``, ``message_delete``) also carry their position; the hub
delivers them in order and the node fills gaps from the store.

Everything a feature needs from rooms goes through here: the features (messages, polls,
reactions, live state, connections) are modules beside each other that use the node, not
each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Final

from pchat.storage.base import PubSub, StreamStore

from .room import Room, Sink
from .settings import CoreSettings
from .stream import event_push

__all__ = ["Node", "Push", "PushFilter"]

log = logging.getLogger(__name__)


class Push(StrEnum):
    """The kinds of publication a node delivers."""

    STREAM = "stream"  # message, message_delete: positioned, recoverable
    POLL = "poll"
    REACTION = "reaction"
    REACTIONS_STATS = "reactions_stats"
    ONLINE = "online"
    ROOM_SETTINGS = "room_settings"
    PIN = "pin"
    #: Between nodes only (bans and their lifting): consumed, never written to clients.
    MODERATION = "moderation"


_TAG: Final = {kind: bytes((i,)) for i, kind in enumerate(Push)}
_KIND: Final = {tag[0]: kind for kind, tag in _TAG.items()}

PushFilter = Callable[[str, bytes], bool]
"""``(room_id, frame)`` -> whether to deliver a publication of its kind (False: stale)."""

RoomClosed = Callable[[str], Awaitable[None]]

PushConsumer = Callable[[str, bytes], None]
"""``(room_id, frame)``: a publication between nodes, for a feature and not for clients."""


class Node:
    """The rooms of this process and the delivery of their publications."""

    def __init__(self, settings: CoreSettings, *, store: StreamStore, pubsub: PubSub) -> None:
        self.settings = settings
        self.store = store
        self.pubsub = pubsub
        self._rooms: dict[str, Room] = {}
        self._opening: dict[str, asyncio.Task[Room]] = {}
        self._filters: dict[Push, PushFilter] = {}
        self._consumers: dict[Push, PushConsumer] = {}
        self._closed_hooks: list[RoomClosed] = []
        #: Called with a connection whose unsent output passed the limit.
        self.on_slow: Callable[[Sink], None] = lambda sink: None

    # Hooks of the features ----------------------------------------------------------------

    def filter(self, kind: Push, accept: PushFilter) -> None:
        """Deliver publications of ``kind`` only when ``accept(room_id, frame)``."""
        self._filters[kind] = accept

    def consume(self, kind: Push, consumer: PushConsumer) -> None:
        """Hand publications of ``kind`` to ``consumer`` instead of the room's clients."""
        self._consumers[kind] = consumer

    def on_room_closed(self, hook: RoomClosed) -> None:
        """Await ``hook(room_id)`` when a room closes on this node (its last one left)."""
        self._closed_hooks.append(hook)

    # Rooms --------------------------------------------------------------------------------

    def room(self, room_id: str) -> Room | None:
        """The room if it is open here."""
        return self._rooms.get(room_id)

    def room_ids(self) -> list[str]:
        return list(self._rooms)

    def sizes(self) -> dict[str, int]:
        """The connection count of each open room."""
        return {room_id: len(room) for room_id, room in self._rooms.items()}

    async def join(self, room_id: str, sink: Sink) -> Room:
        """Open the room if needed and start buffering its pushes for ``sink`` (it goes
        live with :meth:`Room.activate` once its connect reply is written)."""
        room = await self._open(room_id)
        room.join(sink)  # at once: _open() returned the live room, no await since
        return room

    async def leave(self, room_id: str, sink: Sink) -> None:
        """Take ``sink`` out of the room; close the room here once empty."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.leave(sink)
        if len(room) == 0 and self._rooms.get(room_id) is room:
            del self._rooms[room_id]
            await self.pubsub.unsubscribe(room_id)
            if room_id in self._rooms:
                # Reopened while the unsubscription was on its way: it may have undone the
                # new room's subscription. Subscribing again is harmless; gaps are fetched.
                await self.pubsub.subscribe(room_id, self._on_publication)
            await room.close()
            for hook in self._closed_hooks:
                await hook(room_id)

    async def _open(self, room_id: str) -> Room:
        """The room, opened (subscribed, position known) by the first caller; later callers
        wait for that opening. Loops only if the room was closed again meanwhile."""
        while True:
            task = self._opening.get(room_id)
            if task is not None and task.done():
                # Finished: forget it here rather than in a done callback, which may not
                # have run yet (awaiting a finished task does not yield to the loop).
                del self._opening[room_id]
                task = None
            if task is None:
                room = self._rooms.get(room_id)
                if room is not None:
                    return room
                task = asyncio.get_running_loop().create_task(self._open_room(room_id))
                self._opening[room_id] = task
            room = await asyncio.shield(task)
            if self._rooms.get(room_id) is room:
                return room

    async def _open_room(self, room_id: str) -> Room:
        s = self.settings
        room = Room(
            room_id,
            max_send_buffer=s.max_send_buffer,
            on_slow=self.on_slow,
            gap_fetcher=self.fetch_gap,
            coalesce=s.coalesce_ms / 1000,
        )
        # Registered before subscribing: publications that arrive while the position is
        # read are held by the room (not dropped) and delivered by seed_position().
        self._rooms[room_id] = room
        try:
            await self.pubsub.subscribe(room_id, self._on_publication)
            info = await self.store.room(room_id)
        except BaseException:
            del self._rooms[room_id]
            raise
        room.epoch = info.epoch
        room.seed_position(info.last_seq)
        return room

    async def close(self) -> None:
        for room in list(self._rooms.values()):
            await room.close()

    # Publications -------------------------------------------------------------------------

    async def publish(self, room_id: str, kind: Push, frame: bytes, seq: int | None = None) -> None:
        """Deliver ``frame`` to the room on every node (this one at once)."""
        await self.pubsub.publish(room_id, seq, _TAG[kind] + frame)

    def push_local(self, room_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to this node's connections of the room only."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.publish(None, frame)

    def _on_publication(self, room_id: str, seq: int | None, payload: bytes) -> None:
        room = self._rooms.get(room_id)
        if room is None or not payload:
            return
        kind = _KIND.get(payload[0])
        if kind is None:
            log.warning("room %s: a publication of unknown kind %d", room_id, payload[0])
            return
        frame = payload[1:]
        consumer = self._consumers.get(kind)
        if consumer is not None:
            consumer(room_id, frame)
            return
        accept = self._filters.get(kind)
        if accept is not None and not accept(room_id, frame):
            return
        room.publish(seq, frame)

    # Stream repair ------------------------------------------------------------------------

    async def fetch_gap(self, room_id: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        """The room's stream events after ``after`` up to ``upto``, as pushes."""
        events = await self.store.events_since(room_id, after, upto - after)
        return [(e.seq, event_push(e)) for e in events]

    async def catch_up(self) -> None:
        """Compare each open room with the store and fetch events that never arrived (a
        publisher that died between commit and publish, a publication the broker lost)."""
        for room_id, room in list(self._rooms.items()):
            if room.last_seq is not None:  # opened
                room.catch_up((await self.store.room(room_id)).last_seq)

    async def catch_up_to(self, room: Room, seq: int) -> None:
        """Bring ``room`` up to position ``seq`` now if the store has it (a client recovers
        from a position this node has not reached: publications are late or lost). The
        events reach the room's other connections too; the join buffer keeps a joining
        connection free of gaps and duplicates."""
        last = room.last_seq
        if last is None or seq <= last:
            return
        info = await self.store.room(room.room_id)
        last = room.last_seq
        if info.epoch != room.epoch or last is None or info.last_seq <= last:
            return  # a reset stream, or a position ahead of the store
        for event_seq, frame in await self.fetch_gap(room.room_id, last, info.last_seq):
            room.publish(event_seq, frame)
