"""The Python SDK client, :class:`PChatSDK`: the vendor SDK's API in Python's idiom.

::

    sdk = PChatSDK("http://127.0.0.1:8080")
    sdk.on(Events.MESSAGE, print)
    await sdk.connect("lobby", "Ann", token)
    await sdk.load_history()
    await sdk.send_message("hello")

The client keeps one :class:`~pchat.sdk.connection.Connection` at a time and a
:class:`~pchat.sdk.room_state.RoomState` that every frame goes through. When the connection
is lost with a transient close code (or none), it reconnects by itself with full-jitter
backoff and recovers the missed stream events; terminal close codes are not retried. After
a server's deliberate stop (``4000``, ``1012``) it waits the close reason's reconnect hint
and then retries quickly for a while (:mod:`pchat.sdk.backoff`).

Calls made while the client connects or reconnects wait for the connection (at most
``request_timeout``); ``connect()`` with the arguments of the connect under way joins it
(see :meth:`PChatSDK.connect` and the state diagram in :mod:`pchat.sdk.events`).

Moderators and admins moderate the room (``ban``, ``set_room_mode``, ``pin_message``,
``approve``, ``resolve_report``, …); every client holds the room's
:attr:`~PChatSDK.room_settings`, :attr:`~PChatSDK.pin`, its user's own
:attr:`~PChatSDK.my_ban` and :attr:`~PChatSDK.mutes` (docs/moderation.md).

Calls made by the application raise on failure (and do not fire ``ERROR``); ``ERROR`` reports
what happens in the background: a terminal close, a failed token refresh, a handler that
raised, an error frame without a request id.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pchat.protocol.codes import CloseCode, ErrorCode, close_is_reconnectable
from pchat.protocol.errors import (
    ConnectionClosedError,
    PChatError,
    RequestError,
    RequestTimeoutError,
    StateError,
    TokenError,
)
from pchat.protocol.frames import error_from_wire
from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, Pin, RoomSettings

from .backoff import DEFAULT_BASE, DEFAULT_MAX_DELAY, Backoff
from .connection import AiohttpConnector, Connection, Connector
from .emitter import EventEmitter
from .events import (
    ConnectEvent,
    DisconnectEvent,
    Events,
    SampledEvent,
    StateChangeEvent,
    States,
    TokenRefreshError,
)
from .moderation import ModerationCalls
from .mutes import MuteCalls
from .polls import PollCalls
from .reviews import ReviewCalls
from .room_state import Outcome, RoomState
from .timestamps import Timestamp, timestamp_ms

__all__ = ["PChatSDK", "TokenRefresher", "ws_url"]

log = logging.getLogger("pchat.sdk")

#: Returns a fresh token for the same user, directly or as an awaitable.
TokenRefresher = Callable[[], str | Awaitable[str]]

_WS_PATH = "/public-chat/ws"
# How long to wait for the server's close after a refused connect, to report its code.
_CLOSE_GRACE = 1.0


def ws_url(base_url: str) -> str:
    """The chat WebSocket URL of a service: ``http`` becomes ``ws``, ``https`` ``wss``."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith(_WS_PATH):
        path += _WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


@dataclass(slots=True)
class _Params:
    room: str
    username: str
    token: str  # the token in use: the one given, or the refresher's latest
    role: str | None
    given: str  # the token given to connect()

    def same(self, room: str, username: str, token: str, role: str | None) -> bool:
        """Whether a connect() call has the arguments of the connect that made these."""
        return (self.room, self.username, self.given, self.role) == (room, username, token, role)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _settled(future: asyncio.Future[Any]) -> None:
    """Mark an attempt's exception as retrieved: nobody may have joined it."""
    if not future.cancelled():
        future.exception()


class PChatSDK(PollCalls, ModerationCalls, ReviewCalls, MuteCalls, EventEmitter):
    """A client of one pchat room.

    ``url`` is the service's base URL (the WebSocket is at ``<url>/public-chat/ws``).
    ``token_refresher`` (sync or async, no arguments) returns a new token before the
    current one expires and after a connect refused as expired. Times are in seconds.
    ``connector`` opens the WebSocket (default: aiohttp); ``rng`` drives the backoff jitter.
    """

    def __init__(
        self,
        url: str,
        *,
        token_refresher: TokenRefresher | None = None,
        request_timeout: float = 10.0,
        ping_interval: float | None = 25.0,
        refresh_margin: float = 60.0,
        backoff_base: float = DEFAULT_BASE,
        backoff_max: float = DEFAULT_MAX_DELAY,
        connector: Connector | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.ws_url = ws_url(url)
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.refresh_margin = refresh_margin
        self._refresher = token_refresher
        self._connector: Connector = connector or AiohttpConnector()
        self._backoff = Backoff(base=backoff_base, max_delay=backoff_max, rng=rng)
        self._state = States.DISCONNECTED
        self._room = RoomState()
        self._params: _Params | None = None
        self._conn: Connection | None = None  # the connected connection
        self._opening: Connection | None = None  # a connection awaiting its connect reply
        self._failed_close: tuple[int | None, str] = (None, "")
        self._need_token = False
        # Bumped by connect() and disconnect(): a call made before fails instead of being
        # sent on a connection of another session.
        self._generation = 0
        # The connect or reconnection under way: connect() joins it, calls wait for it.
        self._attempt: asyncio.Future[ConnectEvent] | None = None
        self._last_close: tuple[int | None, str] = (None, "")
        self._history_lock = asyncio.Lock()
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._timers: list[asyncio.Task[None]] = []  # ping, token refresh, a timeout's end
        self._ban_timer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- public state -------------------------------------------------------------------

    @property
    def state(self) -> States:
        """The connection state."""
        return self._state

    @property
    def user(self) -> User | None:
        """The user, as the server confirmed it on connect."""
        return self._room.user

    @property
    def room_id(self) -> str | None:
        """The room connected to (or last connected to)."""
        return self._room.room_id

    @property
    def messages(self) -> list[Message]:
        """The held messages, oldest to newest, each id once; deleted ones marked (a copy)."""
        return list(self._room.messages)

    @property
    def polls(self) -> dict[str, Poll]:
        """The room's polls by id (a copy)."""
        return dict(self._room.polls)

    @property
    def reactions_stats(self) -> dict[str, int]:
        """Reaction totals per type (a copy)."""
        return dict(self._room.stats)

    @property
    def reaction_types(self) -> tuple[str, ...]:
        """The reactions the room accepts."""
        return self._room.reaction_types

    @property
    def online(self) -> int:
        """The room's connection count."""
        return self._room.online

    @property
    def has_more_polls(self) -> bool:
        """Whether the room has older polls than those held (page them with
        ``get_polls(before=oldest.id)``); connect replies hold the newest finished ones."""
        return self._room.more_polls

    @property
    def has_more_history(self) -> bool:
        """Whether older history exists than the last page loaded."""
        return self._room.has_more

    @property
    def epoch(self) -> str | None:
        """The room stream's epoch."""
        return self._room.epoch

    @property
    def last_seq(self) -> int:
        """The position of the last stream event applied."""
        return self._room.last_seq

    @property
    def room_settings(self) -> RoomSettings:
        """The room's modes (slow mode, unique chat, length limit, who may write)."""
        return self._room.room_settings

    @property
    def pin(self) -> Pin | None:
        """The room's pinned message or announcement, if any."""
        return self._room.pin

    @property
    def my_ban(self) -> Ban | None:
        """This user's ban or timeout in the room, while it acts (None: may write). From a
        ``banned`` push, its ``by`` is an empty user and ``created_at`` 0 (unknown)."""
        ban = self._room.my_ban
        if ban is not None and ban.until is not None and ban.until <= _now_ms():
            return None
        return ban

    @property
    def sampled(self) -> SampledEvent | None:
        """The sampling in force in a huge, busy room: this viewer gets one of every
        ``sampled.every`` messages (and its own, its mentions and the staff's); None: every
        message. ``Events.SAMPLED`` fires when it changes."""
        return self._room.sampled

    @property
    def mutes(self) -> list[str]:
        """The ids of the users this user muted (a copy): their messages are not delivered
        to this user, on any device."""
        return list(self._room.mutes)

    # -- connect and disconnect ---------------------------------------------------------

    async def connect(
        self, room_id: str, username: str, token: str, *, role: str | None = None
    ) -> ConnectEvent:
        """Join ``room_id`` as ``username``; raises if the server refuses or cannot be reached.

        A first connect is not retried, except once with a new token when the token has
        expired and a ``token_refresher`` exists. By state:

        - disconnected: connect;
        - connecting or reconnecting, with the room, username, token and role of the connect
          under way: join it, and return (or raise) what it ends with. Code written for an
          SDK that does not reconnect by itself calls ``connect()`` from its ``DISCONNECT``
          handler; that joins the reconnection, which keeps its backoff;
        - reconnecting, with other arguments: stop the reconnection (calls waiting for it
          raise ConnectionClosedError) and connect anew;
        - connecting with other arguments, or connected: raise StateError.
        """
        params = self._params
        busy = self._state in (States.CONNECTING, States.RECONNECTING)
        if busy and params is not None and params.same(room_id, username, token, role):
            return await self._join()
        if self._state is not States.DISCONNECTED and self._state is not States.RECONNECTING:
            raise StateError(f"connect() needs state disconnected, not {self._state}")
        self._last_close = (None, "connect() was called with other arguments")
        generation, stale = self._stop()
        self._params = _Params(room_id, username, token, role, token)
        self._room = RoomState()
        self._need_token = False
        self._backoff.reset()
        self._set_state(States.CONNECTING, ConnectionClosedError(*self._last_close))
        try:
            await stale
            try:
                return await self._open(recover=False)
            except TokenError as exc:
                if exc.code != ErrorCode.TOKEN_EXPIRED or self._refresher is None:
                    raise
            token = await self._call_refresher()
            if generation != self._generation:
                raise ConnectionClosedError(*self._last_close)
            self._params.token = token
            return await self._open(recover=False)
        except BaseException as exc:
            if generation == self._generation:
                code, reason = self._failed_close
                self._last_close = (code, reason or str(exc))
                failure = exc if isinstance(exc, Exception) else ConnectionClosedError(None, "")
                self._set_state(States.DISCONNECTED, failure)
            raise

    async def _join(self) -> ConnectEvent:
        """Wait for the connect or reconnection under way; what it ends with."""
        assert self._attempt is not None
        return await asyncio.shield(self._attempt)

    async def disconnect(self) -> None:
        """Leave the room (close ``1000``); pending calls fail with ConnectionClosedError."""
        if self._state is States.DISCONNECTED:
            return
        self._last_close = (CloseCode.NORMAL, "client disconnect")
        _, stale = self._stop()
        self._set_state(States.DISCONNECTED, ConnectionClosedError(*self._last_close))
        await stale
        self.emit(Events.DISCONNECT, DisconnectEvent(CloseCode.NORMAL, "client disconnect", False))
        if self._background:
            await asyncio.wait(set(self._background), timeout=self.request_timeout)

    def _stop(self) -> tuple[int, Coroutine[Any, Any, None]]:
        """End the current session at once: a new generation, no connection, no reconnect
        loop, no timers. Returns the generation and a coroutine that closes what was open."""
        self._generation += 1
        reconnect, self._reconnect_task = self._reconnect_task, None
        conns = [c for c in (self._conn, self._opening) if c is not None]
        self._conn = self._opening = None
        self._stop_timers()

        async def close() -> None:
            if reconnect is not None and reconnect is not asyncio.current_task():
                reconnect.cancel()
                await asyncio.wait({reconnect})
            for conn in conns:
                await conn.close(CloseCode.NORMAL, "client disconnect")

        return self._generation, close()

    async def _open(self, *, recover: bool) -> ConnectEvent:
        """Open a connection, send ``connect`` and apply the reply; become CONNECTED."""
        assert self._params is not None
        params = self._params
        self._failed_close = (None, "")
        try:
            async with asyncio.timeout(self.request_timeout):
                transport = await self._connector(self.ws_url)
        except TimeoutError:
            raise RequestTimeoutError("WebSocket handshake timed out") from None
        conn = Connection(
            transport,
            on_push=lambda frame: self._on_push(conn, frame),
            on_close=lambda code, reason: self._on_close(conn, code, reason),
            request_timeout=self.request_timeout,
        )
        self._opening = conn
        conn.start()
        args: dict[str, Any] = {
            "room": params.room,
            "username": params.username,
            "token": params.token,
            "role": params.role,
            # The SDK takes a sampled stream: it knows the ``sampled`` push and the jumps.
            "sampling": True,
        }
        if recover and self._room.epoch is not None:
            args["recover"] = {"epoch": self._room.epoch, "seq": self._room.last_seq}
        try:
            result = await conn.request("connect", **args)
            if self._opening is not conn:  # disconnect() was called meanwhile
                raise ConnectionClosedError(CloseCode.NORMAL, "client disconnect")
            try:
                outcome = self._room.apply_connect(result)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConnectionClosedError(None, f"malformed connect reply: {exc!r}") from exc
        except BaseException as exc:
            if isinstance(exc, RequestError) and not exc.temporary:
                await conn.wait_closed(min(_CLOSE_GRACE, self.request_timeout))
            self._failed_close = (conn.close_code, conn.close_reason)
            await conn.close()
            raise
        finally:
            if self._opening is conn:
                self._opening = None
        return self._connected(conn, outcome)

    def _connected(self, conn: Connection, outcome: Outcome) -> ConnectEvent:
        self._conn = conn
        self._backoff.reset()
        room = self._room
        assert room.user is not None and room.room_id is not None and room.epoch is not None
        event = ConnectEvent(
            room.user, room.room_id, room.epoch, room.last_seq, room.online, outcome.recovered
        )
        self._set_state(States.CONNECTED, event)
        self.emit(Events.CONNECT, event)
        self._fire(outcome)
        self._wake_seq_waiters()
        if outcome.reset:
            self._spawn(self._reload_history())
        self._start_timers(conn)
        conn.accept_pushes()
        if conn.closed and conn is self._conn:  # closed before we were listening
            self._on_close(conn, conn.close_code, conn.close_reason)
        return event

    # -- connection loss and reconnect --------------------------------------------------

    def _on_close(self, conn: Connection, code: int | None, reason: str) -> None:
        if conn is self._conn:
            self._lost(code, reason)

    def _lost(self, code: int | None, reason: str, *, force_reconnect: bool = False) -> None:
        """The current connection is gone: reconnect, or stop for good."""
        conn, self._conn = self._conn, None
        self._stop_timers()
        if conn is not None and not conn.closed:
            self._spawn(conn.close(CloseCode.NORMAL, reason))
        if code == CloseCode.TOKEN_EXPIRED:
            self._need_token = True
        reconnect = force_reconnect or (
            close_is_reconnectable(code)
            and (code != CloseCode.TOKEN_EXPIRED or self._refresher is not None)
        )
        if reconnect:
            self._backoff.closed(code, reason)  # a restart close: the hint, then short delays
            self._set_state(States.RECONNECTING)
            # Started before DISCONNECT fires: a handler's connect() joins this loop.
            self._reconnect_task = asyncio.create_task(self._reconnect_loop())
            self.emit(Events.DISCONNECT, DisconnectEvent(code, reason, True))
        else:
            self._terminal(ConnectionClosedError(code, reason), code, reason)

    def _terminal(self, error: PChatError, code: int | None, reason: str) -> None:
        self._last_close = (code, reason)
        self._set_state(States.DISCONNECTED, error)
        self.emit(Events.DISCONNECT, DisconnectEvent(code, reason, False))
        self.emit(Events.ERROR, error)

    async def _reconnect_loop(self) -> None:
        generation = self._generation
        while self._state is States.RECONNECTING and generation == self._generation:
            await asyncio.sleep(self._backoff.next_delay())
            try:
                if self._need_token and self._refresher is not None:
                    assert self._params is not None
                    self._params.token = await self._call_refresher()
                    self._need_token = False
                await self._open(recover=True)
            except TokenRefreshError as exc:
                self.emit(Events.ERROR, exc)
            except (RequestError, ConnectionClosedError) as exc:
                if not self._retry_after(exc):
                    code, reason = self._failed_close
                    self._reconnect_task = None
                    self._terminal(exc, code, reason or str(exc))
                    return
            except RequestTimeoutError:
                pass
            except Exception:  # e.g. an injected connector failing in its own way
                log.warning("pchat: reconnect attempt failed", exc_info=True)
            else:
                self._reconnect_task = None
                return

    def _retry_after(self, exc: RequestError | ConnectionClosedError) -> bool:
        """Whether a failed reconnect attempt should be retried."""
        expired = (
            exc.code == ErrorCode.TOKEN_EXPIRED
            if isinstance(exc, RequestError)
            else exc.code == CloseCode.TOKEN_EXPIRED
        )
        if expired:
            self._need_token = True
            return self._refresher is not None
        if isinstance(exc, RequestError):
            return exc.temporary
        return close_is_reconnectable(exc.code)

    async def _reload_history(self) -> None:
        """After a reconnect that could not recover: load the latest page."""
        try:
            await self._history(None, None, self._generation, wait=False)
        except StateError:
            pass  # the connection was lost again; the next connect reloads
        except PChatError as exc:
            if self._state is States.CONNECTED:
                self.emit(Events.ERROR, exc)

    # -- pushes ---------------------------------------------------------------------------

    def _on_push(self, conn: Connection, frame: dict[str, Any]) -> None:
        if conn is not self._conn:
            return
        if frame["type"] == "error":
            self.emit(Events.ERROR, error_from_wire(frame.get("error") or {}))
            return
        outcome = self._room.apply_push(frame)
        self._fire(outcome)
        self._wake_seq_waiters()
        if any(event is Events.BANNED for event, _ in outcome.events):
            self._watch_ban(conn)
        if outcome.gap and conn is self._conn:
            log.warning("pchat: gap in the stream after seq %d; recovering", self._room.last_seq)
            self._lost(None, "gap in the stream", force_reconnect=True)

    def _fire(self, outcome: Outcome) -> None:
        for event, payload in outcome.events:
            self.emit(event, payload)

    def _wake_seq_waiters(self) -> None:
        last = self._room.last_seq
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for seq, future in self._seq_waiters:
            if seq <= last:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((seq, future))
        self._seq_waiters = keep

    async def _wait_seq(self, seq: int) -> None:
        """Wait (at most request_timeout) until the stream has been applied up to ``seq``."""
        if self._room.last_seq >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq_waiters.append((seq, future))
        try:
            await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            pass
        finally:
            self._seq_waiters = [w for w in self._seq_waiters if w[1] is not future]

    # -- state, timers, background tasks ------------------------------------------------

    def _set_state(self, new: States, outcome: ConnectEvent | Exception | None = None) -> None:
        """The one state setter: settles the attempt under way and fires STATE_CHANGE.

        Entering CONNECTING or RECONNECTING starts an attempt (connect() joins it, calls
        wait for it); CONNECTED resolves it with the ConnectEvent ``outcome``; DISCONNECTED,
        or a new attempt replacing it, fails it with the exception ``outcome``.
        """
        old, self._state = self._state, new
        if new is old:
            return
        attempt = self._attempt
        if attempt is not None and not attempt.done():
            if isinstance(outcome, ConnectEvent):
                attempt.set_result(outcome)
            else:
                attempt.set_exception(outcome or ConnectionClosedError(None, str(new)))
        self._attempt = None
        if new in (States.CONNECTING, States.RECONNECTING):
            self._attempt = asyncio.get_running_loop().create_future()
            self._attempt.add_done_callback(_settled)
        self.emit(Events.STATE_CHANGE, StateChangeEvent(new, old))

    def _session(self) -> int:
        """The session a call is made in; StateError when there is none to wait for."""
        if self._state is States.DISCONNECTED:
            raise StateError(f"this call needs a connection, and the state is {self._state}")
        return self._generation

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.request_timeout

    async def _ready(
        self, session: int, deadline: float | None, *, not_on: Connection | None = None
    ) -> Connection:
        """The connection for a call made in ``session``; while connecting or reconnecting,
        wait for it until ``deadline`` (loop time; None: do not wait, raise StateError).

        ``not_on``: a connection a request just failed on. The state can still say connected
        until the reader notices the close; waiting for the state alone would send again
        on the dead connection.
        """
        while True:
            if session != self._generation:  # disconnect(), or connect() with other arguments
                raise ConnectionClosedError(*self._last_close)
            conn, attempt = self._conn, self._attempt
            if self._state is States.CONNECTED and conn is not None and conn is not not_on:
                return conn
            if deadline is None:
                raise StateError(f"this call needs state connected, not {self._state}")
            if self._state is States.DISCONNECTED:  # the reconnection ended for good
                raise ConnectionClosedError(*self._last_close)
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    if attempt is None:  # connected on ``not_on``: the close is not noticed yet
                        await asyncio.sleep(0.01)
                    else:
                        await asyncio.shield(attempt)
            except TimeoutError:
                raise RequestTimeoutError(
                    f"not connected within {self.request_timeout:g} s"
                ) from None
            except Exception:
                continue  # the attempt failed: the checks above say how

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start_timers(self, conn: Connection) -> None:
        if self.ping_interval is not None:
            self._timers.append(asyncio.create_task(self._ping_loop(conn, self.ping_interval)))
        self._schedule_refresh(conn)
        self._watch_ban(conn)

    def _watch_ban(self, conn: Connection) -> None:
        """Fire ``UNBANNED`` when the held timeout ends: the server pushes nothing then."""
        old, self._ban_timer = self._ban_timer, None
        if old is not None:
            old.cancel()
            if old in self._timers:
                self._timers.remove(old)
        ban = self._room.my_ban
        if ban is None or ban.until is None:
            return
        self._ban_timer = asyncio.create_task(self._end_ban(conn, ban.until))
        self._timers.append(self._ban_timer)

    async def _end_ban(self, conn: Connection, until: int) -> None:
        while (left := until - _now_ms()) > 0:  # a sleep may end a little early
            await asyncio.sleep(left / 1000)
        if conn is self._conn:
            self._fire(self._room.expire_ban(_now_ms()))

    def _stop_timers(self) -> None:
        current = asyncio.current_task()
        for task in self._timers:
            if task is not current:
                task.cancel()
        self._timers.clear()

    async def _ping_loop(self, conn: Connection, interval: float) -> None:
        while conn is self._conn:
            await asyncio.sleep(interval)
            try:
                await conn.request("ping")
            except RequestTimeoutError:
                if conn is self._conn:
                    log.warning("pchat: no reply to ping; reconnecting")
                    self._lost(CloseCode.PING_TIMEOUT, "no reply to ping", force_reconnect=True)
                return
            except PChatError:
                return

    def _schedule_refresh(self, conn: Connection) -> None:
        exp = self._room.token_exp
        if exp is None or self._refresher is None:
            return
        lifetime = exp - time.time()
        delay = max(lifetime - self.refresh_margin, 0.8 * lifetime, 0.0)
        self._timers.append(asyncio.create_task(self._refresh_after(conn, delay)))

    async def _refresh_after(self, conn: Connection, delay: float) -> None:
        await asyncio.sleep(delay)
        if conn is not self._conn or self._params is None:
            return
        try:
            token = await self._call_refresher()
            result = await conn.request("refresh", token=token)
        except ConnectionClosedError:
            return  # the reconnect gets a new token if it needs one
        except PChatError as exc:
            self.emit(Events.ERROR, exc)
            return
        self._params.token = token
        self._room.token_exp = result.get("exp")
        if conn is self._conn:
            self._schedule_refresh(conn)

    async def _call_refresher(self) -> str:
        assert self._refresher is not None
        try:
            token = self._refresher()
            if inspect.isawaitable(token):
                token = await token
        except Exception as exc:
            raise TokenRefreshError(exc) from exc
        if not isinstance(token, str) or not token:
            raise TokenRefreshError(None, "token refresher returned no token")
        return token

    # -- requests -------------------------------------------------------------------------

    async def _request(self, rtype: str, **args: Any) -> Any:
        conn = await self._ready(self._session(), self._deadline())
        return await conn.request(rtype, **args)

    async def load_history(
        self, timestamp: Timestamp | None = None, *, limit: int | None = None
    ) -> list[Message]:
        """Load the page of messages before ``timestamp``, by default before the oldest held
        message; fires ``HISTORY_LOAD`` and returns the page.

        ``timestamp``: a ``datetime``, milliseconds (``int``, or a ``str`` of digits) or an
        ISO-8601 string (:mod:`pchat.sdk.timestamps`); anything else raises
        :class:`~pchat.sdk.events.InvalidArgumentError`. Calls are queued: each runs after
        the previous one finished, in call order.
        """
        before_ts = None if timestamp is None else timestamp_ms(timestamp)
        return await self._history(before_ts, limit, self._session(), wait=True)

    async def _history(
        self, before_ts: int | None, limit: int | None, session: int, *, wait: bool
    ) -> list[Message]:
        async with self._history_lock:
            conn = await self._ready(session, self._deadline() if wait else None)
            args: dict[str, Any] = {"limit": limit}
            if before_ts is not None:
                args["before_ts"] = before_ts
            elif self._room.messages:
                args["before_seq"] = self._room.messages[0].seq
            result = await conn.request("history", **args)
            outcome = self._room.apply_history(result)
            self._fire(outcome)
            page: list[Message] = outcome.events[0][1]
            return page

    async def send_message(
        self, text: str, *, cid: str | None = None, reply_to: str | None = None
    ) -> Message | Held:
        """Send ``text``; returns the stored message, or a :class:`Held` when the message
        waits outside the stream: for a moderator's review (the room's hold mode, a word
        filter entry with action ``hold``) or for the room's chat delay (``release_at``).
        A held message enters the stream later with the held one's ``id`` (``MESSAGE``
        fires then), or is rejected (``MESSAGE_REJECTED`` with that ``id``).

        A client id (``cid``) is generated when not given: if the connection drops before
        the reply, the SDK waits for its reconnect and sends again with the same ``cid``,
        which the server recognises, so the message is not stored twice. ``reply_to``: the
        id of the room's message this one answers (NotFoundError if there is none). The
        server fills in the message's ``mentions`` from the ``@username``s in ``text``.
        """
        session = self._session()
        cid = cid or uuid.uuid4().hex
        conn = await self._ready(session, self._deadline())
        try:
            result = await conn.request("send", text=text, cid=cid, reply_to=reply_to)
        except ConnectionClosedError:
            try:
                conn = await self._ready(session, self._deadline(), not_on=conn)
            except RequestTimeoutError:
                raise ConnectionClosedError(conn.close_code, conn.close_reason) from None
            result = await conn.request("send", text=text, cid=cid, reply_to=reply_to)
        sent, outcome = self._room.apply_send_reply(result)
        self._fire(outcome)
        return sent

    async def delete_message(self, message_id: str) -> Message | None:
        """Soft-delete a message; returns it as now held (None if not held).

        ``MESSAGE_DELETE`` fires from the room's ``message_delete`` push; this call waits
        (up to ``request_timeout``) for that push before returning.
        """
        result = await self._request("delete", message_id=message_id)
        await self._wait_seq(int(result["seq"]))
        return self._room.get(message_id)

    async def send_reaction(self, reaction: str) -> None:
        """Send a reaction (one of :attr:`reaction_types`); ``REACTION`` fires from the push."""
        await self._request("react", reaction=reaction)

    async def get_reactions_stats(self) -> dict[str, int]:
        """Ask for the reaction totals; fires ``REACTIONS_STATS`` and returns them."""
        result = await self._request("reactions_stats")
        self._fire(self._room.apply_stats(result["stats"]))
        return dict(self._room.stats)
