"""Webhook events: their types and the JSON body pchat POSTs to an operator's endpoint.

Every delivery is one event, one JSON object::

    {"id": "evt_5f0c…", "type": "message.posted", "room_id": "lobby", "ts": 1718000000123,
     "data": {"message": {…}}}

``id`` is unique per event and the same on every retry (and in the ``pchat-event-id``
header): a receiver deduplicates by it. ``ts`` is when the event happened (ms). ``data`` is
the event's own payload, built here from the protocol's objects in their wire forms
(``docs/server-api.md``, "Webhooks", lists each). Signatures: :mod:`pchat.protocol.signing`.

No I/O here: the stores build the bodies of the events they record in the transaction of
the change (:mod:`pchat.storage`), the chat core those it observes (a room going live).
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import orjson

from .models import Message, Poll, User
from .moderation import Ban

__all__ = [
    "ALL_TYPES",
    "EVENT_TYPES",
    "MESSAGES_PURGED",
    "MESSAGE_DELETED",
    "MESSAGE_POSTED",
    "POLL_FINISHED",
    "POLL_PUBLISHED",
    "ROOM_EMPTY",
    "ROOM_LIVE",
    "TEST",
    "USER_BANNED",
    "USER_UNBANNED",
    "body",
    "message_deleted",
    "message_posted",
    "messages_purged",
    "new_event_id",
    "poll_event",
    "room_liveness",
    "subscribed",
    "user_banned",
    "user_unbanned",
]

MESSAGE_POSTED: Final = "message.posted"
MESSAGE_DELETED: Final = "message.deleted"
MESSAGES_PURGED: Final = "messages.purged"
USER_BANNED: Final = "user.banned"
USER_UNBANNED: Final = "user.unbanned"
POLL_PUBLISHED: Final = "poll.published"
POLL_FINISHED: Final = "poll.finished"
ROOM_LIVE: Final = "room.live"
ROOM_EMPTY: Final = "room.empty"
#: Sent only by ``pchat webhooks test`` / ``POST …/webhooks/{id}/test``, whatever the types.
TEST: Final = "webhook.test"

#: The event types an endpoint can subscribe to, in the order the docs list them.
EVENT_TYPES: Final = (
    MESSAGE_POSTED,
    MESSAGE_DELETED,
    MESSAGES_PURGED,
    USER_BANNED,
    USER_UNBANNED,
    POLL_PUBLISHED,
    POLL_FINISHED,
    ROOM_LIVE,
    ROOM_EMPTY,
)
#: Subscribes to every type, those added later included.
ALL_TYPES: Final = "*"


def subscribed(types: frozenset[str], event_type: str) -> bool:
    """Whether an endpoint (or a node's union of them) with ``types`` gets ``event_type``."""
    return event_type in types or ALL_TYPES in types


def new_event_id() -> str:
    """A new event id: ``evt_`` and 24 hex characters."""
    return "evt_" + secrets.token_hex(12)


def body(
    event_id: str, event_type: str, room_id: str | None, ts: int, data: dict[str, Any]
) -> bytes:
    """The JSON body of one event, as delivered (and signed) byte for byte (``room_id``
    None: an event of no room, ``webhook.test``)."""
    return orjson.dumps(
        {"id": event_id, "type": event_type, "room_id": room_id, "ts": ts, "data": data}
    )


def message_posted(message: Message) -> dict[str, Any]:
    """``message.posted``: the message as stored (``shadow`` set for a shadow-banned
    author's, which only they and the staff see)."""
    return {"message": message.to_wire()}


def message_deleted(message: Message, seq: int) -> dict[str, Any]:
    """``message.deleted``: the message as deleted (no text; ``deleted_by``, ``deleted_at``)
    and the position of the delete in the room's stream."""
    return {"message": message.to_wire(), "seq": seq}


def messages_purged(
    user_id: str, since: int, by: User, ts: int, count: int, seq: int
) -> dict[str, Any]:
    """``messages.purged``: ``count`` messages of ``user_id`` sent at ``since`` or later
    removed at once by ``by``; ``seq`` is the purge's position in the stream."""
    return {
        "user_id": user_id,
        "since": since,
        "by": by.to_wire(),
        "deleted_at": ts,
        "count": count,
        "seq": seq,
    }


def user_banned(ban: Ban) -> dict[str, Any]:
    """``user.banned``: a ban, a timeout (``until`` set) or a shadow ban (``shadow``)."""
    return {"ban": ban.to_wire()}


def user_unbanned(ban: Ban) -> dict[str, Any]:
    """``user.unbanned``: the ban that was lifted, as it was."""
    return {"user_id": ban.user_id, "ban": ban.to_wire()}


def poll_event(poll: Poll) -> dict[str, Any]:
    """``poll.published`` (now open) and ``poll.finished`` (with its final tallies)."""
    return {"poll": poll.to_wire()}


def room_liveness(online: int) -> dict[str, Any]:
    """``room.live`` and ``room.empty``: the room-wide connection count observed."""
    return {"online": online}
