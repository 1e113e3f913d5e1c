"""Connections: a session's whole life in the core, from the first frame to its close.

::

    new_session ──> AWAITING_CONNECT ──connect──> CONNECTING ──reply written──> CONNECTED
                         │    ^                        │                          │
                         │    └──── refused ───────────┘                          │
                         └── no connect in time: close 4505          disconnect ──┴──> CLOSED

The state machine is :mod:`pchat.protocol.session`'s; only this module moves it. A connect
checks the token and the request, joins the room on the node (buffering its pushes), and
answers with the room's state — each feature adds its part (:class:`RoomStateSource`) — and,
when asked, the recovery of missed stream events. The session goes live only after the
reply was written (the session's ``after_reply``, run by the server after writing), so that
the buffered pushes follow the reply, without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.models import User
from pchat.protocol.session import SessionState
from pchat.protocol.validation import validate_role, validate_room_id, validate_username
from pchat.storage.base import StreamEvent, StreamStore

from .clock import now_ms
from .gather import RangeReads
from .node import Node
from .permissions import grants
from .ratelimit import StrikeCounter, TokenBucket
from .room import Room, Sink
from .session import CloseRequested, Handler, Session
from .settings import CoreSettings
from .stream import event_push

__all__ = ["NODE", "Connections", "RoomStateSource", "TokenClaimsLike", "Verifier", "hinted"]

#: This process, as named in connect replies: which node (and worker) serves a client.
NODE = f"{socket.gethostname()}:{os.getpid()}"


def hinted(reason: str, hint_max: float | None) -> str:
    """``reason`` with a reconnect hint (docs/protocol.md §8): ``; reconnect_after_ms=N``,
    N drawn uniformly from [hint_max/10, hint_max] in ms, so that clients told at once come
    back spread out; ``reason`` as it is when ``hint_max`` is None."""
    if hint_max is None:
        return reason
    high = max(1, int(hint_max * 1000))
    low = high // 10
    return f"{reason}; reconnect_after_ms={low + secrets.randbelow(high - low + 1)}"


class TokenClaimsLike(Protocol):
    @property
    def sub(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def exp(self) -> float: ...
    @property
    def iat(self) -> int | None: ...


class Verifier(Protocol):
    def verify(self, token: str, now: float | None = None) -> TokenClaimsLike: ...


MemberHook = Callable[["Session"], None]
"""Told of a session that went live in its room, or left it."""

Replay = Callable[["Session", StreamEvent], bytes]
"""``(session, event)`` -> the push that replays a stored event to the session."""


class RoomStateSource(Protocol):
    """A feature's part of a connect reply's ``room`` (polls, reactions, online count)."""

    async def room_state(self, room_id: str, user: User) -> dict[str, Any]: ...


class Connections:
    """The sessions of one node and the requests that shape them (connect, refresh)."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: StreamStore,
        verifier: Verifier,
        room_state: list[RoomStateSource],
        on_count: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._node = node
        self._store = store
        self._verifier = verifier
        self._room_state = list(room_state)
        self._on_count = on_count  # a room's local connection count changed
        self.sessions: set[Session] = set()
        #: Live sessions by room and case-folded username: who can be mentioned.
        self._names: dict[str, dict[str, dict[str, int]]] = {}
        self._by_sink: dict[Sink, Session] = {}
        #: Room -> the connections here, joining or live, that did not ask for sampling
        #: (``connect``'s ``sampling``): they get every message (core/sampling.py).
        self.unsampled: dict[str, dict[Sink, None]] = {}
        self._member_hooks: list[tuple[MemberHook, MemberHook]] = []
        #: How a recovery replays a stored event to a session (see :meth:`replay_with`).
        self._replay: Replay = lambda session, event: event_push(event)
        #: Sessions waiting for their connect, with their deadlines (loop time). The timeout
        #: is one setting, so the order they came in is the order they fall due: one timer
        #: for the earliest serves them all (a timer each costs a join storm more).
        self._waiting: dict[Session, float] = {}
        self._waiting_timer: asyncio.TimerHandle | None = None
        self._ranges: RangeReads[str, StreamEvent] = RangeReads(store.events_since)
        node.on_slow = self._slow_consumer

    def handlers(self) -> dict[str, Handler]:
        return {"connect": self.connect, "refresh": self.refresh, "ping": self.ping}

    def on_members(self, live: MemberHook, gone: MemberHook) -> None:
        """Call ``live(session)`` when a session goes live in its room, ``gone(session)``
        when a live one leaves."""
        self._member_hooks.append((live, gone))

    def replay_with(self, replay: Replay) -> None:
        """Replay stored stream events to a recovering session with ``replay``."""
        self._replay = replay

    def session_at(self, sink: Sink) -> Session | None:
        """The session writing to ``sink``."""
        return self._by_sink.get(sink)

    def add_room_state(self, *sources: RoomStateSource) -> None:
        """Features that add their part to a connect reply's ``room``."""
        self._room_state.extend(sources)

    # Life of a session --------------------------------------------------------------------

    def new_session(
        self, sink: Sink, closer: Callable[[CloseCode, str], None], remote: str = ""
    ) -> Session:
        """A new connection, closed with ``4505`` unless it connects in time."""
        s = self._settings
        session = Session(
            sink=sink,
            closer=closer,
            frames=TokenBucket(s.rate_frames or 1e9, s.rate_frames_burst, time.monotonic()),
            strikes=StrikeCounter(s.flood_strikes, s.flood_window),
            remote=remote,
            max_send_buffer=s.max_send_buffer,
        )
        loop = asyncio.get_running_loop()
        self._waiting[session] = deadline = loop.time() + s.connect_timeout
        if self._waiting_timer is None:
            self._waiting_timer = loop.call_at(deadline, self._close_late)
        self.sessions.add(session)
        self._by_sink[sink] = session
        return session

    def go_live(self, session: Session, covered_seq: int) -> None:
        """After the connect reply was written: flush the buffered pushes, then live."""
        room = self._node.room(session.room_id or "")
        if room is None or session.machine.state is not SessionState.CONNECTING:
            return
        session.machine.advance("connected")
        self._waiting.pop(session, None)
        room.activate(session.sink, covered_seq)
        self._name(session, +1)
        for live, _gone in self._member_hooks:
            live(session)
        self._on_count(room.room_id)

    async def disconnect(self, session: Session) -> None:
        """Forget a connection that closed."""
        session.cancel_timers()
        self._waiting.pop(session, None)
        if session.machine.state is SessionState.CONNECTED:
            self._name(session, -1)
            for _live, gone in self._member_hooks:
                gone(session)
        if session.machine.state is not SessionState.CLOSED:
            session.machine.advance("close")
        self.sessions.discard(session)
        self._by_sink.pop(session.sink, None)
        if session.room_id is not None:
            await self._leave(session, session.room_id)

    def _close_late(self) -> None:
        """Close the sessions whose connect did not succeed in time (``4505``)."""
        self._waiting_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiting = self._waiting
        while waiting:
            session, deadline = next(iter(waiting.items()))
            if deadline > now:
                self._waiting_timer = loop.call_at(deadline, self._close_late)
                return
            del waiting[session]
            if session.machine.state is not SessionState.CONNECTED:
                session.close(CloseCode.CONNECT_TIMEOUT, "no connect in time")

    def user_named(self, room_id: str, folded_name: str) -> str | None:
        """The id of a user connected to the room here under that (case-folded) username."""
        users = self._names.get(room_id, {}).get(folded_name)
        return next(iter(users)) if users else None

    def _name(self, session: Session, step: int) -> None:
        """Count a live session under its room and username (-1: it left)."""
        user, room_id = session.user, session.room_id
        if user is None or room_id is None:
            return
        names = self._names.setdefault(room_id, {})
        users = names.setdefault(user.username.casefold(), {})
        count = users.get(user.id, 0) + step
        if count > 0:
            users[user.id] = count
            return
        users.pop(user.id, None)
        if not users:
            del names[user.username.casefold()]
            if not names:
                del self._names[room_id]

    def sessions_of(self, room_id: str, user_id: str) -> list[Session]:
        """This node's sessions of ``user_id`` in the room."""
        return [
            s
            for s in self.sessions
            if s.room_id == room_id and s.user is not None and s.user.id == user_id
        ]

    def close_all(self, code: CloseCode, reason: str, hint_max: float | None = None) -> None:
        """Close every connection; with ``hint_max`` each reason carries its own random
        ``reconnect_after_ms`` in [hint_max/10, hint_max] (docs/protocol.md §8), so that
        the clients come back spread out rather than all at once."""
        for session in list(self.sessions):
            session.close(code, hinted(reason, hint_max))

    async def _leave(self, session: Session, room_id: str) -> None:
        unsampled = self.unsampled.get(room_id)
        if unsampled is not None:
            unsampled.pop(session.sink, None)
            if not unsampled:
                del self.unsampled[room_id]
        await self._node.leave(room_id, session.sink)
        self._on_count(room_id)

    def _slow_consumer(self, sink: Sink) -> None:
        session = self._by_sink.get(sink)
        if session is not None:
            session.close(CloseCode.SLOW_CONSUMER, "send queue full")

    # Requests -----------------------------------------------------------------------------

    async def connect(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        session.machine.advance("connect")
        try:
            return await self._connect(session, args)
        except BaseException:
            if session.machine.state is SessionState.CONNECTING:
                session.machine.advance("failed")
            raise

    async def _connect(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        claims, room_id, user = self._check_connect(args)
        recover = args.get("recover")
        if recover is not None:
            _check_recover(recover)  # before the room is opened: a refusal leaves nothing
        session.user = user
        session.room_id = room_id
        session.token_iat = claims.iat  # with the user, before any await: see revocations
        session.sampling = args.get("sampling") is True
        if not session.sampling:  # before it joins: no push of the room reaches it sampled
            self.unsampled.setdefault(room_id, {})[session.sink] = None
        self._arm_expiry(session, claims.exp)
        try:
            room = await self._node.join(room_id, session.sink)
            result = await self._reply(session, room, user, recover)
        except BaseException:
            # Every failure path: out of the room, and the room closed here if now empty.
            session.user = None
            session.room_id = None
            session.cancel_timers()
            await self._leave(session, room_id)
            raise
        covered: int = result["room"]["seq"]
        session.after_reply = lambda: self.go_live(session, covered)
        return result

    def _check_connect(self, args: dict[str, Any]) -> tuple[TokenClaimsLike, str, User]:
        """The token's claims, the room and the user; a refusal closes the connection."""
        try:
            claims = self._verifier.verify(args["token"])
        except RequestError as exc:
            code = _TOKEN_CLOSE.get(exc.code, CloseCode.BAD_TOKEN)
            raise CloseRequested(code, exc.message, error=exc) from None
        try:
            room_id = validate_room_id(args["room"])
            username = validate_username(args["username"], self._settings.max_username_chars)
        except RequestError as exc:
            raise CloseRequested(CloseCode.BAD_CONNECT, exc.message, error=exc) from None
        role = validate_role(args.get("role", "viewer"))
        if not grants(claims.role, role):
            refusal = request_error(
                ErrorCode.ROLE_NOT_GRANTED, f"the token does not grant the role {role}"
            )
            raise CloseRequested(CloseCode.FORBIDDEN, refusal.message, error=refusal)
        return claims, room_id, User(claims.sub, username, role)

    async def _reply(
        self, session: Session, room: Room, user: User, recover: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The connect reply. Served from memory where possible: a join storm of thousands
        of clients must not become thousands of store reads."""
        s = self._settings
        if recover is not None and recover.get("epoch") == room.epoch:
            # A client ahead of this node (publications late or lost) is served, not
            # refused as a reset: the node catches up from the store first.
            await self._node.catch_up_to(room, _check_recover(recover))
        # Everything up to this position was delivered before the join; everything after it
        # reaches the connection through its join buffer (see Room).
        covered = room.last_seq
        assert covered is not None and room.epoch is not None
        state: dict[str, Any] = {"id": room.room_id, "epoch": room.epoch, "seq": covered}
        if room.sampled is not None and session.sampling:  # read with the position: its
            state["sampled"] = room.sampled  # pushes follow the reply
        for source in self._room_state:
            state.update(await source.room_state(room.room_id, user))
        result: dict[str, Any] = {
            "user": user.to_wire(),
            "session": session.id,
            "node": NODE,
            "room": state,
            "token_exp": session.token_exp,
            "limits": {
                "max_message_chars": s.max_message_chars,
                "max_frame_bytes": s.max_frame_bytes,
                "history_page_max": s.history_page_max,
            },
        }
        if recover is not None:
            result["recovery"] = await self._recover(session, room, covered, recover)
        return result

    async def _recover(
        self, session: Session, room: Room, last_seq: int, recover: dict[str, Any]
    ) -> dict[str, Any]:
        """Replay the stream after the client's position up to ``last_seq``; a client ahead
        of ``last_seq`` (after the catch-up) or of another epoch holds a reset stream."""
        since = _check_recover(recover)
        if recover.get("epoch") != room.epoch:
            return {"recovered": False, "reason": "epoch_changed"}
        if last_seq - since > self._settings.recovery_max_events:
            return {"recovered": False, "reason": "gap_too_large"}
        if since > last_seq:
            return {"recovered": False, "reason": "epoch_changed"}
        # The connects of a reconnect storm share their reads (core/gather.py).
        events = await self._ranges.between(room.room_id, since, last_seq)
        if len(events) != last_seq - since or (events and events[0].seq != since + 1):
            # Removed by retention (the stream now starts after the client's position): the
            # client reloads history rather than miss events silently.
            return {"recovered": False, "reason": "gap_too_large"}
        # The pushes are encoded as they are for live delivery and embedded as they are.
        replay = self._replay
        pushes = [orjson.Fragment(replay(session, e)) for e in events]
        return {"recovered": True, "events": pushes}

    async def refresh(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, _room_id = session.member()
        claims = self._verifier.verify(args["token"])
        if claims.sub != user.id:
            raise request_error(ErrorCode.TOKEN_WRONG_USER, "the new token is for another user")
        if not grants(claims.role, user.role):
            raise request_error(ErrorCode.ROLE_NOT_GRANTED, "the new token does not grant the role")
        session.token_iat = claims.iat
        self._arm_expiry(session, claims.exp)
        return {"exp": claims.exp}

    async def ping(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        return {"ts": now_ms()}

    def _arm_expiry(self, session: Session, exp: float) -> None:
        """Note the token's expiry; close the connection then if the operator asked for it
        (by default a connection outlives its token: it was checked at connect)."""
        session.token_exp = exp
        session.cancel_timers()
        if not self._settings.end_connections_at_token_exp:
            return
        delay = max(0.0, exp + self._settings.token_leeway - time.time())
        session.expiry_timer = asyncio.get_running_loop().call_later(
            delay, session.close, CloseCode.TOKEN_EXPIRED, "token expired"
        )


#: How a connect with a refused token closes, by the refusal (else ``BAD_TOKEN``).
_TOKEN_CLOSE: dict[ErrorCode, CloseCode] = {
    ErrorCode.TOKEN_EXPIRED: CloseCode.TOKEN_EXPIRED,
    ErrorCode.TOKEN_REVOKED: CloseCode.REVOKED,
}


def _check_recover(recover: dict[str, Any]) -> int:
    """The position of a connect's ``recover`` object, or raise ``invalid_field``."""
    since = recover.get("seq")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise request_error(ErrorCode.INVALID_FIELD, "recover.seq must be an integer >= 0")
    return since
