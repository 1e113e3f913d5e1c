"""Test helpers: a real pchat server on port 0 with its own data directory, a raw client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from aiohttp import web

from pchat.core.apikeys import create_api_key
from pchat.server.app import build_app
from pchat.server.chat_socket import ChatSite
from pchat.server.config import Settings
from pchat.server.key_stores import opened_key_stores
from tests.logscan import known_secret

_T = TypeVar("_T")

#: Scales every timeout of the functional tests (slow CI machines: PCHAT_TEST_TIMEOUT_SCALE=3).
TIMEOUT_SCALE = float(os.environ.get("PCHAT_TEST_TIMEOUT_SCALE", "1"))


def t(seconds: float) -> float:
    """A test timeout, scaled."""
    return seconds * TIMEOUT_SCALE


@dataclass
class RunningServer:
    """A server started on port 0; ``restart()`` stops and starts it on the same data."""

    settings: Settings
    api_key: str
    api_secret: str
    runner: web.AppRunner | None = None
    port: int = 0
    http: aiohttp.ClientSession | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/public-chat/ws"

    async def start(self) -> None:
        self.runner = web.AppRunner(build_app(self.settings), shutdown_timeout=1.0)
        await self.runner.setup()
        site = ChatSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.settings = self.settings.replace(port=self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def token(self, sub: str, role: str | None = None) -> str:
        assert self.http is not None
        params = {"sub": sub} | ({"role": role} if role else {})
        async with self.http.get(
            f"{self.url}/public-chat/token/",
            params=params,
            headers={"auth-api-key": self.api_key, "auth-api-secret": self.api_secret},
        ) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
            return str(body["token"])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for servers started as subprocesses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_serving(
    http: aiohttp.ClientSession, url: str, timeout: float = 20.0, proc: Any = None
) -> None:
    """Poll ``url`` until it answers 200 (a server starting up); fail if ``proc`` exits."""
    async with asyncio.timeout(t(timeout)):
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            await asyncio.sleep(0.05)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to the end from synchronous code, inside a running loop or not (in a
    thread of its own, with its own loop): a test's setup writing keys, say."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "port": 0,
        "stats_interval": 0.1,
        "poll_tally_interval": 0.05,
        "serve_demo": False,
        "demo_token_endpoint": True,
    }
    base.update(overrides)
    settings = Settings(**base)
    known_secret(settings.presend_hook_secret)  # the logs are searched for it too
    return settings


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **overrides: Any) -> AsyncIterator[RunningServer]:
    """A server (:func:`start_server`) for the block; stopped, with its HTTP session, after."""
    server = await start_server(data_dir, **overrides)
    try:
        yield server
    finally:
        await server.stop()
        assert server.http is not None
        await server.http.close()


async def start_server(data_dir: Path, **overrides: Any) -> RunningServer:
    settings = make_settings(data_dir, **overrides)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    async with opened_key_stores(settings) as stores:  # keys.sqlite3, or PostgreSQL
        key, secret = await create_api_key(stores.keys)
    server = RunningServer(settings, key, secret)
    await server.start()
    server.http = aiohttp.ClientSession()
    return server


class RawClient:
    """A bare protocol client for server tests: a reader task files replies and pushes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next_id = 0
        self._replies: dict[int | None, asyncio.Future[dict[str, Any]]] = {}
        self._unmatched: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self._push_event = asyncio.Event()
        self.close_code: int | None = None
        #: The server's close reason (a reconnect hint: docs/protocol.md §8).
        self.close_reason = ""
        self._closed = asyncio.Event()
        self.connected: dict[str, Any] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        ends = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
        while (msg := await self.ws.receive()).type not in ends:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame: dict[str, Any] = orjson.loads(msg.data)
            if frame["type"] in ("reply", "error"):
                fut = self._replies.pop(frame.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
                else:
                    self._unmatched.append(frame)
            else:
                self.pushes.append(frame)
                self._push_event.set()
        if msg.type is aiohttp.WSMsgType.CLOSE:
            self.close_reason = str(msg.extra or "")
        self.close_code = self.ws.close_code
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"closed with {self.close_code}"))
        self._closed.set()
        self._push_event.set()

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def reply_to_raw(self, data: str | bytes, timeout: float = 5.0) -> dict[str, Any]:
        """The reply to a frame sent with ``send_raw`` (its id read from the frame)."""
        rid = orjson.loads(data)["id"]
        for i, frame in enumerate(self._unmatched):
            if frame.get("id") == rid:
                return self._unmatched.pop(i)
        fut = self._replies.setdefault(rid, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(fut, t(timeout))

    async def error_without_id(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next error frame that answered no known request (id null or unknown)."""
        fut = self._replies.setdefault(None, asyncio.get_running_loop().create_future())
        if self._unmatched:
            self._replies.pop(None, None)
            return self._unmatched.pop(0)
        return await asyncio.wait_for(fut, t(timeout))

    async def request(self, ftype: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """Send a request; return its reply or error frame."""
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[rid] = fut
        if self._closed.is_set():
            raise ConnectionError(f"closed with {self.close_code}")
        await self.ws.send_bytes(orjson.dumps({"type": ftype, "id": rid, **args}))
        return await asyncio.wait_for(fut, t(timeout))

    async def ok(self, ftype: str, **args: Any) -> dict[str, Any]:
        frame = await self.request(ftype, **args)
        assert frame["type"] == "reply", frame
        result: dict[str, Any] = frame["result"]
        return result

    async def push(self, ptype: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next push of type ``ptype``, removed from ``pushes``."""
        async with asyncio.timeout(t(timeout)):
            while True:
                for i, frame in enumerate(self.pushes):
                    if frame["type"] == ptype:
                        return self.pushes.pop(i)
                if self._closed.is_set():
                    raise AssertionError(f"closed ({self.close_code}) before a {ptype} push")
                self._push_event.clear()
                await self._push_event.wait()

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close; return the close code."""
        await asyncio.wait_for(self._closed.wait(), t(timeout))
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
