"""The objects of moderation: bans, room settings, pins, held messages, reports and the
moderation log.

Each has a wire form (``to_wire``/``from_wire``) documented in ``docs/protocol.md`` §5 and
``docs/moderation.md``. Times are milliseconds since the Unix epoch, durations seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from .models import Message, User

__all__ = [
    "HOLD_REASONS",
    "MODES",
    "REPORT_REASONS_MAX",
    "Ban",
    "Held",
    "ModAction",
    "Pin",
    "Report",
    "RoomSettings",
]

#: Room modes: who may write. ``open``: everyone; ``moderators_only``: viewers only read;
#: ``reactions_only``: viewers react but do not send messages.
MODES: Final = ("open", "moderators_only", "reactions_only")

#: A :class:`Report` lists at most so many of the reasons given (the newest).
REPORT_REASONS_MAX: Final = 10

#: Why a message waits outside the stream: a blocklist entry with action ``hold``, the
#: room's hold mode, or the room's chat delay (the only one released by itself).
HOLD_REASONS: Final = ("filter", "hold", "delay")


@dataclass(frozen=True, slots=True)
class Ban:
    """A user kept from writing in one room: until ``until`` (a timeout) or until lifted
    (``until`` None). A ban acts only on sessions whose role is below ``by.role``."""

    user_id: str
    by: User
    created_at: int
    until: int | None = None
    reason: str = ""
    #: A shadow ban: the user writes as before, but their new messages reach only their own
    #: connections and the staff.
    shadow: bool = False

    def active(self, now_ms: int) -> bool:
        return self.until is None or self.until > now_ms

    def to_wire(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "by": self.by.to_wire(),
            "created_at": self.created_at,
            "until": self.until,
            "reason": self.reason,
            "shadow": self.shadow,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Ban:
        return cls(
            user_id=data["user_id"],
            by=User.from_wire(data["by"]),
            created_at=data["created_at"],
            until=data.get("until"),
            reason=data.get("reason", ""),
            shadow=bool(data.get("shadow", False)),
        )


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """A room's modes, set by its moderators; the defaults are an unrestricted room."""

    #: Seconds a viewer waits between two messages (0: off).
    slow_mode: int = 0
    #: A viewer's message that repeats one of their recent ones is refused.
    unique_chat: bool = False
    #: The room's own message length limit (0: the server's).
    max_message_chars: int = 0
    #: Who may write: one of :data:`MODES`.
    mode: str = "open"
    #: Every viewer message waits in the review queue until a moderator approves it.
    hold: bool = False
    #: Seconds a viewer's message waits before it reaches the room (0: off); moderators
    #: see it at once in the review queue.
    delay: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "slow_mode": self.slow_mode,
            "unique_chat": self.unique_chat,
            "max_message_chars": self.max_message_chars,
            "mode": self.mode,
            "hold": self.hold,
            "delay": self.delay,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RoomSettings:
        return cls(
            slow_mode=int(data.get("slow_mode", 0)),
            unique_chat=bool(data.get("unique_chat", False)),
            max_message_chars=int(data.get("max_message_chars", 0)),
            mode=str(data.get("mode", "open")),
            hold=bool(data.get("hold", False)),
            delay=int(data.get("delay", 0)),
        )

    def updated(self, changes: dict[str, Any]) -> RoomSettings:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Pin:
    """The room's pinned message, or a moderator's announcement (``message`` None)."""

    by: User
    ts: int
    message: Message | None = None
    text: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "by": self.by.to_wire(),
            "ts": self.ts,
            "message": self.message.to_wire() if self.message else None,
            "text": self.text,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Pin:
        message = data.get("message")
        return cls(
            by=User.from_wire(data["by"]),
            ts=data["ts"],
            message=Message.from_wire(message) if message else None,
            text=data.get("text"),
        )


@dataclass(frozen=True, slots=True)
class Held:
    """A message not in the stream yet: waiting for a moderator (``reason`` ``filter`` or
    ``hold``) or for the chat delay to end (``delay``, released at ``release_at``). Approved
    or released, it enters the stream as a message with the same ``id``."""

    id: str
    ts: int
    user: User
    text: str
    #: One of :data:`HOLD_REASONS`.
    reason: str
    #: When the chat delay releases it (ms); None: it waits for a moderator.
    release_at: int | None = None
    cid: str | None = None
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "ts": self.ts,
            "user": self.user.to_wire(),
            "text": self.text,
        }
        if self.cid is not None:
            data["cid"] = self.cid
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        if self.mentions:
            data["mentions"] = list(self.mentions)
        data["reason"] = self.reason
        data["release_at"] = self.release_at
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Held:
        return cls(
            id=data["id"],
            ts=data["ts"],
            user=User.from_wire(data["user"]),
            text=data.get("text", ""),
            reason=data["reason"],
            release_at=data.get("release_at"),
            cid=data.get("cid"),
            reply_to=data.get("reply_to"),
            mentions=tuple(data.get("mentions") or ()),
        )

    def as_message(self, seq: int, ts: int) -> Message:
        """The message it becomes at stream position ``seq``, sent at ``ts``."""
        return Message(
            id=self.id,
            seq=seq,
            ts=ts,
            user=self.user,
            text=self.text,
            cid=self.cid,
            reply_to=self.reply_to,
            mentions=self.mentions,
        )


@dataclass(frozen=True, slots=True)
class Report:
    """The open reports of one message: how many users reported it, their reasons
    (distinct, newest first, at most :data:`REPORT_REASONS_MAX`) and when last. Whether it
    is hidden now is the message's own ``hidden``."""

    message: Message
    count: int
    reasons: tuple[str, ...] = ()
    last_ts: int = 0

    @property
    def hidden(self) -> bool:
        return self.message.hidden

    def to_wire(self) -> dict[str, Any]:
        return {
            "message": self.message.to_wire(),
            "count": self.count,
            "reasons": list(self.reasons),
            "last_ts": self.last_ts,
            "hidden": self.hidden,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Report:
        message = Message.from_wire(data["message"])
        if data.get("hidden") and not message.hidden:
            message = replace(message, hidden=True)
        return cls(
            message=message,
            count=int(data["count"]),
            reasons=tuple(data.get("reasons") or ()),
            last_ts=int(data.get("last_ts", 0)),
        )


@dataclass(frozen=True, slots=True)
class ModAction:
    """One entry of a room's moderation log: who did what to whom, when and why.

    ``id`` is the log's own position (assigned by the store, increasing per room).
    """

    action: str
    by: User
    ts: int
    target_user_id: str | None = None
    message_id: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "by": self.by.to_wire(),
            "ts": self.ts,
            "target_user_id": self.target_user_id,
            "message_id": self.message_id,
            "reason": self.reason,
            "details": dict(self.details),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ModAction:
        return cls(
            id=data.get("id", 0),
            action=data["action"],
            by=User.from_wire(data["by"]),
            ts=data["ts"],
            target_user_id=data.get("target_user_id"),
            message_id=data.get("message_id"),
            reason=data.get("reason", ""),
            details=dict(data.get("details") or {}),
        )
