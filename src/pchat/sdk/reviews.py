"""Reports and the review queue of :class:`~pchat.sdk.client.PChatSDK` (docs/protocol.md §2,
docs/moderation.md).

Any user reports a message (:meth:`ReviewCalls.report`); enough reports hide it until a
moderator decides: every client applies the ``message_hide`` stream event
(``MESSAGE_HIDDEN``; a viewer's client drops the message, a moderator's keeps it marked
``hidden``) and, when the reports are dismissed, ``message_restore``
(``MESSAGE_RESTORED``). Moderators and admins page the open reports and decide them, and
work through the messages held for review (the word filter's ``hold`` entries, the room's
hold mode) or by the chat delay: approved or released, a held message enters the stream
with the id its sender's ``send_message`` returned; rejected, its sender's clients fire
``MESSAGE_REJECTED``. Moderators' clients are told of both queues as they change
(``REPORT_ADDED``, ``REPORT_REMOVED``, ``REVIEW_ADDED``, ``REVIEW_REMOVED``); these pushes
are not part of the stream, so a moderator's application reloads the queues after each
``CONNECT``.
"""

from __future__ import annotations

from typing import Any

from pchat.protocol.models import Message
from pchat.protocol.moderation import Held, Report

from .room_state import RoomState

__all__ = ["ReviewCalls"]


class ReviewCalls:
    """The report and review methods; the client provides the request and its room state."""

    _room: RoomState

    async def _request(self, rtype: str, **args: Any) -> Any:
        raise NotImplementedError

    async def _wait_seq(self, seq: int) -> None:
        raise NotImplementedError

    async def report(self, message_id: str, *, reason: str | None = None) -> None:
        """Report a message of the room to its moderators, with an optional ``reason`` (at
        most 200 characters). Once per user and message: reporting again changes nothing.
        Your own message: InvalidRequestError; a deleted one: ConflictError."""
        await self._request("report", message_id=message_id, reason=reason)

    async def get_reports(self, *, limit: int | None = None) -> list[Report]:
        """The reported messages not decided yet, most recently reported first: ``limit``
        (1-100, default 50) of them (moderators and admins)."""
        result = await self._request("reports", limit=limit)
        return [Report.from_wire(r) for r in result["reports"]]

    async def resolve_report(self, message_id: str, action: str) -> None:
        """Decide the open reports of a message (moderators and admins): ``action``
        ``dismiss`` drops them and shows a hidden message again (``MESSAGE_RESTORED`` on
        every client), ``delete`` deletes the message (``MESSAGE_DELETE``). NotFoundError
        if it has no open reports."""
        await self._request("report_resolve", message_id=message_id, action=action)

    async def get_review_queue(self, *, limit: int | None = None) -> list[Held]:
        """The held messages, oldest first: ``limit`` (1-100, default 50) of them
        (moderators and admins)."""
        result = await self._request("review_queue", limit=limit)
        return [Held.from_wire(item) for item in result["items"]]

    async def approve(self, held_id: str) -> Message:
        """Publish a held message into the stream now, with its held id (moderators and
        admins); NotFoundError if it is no longer held. Waits (up to ``request_timeout``)
        until this client has applied its ``message`` push (``MESSAGE`` fired); returns
        it as held."""
        result = await self._request("review_approve", message_id=held_id)
        message = Message.from_wire(result["message"])
        await self._wait_seq(message.seq)
        return self._room.get(message.id) or message

    async def reject(self, held_id: str, *, reason: str | None = None) -> None:
        """Reject a held message (moderators and admins), with an optional ``reason`` (at
        most 200 characters) its sender's clients get with ``MESSAGE_REJECTED``;
        NotFoundError if it is no longer held."""
        await self._request("review_reject", message_id=held_id, reason=reason)
