"""The objects the protocol carries: users, messages, polls — with their wire forms.

The server builds them from storage rows; both SDKs build them from frames. Field names on
the wire are the ones ``to_wire`` writes; ``docs/protocol.md`` documents each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Message", "Poll", "PollOption", "User"]


@dataclass(frozen=True, slots=True)
class User:
    """A user as seen in a room: the token's subject, the chosen name and the claimed role."""

    id: str
    username: str
    role: str = "viewer"

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "role": self.role}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> User:
        return cls(id=data["id"], username=data["username"], role=data.get("role", "viewer"))


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message. ``seq`` is its position in the room's stream; ``ts`` is in ms."""

    id: str
    seq: int
    ts: int
    user: User
    text: str
    cid: str | None = None
    deleted: bool = False
    deleted_by: User | None = None
    deleted_at: int | None = None
    #: The id of the message this one answers, if any.
    reply_to: str | None = None
    #: The ids of the users the text mentions (``@username`` of a user in the room).
    mentions: tuple[str, ...] = ()
    #: Its author was shadow-banned when it was sent: only they and the staff see it.
    shadow: bool = False
    #: Hidden by reports until a moderator decides: only the staff see it.
    hidden: bool = False

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "ts": self.ts,
            "user": self.user.to_wire(),
            "text": self.text,
            "deleted": self.deleted,
        }
        if self.cid is not None:
            data["cid"] = self.cid
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        if self.mentions:
            data["mentions"] = list(self.mentions)
        if self.shadow:
            data["shadow"] = True
        if self.hidden:
            data["hidden"] = True
        if self.deleted:
            data["deleted_by"] = self.deleted_by.to_wire() if self.deleted_by else None
            data["deleted_at"] = self.deleted_at
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        deleted_by = data.get("deleted_by")
        return cls(
            id=data["id"],
            seq=data["seq"],
            ts=data["ts"],
            user=User.from_wire(data["user"]),
            text=data.get("text", ""),
            cid=data.get("cid"),
            deleted=bool(data.get("deleted", False)),
            deleted_by=User.from_wire(deleted_by) if deleted_by else None,
            deleted_at=data.get("deleted_at"),
            reply_to=data.get("reply_to"),
            mentions=tuple(data.get("mentions") or ()),
            shadow=bool(data.get("shadow", False)),
            hidden=bool(data.get("hidden", False)),
        )

    def as_deleted(self, by: User, at: int) -> Message:
        """This message soft-deleted: text removed, who and when recorded."""
        return replace(self, text="", deleted=True, deleted_by=by, deleted_at=at)


@dataclass(frozen=True, slots=True)
class PollOption:
    text: str
    votes: int = 0


@dataclass(frozen=True, slots=True)
class Poll:
    """A poll. ``status`` is ``scheduled``, ``open`` or ``finished``; times are in ms."""

    id: str
    question: str
    options: tuple[PollOption, ...]
    status: str
    created_by: User
    created_at: int
    publish_at: int | None = None
    published_at: int | None = None
    finished_at: int | None = None
    my_vote: int | None = field(default=None, compare=False)

    @property
    def total_votes(self) -> int:
        return sum(o.votes for o in self.options)

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": [{"text": o.text, "votes": o.votes} for o in self.options],
            "status": self.status,
            "total_votes": self.total_votes,
            "created_by": self.created_by.to_wire(),
            "created_at": self.created_at,
            "publish_at": self.publish_at,
            "published_at": self.published_at,
            "finished_at": self.finished_at,
        }
        if self.my_vote is not None:
            data["my_vote"] = self.my_vote
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Poll:
        return cls(
            id=data["id"],
            question=data["question"],
            options=tuple(PollOption(o["text"], o.get("votes", 0)) for o in data["options"]),
            status=data["status"],
            created_by=User.from_wire(data["created_by"]),
            created_at=data["created_at"],
            publish_at=data.get("publish_at"),
            published_at=data.get("published_at"),
            finished_at=data.get("finished_at"),
            my_vote=data.get("my_vote"),
        )
