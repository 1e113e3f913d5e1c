"""The chat WebSocket endpoint: the one boundary where exceptions become frames and codes.

Replies and pushes are written as complete pre-encoded frames straight to the connection's
transport (see :mod:`pchat.core.room`); aiohttp handles the handshake, reading, ping/pong
and the close handshake.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.http import WebSocketWriter
from aiohttp.web_request import BaseRequest

from pchat.core.service import ChatService
from pchat.core.session import CloseRequested, Session
from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.frames import FrameError, Request, decode_client_frame, error_frame, reply_frame
from pchat.protocol.wsframe import MaskCheck

from . import logs
from .appkeys import SERVICE_KEY, SETTINGS_KEY
from .metrics import METRICS_KEY, Metrics

__all__ = [
    "CLOSE_GRACE",
    "STUCK_GRACE",
    "abort_if_open",
    "log_closed",
    "on_frame",
    "websocket_handler",
]

log = logging.getLogger(__name__)

#: Undecodable frames tolerated on one connection before it is closed.
MAX_BAD_FRAMES = 20
#: Seconds a closing connection has to complete the close handshake.
CLOSE_GRACE = 3.0
#: Seconds a connection closed for not reading has to take its close frame before it is
#: cut off; what it did not read is freed then.
STUCK_GRACE = 1.0


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    service = request.app[SERVICE_KEY]
    s = request.app[SETTINGS_KEY]
    metrics = request.app.get(METRICS_KEY)
    request[logs.WEBSOCKET] = True  # its events are logged here, not as an HTTP request
    ws = ClientWebSocket(
        heartbeat=s.heartbeat,
        # aiohttp refuses a message of max_msg_size bytes; the protocol allows that many.
        max_msg_size=s.max_frame_bytes + 1,
        compress=False,
        autoping=True,
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the client went away during the handshake
        return ws
    sock = transport.get_extra_info("socket")
    if s.socket_send_buffer is not None and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, s.socket_send_buffer)
    loop = asyncio.get_running_loop()

    closing: list[asyncio.Task[bool]] = []
    closed_with: list[CloseCode] = []

    limit = s.max_send_buffer

    def closer(code: CloseCode, reason: str) -> None:
        if ws.closed or closing:
            return
        closed_with.append(code)
        closing.append(loop.create_task(ws.close(code=int(code), message=reason.encode()[:120])))
        # A client that does not read may never answer the close handshake: cut it off,
        # at once when its unsent output shows that it stopped reading.
        stuck = limit is not None and transport.get_write_buffer_size() > limit
        loop.call_later(STUCK_GRACE if stuck else CLOSE_GRACE, abort_if_open, transport)

    session = service.new_session(transport, closer, request.remote or "")
    bound = logs.bind(conn=session.id)
    opened = loop.time()
    log.debug("connection opened", extra={"client": request.get(logs.CLIENT, request.remote)})
    ws.on_unmasked = lambda: session.close(CloseCode.PROTOCOL_ERROR, "unmasked frame")
    if ws.unmasked:
        ws.on_unmasked()
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                await on_frame(service, session, msg.data, metrics)
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        session.closing = True
        await service.disconnect(session)
        # A gentle close (aiohttp's, after a missed pong) keeps unsent output until the peer
        # reads it, which a peer that stopped reading never does: free it soon.
        if transport.get_write_buffer_size() > 0:
            loop.call_later(STUCK_GRACE, abort_if_open, transport)
        log_closed(closed_with, ws.close_code, loop.time() - opened)
        if metrics is not None:
            metrics.closed(closed_with[0] if closed_with else ws.close_code)
        logs.unbind(bound)
    return ws


#: Codes of closes the server chose that are an everyday part of a connection's life.
_ROUTINE_CLOSES = frozenset({CloseCode.SHUTDOWN, CloseCode.PING_TIMEOUT})


def log_closed(by_server: list[CloseCode], code: int | None, seconds: float) -> None:
    """One line per closed connection: DEBUG, or INFO when the server closed it for a
    reason an operator may want to see (a slow consumer, a flood, a kick, …). The code
    only: a close reason may carry words a moderator typed."""
    fields: dict[str, object] = {"code": code, "seconds": round(seconds, 1)}
    if by_server and by_server[0] not in _ROUTINE_CLOSES:
        fields["code"] = int(by_server[0])
        fields["code_name"] = by_server[0].name
        log.info("connection closed by the server", extra=fields)
    else:
        fields["by"] = "server" if by_server else "client"
        log.debug("connection closed", extra=fields)


class ClientWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket, refusing unmasked client frames (RFC 6455 §5.1), which aiohttp
    accepts: a :class:`MaskCheck` sees every byte before aiohttp's frame reader does."""

    unmasked = False
    on_unmasked: Callable[[], None] | None = None

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        proto = request.protocol
        # Bytes that came with the upgrade request: fed to the reader through the check.
        tail, proto._message_tail = proto._message_tail, b""
        super()._post_start(request, protocol, writer)
        guard = _MaskGuard(proto._payload_parser, self._unmasked_frame)
        proto._payload_parser = guard
        if tail and guard.feed_data(tail)[0]:
            proto.close()

    def _unmasked_frame(self) -> None:
        self.unmasked = True
        if self.on_unmasked is not None:
            self.on_unmasked()


class _MaskGuard:
    """Stands in for aiohttp's WebSocket reader: passes bytes on while every frame is
    masked, and nothing from the first unmasked frame on."""

    __slots__ = ("_check", "_failed", "_on_unmasked", "_reader")

    def __init__(self, reader: Any, on_unmasked: Callable[[], None]) -> None:
        self._reader = reader
        self._check = MaskCheck()
        self._on_unmasked = on_unmasked
        self._failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return False, b""
        if not self._check.feed(data):
            self._failed = True
            self._on_unmasked()
            return False, b""
        result: tuple[bool, bytes] = self._reader.feed_data(data)
        return result

    def feed_eof(self) -> None:
        self._reader.feed_eof()


def abort_if_open(transport: asyncio.Transport) -> None:
    """Cut the connection off unless it is gone; a closing one that still holds unsent
    output is cut off too (its output is freed)."""
    if not transport.is_closing() or transport.get_write_buffer_size() > 0:
        transport.abort()


async def on_frame(
    service: ChatService, session: Session, data: str | bytes, metrics: Metrics | None = None
) -> None:
    session.busy = True
    try:
        await _handle_frame(service, session, data, metrics)
    finally:
        session.busy = False
        if session.close_after_reply is not None:
            session.close(*session.close_after_reply)


async def _handle_frame(
    service: ChatService, session: Session, data: str | bytes, metrics: Metrics | None
) -> None:
    request: Request | None = None
    try:
        request = decode_client_frame(data)
        reply = await service.handle(session, request)
    except FrameError as exc:
        session.send(error_frame(exc.request_id, exc))
        session.bad_frames += 1
        if session.bad_frames > MAX_BAD_FRAMES:
            session.close(CloseCode.PROTOCOL_VIOLATION, "too many malformed frames")
        return
    except RequestError as exc:
        if metrics is not None and request is not None:
            metrics.refused(request.type, exc.code.slug)
        session.send(error_frame(_id(request), exc))
        if request is not None and request.type == "connect":
            log.debug("connect refused", extra={"error": int(exc.code)})
        return
    except CloseRequested as exc:
        if metrics is not None and request is not None:
            metrics.refused(request.type, "closed" if exc.error is None else exc.error.code.slug)
        if exc.error is not None:
            session.send(error_frame(_id(request), exc.error))
        session.close(exc.code, exc.reason)
        return
    except Exception:
        log.exception("request %s failed", request.type if request else "?")
        if metrics is not None and request is not None:
            metrics.refused(request.type, ErrorCode.INTERNAL.slug)
        session.send(error_frame(_id(request), request_error(ErrorCode.INTERNAL)))
        session.close(CloseCode.SERVER_ERROR, "internal error")
        return
    assert request is not None and request.id is not None
    if metrics is not None:
        metrics.replied(request.type, reply.result)
    session.send(reply_frame(request.id, reply.result))
    if reply.then is not None:
        reply.then()
    if request.type == "connect":
        user, room_id = session.member()
        log.debug("connected", extra={"room": room_id, "user": user.id})


def _id(request: Request | None) -> int | None:
    return request.id if request is not None else None
