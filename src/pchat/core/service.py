"""The chat service: connect, messages, history, moderation, reactions, polls.

Transport-agnostic: the server layer hands it a :class:`Session` per connection and each
decoded :class:`Request`; it answers with the reply's ``result`` or raises a
:class:`RequestError` (or :class:`CloseRequested`). Durable state goes through a
:class:`MessageStore`, fan-out between nodes through a :class:`Broker`; both are injected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.frames import Request, push_frame
from pchat.protocol.models import User
from pchat.protocol.session import SessionState
from pchat.protocol.validation import (
    ROLE_RANK,
    validate_client_id,
    validate_reaction,
    validate_role,
    validate_room_id,
    validate_text,
    validate_username,
)
from pchat.server.config import Settings
from pchat.storage.base import Broker, MessageStore, StoreUnavailable

from .live import LiveState
from .polls import PollService
from .ratelimit import BucketMap, StrikeCounter, TokenBucket
from .room import Room, Sink
from .session import CloseRequested, Session

__all__ = ["ChatService", "TokenClaimsLike", "Verifier"]

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any]]]


class TokenClaimsLike(Protocol):
    @property
    def sub(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def exp(self) -> float: ...


class Verifier(Protocol):
    def verify(self, token: str, now: float | None = None) -> TokenClaimsLike: ...


#: This process, as named in connect replies: which node (and worker) serves a client.
NODE = f"{socket.gethostname()}:{os.getpid()}"


_POLL_PUSH = b'{"type":"poll"'


def now_ms() -> int:
    return int(time.time() * 1000)


def is_staff(user: User) -> bool:
    """Moderators and admins."""
    return ROLE_RANK[user.role] >= ROLE_RANK["moderator"]


class ChatService:
    """Rooms on this node and every request a connected client can make."""

    def __init__(
        self, settings: Settings, *, store: MessageStore, broker: Broker, verifier: Verifier
    ) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        self.verifier = verifier
        #: True from start() until shutdown begins (close_sessions): what /readyz reports.
        self.serving = False
        self._rooms: dict[str, Room] = {}
        self._opening: dict[str, asyncio.Task[Room]] = {}
        self._sessions: set[Session] = set()
        self._by_sink: dict[Sink, Session] = {}
        self._msg_buckets = BucketMap(settings.rate_messages, settings.rate_messages_burst)
        self._reaction_buckets = BucketMap(settings.rate_reactions, settings.rate_reactions_burst)
        self._reaction_types = frozenset(settings.reactions)
        self.live = LiveState(self)
        self.polls = PollService(self)
        self._handlers: dict[str, Handler] = {
            "connect": self._connect,
            "send": self._send,
            "history": self._history,
            "delete": self._delete,
            "react": self._react,
            "reactions_stats": self._reactions_stats,
            "poll_create": self.polls.create,
            "poll_vote": self.polls.vote,
            "poll_finish": self.polls.finish,
            "polls": self.polls.list_polls,
            "refresh": self._refresh,
            "ping": self._ping,
        }

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.polls.start()
        self.live.start()
        self.serving = True
        # After a broker outage, what is not in the stream is re-read at the next period.
        self.broker.on_reconnect(self.live.reconcile_soon)

    async def reconcile(self) -> None:
        """Bring what this node serves in line with the store (after a broker outage, when
        other nodes' pushes may have been lost): each room's stream position, polls,
        reaction totals and online count."""
        await self.catch_up()
        for room_id in list(self._rooms):
            await self.polls.reconcile(room_id)
        await self.live.reconcile()

    def close_sessions(self) -> None:
        """Tell every client to reconnect elsewhere or later (server shutting down).

        Each close reason carries its own random ``reconnect_after_ms`` in
        [hint/10, hint] (``reconnect_hint_max``), so that the clients return spread out
        rather than all at once (docs/protocol.md §8).
        """
        self.serving = False
        hint = self.settings.reconnect_hint_max
        high = 0 if hint is None else max(1, int(hint * 1000))
        low = high // 10
        for session in list(self._sessions):
            reason = "server shutting down"
            if high:
                reason += f"; reconnect_after_ms={low + secrets.randbelow(high - low + 1)}"
            session.close(CloseCode.SHUTDOWN, reason)

    async def stop(self) -> None:
        self.close_sessions()
        await self.polls.stop()
        await self.live.stop()
        for room in list(self._rooms.values()):
            await room.close()

    # Sessions -----------------------------------------------------------------------------

    def new_session(
        self, sink: Sink, closer: Callable[[CloseCode, str], None], remote: str = ""
    ) -> Session:
        s = self.settings
        now = time.monotonic()
        frames = TokenBucket(s.rate_frames or 1e9, s.rate_frames_burst, now)
        session = Session(
            sink=sink,
            closer=closer,
            frames=frames,
            strikes=StrikeCounter(s.flood_strikes, s.flood_window),
            remote=remote,
            max_send_buffer=s.max_send_buffer,
        )
        self._sessions.add(session)
        self._by_sink[sink] = session
        return session

    async def handle(self, session: Session, request: Request) -> dict[str, Any]:
        """Run one request; rate limits apply to every frame."""
        now = time.monotonic()
        if self.settings.rate_frames is not None:
            wait = session.frames.take(now)
            if wait:
                raise self._limited(session, now, wait)
        session.machine.check(request.type)
        try:
            return await self._handlers[request.type](session, request.args)
        except StoreUnavailable as exc:
            # Temporary, and the connection stays open: the client retries (a connect too).
            raise request_error(ErrorCode.UNAVAILABLE, "the store is unavailable") from exc

    def _limited(self, session: Session, now: float, wait: float) -> RequestError:
        if session.strikes.strike(now):
            raise CloseRequested(CloseCode.FLOOD, "too many rate-limited requests")
        return request_error(
            ErrorCode.RATE_LIMITED, "slow down", retry_after_ms=max(1, int(wait * 1000))
        )

    async def disconnect(self, session: Session) -> None:
        """Forget a connection that closed."""
        session.cancel_timers()
        if session.machine.state is not SessionState.CLOSED:
            session.machine.advance("close")
        self._sessions.discard(session)
        self._by_sink.pop(session.sink, None)
        room_id = session.room_id
        if room_id is not None:
            await self._leave(session, room_id)

    async def _leave(self, session: Session, room_id: str) -> None:
        """Take the session out of the room; close the room on this node once empty."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.leave(session.sink)
        self.live.touch(room_id)
        if len(room) == 0 and self._rooms.get(room_id) is room:
            del self._rooms[room_id]
            await self.broker.unsubscribe(room_id)
            if room_id in self._rooms:
                # Reopened while the unsubscription was on its way: it may have undone the
                # new room's subscription. Subscribing again is harmless; gaps are fetched.
                await self.broker.subscribe(room_id, self._on_publication)
            await room.close()
            await self.live.forget(room_id)
            self.polls.forget(room_id)

    # Rooms --------------------------------------------------------------------------------

    async def _room(self, room_id: str) -> Room:
        """The room, opened (subscribed, position known) by the first caller; later callers
        wait for that opening. Loops only if the room was closed again meanwhile."""
        while True:
            task = self._opening.get(room_id)
            if task is not None and task.done():
                # Finished: forget it here rather than in a done callback, which may not
                # have run yet (awaiting a finished task does not yield to the loop).
                del self._opening[room_id]
                task = None
            if task is None:
                room = self._rooms.get(room_id)
                if room is not None:
                    return room
                task = asyncio.get_running_loop().create_task(self._open_room(room_id))
                self._opening[room_id] = task
            room = await asyncio.shield(task)
            if self._rooms.get(room_id) is room:
                return room

    async def _open_room(self, room_id: str) -> Room:
        room = Room(
            room_id,
            max_send_buffer=self.settings.max_send_buffer,
            on_slow=self._slow_consumer,
            gap_fetcher=self._fetch_gap,
            coalesce=self.settings.coalesce_ms / 1000,
        )
        # Registered before subscribing: publications that arrive while the position is
        # read are held by the room (not dropped) and delivered by seed_position().
        self._rooms[room_id] = room
        try:
            await self.broker.subscribe(room_id, self._on_publication)
            info = await self.store.room(room_id)
        except BaseException:
            del self._rooms[room_id]
            raise
        room.epoch = info.epoch
        room.seed_position(info.last_seq)
        return room

    async def catch_up(self) -> None:
        """Compare each local room with the store and fetch events that never arrived."""
        for room_id, room in list(self._rooms.items()):
            if room.last_seq is not None:  # opened
                room.catch_up((await self.store.room(room_id)).last_seq)

    def _on_publication(self, room_id: str, seq: int | None, payload: bytes) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            # Poll states and reaction totals only move forward: a push older than what
            # this node has seen was sent late (queued during a broker outage) and is
            # dropped rather than delivered over the newer state.
            if seq is None and not self._current(room_id, payload):
                return
            room.publish(seq, payload)

    def _current(self, room_id: str, payload: bytes) -> bool:
        """False for a ``poll`` or ``reactions_stats`` push older than what is known here."""
        if payload.startswith(_POLL_PUSH):
            return self.polls.observe(room_id, payload)
        if payload.startswith(b'{"type":"reactions_stats"'):
            return self.live.observe_stats(room_id, payload)
        return True

    async def _fetch_gap(self, room_id: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        events = await self.store.events_since(room_id, after, upto - after)
        return [(e.seq, self._stream_push(e.kind, e.seq, e.message)) for e in events]

    def _slow_consumer(self, sink: Sink) -> None:
        session = self._by_sink.get(sink)
        if session is not None:
            session.close(CloseCode.SLOW_CONSUMER, "send queue full")

    def room_sizes(self) -> dict[str, int]:
        return {room_id: len(room) for room_id, room in self._rooms.items()}

    def local_push(self, room_id: str, payload: bytes) -> None:
        """A push to this node's connections of the room only (online counts)."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.publish(None, payload)  # delivered here only, not through the broker

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        await self.broker.publish(room_id, seq, payload)

    @staticmethod
    def _stream_push(kind: str, seq: int, message: Any) -> bytes:
        if kind == "message":
            return push_frame("message", {"seq": seq, "message": message.to_wire()})
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

    # Connect ------------------------------------------------------------------------------

    async def _connect(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        session.machine.advance("connect")
        try:
            return await self._do_connect(session, args)
        except BaseException:
            if session.machine.state is SessionState.CONNECTING:
                session.machine.advance("failed")
            raise

    async def _do_connect(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        try:
            claims = self.verifier.verify(args["token"])
        except RequestError as exc:
            code = (
                CloseCode.TOKEN_EXPIRED
                if exc.code is ErrorCode.TOKEN_EXPIRED
                else CloseCode.BAD_TOKEN
            )
            raise CloseRequested(code, exc.message, error=exc) from None
        try:
            room_id = validate_room_id(args["room"])
            username = validate_username(args["username"], s.max_username_chars)
        except RequestError as exc:
            raise CloseRequested(CloseCode.BAD_CONNECT, exc.message, error=exc) from None
        role = validate_role(args.get("role", "viewer"))
        if ROLE_RANK[role] > ROLE_RANK.get(claims.role, 0):
            refusal = request_error(
                ErrorCode.ROLE_NOT_GRANTED, f"the token does not grant the role {role}"
            )
            raise CloseRequested(CloseCode.FORBIDDEN, refusal.message, error=refusal)
        recover = args.get("recover")
        if recover is not None:
            _check_recover(recover)  # before the room is opened: a refusal leaves nothing
        user = User(claims.sub, username, role)
        session.user = user
        session.room_id = room_id
        self._arm_expiry(session, claims.exp)
        try:
            room = await self._room(room_id)
            room.join(session.sink)  # at once: _room() returned the live room, no await since
            result = await self._connect_result(session, room, user, recover)
        except BaseException:
            # Every failure path: out of the room, and the room closed here if now empty.
            session.user = None
            session.room_id = None
            session.cancel_timers()
            await self._leave(session, room_id)
            raise
        return result

    async def _connect_result(
        self, session: Session, room: Room, user: User, recover: Any
    ) -> dict[str, Any]:
        """The connect reply. Served from the room's memory where possible: a join storm of
        thousands of clients must not become thousands of store reads."""
        s = self.settings
        room_id = room.room_id
        if recover is not None:
            await self._catch_up_for(room, recover)
        # Everything up to this position was delivered before the join; everything after it
        # reaches the connection through its join buffer (see Room).
        covered = room.last_seq
        assert covered is not None and room.epoch is not None
        result: dict[str, Any] = {
            "user": user.to_wire(),
            "session": session.id,
            "node": NODE,
            "room": {
                "id": room_id,
                "epoch": room.epoch,
                "seq": covered,
                "online": await self.live.online_now(room_id),
                "reactions": {
                    "types": list(s.reactions),
                    "stats": await self.live.reaction_stats(room_id),
                },
            },
            "token_exp": session.token_exp,
            "limits": {
                "max_message_chars": s.max_message_chars,
                "max_frame_bytes": s.max_frame_bytes,
                "history_page_max": s.history_page_max,
            },
        }
        polls, more = await self.polls.for_connect(room_id, user)
        result["room"]["polls"] = polls
        result["room"]["polls_more"] = more
        if recover is not None:
            result["recovery"] = await self._recover(room_id, room.epoch, covered, recover)
        return result

    def finish_connect(self, session: Session, result: dict[str, Any]) -> None:
        """After the connect reply was written: go live and flush buffered pushes."""
        room = self._rooms.get(session.room_id or "")
        if room is None:
            return
        session.machine.advance("connected")
        room.activate(session.sink, result["room"]["seq"])
        self.live.touch(room.room_id)

    async def _catch_up_for(self, room: Room, recover: dict[str, Any]) -> None:
        """A client recovers from a position this node has not reached (publications are
        late or lost: the broker is away, their node died): fetch the missing events from
        the store into the room first, so that the recovery is served, not refused as a
        reset. Delivered through the room, the events reach its other connections too and
        the join buffer keeps the joining connection free of gaps and duplicates."""
        since = _check_recover(recover)
        last = room.last_seq
        if last is None or since <= last or recover.get("epoch") != room.epoch:
            return
        info = await self.store.room(room.room_id)
        last = room.last_seq
        if info.epoch != room.epoch or last is None or info.last_seq <= last:
            return  # a reset stream, or a client ahead of the store: _recover says so
        for seq, payload in await self._fetch_gap(room.room_id, last, info.last_seq):
            room.publish(seq, payload)

    async def _recover(
        self, room_id: str, epoch: str, last_seq: int, recover: dict[str, Any]
    ) -> dict[str, Any]:
        """Replay the stream after the client's position up to ``last_seq``; a client
        ahead of ``last_seq`` (which _catch_up_for brought up to the store) or of another
        epoch holds a stream that was reset."""
        since = _check_recover(recover)
        if recover.get("epoch") != epoch:
            return {"recovered": False, "reason": "epoch_changed"}
        if last_seq - since > self.settings.recovery_max_events:
            return {"recovered": False, "reason": "gap_too_large"}
        if since > last_seq:
            return {"recovered": False, "reason": "epoch_changed"}
        events = await self.store.events_since(room_id, since, last_seq - since)
        # The pushes are encoded as they are for live delivery and embedded as they are.
        pushes = [
            orjson.Fragment(self._stream_push(e.kind, e.seq, e.message))
            for e in events
            if e.seq <= last_seq
        ]
        return {"recovered": True, "events": pushes}

    def _arm_expiry(self, session: Session, exp: float) -> None:
        session.token_exp = exp
        session.cancel_timers()
        loop = asyncio.get_running_loop()
        delay = max(0.0, exp + self.settings.token_leeway - time.time())
        session.expiry_timer = loop.call_later(
            delay, session.close, CloseCode.TOKEN_EXPIRED, "token expired"
        )

    # Messages -----------------------------------------------------------------------------

    async def _take(self, session: Session, buckets: BucketMap, key: str) -> None:
        """Take one token from ``key``'s bucket or raise ``rate_limited`` (or close: flood).

        In a cluster the bucket is the broker's, shared by every node the user is on;
        otherwise (or while the broker cannot answer) this node's.
        """
        if buckets.rate is None:
            return
        wait = await self.broker.take_token(key, buckets.rate, buckets.burst)
        now = time.monotonic()
        if wait is None:
            wait = buckets.take(key, now)
        if wait:
            raise self._limited(session, now, wait)

    async def _send(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        text = validate_text(args["text"], self.settings.max_message_chars)
        cid = validate_client_id(args["cid"]) if "cid" in args else None
        await self._take(session, self._msg_buckets, f"msg:{user.id}")
        result = await self.store.append_message(
            room_id,
            message_id=new_id(),
            user=user,
            text=text,
            cid=cid,
            ts=now_ms(),
        )
        message = result.message
        if result.created:
            await self.publish(
                room_id, message.seq, self._stream_push("message", message.seq, message)
            )
        return {"message": message.to_wire(), "duplicate": not result.created}

    async def _history(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        limit = args.get("limit", 50)
        if not 1 <= limit <= self.settings.history_page_max:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"limit must be 1-{self.settings.history_page_max}"
            )
        assert session.room_id is not None
        page = await self.store.history(
            session.room_id,
            before_seq=args.get("before_seq"),
            before_ts=args.get("before_ts"),
            limit=limit + 1,
        )
        has_more = len(page) > limit
        if has_more:
            page = page[1:]
        return {"messages": [m.to_wire() for m in page], "has_more": has_more}

    async def _delete(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        message_id = args["message_id"]
        message = await self.store.get_message(room_id, message_id)
        if message is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        if message.user.id != user.id and not is_staff(user):
            raise request_error(ErrorCode.FORBIDDEN, "only moderators delete others' messages")
        result = await self.store.delete_message(room_id, message_id, by=user, ts=now_ms())
        if result is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        deleted = result.message
        await self.publish(
            room_id, result.seq, self._stream_push("message_delete", result.seq, deleted)
        )
        return {"message_id": message_id, "seq": result.seq}

    # Reactions ----------------------------------------------------------------------------

    async def _react(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        reaction = validate_reaction(args["reaction"], self._reaction_types)
        await self._take(session, self._reaction_buckets, f"react:{user.id}")
        self.live.count_reaction(room_id, reaction)
        await self.publish(
            room_id,
            None,
            push_frame("reaction", {"reaction": reaction, "user": user.to_wire(), "ts": now_ms()}),
        )
        return {}

    async def _reactions_stats(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        assert session.room_id is not None
        await self.live.flush_reactions(session.room_id)
        return {"stats": await self.store.reaction_stats(session.room_id)}

    # Tokens and liveness ------------------------------------------------------------------

    async def _refresh(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, _room_id = session.member()
        claims = self.verifier.verify(args["token"])
        if claims.sub != user.id:
            raise request_error(ErrorCode.TOKEN_WRONG_USER, "the new token is for another user")
        if ROLE_RANK[user.role] > ROLE_RANK.get(claims.role, 0):
            raise request_error(ErrorCode.ROLE_NOT_GRANTED, "the new token does not grant the role")
        self._arm_expiry(session, claims.exp)
        return {"exp": claims.exp}

    async def _ping(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        return {"ts": now_ms()}


def _check_recover(recover: dict[str, Any]) -> int:
    """The position of a connect's ``recover`` object, or raise ``invalid_field``."""
    since = recover.get("seq")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise request_error(ErrorCode.INVALID_FIELD, "recover.seq must be an integer >= 0")
    return since


def new_id() -> str:
    """A new message id: 16 hex characters, unique with overwhelming probability."""
    return secrets.token_hex(8)
