"""The operator's side of the storage interfaces (re-exported by :mod:`pchat.storage.base`,
where the whole tree is described): token revocations, history retention and webhooks —
part of every :class:`~pchat.storage.base.MessageStore` — and the keys and console
operators of :class:`KeyStore` and :class:`OperatorStore`, kept in their own store
(``keys.sqlite3``, or PostgreSQL beside a PostgreSQL message store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ApiKeyRecord",
    "KeyStore",
    "OperatorRecord",
    "OperatorStore",
    "RetentionRule",
    "RetentionStore",
    "RevocationStore",
    "SigningKey",
    "Trimmed",
    "WebhookBacklog",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookStore",
]


class RevocationStore(Protocol):
    """Users whose access tokens issued before a time are refused, on every node."""

    async def revoke_tokens(self, user_id: str, before: int) -> int:
        """Refuse ``user_id``'s tokens issued before ``before`` (seconds since the epoch);
        return the user's time now (an earlier ``before`` leaves a later one in place)."""

    async def revocations(self, since: int) -> dict[str, int]:
        """Every user whose time is ``since`` or later, with that time."""


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """A room's own retention, set by the operator over the server's: keep the messages of
    the last ``days`` days (fractions allowed) and at most the newest ``messages``. None
    follows the server's setting; 0 keeps forever (whatever the server's)."""

    days: float | None = None
    messages: int | None = None


@dataclass(frozen=True, slots=True)
class Trimmed:
    """What one :meth:`RetentionStore.trim_room` removed: ``messages`` and ``events``; the
    room's ``first_seq`` now; ``done`` when nothing more is to be removed under the rule it
    was given (else call again: the next batch)."""

    messages: int
    events: int
    first_seq: int
    done: bool


class RetentionStore(Protocol):
    """Each room's own retention rule, and the removal of old history in bounded batches.

    Removal takes a prefix of the room's stream: the events before a position (and the
    purges recorded with them), the messages they created, and the reports of those
    messages. A message that a kept event still names (a later delete, hide or restore of
    it) stays until that event goes too, and so does the pinned message while it is
    pinned; neither is returned by :meth:`StreamStore.history` (which ends at
    ``first_seq``). Polls, votes, reaction totals and the moderation log are not history:
    kept.
    """

    async def room_retention(self, room_id: str) -> RetentionRule | None:
        """The room's own rule, or None (the server's applies)."""

    async def set_room_retention(self, room_id: str, rule: RetentionRule | None) -> None:
        """Set the room's own rule; None (or a rule of two Nones) removes it. The room need
        not exist yet."""

    async def retention_rules(self) -> dict[str, RetentionRule]:
        """Every room's own rule."""

    async def trim_candidates(
        self, *, after: str, limit: int, before_ts: int | None, keep: int | None
    ) -> list[str]:
        """Rooms after ``after`` (by id, at most ``limit``) where :meth:`trim_room` with
        ``before_ts`` and ``keep`` may remove something: a superset, cheap to find (pass
        the last one as ``after`` for the next page; fewer than ``limit``: the last page)."""

    async def trim_room(
        self,
        room_id: str,
        *,
        before_ts: int | None,
        keep: int | None,
        limit: int,
        keep_since_ts: int | None = None,
    ) -> Trimmed:
        """Remove the room's history older than ``before_ts`` (ms; the messages sent
        before it) and beyond the newest ``keep`` messages (None: no bound of that kind),
        at most ``limit`` events of it in one transaction. The events before the first
        message kept go too (deletes, purges, hides of removed messages). Whatever the
        bounds, the messages sent at ``keep_since_ts`` or later are kept, and every event
        after the first of them. Safe against concurrent writers and trimmers of the room
        (on any node)."""


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """An operator's endpoint: events of ``types`` (``*``: all) are POSTed to ``url``, signed
    with ``secret``; an inactive one gets none (its pending deliveries wait)."""

    id: str
    url: str
    secret: str = field(repr=False)
    types: tuple[str, ...]
    created_at: int
    active: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event claimed for delivery to one endpoint, until ``claim``'s lease ends.

    ``id`` is the outbox row's; ``event_id`` is the event's, the same for every endpoint and
    attempt. ``attempts`` counts this one. ``body`` is the JSON sent, byte for byte."""

    id: int
    claim: str
    event_id: str
    event_type: str
    room_id: str
    created_at: int
    body: bytes
    attempts: int
    endpoint_id: str
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WebhookBacklog:
    """An endpoint's outbox: deliveries ``pending`` (claimed ones included) and ``dead``
    (given up), and the error of its most recent failed attempt."""

    pending: int = 0
    dead: int = 0
    last_error: str | None = None


class WebhookStore(Protocol):
    """Webhook endpoints, and the outbox of events still to deliver to them.

    Which changes write events (each in its own transaction, one row per active endpoint
    subscribed to the type, all rows of one event with one event id): ``message.posted``
    by :meth:`~StreamStore.append_message` and :meth:`~ReviewStore.release_held` when they
    store a new message; ``message.deleted``, ``messages.purged``; ``user.banned`` by
    :meth:`~ModerationStore.put_ban`, ``user.unbanned`` by
    :meth:`~ModerationStore.remove_ban`; ``poll.published`` by
    :meth:`~PollStore.create_poll` (an open poll) and :meth:`~PollStore.publish_poll`,
    ``poll.finished``; ``room.live`` and ``room.empty`` by :meth:`set_room_live`.
    """

    @property
    def webhook_types(self) -> frozenset[str]:
        """The event types some active endpoint subscribes to, as last read by this store
        (no I/O): what its writes check. Empty until the first :meth:`reload_webhook_types`
        (the chat core's start calls it); this store's own endpoint changes update it at
        once, other nodes' show after the next reload."""

    async def reload_webhook_types(self) -> frozenset[str]:
        """Read :attr:`webhook_types` again (other nodes may have changed endpoints)."""

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint; ``ValueError`` if its id exists."""

    async def webhooks(self) -> list[WebhookEndpoint]:
        """Every endpoint, oldest first."""

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        """One endpoint, or None."""

    async def update_webhook(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        secret: str | None = None,
        types: tuple[str, ...] | None = None,
        active: bool | None = None,
        description: str | None = None,
    ) -> WebhookEndpoint | None:
        """Change the given fields (None: unchanged); the endpoint as changed, or None if
        there is none. Deliveries already in the outbox go to the new URL and secret."""

    async def remove_webhook(self, endpoint_id: str) -> bool:
        """Delete the endpoint and its outbox rows; False if there was none."""

    async def webhook_backlog(self, endpoint_id: str) -> WebhookBacklog:
        """The endpoint's pending and dead deliveries (zeros for an unknown one)."""

    async def set_room_live(self, room_id: str, live: bool, ts: int, online: int) -> bool:
        """Record that the room became live (``live``) or empty, and write its ``room.live``
        or ``room.empty`` event (with ``online``, at ``ts``) in the same transaction; False
        (nothing written) if it was recorded so already: whichever nodes report, the
        events alternate, starting with ``room.live``."""

    async def claim_webhooks(self, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        """Claim at most ``limit`` deliveries due at ``now_ms`` for active endpoints, oldest
        event first, each until ``now_ms + lease_ms`` under a new claim, and count the
        attempt. Of concurrent claimers (any node) exactly one gets each row."""

    async def webhook_delivered(self, delivery_id: int, claim: str) -> bool:
        """The delivery succeeded: remove it. False if ``claim`` no longer holds it (its
        lease ended and another claimed it, or the endpoint was removed)."""

    async def webhook_failed(
        self, delivery_id: int, claim: str, *, error: str, retry_at: int | None, now_ms: int
    ) -> bool:
        """The attempt failed with ``error``: due again at ``retry_at``, or with None given
        up (dead since ``now_ms``, kept for :meth:`retry_dead_webhooks`). False if ``claim``
        no longer holds it."""

    async def retry_dead_webhooks(self, endpoint_id: str, now_ms: int) -> int:
        """Make the endpoint's dead deliveries due at ``now_ms`` again, attempts reset; how
        many."""

    async def forget_dead_webhooks(self, before_ms: int) -> int:
        """Delete the deliveries given up before ``before_ms`` (every endpoint); how many."""


class KeyStore(Protocol):
    """The operator's API keys (secrets stored only as hashes) and token signing keys.

    ``open`` before use (PostgreSQL connects and migrates its tables; SQLite has nothing to
    do), ``close`` after. Failures to reach the store raise :class:`StoreUnavailable`.
    """

    async def open(self) -> None:
        """Connect, create or migrate the tables."""

    async def close(self) -> None:
        """Release every resource."""

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new API key; ``ValueError`` if the key exists."""

    async def add_api_key_if_none(self, record: ApiKeyRecord) -> bool:
        """Store ``record`` only if the store holds no API key at all (a first start); True
        if stored. Atomic: of callers racing on an empty store, one stores its key."""

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        """One API key (revoked or not), or None."""

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every API key, revoked ones included, oldest first."""

    async def revoke_api_key(self, key: str, ts: int) -> bool:
        """Mark the key revoked at ``ts``; False if there is no such key or it was revoked."""

    async def signing_keys(self) -> list[SigningKey]:
        """Every signing key, oldest first (the last one signs)."""

    async def add_signing_key(self, key: SigningKey) -> None:
        """Store a new signing key; ``ValueError`` if the kid exists."""

    async def add_signing_key_if_none(self, key: SigningKey) -> bool:
        """Store ``key`` only if the store holds no signing key at all (a first start); True
        if stored. Atomic: of nodes starting at once on an empty store, one stores its key."""

    async def remove_signing_key(self, kid: str) -> bool:
        """Delete a signing key (retired: its tokens no longer verify); False if none."""


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    """An operator of the console: the password's stored form, times in s since the epoch."""

    name: str
    password_hash: str
    created_at: int
    updated_at: int


class OperatorStore(Protocol):
    """The console's operators (passwords stored only as slow hashes), beside the keys."""

    async def set_operator(self, name: str, password_hash: str, ts: int) -> bool:
        """Set the operator's password (creating the operator); True if it is new."""

    async def get_operator(self, name: str) -> OperatorRecord | None:
        """One operator, or None."""

    async def list_operators(self) -> list[OperatorRecord]:
        """Every operator, by name."""

    async def remove_operator(self, name: str) -> bool:
        """Delete an operator; False if there is none of that name."""


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
