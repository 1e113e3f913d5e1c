"""The storage and broker interfaces of the chat core.

The chat core reaches durable state only through :class:`MessageStore` and fan-out between
nodes only through :class:`Broker`. The embedded defaults are :mod:`pchat.storage.sqlite`
and :mod:`pchat.storage.memory`; cluster backends (Redis, PostgreSQL) sit beside them, one
file each, and pass the same conformance suite (``tests/storage/``).

Positions: every room has a *stream*: a sequence of events (``message`` and
``message_delete``) numbered ``1, 2, 3, …`` without gaps by the store. A message's ``seq`` is
the position of the event that created it. Recovery replays the stream after a position;
the room's ``epoch`` changes only if the stream was lost, so a client can tell a gap from a
reset.

Faults: a store raises :class:`StoreUnavailable` when it cannot answer now — a lost, refused
or stalled connection, a locked file, or an operation over the store's time budget — and
never lets a driver's exception of that kind escape; the chat core answers it with the
temporary error ``unavailable``. Both interfaces report ``healthy`` without doing I/O, so
health endpoints answer at once even while a backend hangs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from pchat.protocol.errors import PChatError
from pchat.protocol.models import Message, Poll, User

__all__ = [
    "ApiKeyRecord",
    "AppendResult",
    "Broker",
    "BrokerHandler",
    "DeleteResult",
    "KeyStore",
    "MessageStore",
    "RoomInfo",
    "SigningKey",
    "StoreUnavailable",
    "StreamEvent",
]


class StoreUnavailable(PChatError):
    """The store cannot answer now; the same operation may succeed later.

    Raised for connection-level failures and for operations over the store's time budget
    (the outcome of a write cut short is unknown: a retry with the same ``cid`` is safe).
    """


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room's stream: its epoch and the position of its last event (0: empty)."""

    room_id: str
    epoch: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The stored message; ``created`` is False when an earlier send with the same cid won."""

    message: Message
    created: bool


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """The message as deleted, and the position of the ``message_delete`` event."""

    message: Message
    seq: int


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a room's stream with the *current* state of its message.

    ``kind`` is ``message`` or ``message_delete``. A message deleted since it was sent is
    replayed with its text already removed: deleted text never leaves the store again.
    """

    seq: int
    kind: str
    message: Message


class MessageStore(Protocol):
    """Durable room state: messages, the stream, reactions, polls."""

    async def open(self) -> None:
        """Create or migrate the schema and start any worker."""

    async def close(self) -> None:
        """Flush pending writes and release resources."""

    @property
    def healthy(self) -> bool:
        """Whether the store answers within its time budget: the last operation (or the
        store's own probe, while idle) did; False while closed. Never does I/O."""

    async def room(self, room_id: str) -> RoomInfo:
        """The room's stream, created (with a new random epoch) on first use."""

    async def append_message(
        self, room_id: str, *, message_id: str, user: User, text: str, cid: str | None, ts: int
    ) -> AppendResult:
        """Store a message as the next event of the room's stream.

        When ``cid`` is given and ``(room_id, user.id, cid)`` was stored before, nothing is
        written and the earlier message is returned with ``created=False``. The returned
        message is durable (committed) when this returns.
        """

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        """One message by id, or None."""

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        """Soft-delete: remove the text, mark deleted, append a ``message_delete`` event.

        Returns None if there is no such message; raises ``ConflictError`` with
        ``ALREADY_DELETED`` if it was deleted before.
        """

    async def history(
        self,
        room_id: str,
        *,
        before_seq: int | None = None,
        before_ts: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """The newest ``limit`` messages older than both bounds, returned oldest first."""

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        """Stream events with ``seq > after_seq`` in order, at most ``limit`` of them."""

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        """Add ``counts`` (reaction type -> count) to the room's totals."""

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        """The room's totals per reaction type."""

    async def create_poll(self, room_id: str, poll: Poll) -> Poll:
        """Store a new poll (status ``scheduled`` or ``open``)."""

    async def get_poll(self, room_id: str, poll_id: str) -> Poll | None:
        """One poll with its tallies, or None."""

    async def list_polls(self, room_id: str, statuses: Iterable[str]) -> list[Poll]:
        """The room's polls with one of ``statuses``, oldest first."""

    async def scheduled_polls(self) -> list[tuple[str, str, int]]:
        """Every scheduled poll of every room as ``(room_id, poll_id, publish_at)``."""

    async def publish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll | None:
        """Move a poll from ``scheduled`` to ``open``; None if it was not scheduled.

        Exactly one caller wins, even across nodes sharing the store.
        """

    async def vote(self, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
        """Record one vote; raise NotFound, ``POLL_NOT_OPEN`` or ``ALREADY_VOTED``.

        Tallies in the returned poll are exact under concurrent votes.
        """

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        """Move an open or scheduled poll to ``finished``; raise NotFound or ``POLL_NOT_OPEN``."""

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        """The user's votes in the room: poll id -> option index."""


BrokerHandler = Callable[[str, int | None, bytes], None]
"""Called with ``(room_id, seq, payload)`` for every publication to a subscribed room."""


class Broker(Protocol):
    """Fan-out between nodes and room-wide presence.

    Publications of one room reach every subscriber in the order they were published.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def healthy(self) -> bool:
        """Whether publications reach the other nodes now. Never does I/O."""

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        """Deliver ``payload`` (an encoded push frame) to every node subscribed to the room."""

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        """Start delivering the room's publications to ``handler`` on this node."""

    async def unsubscribe(self, room_id: str) -> None:
        """Stop delivering the room's publications to this node."""

    async def set_presence(self, room_id: str, node_count: int) -> int:
        """Report this node's connection count for the room; return the room-wide count."""

    async def take_token(self, key: str, rate: float, burst: int) -> float | None:
        """Take one token from the cluster-wide bucket ``key`` (``rate`` per second, at most
        ``burst``): 0.0 if allowed, else the seconds to wait. None when this broker keeps
        no shared counters (one node) or cannot now: the node then limits on its own.
        """

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the broker is back after an outage (resubscribed,
        its queued publications sent). Publications of other nodes may have been lost
        meanwhile: the core re-reads from the store what is not in the stream (polls,
        reaction totals) and reports its presence again. Brokers that cannot lose a
        publication never call it.
        """


class KeyStore(Protocol):
    """The operator's API keys (secrets stored only as hashes) and token signing keys."""

    def add_api_key(self, record: ApiKeyRecord) -> None: ...

    def get_api_key(self, key: str) -> ApiKeyRecord | None: ...

    def list_api_keys(self) -> list[ApiKeyRecord]: ...

    def revoke_api_key(self, key: str, ts: int) -> bool: ...

    def signing_keys(self) -> list[SigningKey]: ...

    def add_signing_key(self, key: SigningKey) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key: str
    secret_hash: str
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An HS256 signing key; the newest non-retired key signs, every listed key verifies."""

    kid: str
    secret: bytes
    created_at: int
