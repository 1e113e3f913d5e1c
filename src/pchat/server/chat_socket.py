"""The chat endpoint's fast path: WebSockets served straight on the event loop's transports.

Every connection to the port first meets a :class:`FrontDoor`, which reads the request
head. A valid WebSocket upgrade to ``/public-chat/ws`` that the gate (origin, connections
per address) and the drain let through is answered ``101`` here and the connection becomes
a :class:`ChatSocket`. Anything else — every other path, a refused upgrade (403, 429, 503),
a malformed or oversized request — is handed over, with the bytes read so far, to aiohttp's
connection handler, which answers it as it always did. The WebSocket route stays there too,
so an upgrade that arrives on a kept-alive HTTP connection is still served (by ``ws.py``).

Why: a join through aiohttp's upgrade costs a request, a response, a reader queue and a
task per connection — about 300 µs and 12 KB, most of a join's cost and of an idle
connection's memory (docs/benchmarks.md, second round). A :class:`ChatSocket` is one small
object with websockets' sans-I/O protocol (RFC 6455 framing: masking, sizes, control
frames, the close handshake) and no task while idle. A task runs only while requests wait,
one request after another, as before. Heartbeats are one task for the whole node, visiting
a slice of the connections at a time, so pings never come as one burst.

Replies and pushes are still written as complete frames straight to the transport (the
room's hot loop, :mod:`pchat.core.room`); only control frames and the close handshake go
through the protocol object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from pchat.core.service import ChatService
from pchat.core.session import Session, new_id
from pchat.protocol.codes import CloseCode
from pchat.protocol.handshake import (
    MAX_HEAD_BYTES,
    RequestHead,
    head_end,
    parse_head,
    switching_protocols,
    upgrade_key,
)

from . import logs
from .config import Settings
from .drain import Drain, DrainState
from .edge import WebSocketGate, forwarded_client
from .metrics import Metrics
from .ws import CLOSE_GRACE, STUCK_GRACE, abort_if_open, log_closed, on_frame

__all__ = ["CHAT_KEY", "LISTEN_BACKLOG", "ChatEndpoint", "ChatSite", "ChatSocket", "FrontDoor"]

log = logging.getLogger("pchat.server.ws")

#: The chat endpoint's path.
PATH = "/public-chat/ws"
_PREFIX = b"GET " + PATH.encode()
#: Requests of one connection waiting to be handled before it stops being read.
INBOX_LIMIT = 32
#: Slices of the connections the heartbeat visits per half heartbeat period.
HEARTBEAT_SLICES = 16
_PING = b"\x89\x00"  # an unmasked ping frame with no payload

# websockets logs every frame at DEBUG (tokens and messages included): never let it.
_frames_log = logging.getLogger("pchat.server.ws.frames")
_frames_log.setLevel(logging.WARNING)


class ChatEndpoint:
    """The fast path of one application: its connections, their heartbeat, and the
    handler that takes what the fast path does not (aiohttp's)."""

    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        gate: WebSocketGate,
        drain: Drain,
        metrics: Metrics | None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.gate = gate
        self.drain = drain
        self.metrics = metrics
        #: Makes the protocol that serves everything else (aiohttp's ``web.Server``).
        self.fallback: Callable[[], asyncio.Protocol] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: dict[ChatSocket, None] = {}
        #: Connections still sending their request head, with when they opened.
        self.doors: dict[FrontDoor, float] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def door(self) -> FrontDoor:
        """The protocol factory of the listening socket."""
        return FrontDoor(self)

    def start(self, fallback: Callable[[], asyncio.Protocol]) -> None:
        self.fallback = fallback
        # Kept: Python 3.11's get_running_loop() makes a getpid() system call each time.
        loop = self.loop = asyncio.get_running_loop()
        if self.settings.heartbeat is not None and self._heartbeat is None:
            self._heartbeat = loop.create_task(self._beat(self.settings.heartbeat))
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(self.settings.handshake_timeout))

    async def stop(self) -> None:
        for task in (self._heartbeat, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._heartbeat = self._sweeper = None

    async def _sweep(self, timeout: float) -> None:
        """Close the connections that did not send a complete request head in time (one
        task for all of them, not a timer each: a timer per join costs more than the rest
        of the handshake)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            deadline = loop.time() - timeout
            late = [door for door, opened in self.doors.items() if opened <= deadline]
            for door in late:
                door.timed_out()

    def accept(self, transport: asyncio.Transport, head: RequestHead, rest: bytes) -> bool:
        """Serve the upgrade in ``head`` here; False leaves it to aiohttp (which answers
        the refusals: 400 for a bad upgrade, 403, 429 and 503)."""
        key = upgrade_key(head)
        if key is None or self.drain.state in (DrainState.DRAINING, DrainState.DONE):
            return False
        headers = head.headers
        if not self.gate.origin_allowed(headers.get("origin")):
            return False
        peername = transport.get_extra_info("peername")
        peer = peername[0] if isinstance(peername, tuple) else ""
        forwarded = headers.get("x-forwarded-for", "")
        who = self.gate.subject(peer, forwarded)
        if who is not None and not self.gate.slots.acquire(who):
            return False
        proxies = self.gate.proxies
        given = headers.get("x-request-id", "")
        rid = given if peer in proxies and logs.valid_request_id(given) else new_id()
        transport.write(switching_protocols(key, {logs.REQUEST_ID_HEADER: rid}))
        chat = ChatSocket(self, transport, peer, who, rid)
        transport.set_protocol(chat)
        self.sockets[chat] = None
        if log.isEnabledFor(logging.DEBUG):
            client = forwarded_client(peer, forwarded, proxies)
            with _bound(chat):
                log.debug("connection opened", extra={"client": client})
        if rest:
            chat.data_received(rest)
        return True

    def forget(self, chat: ChatSocket) -> None:
        self.sockets.pop(chat, None)
        if chat.who is not None:
            self.gate.slots.release(chat.who)

    async def _beat(self, period: float) -> None:
        """Every connection is visited once per half period, a slice at a time: silent for
        a period, it is pinged; pinged and still silent half a period later, it is cut off."""
        loop = asyncio.get_running_loop()
        step = period / 2 / HEARTBEAT_SLICES
        while True:
            sockets = list(self.sockets)
            per = -(-len(sockets) // HEARTBEAT_SLICES)
            for k in range(HEARTBEAT_SLICES):
                await asyncio.sleep(step)
                now = loop.time()
                for chat in sockets[k * per : (k + 1) * per]:
                    chat.beat(now, period)


#: The application's chat endpoint (set by ``app.build_app``, used by :class:`ChatSite`).
CHAT_KEY = web.AppKey("chat_endpoint", ChatEndpoint)


class FrontDoor(asyncio.Protocol):
    """The first protocol of every connection: routes it by its request head."""

    __slots__ = ("_buffer", "_endpoint", "_transport")

    def __init__(self, endpoint: ChatEndpoint) -> None:
        self._endpoint = endpoint
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        # (asyncio and uvloop both set TCP_NODELAY; the send buffer's size comes from the
        # listening socket, set once by ChatSite.)
        self._transport = cast(asyncio.Transport, transport)
        loop = self._endpoint.loop
        assert loop is not None
        self._endpoint.doors[self] = loop.time()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        self._buffer = buffer
        n = min(len(buffer), len(_PREFIX))
        if buffer[:n] != _PREFIX[:n] or (len(buffer) > n and buffer[n] not in b" ?"):
            self._hand_over()
            return
        end = head_end(buffer)
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self._hand_over()
            return
        head = parse_head(buffer[:end])
        transport = self._transport
        assert transport is not None
        if head is None or head.path != PATH:
            self._hand_over()
            return
        self._endpoint.doors.pop(self, None)
        if not self._endpoint.accept(transport, head, buffer[end:]):
            self._hand_over()
        else:
            self._buffer = b""

    def eof_received(self) -> bool | None:
        return False  # a request cut short: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._endpoint.doors.pop(self, None)

    def _hand_over(self) -> None:
        """Give the connection, and what it sent, to aiohttp (whose keep-alive timer then
        takes over the handshake timeout)."""
        self._endpoint.doors.pop(self, None)
        transport, data = self._transport, self._buffer
        self._buffer = b""
        fallback = self._endpoint.fallback
        assert transport is not None and fallback is not None
        protocol = fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)

    def timed_out(self) -> None:
        """No complete request head in time: close (the sweep of the endpoint)."""
        self._endpoint.doors.pop(self, None)
        if self._transport is not None:
            self._transport.close()


class ChatSocket(asyncio.Protocol):
    """One open chat WebSocket: frames in through websockets' protocol, requests handled
    one at a time, the close handshake, and the end of the session."""

    __slots__ = (
        "_endpoint",
        "_fragments",
        "_inbox",
        "_loop",
        "_lost",
        "_paused",
        "_text",
        "_worker",
        "closed_with",
        "last_seen",
        "opened",
        "pinged",
        "rid",
        "session",
        "transport",
        "who",
        "ws",
    )

    def __init__(
        self,
        endpoint: ChatEndpoint,
        transport: asyncio.Transport,
        peer: str,
        who: str | None,
        rid: str,
    ) -> None:
        self._endpoint = endpoint
        self.transport = transport
        self.who = who
        self.rid = rid
        limit = endpoint.settings.max_frame_bytes
        self.ws = ServerProtocol(state=State.OPEN, max_size=limit, logger=_frames_log)
        self.session: Session = endpoint.service.new_session(transport, self.close, peer)
        self._inbox: deque[str | bytes] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._fragments: list[bytes] | None = None
        self._text = False
        self._lost = False
        self._paused = False
        self.closed_with: CloseCode | None = None
        loop = endpoint.loop
        assert loop is not None
        self._loop = loop
        self.opened = self.last_seen = loop.time()
        #: When the unanswered ping went out (0: none is).
        self.pinged = 0.0

    # Reading ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.last_seen = self._loop.time()
        ws = self.ws
        ws.receive_data(data)
        for frame in ws.events_received():
            if not isinstance(frame, Frame):
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    self._message(bytes(frame.data), opcode is Opcode.TEXT)
                else:
                    self._fragments = [bytes(frame.data)]
                    self._text = opcode is Opcode.TEXT
            elif opcode is Opcode.CONT and self._fragments is not None:
                self._fragments.append(bytes(frame.data))
                if frame.fin:
                    whole, self._fragments = b"".join(self._fragments), None
                    self._message(whole, self._text)
        self._flush()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return False

    def _message(self, data: bytes, text: bool) -> None:
        if self.session.closing:
            return
        payload: str | bytes = data
        if text:
            try:
                payload = data.decode()
            except UnicodeDecodeError:
                self.closed_with = CloseCode.INVALID_PAYLOAD
                self.ws.fail(int(CloseCode.INVALID_PAYLOAD), "invalid UTF-8")
                return
        inbox = self._inbox
        inbox.append(payload)
        if self._worker is None:
            self._worker = self._loop.create_task(self._work())
        elif len(inbox) >= INBOX_LIMIT and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    async def _work(self) -> None:
        """Handle the waiting requests in order; the session ends here if the connection
        was lost meanwhile (never in the middle of a request)."""
        endpoint = self._endpoint
        inbox = self._inbox
        token = logs.bind(conn=self.session.id, req=self.rid)
        try:
            while inbox and not self._lost:
                await on_frame(endpoint.service, self.session, inbox.popleft(), endpoint.metrics)
                if self._paused and len(inbox) < INBOX_LIMIT // 2 and not self._lost:
                    self._paused = False
                    self.transport.resume_reading()
            self._worker = None
            if self._lost:
                await self._finish()
        finally:
            logs.unbind(token)

    # Writing and closing ----------------------------------------------------------------

    def _flush(self) -> None:
        """Write what the protocol has to say (pongs, the close handshake); a server closes
        the TCP connection once the close handshake is done, or at once when it failed."""
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()
        if self.ws.state is State.CLOSING and self.closed_with is None:
            code = self.ws.close_sent.code if self.ws.close_sent is not None else None
            if code is not None and code != CloseCode.NORMAL and self.ws.close_rcvd is None:
                with contextlib.suppress(ValueError):
                    self.closed_with = CloseCode(code)  # failed: too big, unmasked, …

    def close(self, code: CloseCode, reason: str) -> None:
        """The session's closer: the close handshake, and a deadline for it."""
        if self._lost or self.ws.state is not State.OPEN:
            return
        self.closed_with = code
        self.ws.send_close(int(code), reason.encode()[:120].decode(errors="ignore"))
        self._flush()
        transport = self.transport
        limit = self._endpoint.settings.max_send_buffer
        # A client that does not read may never answer: cut it off, at once when its
        # unsent output shows that it stopped reading.
        stuck = limit is not None and transport.get_write_buffer_size() > limit
        asyncio.get_running_loop().call_later(
            STUCK_GRACE if stuck else CLOSE_GRACE, abort_if_open, transport
        )

    def beat(self, now: float, period: float) -> None:
        """The heartbeat's visit (:meth:`ChatEndpoint._beat`)."""
        if self._lost or self.ws.state is not State.OPEN:
            return
        if self.pinged and self.last_seen < self.pinged:
            if now - self.pinged >= period / 2:
                self.close(CloseCode.PING_TIMEOUT, "no pong")
                # Gone quiet: what it did not read is freed soon, answered or not.
                loop = asyncio.get_running_loop()
                loop.call_later(STUCK_GRACE, abort_if_open, self.transport)
        elif now - self.last_seen >= period:
            self.pinged = now
            self.transport.write(_PING)
        else:
            self.pinged = 0.0

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.session.closing = True
        self._inbox.clear()
        self._endpoint.forget(self)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._end())

    async def _end(self) -> None:
        token = logs.bind(conn=self.session.id, req=self.rid)
        try:
            await self._finish()
        finally:
            logs.unbind(token)

    async def _finish(self) -> None:
        """The session's end: leave the room, count and log the close."""
        try:
            await self._endpoint.service.disconnect(self.session)
        except Exception:  # a broker or store fault on the way out: logged, never lost
            log.exception("the end of a connection failed")
        rcvd = self.ws.close_rcvd
        code = int(self.closed_with) if self.closed_with is not None else None
        if code is None and rcvd is not None:
            code = rcvd.code
        by_server = [self.closed_with] if self.closed_with is not None else []
        log_closed(by_server, code, asyncio.get_running_loop().time() - self.opened)
        metrics = self._endpoint.metrics
        if metrics is not None:
            metrics.closed(code)


@contextlib.contextmanager
def _bound(chat: ChatSocket) -> Any:
    token = logs.bind(conn=chat.session.id, req=chat.rid)
    try:
        yield
    finally:
        logs.unbind(token)


#: The listening socket's backlog: a reconnect storm sends thousands of connects at once,
#: and the kernel caps it (``net.core.somaxconn``, 4096 on current Linux).
LISTEN_BACKLOG = 4096


class ChatSite(web.TCPSite):
    """aiohttp's TCP site with the chat endpoint's :class:`FrontDoor` as the protocol of
    every connection (aiohttp still serves all but the chat WebSockets)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        runner = self._runner
        assert isinstance(runner, web.AppRunner) and runner.server is not None
        endpoint = runner.app[CHAT_KEY]
        endpoint.start(runner.server)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            endpoint.door,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=max(self._backlog, LISTEN_BACKLOG),
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        size = endpoint.settings.socket_send_buffer
        for listener in self._server.sockets:
            if size is not None:  # inherited by every accepted connection (Linux, BSDs)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port
