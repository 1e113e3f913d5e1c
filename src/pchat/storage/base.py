"""The storage and broker interfaces of the chat core: small protocols, one file per backend.

The chat core reaches durable state only through the store interfaces and other nodes only
through the broker interfaces. Each is narrow, so that a component asks for exactly what it
uses (the room hub a :class:`StreamStore` and a :class:`PubSub`, the live counters a
:class:`ReactionStore` and a :class:`Presence`, …); a backend implements the combined
protocol — :class:`MessageStore` or :class:`Broker` — and the server wires it in. The embedded
defaults are :mod:`pchat.storage.store_sqlite` and :mod:`pchat.storage.broker_memory`;
``pchat serve --workers N`` uses :mod:`pchat.storage.broker_local`; the cluster backends
(:mod:`pchat.storage.store_postgres`, :mod:`pchat.storage.broker_redis`) sit beside them.
Every backend passes the conformance suite of each interface it implements
(``tests/storage/test_*_conformance.py``).

The interfaces and what they guarantee:

- :class:`Backend` — ``open``, ``close`` and ``healthy``. ``healthy`` never does I/O, so a
  health endpoint answers at once even while a backend hangs.
- :class:`StreamStore` — each room's *stream*: a sequence of events (``message``,
  ``message_delete``, ``message_purge``, ``message_hide`` and ``message_restore``) numbered
  ``1, 2, 3, …`` without gaps, even under concurrent writers on several nodes. A message's
  ``seq`` is the position of the event that created it; an append with a ``cid`` seen before
  stores nothing and returns the earlier message. A purge soft-deletes a user's messages in
  one transaction and is one event, however many messages it deleted. Recovery replays the
  stream after a position; the room's ``epoch`` changes only if the stream was lost, so a
  client can tell a gap from a reset.
  Deleted text never leaves the store again.
- :class:`ReactionStore` — per-room reaction totals; concurrent additions all count.
- :class:`PollStore` — polls and their votes. The rules (:mod:`pchat.storage.poll_rules`):
  one vote per user and poll, only on an open poll, for an existing option; a poll is
  finished once; a scheduled poll is published exactly once, by one caller, even across
  nodes; the tallies a vote returns are exact under concurrent votes.
- :class:`ModerationStore` — per room: bans (an expired one is gone by itself), the room's
  settings, its pin, the moderation log, whose entries get increasing ids, and the word
  filter's blocklist (oldest first, one entry per pattern; room ``*`` is the server's).
- :class:`ReviewStore` — per room, the messages held outside the stream (for review, or by
  the chat delay). Holding is idempotent by ``(user, cid)``, across the queue and the
  stream; releasing one removes it from the queue and appends it to the stream with the
  same id in one transaction: of two releasers (two nodes, a moderator and the chat
  delay), exactly one wins.
- :class:`ReportStore` — per room, users' reports of messages (one per user and message)
  and the hiding of a reported message, a stream event under the same rules as a delete;
  resolving drops the reports and may show the message again, in one transaction.
- :class:`RevocationStore` — per user, the time before which the user's access tokens are
  refused; it only moves later.
- :class:`RetentionStore` — each room's own retention rule, and the removal of a room's old
  history: the stream's oldest events and their messages, a bounded batch per transaction.
  The stream then starts at the room's ``first_seq``: every event from there on is kept,
  with the message it names, so that a replay from there has no hole and a replay from
  before it sees one (recovery answers ``gap_too_large``); history ends there.
- :class:`WebhookStore` — the operator's webhook endpoints and the outbox of events to
  deliver to them. A change that makes an event (a message stored, deleted, purged; a ban
  put or lifted; a poll opened or finished) writes one outbox row per subscribed endpoint
  in its own transaction — when the event's type is in :attr:`~WebhookStore.webhook_types`,
  else nothing (no cost without subscribers). Deliveries are claimed with a lease: of
  concurrent claimers, on any node, one gets each due row; a claimer that dies leaves it to
  be claimed again when the lease ends.
- :class:`MessageStore` — the four store interfaces with a :class:`Backend` lifecycle: what
  a store backend implements.
- :class:`PubSub` — fan-out between nodes: publications of one room reach every node
  subscribed to it in the order they were published, the publishing node's own handler
  included, at once. A handler that raises is logged and affects neither the publisher nor
  later deliveries. After an outage that may have lost publications the broker says so
  (``on_reconnect``).
- :class:`Presence` — room-wide connection counts: each node reports its own, the answer is
  the sum over the live nodes.
- :class:`RateLimits` — cluster-wide token buckets, or ``None`` where there are none (one
  node) or they cannot be reached now: the node then limits on its own.
- :class:`Broker` — :class:`PubSub`, :class:`Presence` and :class:`RateLimits` together:
  what a broker backend implements.
- :class:`KeyStore` — the operator's API keys and the token signing keys, and
  :class:`OperatorStore` — the console's operators: in ``keys.sqlite3``
  (:mod:`pchat.storage.keys_sqlite`) on one machine, in PostgreSQL
  (:mod:`pchat.storage.keys_postgres`) for a cluster. Read rarely (the server caches what it
  reads); of several nodes starting at once on an empty store, one creates the first key.

Faults: a store raises :class:`StoreUnavailable` when it cannot answer now — a lost, refused
or stalled connection, a locked file, or an operation over the store's time budget — and
never lets a driver's exception of that kind escape; the chat core answers it with the
temporary error ``unavailable``. Brokers do not raise for an outage: they queue, estimate or
decline (see each method), and report it through ``healthy``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pchat.protocol.errors import PChatError
from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from .base_operator import (
    ApiKeyRecord,
    KeyStore,
    OperatorRecord,
    OperatorStore,
    RetentionRule,
    RetentionStore,
    RevocationStore,
    SigningKey,
    Trimmed,
    WebhookBacklog,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStore,
)

__all__ = [
    "ApiKeyRecord",
    "AppendResult",
    "Backend",
    "Broker",
    "BrokerHandler",
    "DeleteResult",
    "HoldResult",
    "KeyStore",
    "MessageStore",
    "ModerationStore",
    "MuteStore",
    "OperatorRecord",
    "OperatorStore",
    "PollStore",
    "Presence",
    "PubSub",
    "Purge",
    "RateLimits",
    "ReactionStore",
    "ReportStore",
    "ReportsResolved",
    "RetentionRule",
    "RetentionStore",
    "ReviewStore",
    "RevocationStore",
    "RoomInfo",
    "SigningKey",
    "StoreUnavailable",
    "StreamEvent",
    "StreamStore",
    "Trimmed",
    "View",
    "WebhookBacklog",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookStore",
    "deliver",
]

_log = logging.getLogger(__name__)


class StoreUnavailable(PChatError):
    """The store cannot answer now; the same operation may succeed later.

    Raised for connection-level failures and for operations over the store's time budget
    (the outcome of a write cut short is unknown: a retry with the same ``cid`` is safe).
    """


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room's stream: its epoch, the position of its last event (0: empty) and of its
    first kept one (``first_seq``: the events before it were removed by retention; 1 while
    none was, ``last_seq + 1`` when every event was)."""

    room_id: str
    epoch: str
    last_seq: int
    first_seq: int = 1


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The stored message; ``created`` is False when an earlier send with the same cid won."""

    message: Message
    created: bool


@dataclass(frozen=True, slots=True)
class HoldResult:
    """What holding a message found: ``item`` is the held message (``created``: held now;
    else held before with the same cid), or the message the same cid already is in the
    stream (sent, approved or released before; ``created`` False)."""

    item: Held | Message
    created: bool


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """The message as deleted, and the position of the ``message_delete`` event."""

    message: Message
    seq: int


@dataclass(frozen=True, slots=True)
class Purge:
    """Every message of ``user_id`` in a room sent at ``since`` (ms) or later, soft-deleted
    at once by ``by`` at ``ts``: ``count`` of them (0 for everything: ``since`` 0)."""

    user_id: str
    since: int
    by: User
    ts: int
    count: int


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a room's stream with the *current* state of its message.

    ``kind`` is ``message``, ``message_delete``, ``message_purge``, ``message_hide`` or
    ``message_restore``. All but a purge carry their ``message`` (``purge`` is None); a
    message deleted since it was sent is replayed with its text already removed: deleted
    text never leaves the store again. A ``message_purge`` carries the :class:`Purge` as
    recorded and no ``message``. ``ts`` is when a ``message_hide`` or ``message_restore``
    happened (None for the other kinds: their times are in their message or purge).
    """

    seq: int
    kind: str
    message: Message | None
    purge: Purge | None = None
    ts: int | None = None


@dataclass(frozen=True, slots=True)
class View:
    """Whose ``history``: a viewer (``staff`` False) sees no hidden message and no shadow
    message but their own; nobody sees the messages of the users they muted."""

    user_id: str
    staff: bool = False
    muted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportsResolved:
    """The open reports of a message dropped: ``count`` of them; ``restored``, when the
    message was shown again, the position of its ``message_restore`` event and the message
    as restored."""

    count: int
    restored: tuple[int, Message] | None = None


class Backend(Protocol):
    """What every store and broker is: opened, closed, and reporting its health."""

    async def open(self) -> None:
        """Connect, create or migrate what is needed, start any worker."""

    async def close(self) -> None:
        """Finish what was submitted, then release every resource."""

    @property
    def healthy(self) -> bool:
        """Whether the backend answers now (see each backend for how it knows); False while
        closed. Never does I/O: a health endpoint reads it while the backend hangs."""


class StreamStore(Protocol):
    """Each room's stream: its messages, their deletes and purges, and replay by position."""

    async def room(self, room_id: str) -> RoomInfo:
        """The room's stream, created (with a new random epoch) on first use."""

    async def find_room(self, room_id: str) -> RoomInfo | None:
        """The room's stream if it was ever used; None otherwise (unlike :meth:`room`, this
        creates nothing)."""

    async def messages_since(self, room_id: str, ts: int) -> int:
        """How many of the room's messages were sent at ``ts`` (ms) or later, deleted ones
        included (the room's message rate, from the ``(room, ts)`` index)."""

    async def append_message(
        self,
        room_id: str,
        *,
        message_id: str,
        user: User,
        text: str,
        cid: str | None,
        ts: int,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        shadow: bool = False,
    ) -> AppendResult:
        """Store a message as the next event of the room's stream.

        When ``cid`` is given and ``(room_id, user.id, cid)`` was stored before, nothing is
        written and the earlier message is returned, as stored, with ``created=False``. The
        returned message is durable (committed) when this returns. ``ts`` never goes
        backwards in a room: a message older than the room's last one is stored with the
        last one's ``ts``. ``reply_to`` (the id of the message it answers) and ``mentions``
        (user ids, in order) are stored with the message, as given, and every read of it
        returns them — :meth:`get_message`, :meth:`history`, :meth:`events_since` (recovery),
        deleted or not; a message stored before a store knew them has None and ``()``.
        ``shadow``: its author is shadow-banned (only they and the staff see it).
        """

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        """One message by id, or None."""

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        """Soft-delete: remove the text, mark deleted, append a ``message_delete`` event.

        Returns None if there is no such message; raises ``ConflictError`` with
        ``ALREADY_DELETED`` if it was deleted before (of concurrent deletes, one wins).
        """

    async def purge_user(
        self, room_id: str, user_id: str, *, since: int, by: User, ts: int
    ) -> tuple[int, Purge] | None:
        """Soft-delete every message of ``user_id`` in the room with ``ts >= since`` not deleted
        yet (text removed, deleted_by/at set, as delete_message does) and append ONE
        ``message_purge`` event for all of them; returns its position and the purge, or None
        (nothing appended) when there was nothing to delete. Atomic: all or nothing."""

    async def history(
        self,
        room_id: str,
        *,
        before_seq: int | None = None,
        before_ts: int | None = None,
        limit: int = 50,
        view: View | None = None,
    ) -> list[Message]:
        """The newest ``limit`` messages older than both bounds, returned oldest first;
        deleted messages included, without their text. With ``view``, only the messages
        that viewer sees (the ``limit`` counts those); without, all. History ends at the
        room's ``first_seq``: nothing retention removed, or kept only for a later event."""

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        """Stream events with ``seq > after_seq`` in order, at most ``limit`` of them. Only
        kept ones: after a removal by retention the first is at the room's ``first_seq``
        or later (the caller sees the hole)."""


class ReactionStore(Protocol):
    """Each room's reaction totals."""

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        """Add ``counts`` (reaction type -> count) to the room's totals; concurrent
        additions all count."""

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        """The room's totals per reaction type (empty for a room without reactions)."""


class PollStore(Protocol):
    """Polls, their options' tallies and the users' votes.

    The rules each store applies in the transaction of the write, through
    :mod:`pchat.storage.poll_rules`: a vote needs an open poll (``POLL_NOT_OPEN``) and an
    existing option (``INVALID_FIELD``), and counts once per user (``ALREADY_VOTED``); a
    finished poll cannot be finished again (``POLL_NOT_OPEN``); a poll that does not exist
    is ``NOT_FOUND``.
    """

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
        """Record one vote; raise NotFound, ``POLL_NOT_OPEN``, ``INVALID_FIELD`` (no such
        option) or ``ALREADY_VOTED``. The returned poll has the user's vote as ``my_vote``.

        Tallies in the returned poll are exact under concurrent votes.
        """

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        """Move an open or scheduled poll to ``finished``; raise NotFound or ``POLL_NOT_OPEN``."""

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        """The user's votes in the room: poll id -> option index."""


class ModerationStore(Protocol):
    """Each room's moderation state — bans, settings, the pin, the word filter's blocklist —
    and its moderation log."""

    async def put_ban(self, room_id: str, ban: Ban) -> None:
        """Store a ban of ``ban.user_id`` in the room, replacing any earlier one."""

    async def remove_ban(self, room_id: str, user_id: str) -> bool:
        """Lift the user's ban in the room; False if there was none."""

    async def bans(self, room_id: str, now_ms: int) -> list[Ban]:
        """The room's bans still in force at ``now_ms`` (expired ones are not returned)."""

    async def forget_expired_bans(self, now_ms: int) -> int:
        """Delete bans that ended before now_ms (all rooms); returns how many.

        A ban ends at its ``until``, the first millisecond free, so this deletes exactly the
        bans that :meth:`bans` no longer returns at ``now_ms``; permanent ones are kept."""

    async def room_settings(self, room_id: str) -> RoomSettings:
        """The room's settings; the defaults (``RoomSettings()``) for a room never set."""

    async def put_room_settings(self, room_id: str, settings: RoomSettings) -> None:
        """Store the room's settings."""

    async def pin(self, room_id: str) -> Pin | None:
        """The room's pin, or None."""

    async def put_pin(self, room_id: str, pin: Pin | None) -> None:
        """Pin (or with None unpin) in the room."""

    async def log_action(self, room_id: str, action: ModAction) -> ModAction:
        """Append to the room's moderation log; returns the entry with its ``id``: larger
        than every earlier entry's of the room."""

    async def mod_log(self, room_id: str, *, before_id: int | None, limit: int) -> list[ModAction]:
        """The newest ``limit`` entries with ``id`` below ``before_id`` (all: None), newest
        first."""

    async def recent_texts(self, room_id: str, user_id: str, limit: int) -> list[str]:
        """The texts of the user's ``limit`` newest messages in the room (deleted included,
        text as stored), newest first: what unique-chat mode compares with."""

    async def filter_entries(self, room_id: str) -> list[FilterEntry]:
        """The room's blocklist entries, oldest first. ``room_id`` ``"*"`` holds the
        server-wide list (no room id can be ``*``)."""

    async def put_filter_entry(self, room_id: str, entry: FilterEntry) -> None:
        """Add an entry, or change the action of the entry with the same pattern."""

    async def remove_filter_entry(self, room_id: str, pattern: str) -> bool:
        """Remove the entry with that pattern; False if there was none."""


class MuteStore(Protocol):
    """Each user's personal mutes (across rooms)."""

    async def put_mute(self, user_id: str, muted_id: str, ts: int) -> bool:
        """Record that ``user_id`` muted ``muted_id``; False if it already had."""

    async def remove_mute(self, user_id: str, muted_id: str) -> bool:
        """Lift the mute; False if there was none."""

    async def mutes(self, user_id: str) -> list[str]:
        """The ids ``user_id`` muted, oldest mute first."""

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """:meth:`mutes` of many users in one read: only those with a mute are keys."""


class ReviewStore(Protocol):
    """Each room's held messages: waiting for a moderator, or for the chat delay to end."""

    async def hold_message(self, room_id: str, held: Held) -> HoldResult:
        """Hold ``held`` in the room's queue, unless its cid was seen: when ``held.cid`` is
        given and ``(room_id, held.user.id, cid)`` is held already, or is a message of the
        stream, nothing is written and that one is returned (``created`` False). Safe
        against a concurrent release of the same cid: either the message is returned, or a
        new item is held."""

    async def held_messages(self, room_id: str, limit: int) -> list[Held]:
        """The room's held messages, oldest first (by ``ts``), at most ``limit``."""

    async def get_held(self, room_id: str, held_id: str) -> Held | None:
        """One held message, or None (never held, or released or rejected since)."""

    async def release_held(self, room_id: str, held_id: str, ts: int) -> AppendResult | None:
        """Remove the held message and append it to the room's stream as a message with the
        same id, sent at ``ts`` (as :meth:`StreamStore.append_message` stores ``ts``), in one
        transaction. None if it is not held (never, or released or rejected since: of
        concurrent releasers, on one node or several, exactly one gets the message). If its
        cid is in the stream already, the held one is dropped and that message returned
        with ``created`` False."""

    async def reject_held(self, room_id: str, held_id: str) -> Held | None:
        """Remove the held message and return it; None if it is not held (of concurrent
        callers and releasers, exactly one wins)."""

    async def due_held(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        """``(room_id, id)`` of held messages of every room whose ``release_at`` is at or
        before ``now_ms``, the earliest first, at most ``limit``."""


class ReportStore(Protocol):
    """Each room's reports of messages (one per reporter and message) and the hiding of a
    reported message from viewers, a stream event like a delete.

    A report is *open* until a moderator resolves it; the reports of a deleted message are
    closed with it (no longer returned, whatever happens to their rows).
    """

    async def add_report(
        self, room_id: str, message_id: str, user_id: str, reason: str, ts: int
    ) -> int | None:
        """Record ``user_id``'s report of the message; the number of its open reports now,
        or None (nothing written) if that user had reported it already. Does not look at
        the message: the caller checked that it exists."""

    async def report(self, room_id: str, message_id: str) -> Report | None:
        """The open reports of one message (as :meth:`open_reports` gives them), or None."""

    async def open_reports(self, room_id: str, limit: int) -> list[Report]:
        """The room's reported messages not deleted, the most recently reported first, at
        most ``limit``: each with its count, its distinct non-empty reasons (newest first,
        at most :data:`~pchat.protocol.moderation.REPORT_REASONS_MAX`) and its last
        report's ``ts``."""

    async def hide_message(
        self, room_id: str, message_id: str, ts: int, *, min_reports: int = 1
    ) -> tuple[int, Message] | None:
        """Hide the message from viewers: mark it ``hidden`` and append a ``message_hide``
        event at ``ts``, in one transaction; returns the event's position and the message as
        hidden. None (nothing written) unless the message exists, is neither deleted nor
        hidden, and has at least ``min_reports`` open reports."""

    async def resolve_reports(
        self, room_id: str, message_id: str, *, restore_ts: int | None = None
    ) -> ReportsResolved | None:
        """Drop the message's reports; None (nothing written) if it had none. With
        ``restore_ts``, a hidden message that is not deleted is also shown again in the same
        transaction: ``hidden`` cleared and a ``message_restore`` event appended at
        ``restore_ts``. Of concurrent callers, exactly one gets the reports."""


class MessageStore(
    Backend,
    StreamStore,
    ReactionStore,
    PollStore,
    ModerationStore,
    MuteStore,
    ReviewStore,
    ReportStore,
    RevocationStore,
    WebhookStore,
    RetentionStore,
    Protocol,
):
    """Durable room state — the stream, reactions, polls, moderation — with its lifecycle
    and health: what a store backend implements."""


BrokerHandler = Callable[[str, int | None, bytes], None]
"""Called with ``(room_id, seq, payload)`` for every publication to a subscribed room."""


def deliver(handler: BrokerHandler, room_id: str, seq: int | None, payload: bytes) -> None:
    """Hand one publication to ``handler`` as :class:`PubSub` promises: a handler that
    raises is logged, and neither the publisher nor later deliveries see the exception."""
    try:
        handler(room_id, seq, payload)
    except Exception:
        _log.exception("broker handler for room %r failed", room_id)


class PubSub(Backend, Protocol):
    """Fan-out of publications between the nodes subscribed to a room.

    Publications of one room reach every subscriber in the order they were published. One
    handler per room and node: subscribing again replaces it. A handler that raises is
    logged; the publisher and later deliveries are not affected.
    """

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        """Deliver ``payload`` (an encoded push frame) to every node subscribed to the room,
        this node's handler at once. ``seq`` is the stream position, None outside the
        stream. Does not wait for other nodes (nor raise while they cannot be reached)."""

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        """Start delivering the room's publications to ``handler`` on this node."""

    async def unsubscribe(self, room_id: str) -> None:
        """Stop delivering the room's publications to this node (harmless if not
        subscribed)."""

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the broker is back after an outage (resubscribed,
        its queued publications sent). Publications of other nodes may have been lost
        meanwhile: the core re-reads from the store what is not in the stream (polls,
        reaction totals) and reports its presence again. Brokers that cannot lose a
        publication never call it.
        """


class Presence(Protocol):
    """Room-wide connection counts, summed over the nodes."""

    async def set_presence(self, room_id: str, node_count: int) -> int:
        """Report this node's connection count for the room (0: none left); return the
        room-wide count. While the other nodes cannot be reached, an estimate from the last
        known total and this node's change."""

    async def rooms_online(self) -> dict[str, int]:
        """Every room with a connection on a live node, and its room-wide count (the sums
        :meth:`set_presence` answers). While the other nodes cannot be reached, what this
        node knows: the last totals of the rooms it serves."""


class RateLimits(Protocol):
    """Token buckets shared by the nodes (a user's limits hold across nodes)."""

    async def take_token(self, key: str, rate: float, burst: int) -> float | None:
        """Take one token from the cluster-wide bucket ``key`` (``rate`` per second, at most
        ``burst``): 0.0 if allowed, else the seconds to wait. None when this broker keeps
        no shared counters (one node) or cannot now: the node then limits on its own.
        """


class Broker(PubSub, Presence, RateLimits, Protocol):
    """Pub/sub, presence and rate-limit tokens together: what a broker backend implements."""
