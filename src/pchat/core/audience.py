"""Who sees what: personal mutes, shadow-banned and hidden messages, and pushes for the
moderators or for one user.

Theory of operation. Most publications reach every connection of a room alike, and their
hot loop is not touched here. A stream event about a message (:attr:`Push.MESSAGE`) carries
its author and flags in a header; the node asks :meth:`Audience.tailor_message` what the
room's connections get, and that costs one dictionary lookup unless

- somebody connected here muted the author (they get ``skip`` instead),
- the message is a shadow-banned user's (only the author's own connections — without the
  mark — and the staff — with it — see it; everyone else gets ``skip``), or
- it is hidden by reports (the staff see it marked, everyone else gets ``skip``).

The same rule replays stored events to a recovering connection (:meth:`replay`) and filters
``history`` (:meth:`view_of`, applied by the store). ``skip`` keeps every connection's
positions without gaps. :attr:`Push.STAFF` and :attr:`Push.USER` publications are written
to the live sessions of the room's moderators, or of one user, on every node.

Mutes are a user's own (across rooms, kept by the store): the list is read when the user
connects, and ``mute``/``unmute`` change it on the node of the request and, through the
room's publications, on the other nodes holding the user's sessions in that room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import push_frame
from pchat.protocol.models import User
from pchat.protocol.validation import validate_user_id
from pchat.storage.base import MuteStore, StreamEvent, View

from .clock import now_ms
from .connect import Connections
from .node import MessageHeader, Node, Push, message_body, split_user_body
from .permissions import is_staff
from .room import Payload, Sink, Tailored
from .sampling import Sampling
from .session import Handler, Session
from .stream import event_push

__all__ = ["MAX_MUTES", "Audience", "skip_push"]

log = logging.getLogger(__name__)

#: The most users one user may mute.
MAX_MUTES = 1000


#: A connect within this many seconds of the last mutes read is part of a storm of them, and
#: its read waits ``_GATHER`` seconds for more connects to share it (a lone connect reads at
#: once). Each read is a round trip to the store's thread, which under a join storm's load
#: costs about 100 µs of CPU and half a millisecond: at a few thousand connects a second a
#: read then serves a few dozen of them rather than three or four.
_STORM = 0.01
_GATHER = 0.004
#: At most this many stream events' replay parts are kept (then the cache starts anew):
#: as many as one recovery may replay (``recovery_max_events``, 1,000 by default).
_REPLAYED_MAX = 1024


def skip_push(seq: int) -> bytes:
    """The ``skip`` push: a stream position this connection does not see."""
    return push_frame("skip", {"seq": seq})


class Audience:
    """Personal mutes, and what each connection of this node sees."""

    def __init__(self, *, node: Node, store: MuteStore, connections: Connections) -> None:
        self._node = node
        self._store = store
        self._connections = connections
        #: Muted ids of each user with a session on this node (read at connect).
        self._mutes: dict[str, set[str]] = {}
        #: Room -> author -> this node's live connections whose user muted the author.
        self._muters: dict[str, dict[str, dict[Sink, None]]] = {}
        #: Room -> this node's live sessions of moderators and admins.
        self._staff: dict[str, dict[Session, None]] = {}
        #: Room -> user id -> that user's live sessions here.
        self._members: dict[str, dict[str, dict[Session, None]]] = {}
        #: The connects of this loop turn waiting for their user's mutes (one read).
        self._reading: dict[str, asyncio.Future[list[str]]] | None = None
        #: When the last of those reads started (loop time).
        self._read_at = -1e9
        self._tasks: set[asyncio.Task[None]] = set()
        #: The parts of the stream events replayed lately (:meth:`_replay_parts`), by id.
        self._replayed: dict[int, tuple[StreamEvent, MessageHeader | None, bytes]] = {}
        #: What the viewers of a huge room get (a sample: core/sampling.py).
        self.sampling = Sampling(
            node=node,
            members=self._members,
            staff=self._staff,
            unsampled=connections.unsampled,
            session_at=connections.session_at,
        )
        node.tailor(Push.MESSAGE, self.tailor_message)
        node.consume(Push.STAFF, self._to_staff_here)
        node.consume(Push.USER, self._to_user_here)
        node.consume(Push.MUTES, self._on_mutes)
        connections.on_members(self._live, self._gone)
        connections.replay_with(self.replay)

    def handlers(self) -> dict[str, Handler]:
        return {"mute": self.mute, "unmute": self.unmute, "mutes": self.list_mutes}

    # Pushes for some ------------------------------------------------------------------------

    async def to_staff(self, room_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to the room's moderators and admins on every node."""
        await self._node.to_staff(room_id, frame)

    async def to_user(self, room_id: str, user_id: str, frame: bytes) -> None:
        """Deliver ``frame`` to ``user_id``'s connections of the room on every node."""
        await self._node.to_user(room_id, user_id, frame)

    def _to_staff_here(self, room_id: str, frame: bytes) -> None:
        for session in list(self._staff.get(room_id, ())):
            session.send(frame)

    def _to_user_here(self, room_id: str, body: bytes) -> None:
        user_id, frame = split_user_body(body)
        for session in list(self._members.get(room_id, {}).get(user_id, ())):
            session.send(frame)

    # Who is here ----------------------------------------------------------------------------

    async def room_state(self, room_id: str, user: User) -> dict[str, Any]:
        """A connect reply's ``mutes``; the user's mutes are read anew at each connect —
        in one store read for all the connects that arrive while the previous read runs
        (one read at a time: a join storm makes a few large reads, not one per
        connection, and a lone connect waits for one read)."""
        pending = self._reading
        if pending is None:
            pending = self._reading = {}
            if not self._tasks:  # else the read in flight starts this one when it ends
                self._start_read(pending)
        future = pending.get(user.id)
        if future is None:
            future = pending[user.id] = asyncio.get_running_loop().create_future()
        muted: list[str] = await asyncio.shield(future)
        self._mutes[user.id] = set(muted)
        return {"mutes": muted}

    def _start_read(self, pending: dict[str, asyncio.Future[list[str]]]) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._read_at < _STORM:
            # Connects are arriving fast (a join storm, a reconnect after a restart): gather
            # more of them for this read rather than read for every few.
            loop.call_later(_GATHER, self._read_mutes, pending)
        else:
            loop.call_soon(self._read_mutes, pending)

    def _read_mutes(self, pending: dict[str, asyncio.Future[list[str]]]) -> None:
        self._reading = None
        loop = asyncio.get_running_loop()
        self._read_at = loop.time()
        task = loop.create_task(self._answer(pending))
        self._tasks.add(task)
        task.add_done_callback(self._read_done)

    def _read_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._reading is not None and not self._tasks:
            self._start_read(self._reading)

    async def _answer(self, pending: dict[str, asyncio.Future[list[str]]]) -> None:
        try:
            found = await self._store.mutes_of(list(pending))
        except Exception as exc:
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for future in pending.values():
                future.cancel()
            raise
        for user_id, future in pending.items():
            if not future.done():
                future.set_result(found.get(user_id, []))

    def _live(self, session: Session) -> None:
        user, room_id = session.member()
        self._members.setdefault(room_id, {}).setdefault(user.id, {})[session] = None
        if is_staff(user):
            self._staff.setdefault(room_id, {})[session] = None
        for author in self._mutes.get(user.id, ()):
            self._muters.setdefault(room_id, {}).setdefault(author, {})[session.sink] = None

    def _gone(self, session: Session) -> None:
        user, room_id = session.member()
        members = self._members.get(room_id, {})
        _discard(members, user.id, session)
        if not members.get(user.id):
            self._members.get(room_id, {}).pop(user.id, None)
            if not self._members.get(room_id):
                self._members.pop(room_id, None)
            if not any(user.id in users for users in self._members.values()):
                self._mutes.pop(user.id, None)
        staff = self._staff.get(room_id)
        if staff is not None:
            staff.pop(session, None)
            if not staff:
                del self._staff[room_id]
        muters = self._muters.get(room_id)
        if muters is not None:
            for author in [a for a, sinks in muters.items() if session.sink in sinks]:
                _discard(muters, author, session.sink)
            if not muters:
                del self._muters[room_id]

    # What each connection sees ----------------------------------------------------------------

    def tailor_message(self, room_id: str, seq: int | None, body: bytes) -> Payload:
        """What the room's connections here get of a stream event about a message (of a
        sampled room, the viewers only some messages: :meth:`Sampling.select`)."""
        header, frame = self._node.split_message(body)
        muters = self._muters.get(room_id)
        watchers = muters.get(header.author) if muters else None
        select = self.sampling.select
        if not (header.shadow or header.hidden or watchers):
            return select(room_id, seq, frame, frame)
        assert seq is not None
        skip = skip_push(seq)
        if watchers and not (header.shadow or header.hidden):
            # Only some muted the author: everyone else gets the frame by the fast loop.
            return select(
                room_id, seq, frame, Tailored(lambda sink: skip, common=frame, others=watchers)
            )
        session_at = self._connections.session_at

        def payload_for(sink: Sink) -> bytes:
            if watchers and sink in watchers:
                return skip
            session = session_at(sink)
            if session is None or session.user is None:
                return skip
            return self._seen(session.user, header, frame, skip)

        return select(room_id, seq, frame, Tailored(payload_for))

    def _seen(self, user: User, header: MessageHeader, frame: bytes, skip: bytes) -> bytes:
        """``frame`` as ``user`` sees it (mutes aside): the staff see everything, marked;
        a shadow message's author sees it unmarked; everyone else gets ``skip``."""
        if not (header.shadow or header.hidden) or is_staff(user):
            return frame
        if header.shadow and not header.hidden and user.id == header.author:
            return _unmarked(frame)
        return skip

    def replay(self, session: Session, event: StreamEvent) -> bytes:
        """A stored stream event as a recovering ``session`` sees it."""
        header, frame = self._replay_parts(event)
        user = session.user
        if header is None or user is None:
            return frame
        if header.author in self._mutes.get(user.id, ()):
            return skip_push(event.seq)
        if not (header.shadow or header.hidden):
            return frame
        return self._seen(user, header, frame, skip_push(event.seq))

    def _replay_parts(self, event: StreamEvent) -> tuple[MessageHeader | None, bytes]:
        """The event's push, and its message's header: the same for every session, so the
        recoveries of a reconnect storm, which share their events (core/gather.py), encode
        each once."""
        cached = self._replayed.get(id(event))
        if cached is not None and cached[0] is event:
            return cached[1], cached[2]
        frame = event_push(event)
        header: MessageHeader | None = None
        if event.message is not None:
            body = message_body(event.message, frame, event.kind)
            header, frame = self._node.split_message(body)
        if len(self._replayed) >= _REPLAYED_MAX:
            self._replayed.clear()
        # The event is held with its parts, so that its id is not reused while cached.
        self._replayed[id(event)] = (event, header, frame)
        return header, frame

    def view_of(self, user: User) -> View:
        """What ``user`` sees of the history."""
        muted = tuple(sorted(self._mutes.get(user.id, ())))
        return View(user.id, staff=is_staff(user), muted=muted)

    # Mutes ------------------------------------------------------------------------------------

    async def mute(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        target = validate_user_id(args["user_id"])
        if target == user.id:
            raise request_error(ErrorCode.INVALID_FIELD, "you cannot mute yourself")
        if len(self._mutes.get(user.id, ())) >= MAX_MUTES:
            raise request_error(
                ErrorCode.LIMIT_REACHED, f"at most {MAX_MUTES} users can be muted: unmute one"
            )
        await self._store.put_mute(user.id, target, now_ms())
        await self._changed(room_id, user.id, target, muted=True)
        return {"user_id": target}

    async def unmute(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        target = validate_user_id(args["user_id"])
        if not await self._store.remove_mute(user.id, target):
            raise request_error(ErrorCode.NOT_FOUND, "this user is not muted")
        await self._changed(room_id, user.id, target, muted=False)
        return {"user_id": target}

    async def list_mutes(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, _room_id = session.member()
        return {"user_ids": await self._store.mutes(user.id)}

    async def _changed(self, room_id: str, user_id: str, target: str, *, muted: bool) -> None:
        body = {"user_id": user_id, "target": target, "muted": muted}
        await self._node.publish(room_id, Push.MUTES, orjson.dumps(body))

    def _on_mutes(self, room_id: str, frame: bytes) -> None:
        """A mute or unmute made on any node (this one included) reaches this node."""
        try:
            body = orjson.loads(frame)
            user_id, target, muted = str(body["user_id"]), str(body["target"]), body["muted"]
        except (ValueError, KeyError, TypeError):
            return
        sessions = list(self._members.get(room_id, {}).get(user_id, ()))
        mutes = self._mutes.get(user_id)
        if mutes is not None:
            if muted:
                mutes.add(target)
            else:
                mutes.discard(target)
        # Every room here holding the user's sessions (they may be in several).
        for rid, members in self._members.items():
            for session in members.get(user_id, ()):
                authors = self._muters.setdefault(rid, {})
                if muted:
                    authors.setdefault(target, {})[session.sink] = None
                else:
                    _discard(authors, target, session.sink)
            if not self._muters.get(rid):
                self._muters.pop(rid, None)
        frame = push_frame("muted" if muted else "unmuted", {"user_id": target})
        for session in sessions:
            session.send(frame)


def _discard(index: dict[str, dict[Any, None]], key: str, item: object) -> None:
    entries = index.get(key)
    if entries is not None:
        entries.pop(item, None)
        if not entries:
            del index[key]


def _unmarked(frame: bytes) -> bytes:
    """A ``message`` push without the staff's ``shadow`` mark (for the author's own view)."""
    push = orjson.loads(frame)
    message = push.get("message")
    if isinstance(message, dict):
        message.pop("shadow", None)
    return orjson.dumps(push)
