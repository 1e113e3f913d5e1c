"""What the server client's calls return, besides the protocol's own objects
(:class:`~pchat.protocol.models.Message`, :class:`~pchat.protocol.models.Poll`,
:class:`~pchat.protocol.moderation.Ban`, …)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pchat.protocol.models import Message, Poll
from pchat.protocol.moderation import Held, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

__all__ = [
    "ApiKey",
    "HistoryPage",
    "ModLogPage",
    "PollPage",
    "PublishResult",
    "PurgeResult",
    "RoomList",
    "RoomRetention",
    "RoomState",
    "RoomSummary",
    "SigningKeyInfo",
    "Webhook",
    "WebhookTest",
]


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A live room: its online count (every node), messages sent in the last minute, and
    the position of its last stream event."""

    id: str
    online: int
    messages_last_minute: int
    last_seq: int

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RoomSummary:
        return cls(data["id"], data["online"], data["messages_last_minute"], data["last_seq"])


@dataclass(frozen=True, slots=True)
class RoomList:
    """The most crowded live rooms, and how many rooms are live."""

    rooms: list[RoomSummary]
    total: int


@dataclass(frozen=True, slots=True)
class RoomState:
    """One room's state: what a client's connect reply holds of it."""

    id: str
    epoch: str
    last_seq: int
    online: int
    messages_last_minute: int
    settings: RoomSettings
    pin: Pin | None
    #: The open and scheduled polls, oldest first.
    polls: list[Poll]
    reaction_types: list[str]
    reaction_stats: dict[str, int]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RoomState:
        return cls(
            id=data["id"],
            epoch=data["epoch"],
            last_seq=data["last_seq"],
            online=data["online"],
            messages_last_minute=data["messages_last_minute"],
            settings=RoomSettings.from_wire(data["settings"]),
            pin=Pin.from_wire(data["pin"]) if data["pin"] else None,
            polls=[Poll.from_wire(p) for p in data["polls"]],
            reaction_types=list(data["reactions"]["types"]),
            reaction_stats=dict(data["reactions"]["stats"]),
        )


@dataclass(frozen=True, slots=True)
class PublishResult:
    """A published message (``message``), or one held for review or by the chat delay
    (``message`` None, ``held``); ``duplicate``: an earlier call with the same ``cid``."""

    message: Message | None
    held: Held | None
    duplicate: bool


@dataclass(frozen=True, slots=True)
class HistoryPage:
    messages: list[Message]
    has_more: bool


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """The purge event's position (None when nothing was deleted) and how many messages
    it deleted."""

    seq: int | None
    count: int


@dataclass(frozen=True, slots=True)
class ModLogPage:
    entries: list[ModAction]
    has_more: bool


@dataclass(frozen=True, slots=True)
class PollPage:
    polls: list[Poll]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: ``secret`` only in the answer that created it (it is stored hashed);
    times in ms since the epoch."""

    key: str
    created_at: int
    revoked_at: int | None
    secret: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ApiKey:
        return cls(data["api_key"], data["created_at"], data["revoked_at"], data.get("api_secret"))


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """A token signing key (never its secret): whether it signs new tokens, and from when
    it may be retired without ``force`` (ms; None for the key that signs)."""

    kid: str
    created_at: int
    signing: bool
    retire_after: int | None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SigningKeyInfo:
        return cls(data["kid"], data["created_at"], data["signing"], data["retire_after"])


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook endpoint with its outbox: deliveries ``pending`` and ``dead`` (given up),
    the last error; ``secret`` only in the answer that created it."""

    id: str
    url: str
    types: list[str]
    description: str
    active: bool
    created_at: int
    pending: int
    dead: int
    last_error: str | None
    secret: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Webhook:
        return cls(
            id=data["id"],
            url=data["url"],
            types=list(data["types"]),
            description=data["description"],
            active=data["active"],
            created_at=data["created_at"],
            pending=data["pending"],
            dead=data["dead"],
            last_error=data["last_error"],
            secret=data.get("secret"),
        )


@dataclass(frozen=True, slots=True)
class WebhookTest:
    """What a test event's POST got: ``ok`` (a 2xx), the status or the error, and ms."""

    event_id: str
    ok: bool
    status: int | None
    error: str | None
    ms: float

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> WebhookTest:
        return cls(data["event_id"], data["ok"], data["status"], data["error"], data["ms"])


@dataclass(frozen=True, slots=True)
class RoomRetention:
    """How much history a room keeps: its own rule (``rule_days``, ``rule_messages``: None
    follows the server's setting, 0 keeps forever; both None without a rule of its own),
    what applies (``days``, ``messages``; 0: no limit of that kind), and the positions of
    its first kept and last stream events."""

    room: str
    has_rule: bool
    rule_days: float | None
    rule_messages: int | None
    days: float
    messages: int
    first_seq: int
    last_seq: int

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RoomRetention:
        rule = data["rule"] or {}
        applies = data["effective"]
        return cls(
            room=data["room"],
            has_rule=data["rule"] is not None,
            rule_days=rule.get("days"),
            rule_messages=rule.get("messages"),
            days=applies["days"],
            messages=applies["messages"],
            first_seq=data["first_seq"],
            last_seq=data["last_seq"],
        )


def filter_entry(data: dict[str, Any]) -> FilterEntry:
    return FilterEntry(data["pattern"], data["action"])
