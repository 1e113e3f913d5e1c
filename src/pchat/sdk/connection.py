"""One WebSocket connection of the SDK: requests with ids, reply futures, push dispatch.

The socket itself is behind the small :class:`Transport` protocol so that tests (or another
event loop library) can inject their own; :class:`AiohttpConnector` is the default and opens
one through ``aiohttp``. A :class:`Connection` runs one reader task that

- resolves the future of each request with its ``reply`` or fails it with the matching
  :class:`~pchat.protocol.errors.RequestError` (:func:`~pchat.protocol.frames.error_from_wire`);
- hands pushes to ``on_push``, holding them back until :meth:`Connection.accept_pushes`
  (so that the connect reply is applied before the first push after it);
- when the socket closes, fails every pending request with
  :class:`~pchat.protocol.errors.ConnectionClosedError` and calls ``on_close`` once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from pchat.protocol.errors import ConnectionClosedError, RequestTimeoutError
from pchat.protocol.frames import (
    FrameError,
    decode_server_frame,
    error_from_wire,
    request_frame,
)

__all__ = ["AiohttpConnector", "AiohttpTransport", "Connection", "Connector", "Transport"]

log = logging.getLogger("pchat.sdk")


class Transport(Protocol):
    """The WebSocket operations the SDK needs."""

    @property
    def close_code(self) -> int | None:
        """The close code received from the server; None if no close frame arrived."""

    @property
    def close_reason(self) -> str:
        """The reason received with the close frame."""

    async def send(self, data: str) -> None:
        """Send one text frame."""

    async def receive(self) -> str | bytes | None:
        """The next text or binary frame; None once the connection has closed."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (and release whatever the transport owns)."""


#: Opens a transport to a ``ws://`` or ``wss://`` URL; raises ConnectionClosedError on failure.
Connector = Callable[[str], Awaitable[Transport]]


class AiohttpTransport:
    """A :class:`Transport` over an ``aiohttp`` client WebSocket."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession | None
    ) -> None:
        self._ws = ws
        self._session = session  # closed with the transport when we own it
        self._close_code: int | None = None
        self._close_reason = ""

    @property
    def close_code(self) -> int | None:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    async def send(self, data: str) -> None:
        try:
            await self._ws.send_str(data)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise ConnectionClosedError(self._close_code, str(exc)) from exc

    async def receive(self) -> str | bytes | None:
        while True:
            msg = await self._ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                return str(msg.data)
            if msg.type is aiohttp.WSMsgType.BINARY:
                return bytes(msg.data)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                # Only a close frame gives a code: aiohttp reports a dropped TCP connection
                # as 1000 or 1006, and a drop must not look like a normal close.
                self._close_code = int(msg.data)
                self._close_reason = str(msg.extra or "")
            if msg.type is aiohttp.WSMsgType.CLOSING:
                return None  # our own close() is under way and releases the session
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                await self._release()
                return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await self._ws.close(code=code, message=reason.encode())
        finally:
            await self._release()

    async def _release(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class AiohttpConnector:
    """The default :data:`Connector`: one ``aiohttp`` WebSocket per connection.

    With ``session`` given, connections are opened with it and it is left open; otherwise
    each connection gets its own session, closed with the connection.
    """

    def __init__(self, session: aiohttp.ClientSession | None = None, **ws_options: Any) -> None:
        self._session = session
        self._ws_options = ws_options

    async def __call__(self, url: str) -> Transport:
        session = self._session or aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, autoping=True, **self._ws_options)
        except (aiohttp.ClientError, OSError) as exc:
            if self._session is None:
                await session.close()
            raise ConnectionClosedError(None, f"cannot connect: {exc}") from exc
        except BaseException:
            if self._session is None:
                await session.close()
            raise
        return AiohttpTransport(ws, None if self._session else session)


class Connection:
    """Requests and replies over one :class:`Transport`."""

    def __init__(
        self,
        transport: Transport,
        *,
        on_push: Callable[[dict[str, Any]], None],
        on_close: Callable[[int | None, str], None],
        request_timeout: float,
    ) -> None:
        self._transport = transport
        self._on_push = on_push
        self._on_close = on_close
        self.request_timeout = request_timeout
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._held: list[dict[str, Any]] | None = []
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._abandoned = False
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        """Whether the connection has closed (either side)."""
        return self._closed.is_set()

    def start(self) -> None:
        """Start reading frames."""
        self._reader = asyncio.create_task(self._read_loop(), name="pchat-sdk-reader")

    def accept_pushes(self) -> None:
        """Deliver the pushes held back so far, then every push as it arrives."""
        held, self._held = self._held or [], None
        for push in held:
            if self._abandoned:
                return
            self._on_push(push)

    async def request(self, rtype: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Send a request and return its reply's ``result``.

        Raises the error frame's :class:`~pchat.protocol.errors.RequestError`,
        :class:`~pchat.protocol.errors.RequestTimeoutError` or
        :class:`~pchat.protocol.errors.ConnectionClosedError`.
        """
        if self.closed:
            raise ConnectionClosedError(self.close_code, self.close_reason or "connection closed")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        limit = self.request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                await self._transport.send(request_frame(rtype, request_id, **args).decode())
                return await future
        except TimeoutError:
            raise RequestTimeoutError(f"no reply to {rtype} within {limit:g} s") from None
        finally:
            self._pending.pop(request_id, None)

    async def _read_loop(self) -> None:
        try:
            while (data := await self._transport.receive()) is not None:
                try:
                    frame = decode_server_frame(data)
                except FrameError as exc:
                    log.warning("pchat: ignoring a bad server frame: %s", exc)
                    continue
                try:
                    self._dispatch(frame)
                except (KeyError, TypeError, ValueError):
                    log.warning(
                        "pchat: ignoring a malformed %s frame", frame["type"], exc_info=True
                    )
        except Exception:
            log.exception("pchat: the connection's reader failed")
            try:
                await self._transport.close(1011, "client error")
            except Exception:
                log.debug("pchat: error while closing the transport", exc_info=True)
        finally:
            self._finish(self._transport.close_code, self._transport.close_reason)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        ftype = frame["type"]
        if ftype in ("reply", "error") and frame.get("id") is not None:
            future = self._pending.get(frame["id"])
            if future is None or future.done():
                return  # the request timed out meanwhile
            if ftype == "reply":
                future.set_result(frame.get("result") or {})
            else:
                future.set_exception(error_from_wire(frame.get("error") or {}))
        elif self._held is not None:
            self._held.append(frame)
        elif not self._abandoned:
            self._on_push(frame)

    def _finish(self, code: int | None, reason: str) -> None:
        if self.closed:
            return
        self.close_code, self.close_reason = code, reason
        self._closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosedError(code, reason))
        self._pending.clear()
        if not self._abandoned:
            self._on_close(code, reason)

    async def wait_closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the connection to close; whether it did."""
        try:
            async with asyncio.timeout(timeout):
                await self._closed.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from our side; ``on_close`` is not called and pending requests fail."""
        self._abandoned = True
        if not self.closed:
            self._finish(code, reason)
        try:
            await self._transport.close(code, reason)
        except Exception:
            log.debug("pchat: error while closing the transport", exc_info=True)
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.wait({self._reader}, timeout=self.request_timeout)
