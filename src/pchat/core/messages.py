"""Messages: the ``send``, ``history`` and ``delete`` requests.

A message is stored first — the store gives it the room's next stream position and the
``send`` reply means *committed* — then published as a stream push. A delete is a stream
event too: soft, the text removed, ``message_delete`` to the room. A message the write
guard holds (for review, or by the chat delay) goes to the review queue instead
(:mod:`~pchat.core.review`), which publishes it with :meth:`Messages.publish` once
approved or released. An operator's pre-send hook (:mod:`~pchat.core.presend`) sees each
message after the guard and the rate limits, before it is held or stored, and may reject
or rewrite it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Message, User
from pchat.protocol.moderation import Held
from pchat.protocol.validation import validate_client_id, validate_text
from pchat.storage.base import StreamStore, View

from .clock import new_id, now_ms
from .limits import Limiter
from .node import Node
from .permissions import is_staff
from .presend import Draft, Presend
from .ratelimit import BucketMap
from .session import Handler, OpenDoor, Session, WriteGuard
from .settings import CoreSettings
from .stream import as_seen_by, delete_push, message_push

__all__ = ["Messages"]

#: Mentions resolve against the authors of the room's newest so many messages too.
_MENTION_LOOKBACK = 200
#: Seconds the people who can be mentioned in a room are kept before they are read again.
_PEOPLE_TTL = 5.0


class Messages:
    """The message requests of one node."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: StreamStore,
        limiter: Limiter,
        guard: WriteGuard | None = None,
        on_deleted: Callable[[str, str, User], Awaitable[None]] | None = None,
        present: Callable[[str, str], str | None] = lambda room_id, name: None,
        view_of: Callable[[User], View | None] = lambda user: None,
        hold: Callable[[str, Held], Awaitable[dict[str, Any]]] | None = None,
        presend: Presend | None = None,
    ) -> None:
        self._settings = settings
        self._guard = guard or OpenDoor()
        #: Told ``(room_id, message_id, by)`` after a delete (the pin goes with its message).
        self._on_deleted = on_deleted
        #: ``(room_id, case-folded username)`` -> the id of a user connected to the room
        #: here under that name, or None (mentions resolve against them).
        self._present = present
        #: What a user sees of the history (shadow, hidden and muted messages left out).
        self._view_of = view_of
        #: Stores a message the guard holds and answers its ``send``.
        self._hold = hold
        #: The operator's pre-send hook, or None.
        self._presend = presend
        self._people_cache: dict[str, tuple[float, dict[str, str]]] = {}
        node.on_room_closed(self._forget)
        self._node = node
        self._store = store
        self._limiter = limiter
        self._buckets = BucketMap(settings.rate_messages, settings.rate_messages_burst)

    def handlers(self) -> dict[str, Handler]:
        return {"send": self.send, "history": self.history, "delete": self.delete}

    async def send(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        text = validate_text(args["text"], self._settings.max_message_chars)
        cid = validate_client_id(args["cid"]) if "cid" in args else None
        verdict = await self._guard.check_write(session, "send", text)
        text = verdict.text or text
        await self._limiter.take(session, self._buckets, f"msg:{user.id}")
        reply_to = args.get("reply_to")
        if reply_to is not None and await self._store.get_message(room_id, reply_to) is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message to reply to")
        if self._presend is not None and self._presend.applies(session):
            text = await self._presend.screen(Draft(room_id, user, text, cid, reply_to))
        mentions = await self._mentions(room_id, text, user) if "@" in text else ()
        if verdict.hold is not None:
            if self._hold is None:
                raise RuntimeError("the write guard holds messages but nothing queues them")
            ts = now_ms()
            release_at = ts + 1000 * verdict.delay if verdict.hold == "delay" else None
            held = Held(new_id(), ts, user, text, verdict.hold, release_at, cid, reply_to, mentions)
            return await self._hold(room_id, held)
        result = await self._store.append_message(
            room_id,
            message_id=new_id(),
            user=user,
            text=text,
            cid=cid,
            ts=now_ms(),
            reply_to=reply_to,
            mentions=mentions,
            shadow=self._guard.shadowed(session),
        )
        message = result.message
        if result.created:
            await self.publish(room_id, message)
            if not message.shadow:
                self._remember(room_id, user)
        return {"message": as_seen_by(message, user).to_wire(), "duplicate": not result.created}

    async def publish(self, room_id: str, message: Message) -> None:
        """Publish a newly stored message: its ``message`` push, to each as they see it."""
        frame = message_push(message.seq, message)
        await self._node.publish_message(room_id, message.seq, message, frame)

    async def _mentions(self, room_id: str, text: str, author: User) -> tuple[str, ...]:
        """The ids of the users ``text`` mentions as ``@username`` (case-insensitive, the
        longest name first, never the author): users connected to the room here, or who
        wrote one of its newest messages (so, on any node)."""
        people = await self._people(room_id)
        present = self._present

        def who(name: str) -> str | None:
            return people.get(name) or present(room_id, name)

        folded = text.casefold()
        window = 3 * self._settings.max_username_chars  # case folding may lengthen a name
        found: list[str] = []
        at = folded.find("@")
        while at != -1:
            end = next(
                (
                    end
                    for end in range(min(len(folded), at + 1 + window), at + 1, -1)
                    if (end == len(folded) or not folded[end].isalnum())
                    and who(folded[at + 1 : end]) is not None
                ),
                None,
            )
            if end is None:
                at = folded.find("@", at + 1)
                continue
            user_id = who(folded[at + 1 : end])
            if user_id is not None and user_id != author.id and user_id not in found:
                found.append(user_id)
            at = folded.find("@", end)
        return tuple(found)

    async def _people(self, room_id: str) -> dict[str, str]:
        """Who wrote in the room lately (case-folded username -> user id): read from the
        room's newest messages at most every few seconds, so a text with ``@`` costs no
        store read of its own; users who write here are added at once."""
        now = time.monotonic()
        cached = self._people_cache.get(room_id)
        if cached is not None and now - cached[0] < _PEOPLE_TTL:
            return cached[1]
        people: dict[str, str] = {}
        for message in await self._store.history(room_id, limit=_MENTION_LOOKBACK):
            people[message.user.username.casefold()] = message.user.id
        self._people_cache[room_id] = (now, people)
        return people

    def _remember(self, room_id: str, user: User) -> None:
        """A user who just wrote in the room can be mentioned at once."""
        cached = self._people_cache.get(room_id)
        if cached is not None:
            cached[1][user.username.casefold()] = user.id

    async def _forget(self, room_id: str) -> None:
        self._people_cache.pop(room_id, None)

    async def history(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        page_max = self._settings.history_page_max
        limit = args.get("limit", 50)
        if not 1 <= limit <= page_max:
            raise request_error(ErrorCode.INVALID_FIELD, f"limit must be 1-{page_max}")
        page = await self._store.history(
            room_id,
            before_seq=args.get("before_seq"),
            before_ts=args.get("before_ts"),
            limit=limit + 1,
            view=self._view_of(user),
        )
        has_more = len(page) > limit
        if has_more:
            page = page[1:]
        return {"messages": [as_seen_by(m, user).to_wire() for m in page], "has_more": has_more}

    async def delete(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        message_id = args["message_id"]
        message = await self._store.get_message(room_id, message_id)
        if message is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        if message.user.id != user.id and not is_staff(user):
            raise request_error(ErrorCode.FORBIDDEN, "only moderators delete others' messages")
        result = await self._store.delete_message(room_id, message_id, by=user, ts=now_ms())
        if result is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        frame = delete_push(result.seq, result.message)
        await self._node.publish_message(
            room_id, result.seq, result.message, frame, "message_delete"
        )
        if self._on_deleted is not None:
            await self._on_deleted(room_id, message_id, user)
        return {"message_id": message_id, "seq": result.seq}
