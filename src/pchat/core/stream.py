"""A room's stream events as pushes: encoded the same way for live delivery, gap filling
and recovery, so a client cannot tell them apart."""

from __future__ import annotations

from dataclasses import replace

from pchat.protocol.frames import push_frame
from pchat.protocol.models import Message, User
from pchat.storage.base import Purge, StreamEvent

from .permissions import is_staff

__all__ = [
    "as_seen_by",
    "delete_push",
    "event_push",
    "hide_push",
    "message_push",
    "purge_push",
    "restore_push",
]


def as_seen_by(message: Message, user: User) -> Message:
    """``message`` as ``user`` gets it in a reply: the ``shadow`` and ``hidden`` marks are
    for the staff (a shadow-banned author sees their message as any other)."""
    if (message.shadow or message.hidden) and not is_staff(user):
        return replace(message, shadow=False, hidden=False)
    return message


def message_push(seq: int, message: Message) -> bytes:
    """The ``message`` push of the event at ``seq`` that created ``message``."""
    return push_frame("message", {"seq": seq, "message": message.to_wire()})


def delete_push(seq: int, message: Message) -> bytes:
    """The ``message_delete`` push of the event at ``seq`` that deleted ``message``."""
    return push_frame(
        "message_delete",
        {
            "seq": seq,
            "message_id": message.id,
            "message_seq": message.seq,
            "deleted_by": message.deleted_by.to_wire() if message.deleted_by else None,
            "ts": message.deleted_at,
        },
    )


def purge_push(seq: int, purge: Purge) -> bytes:
    """The ``message_purge`` push of the event at ``seq``: every message of the user sent
    at ``since`` or later is deleted (clients mark those they hold)."""
    return push_frame(
        "message_purge",
        {
            "seq": seq,
            "user_id": purge.user_id,
            "since": purge.since,
            "deleted_by": purge.by.to_wire(),
            "ts": purge.ts,
            "count": purge.count,
        },
    )


def hide_push(seq: int, message: Message, ts: int | None) -> bytes:
    """The ``message_hide`` push of the event at ``seq`` that hid ``message`` at ``ts``
    (reported enough times: viewers remove it from view)."""
    return push_frame(
        "message_hide",
        {"seq": seq, "message_id": message.id, "message_seq": message.seq, "ts": ts},
    )


def restore_push(seq: int, message: Message) -> bytes:
    """The ``message_restore`` push of the event at ``seq`` that showed ``message`` again
    (its reports were dismissed)."""
    return push_frame("message_restore", {"seq": seq, "message": message.to_wire()})


def event_push(event: StreamEvent) -> bytes:
    """The push of a stored stream event."""
    if event.kind == "message_purge":
        assert event.purge is not None
        return purge_push(event.seq, event.purge)
    assert event.message is not None
    if event.kind == "message":
        return message_push(event.seq, event.message)
    if event.kind == "message_hide":
        return hide_push(event.seq, event.message, event.ts)
    if event.kind == "message_restore":
        return restore_push(event.seq, event.message)
    return delete_push(event.seq, event.message)
