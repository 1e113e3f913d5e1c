"""Reports: viewers report messages, enough reports hide one, moderators decide.

Any connected user reports a message of someone else (``report``), once per message, with an
optional reason. Each new report reaches the room's moderators and admins as ``report_add``
with the message's open reports (count, reasons, when last). When a message's report count
reaches the server's ``reports_to_hide`` it is hidden: the store marks it and appends a
``message_hide`` stream event in one transaction, and the room gets that event like a delete
— viewers remove the message (history and recovery leave it out for them, see
:mod:`~pchat.core.audience`), the staff keep it marked ``hidden``. Messages of the staff are
never hidden by reports.

A moderator lists the open reports (``reports``) and resolves those of one message
(``report_resolve``): ``dismiss`` drops them and shows a hidden message again (a
``message_restore`` stream event, in the same transaction); ``delete`` deletes the message
as ``delete`` does (and with it the pin, if it is the pinned one). Either way the staff get
``report_remove`` and the moderation log an entry. Deleting a reported message in any other
way closes its reports too.

Rules: reports are rate-limited per user (``rate_reports``, ``108``); only moderators and
admins list or resolve them (``111``). See docs/moderation.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import push_frame
from pchat.protocol.models import Message, User
from pchat.protocol.moderation import ModAction
from pchat.storage.base import ModerationStore, ReportStore, StreamStore

from .clock import now_ms
from .limits import Limiter
from .node import Node
from .permissions import is_staff
from .ratelimit import BucketMap
from .session import Handler, Session
from .settings import CoreSettings
from .stream import delete_push, hide_push, restore_push

__all__ = ["MAX_REASON_CHARS", "OUTCOMES", "Reports"]

#: The longest reason a report may give.
MAX_REASON_CHARS: Final = 200
#: ``report_resolve``'s actions and the ``report_remove`` outcome each leads to.
OUTCOMES: Final = {"dismiss": "dismissed", "delete": "deleted"}
_PAGE_MAX: Final = 100

StaffPush = Callable[[str, bytes], Awaitable[None]]
"""``(room_id, frame)``: deliver a push to the room's moderators and admins on every node."""

Deleted = Callable[[str, str, User], Awaitable[None]]
"""``(room_id, message_id, by)``: told after a message was deleted."""


class Reports:
    """The report requests of one node, and the hiding of reported messages."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: ReportStore,
        messages: StreamStore,
        log: ModerationStore,
        limiter: Limiter,
        to_staff: StaffPush,
        on_deleted: Deleted | None = None,
    ) -> None:
        self._settings = settings
        self._node = node
        self._store = store
        self._messages = messages
        self._log = log
        self._limiter = limiter
        self._to_staff = to_staff
        #: Told after a message was deleted, before its reports are closed.
        self._on_deleted = on_deleted
        self._buckets = BucketMap(settings.rate_reports, settings.rate_reports_burst)

    def handlers(self) -> dict[str, Handler]:
        return {"report": self.report, "reports": self.list_reports, "report_resolve": self.resolve}

    async def report(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Report a message; hide it once reported often enough."""
        user, room_id = session.member()
        reason = _reason(args.get("reason"))
        await self._limiter.take(session, self._buckets, f"report:{user.id}")
        message = await self._messages.get_message(room_id, args["message_id"])
        if message is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        if message.user.id == user.id:
            raise request_error(ErrorCode.INVALID_FIELD, "you cannot report your own message")
        if message.deleted:
            raise request_error(ErrorCode.ALREADY_DELETED, "the message was deleted")
        ts = now_ms()
        count = await self._store.add_report(room_id, message.id, user.id, reason, ts)
        if count is None:
            return {}  # reported by this user before: nothing changes
        threshold = self._settings.reports_to_hide
        if threshold and count >= threshold and not message.hidden and not is_staff(message.user):
            hidden = await self._store.hide_message(room_id, message.id, ts, min_reports=threshold)
            if hidden is not None:
                seq, shown = hidden
                frame = hide_push(seq, shown, ts)
                await self._node.publish_message(room_id, seq, shown, frame, "message_hide")
        report = await self._store.report(room_id, message.id)
        if report is not None:
            await self._to_staff(room_id, push_frame("report_add", {"report": report.to_wire()}))
        return {}

    async def list_reports(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = _staff(session)
        limit = args.get("limit", 50)
        if limit > _PAGE_MAX:
            raise request_error(ErrorCode.INVALID_FIELD, f"limit must be 1-{_PAGE_MAX}")
        reports = await self._store.open_reports(room_id, limit)
        return {"reports": [r.to_wire() for r in reports]}

    async def resolve(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Decide on a reported message: dismiss its reports (showing it again if hidden)
        or delete it."""
        user, room_id = _staff(session)
        message_id, action = args["message_id"], args["action"]
        if action not in OUTCOMES:
            raise request_error(ErrorCode.INVALID_FIELD, "action must be dismiss or delete")
        report = await self._store.report(room_id, message_id)
        if report is None:
            raise request_error(ErrorCode.NOT_FOUND, "this message has no open reports")
        if action == "dismiss":
            await self._dismiss(room_id, report.message, user)
        else:
            await self._delete(room_id, report.message, user, report.count)
        return {}

    async def _dismiss(self, room_id: str, message: Message, user: User) -> None:
        ts = now_ms()
        resolved = await self._store.resolve_reports(room_id, message.id, restore_ts=ts)
        if resolved is None:
            raise request_error(ErrorCode.NOT_FOUND, "this message has no open reports")
        if resolved.restored is not None:
            seq, shown = resolved.restored
            frame = restore_push(seq, shown)
            await self._node.publish_message(room_id, seq, shown, frame, "message_restore")
        details = {"count": resolved.count, "restored": resolved.restored is not None}
        await self._logged(room_id, "report_dismiss", user, ts, message, details)
        await self._removed(room_id, message.id, "dismiss", user)

    async def _delete(self, room_id: str, message: Message, user: User, count: int) -> None:
        ts = now_ms()
        result = await self._messages.delete_message(room_id, message.id, by=user, ts=ts)
        if result is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        frame = delete_push(result.seq, result.message)
        await self._node.publish_message(
            room_id, result.seq, result.message, frame, "message_delete"
        )
        await self._logged(room_id, "report_delete", user, ts, message, {"count": count})
        await self.message_deleted(room_id, message.id, user)

    async def message_deleted(self, room_id: str, message_id: str, by: User) -> None:
        """A message was deleted (by ``delete``, or by ``report_resolve``): the next hook is
        told (the pin goes with its message), and its reports are closed with it."""
        if self._on_deleted is not None:
            await self._on_deleted(room_id, message_id, by)
        if await self._store.resolve_reports(room_id, message_id) is not None:
            await self._removed(room_id, message_id, "delete", by)

    async def _removed(self, room_id: str, message_id: str, action: str, by: User) -> None:
        body = {"message_id": message_id, "outcome": OUTCOMES[action], "by": by.to_wire()}
        await self._to_staff(room_id, push_frame("report_remove", body))

    async def _logged(
        self,
        room_id: str,
        action: str,
        by: User,
        ts: int,
        message: Message,
        details: dict[str, Any],
    ) -> None:
        entry = ModAction(
            action=action,
            by=by,
            ts=ts,
            target_user_id=message.user.id,
            message_id=message.id,
            details=details,
        )
        await self._log.log_action(room_id, entry)


def _staff(session: Session) -> tuple[User, str]:
    user, room_id = session.member()
    if not is_staff(user):
        raise request_error(ErrorCode.FORBIDDEN, "only moderators and admins handle reports")
    return user, room_id


def _reason(value: Any) -> str:
    """A report's reason, its white space collapsed; ``invalid_field`` past the limit."""
    text = "" if value is None else " ".join(str(value).split())
    if len(text) > MAX_REASON_CHARS:
        raise request_error(
            ErrorCode.INVALID_FIELD, f"reason must be at most {MAX_REASON_CHARS} characters"
        )
    return text
