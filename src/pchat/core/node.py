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

Not every connection sees every publication alike. A *tailor* registered for a kind turns a
publication into a :class:`~pchat.core.room.Tailored` one when needed: messages
(:attr:`Push.MESSAGE`) carry their author and flags in a small header in front of the frame
so that the tailor (personal mutes, shadow bans, hidden messages) decides without parsing
JSON, and costs one lookup per message when nobody in the room muted its author;
:attr:`Push.STAFF` and :attr:`Push.USER` reach only the room's moderators, or one user.

Everything a feature needs from rooms goes through here: the features (messages, polls,
reactions, live state, connections) are modules beside each other that use the node, not
each other.

A :class:`DeliveryObserver` (the server's metrics) is told once per publication how many
connections it was handed to, and how long a stream event took from its store call to
this node's connections: never once per connection, so the hot loop stays as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from pchat.protocol.models import Message
from pchat.storage.base import PubSub, StreamStore

from .room import Payload, Room, Sink
from .settings import CoreSettings
from .stream import event_push

__all__ = [
    "DeliveryObserver",
    "MessageHeader",
    "Node",
    "Push",
    "PushFilter",
    "Tailor",
    "message_body",
    "user_body",
]

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
    #: A stream event that carries a message (``message``, ``message_restore``), with its
    #: author and flags in a header (:func:`message_body`): tailored per connection.
    MESSAGE = "message"
    #: For the room's moderators and admins only.
    STAFF = "staff"
    #: For one user's connections in the room only (:func:`user_body`).
    USER = "user"
    #: Between nodes only: a user muted or unmuted another (consumed by the audience).
    MUTES = "mutes"
    #: Between nodes only, on the node-wide channel (:meth:`Node.publish_nodes`): a user's
    #: tokens were revoked (consumed by the revocations).
    REVOCATION = "revocation"
    #: Between nodes only, on the node-wide channel: an API key or the signing keys changed
    #: in the shared key store (consumed by the keyring, core/keyring.py).
    KEYS = "keys"


_TAG: Final = {kind: bytes((i,)) for i, kind in enumerate(Push)}
_KIND: Final = {tag[0]: kind for kind, tag in _TAG.items()}

#: The broker channel of publications for every node rather than a room's (no room id can
#: name it: ``!`` is not allowed in one). Every node listens to it from its start.
NODES_CHANNEL: Final = "!nodes"

PushFilter = Callable[[str, bytes], bool]
"""``(room_id, frame)`` -> whether to deliver a publication of its kind (False: stale)."""

RoomClosed = Callable[[str], Awaitable[None]]

PushConsumer = Callable[[str, bytes], None]
"""``(room_id, frame)``: a publication between nodes, for a feature and not for clients."""

Tailor = Callable[[str, int | None, bytes], Payload | None]
"""``(room_id, seq, body)`` -> what the room's connections get (None: nothing)."""


class DeliveryObserver(Protocol):
    """Told of what a node delivers (the server's metrics): once per publication."""

    def delivered(self, kind: Push | None, recipients: int) -> None:
        """A publication of ``kind`` was handed to a room's ``recipients`` connections
        (None: a push of this node's own, :meth:`Node.push_local`)."""

    def stored_to_written(self, seconds: float) -> None:
        """A stream event stored by this node reached its connections of the room (the
        room's hub wrote it, or gathered it for a coalesced write) ``seconds`` after the
        store call returned."""


_SHADOW: Final = 1
_HIDDEN: Final = 2


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """Who wrote the message a :attr:`Push.MESSAGE` publication carries, and its flags."""

    author: str
    shadow: bool = False
    hidden: bool = False


def message_body(message: Message, frame: bytes, kind: str = "message") -> bytes:
    """A :attr:`Push.MESSAGE` publication's body: flags, author, NUL, then the frame.

    ``message`` is the message as the event at hand leaves it. A ``message_hide`` event
    reaches the viewers who saw the message (so it is not flagged hidden itself)."""
    hidden = message.hidden and kind != "message_hide"
    flags = (_SHADOW if message.shadow else 0) | (_HIDDEN if hidden else 0)
    return bytes((flags,)) + message.user.id.encode() + b"\0" + frame


def split_message_body(body: bytes) -> tuple[MessageHeader, bytes]:
    end = body.index(b"\0", 1)
    flags = body[0]
    header = MessageHeader(body[1:end].decode(), bool(flags & _SHADOW), bool(flags & _HIDDEN))
    return header, body[end + 1 :]


def user_body(user_id: str, frame: bytes) -> bytes:
    """A :attr:`Push.USER` publication's body: the user's id, NUL, then the frame."""
    return user_id.encode() + b"\0" + frame


def split_user_body(body: bytes) -> tuple[str, bytes]:
    end = body.index(b"\0")
    return body[:end].decode(), body[end + 1 :]


class _Hold:
    """The sink of a hold (:meth:`Node.opened`): it stays among the room's joining sinks,
    which keep what is published meanwhile; nothing is written."""

    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def _plain_message(room_id: str, seq: int | None, body: bytes) -> Payload:
    return split_message_body(body)[1]


def _nobody(room_id: str, seq: int | None, body: bytes) -> None:
    return None


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
        self._tailors: dict[Push, Tailor] = {
            Push.MESSAGE: _plain_message,
            Push.STAFF: _nobody,
            Push.USER: _nobody,
            Push.MUTES: _nobody,
        }
        self._closed_hooks: list[RoomClosed] = []
        #: Rooms held open by :meth:`opened` (no connection): how many holds each.
        self._holds: dict[str, int] = {}
        #: Called with a connection whose unsent output passed the limit.
        self.on_slow: Callable[[Sink], None] = lambda sink: None
        #: Told of each publication delivered here (None: nobody is counting).
        self.observer: DeliveryObserver | None = None

    # Hooks of the features ----------------------------------------------------------------

    def filter(self, kind: Push, accept: PushFilter) -> None:
        """Deliver publications of ``kind`` only when ``accept(room_id, frame)``."""
        self._filters[kind] = accept

    def consume(self, kind: Push, consumer: PushConsumer) -> None:
        """Hand publications of ``kind`` to ``consumer`` instead of the room's clients."""
        self._consumers[kind] = consumer

    def tailor(self, kind: Push, tailor: Tailor) -> None:
        """Let ``tailor`` decide what each connection gets of publications of ``kind``
        (:data:`Push.MESSAGE`'s default strips the header; STAFF's, USER's and MUTES': nothing:
        they are for a consumer)."""
        self._tailors[kind] = tailor

    def split_message(self, body: bytes) -> tuple[MessageHeader, bytes]:
        """A :attr:`Push.MESSAGE` body's header and frame."""
        return split_message_body(body)

    def on_room_closed(self, hook: RoomClosed) -> None:
        """Await ``hook(room_id)`` when a room closes on this node (its last one left)."""
        self._closed_hooks.append(hook)

    # Rooms --------------------------------------------------------------------------------

    def room(self, room_id: str) -> Room | None:
        """The room if it is open here."""
        return self._rooms.get(room_id)

    def room_ids(self) -> list[str]:
        return list(self._rooms)

    def size(self, room_id: str) -> int:
        """The connection count of one room (0 when it is not open here)."""
        room = self._rooms.get(room_id)
        return 0 if room is None else len(room) - self._holds.get(room_id, 0)

    def sizes(self) -> dict[str, int]:
        """The connection count of each open room (holds of :meth:`opened` not counted)."""
        holds = self._holds
        return {room_id: len(room) - holds.get(room_id, 0) for room_id, room in self._rooms.items()}

    @contextlib.asynccontextmanager
    async def opened(self, room_id: str) -> AsyncIterator[Room]:
        """The room, held open here while the block runs, for a caller that is not a
        connection (the operator's server API acts in rooms no client of this node is in).

        Open means what it means for a connection: subscribed, so what the features hold of
        the room is kept current by its publications; when the last holder and connection
        leave, the room closes and the features forget it (:meth:`on_room_closed`), so a
        room touched once leaves nothing behind. A hold is not a connection: it counts in
        no :meth:`sizes` (online counts) and gets no pushes.
        """
        hold = _Hold()
        room = await self.join(room_id, hold)
        self._holds[room_id] = self._holds.get(room_id, 0) + 1
        try:
            yield room
        finally:
            left = self._holds[room_id] - 1
            if left:
                self._holds[room_id] = left
            else:
                del self._holds[room_id]
            await self.leave(room_id, hold)

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
            coalesce_budget=s.coalesce_budget,
            coalesce_max=s.coalesce_max_ms / 1000,
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

    async def publish_message(
        self, room_id: str, seq: int, message: Message, frame: bytes, kind: str = "message"
    ) -> None:
        """Publish the stream event at ``seq`` of ``kind`` about ``message`` (``message``,
        ``message_delete``, ``message_hide``, ``message_restore``): its connections see it
        as their viewer's mutes, the shadow ban and hiding allow (else ``skip``).

        Called just after the event was stored: every broker hands a publication to this
        node's rooms at once, within ``publish``, so the time until it returns is the
        event's lag from the store to this node's connections (the observer's)."""
        stored = time.perf_counter()
        body = message_body(message, frame, kind)
        await self.publish(room_id, Push.MESSAGE, body, seq=seq)
        observer = self.observer
        if observer is not None and self._rooms.get(room_id) is not None:
            observer.stored_to_written(time.perf_counter() - stored)

    async def to_staff(self, room_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to the room's moderators and admins on every node."""
        await self.publish(room_id, Push.STAFF, frame)

    async def to_user(self, room_id: str, user_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to ``user_id``'s connections of the room on every node."""
        await self.publish(room_id, Push.USER, user_body(user_id, frame))

    async def listen_nodes(self) -> None:
        """Start taking publications of the node-wide channel: each goes to the consumer
        of its kind (:meth:`consume`), called with :data:`NODES_CHANNEL` as the room."""
        await self.pubsub.subscribe(NODES_CHANNEL, self._on_node_publication)

    async def publish_nodes(self, kind: Push, frame: bytes) -> None:
        """Hand ``frame`` to the consumer of ``kind`` on every node (this one at once)."""
        await self.pubsub.publish(NODES_CHANNEL, None, _TAG[kind] + frame)

    def _on_node_publication(self, channel: str, seq: int | None, payload: bytes) -> None:
        kind = _KIND.get(payload[0]) if payload else None
        consumer = None if kind is None else self._consumers.get(kind)
        if consumer is not None:
            consumer(channel, payload[1:])

    def push_local(self, room_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to this node's connections of the room only."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.publish(None, frame)
            if self.observer is not None:
                self.observer.delivered(None, self._recipients(room_id, room))

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
        tailor = self._tailors.get(kind)
        if tailor is None:
            room.publish(seq, frame)
        else:
            tailored = tailor(room_id, seq, frame)
            if tailored is None:
                return
            room.publish(seq, tailored)
        observer = self.observer
        if observer is not None:
            observer.delivered(kind, self._recipients(room_id, room))

    def _recipients(self, room_id: str, room: Room) -> int:
        """The connections of ``room`` (the holds of :meth:`opened` are none)."""
        return len(room) - self._holds.get(room_id, 0)

    # Stream repair ------------------------------------------------------------------------

    async def fetch_gap(self, room_id: str, after: int, upto: int) -> list[tuple[int, Payload]]:
        """The room's stream events after ``after`` up to ``upto``, as pushes (tailored
        where they carry a message)."""
        events = await self.store.events_since(room_id, after, upto - after)
        tailor = self._tailors[Push.MESSAGE]
        found: list[tuple[int, Payload]] = []
        for e in events:
            frame = event_push(e)
            if e.message is not None:
                payload = tailor(room_id, e.seq, message_body(e.message, frame, e.kind))
                found.append((e.seq, frame if payload is None else payload))
            else:
                found.append((e.seq, frame))
        return found

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
