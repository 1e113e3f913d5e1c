"""Hold for review and the chat delay: viewers' messages that wait outside the stream.

Theory of operation. The write guard (:meth:`Moderation.check_write
<pchat.core.moderation.Moderation.check_write>`) decides that a viewer's message waits: it
matched a blocklist entry with action ``hold`` (reason ``filter``), the room is in hold mode
(``hold``), or the room has a chat delay (``delay``, released at ``release_at``). The send
hands it to :meth:`Review.hold`: it is stored in the room's review queue, not the stream;
the sender's reply says ``held``; the room's moderators are told (``review_add``).

A moderator approves one (``review_approve``: it enters the stream now) or rejects it
(``review_reject``: deleted, the sender's own connections told ``message_rejected``). A
delayed one is released at ``release_at`` by a timer of the node that accepted it, or —
should that node be gone — by the periodic release of due items that every node runs
(:meth:`Review.release_due`, the ``held-release`` job).

Approving and releasing are one store operation (:meth:`ReviewStore.release_held
<pchat.storage.base.ReviewStore.release_held>`): the item leaves the queue and becomes a
message with the held id in one transaction, so of several releasers — the timer, another
node's job, a moderator — exactly one publishes it, exactly as a send publishes (through
:meth:`Messages.publish <pchat.core.messages.Messages.publish>`), then tells the moderators
``review_remove``. Every decision of a moderator is in the moderation log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import push_frame
from pchat.protocol.models import Message, User
from pchat.protocol.moderation import Held, ModAction
from pchat.storage.base import AppendResult, ModerationStore, ReviewStore, StoreUnavailable

from .clock import now_ms
from .node import Node
from .permissions import is_staff
from .session import Handler, Session
from .stream import as_seen_by

__all__ = ["MAX_REJECT_REASON_CHARS", "Review"]

log = logging.getLogger(__name__)

_QUEUE_PAGE_MAX: Final = 100
MAX_REJECT_REASON_CHARS: Final = 200
#: The most due items one round of :meth:`Review.release_due` releases.
_DUE_BATCH: Final = 500

_Key = tuple[str, str]  # (room_id, held id)


class Review:
    """The review queue of one node: holding, approving, rejecting and releasing."""

    def __init__(
        self,
        *,
        store: ReviewStore,
        log_store: ModerationStore,
        node: Node,
        publish: Callable[[str, Message], Awaitable[None]],
    ) -> None:
        self._store = store
        self._log_store = log_store
        #: Pushes for the room's moderators (review_add/remove) or the sender (rejected).
        self._node = node
        #: Publishes a message that entered the stream, as a send does.
        self._publish = publish
        #: Delayed items accepted on this node, released by a timer at their time.
        self._timers: dict[_Key, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def handlers(self) -> dict[str, Handler]:
        return {
            "review_queue": self.queue,
            "review_approve": self.approve,
            "review_reject": self.reject,
        }

    # Holding --------------------------------------------------------------------------------

    async def hold(self, room_id: str, held: Held) -> dict[str, Any]:
        """Store a message the guard held and answer its ``send``: ``held``, or the message
        an earlier send with the same cid became."""
        result = await self._store.hold_message(room_id, held)
        item = result.item
        if isinstance(item, Message):
            return {"message": as_seen_by(item, held.user).to_wire(), "duplicate": True}
        if result.created:
            await self._node.to_staff(room_id, push_frame("review_add", {"item": item.to_wire()}))
            if item.release_at is not None:
                self._arm(room_id, item.id, item.release_at)
        return {"message": None, "held": item.to_wire(), "duplicate": not result.created}

    # Requests of the moderators -------------------------------------------------------------

    async def queue(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = _staff(session)
        limit = args.get("limit", 50)
        if limit > _QUEUE_PAGE_MAX:
            raise request_error(ErrorCode.INVALID_FIELD, f"limit must be 1-{_QUEUE_PAGE_MAX}")
        items = await self._store.held_messages(room_id, limit)
        return {"items": [item.to_wire() for item in items]}

    async def approve(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Publish a held message now, with its id."""
        user, room_id = _staff(session)
        held_id = args["message_id"]
        ts = now_ms()
        result = await self._store.release_held(room_id, held_id, ts)
        if result is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such held message in this room")
        message = result.message
        await self._log(
            room_id,
            ModAction(
                action="review_approve",
                by=user,
                ts=ts,
                target_user_id=message.user.id,
                message_id=held_id,
            ),
        )
        await self._released(room_id, held_id, result, "approved", user)
        return {"message": message.to_wire()}

    async def reject(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Delete a held message; its sender's connections are told."""
        user, room_id = _staff(session)
        held_id = args["message_id"]
        reason = _reason(args.get("reason"))
        held = await self._store.reject_held(room_id, held_id)
        if held is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such held message in this room")
        self._disarm((room_id, held_id))
        await self._log(
            room_id,
            ModAction(
                action="review_reject",
                by=user,
                ts=now_ms(),
                target_user_id=held.user.id,
                message_id=held_id,
                reason=reason,
                details={"held_for": held.reason},
            ),
        )
        rejected = push_frame("message_rejected", {"id": held_id, "reason": reason})
        await self._node.to_user(room_id, held.user.id, rejected)
        await self._removed(room_id, held_id, "rejected", user)
        return {}

    # The chat delay -------------------------------------------------------------------------

    async def release_due(self) -> None:
        """Release the delayed items of every room whose time came (a job): those of a node
        that is gone, or whose timer could not release them (the store was unavailable)."""
        due = await self._store.due_held(now_ms(), _DUE_BATCH)
        for room_id, held_id in due:
            if (room_id, held_id) not in self._timers:  # else its timer is on its way
                await self._release(room_id, held_id)

    async def stop(self) -> None:
        """Cancel the timers (the items stay in the store: any node's job releases them)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def _arm(self, room_id: str, held_id: str, release_at: int) -> None:
        loop = asyncio.get_running_loop()
        key = (room_id, held_id)
        delay = max(0.001, (release_at - now_ms()) / 1000)
        self._timers[key] = loop.call_at(loop.time() + delay, self._fire, key, release_at)

    def _disarm(self, key: _Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, key: _Key, release_at: int) -> None:
        if now_ms() < release_at:  # the loop's clock is not the wall clock: a little early
            self._arm(*key, release_at)
            return
        self._timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._release_logged(*key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_logged(self, room_id: str, held_id: str) -> None:
        try:
            await self._release(room_id, held_id)
        except StoreUnavailable as exc:
            log.warning("room %s: held message %s not released yet (%s)", room_id, held_id, exc)
        except Exception:
            log.exception("room %s: releasing held message %s failed", room_id, held_id)

    async def _release(self, room_id: str, held_id: str) -> None:
        result = await self._store.release_held(room_id, held_id, now_ms())
        if result is not None:  # else a moderator, or another node, was first
            await self._released(room_id, held_id, result, "released", None)

    # Publishing -----------------------------------------------------------------------------

    async def _released(
        self, room_id: str, held_id: str, result: AppendResult, outcome: str, by: User | None
    ) -> None:
        """A held message entered the stream: publish it (unless its cid was there already),
        then take it out of the moderators' queues."""
        self._disarm((room_id, held_id))
        if result.created:
            await self._publish(room_id, result.message)
        await self._removed(room_id, held_id, outcome, by)

    async def _removed(self, room_id: str, held_id: str, outcome: str, by: User | None) -> None:
        body = {"id": held_id, "outcome": outcome, "by": by.to_wire() if by else None}
        await self._node.to_staff(room_id, push_frame("review_remove", body))

    async def _log(self, room_id: str, action: ModAction) -> None:
        await self._log_store.log_action(room_id, action)


def _staff(session: Session) -> tuple[User, str]:
    user, room_id = session.member()
    if not is_staff(user):
        raise request_error(ErrorCode.FORBIDDEN, "only moderators and admins review messages")
    return user, room_id


def _reason(value: Any) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > MAX_REJECT_REASON_CHARS:
        raise request_error(
            ErrorCode.INVALID_FIELD,
            f"reason must be at most {MAX_REJECT_REASON_CHARS} characters",
        )
    return text
