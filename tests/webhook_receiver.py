"""A webhook endpoint for the tests: a real HTTP server on port 0 that checks signatures.

Each request is recorded with what the receiver made of it (its signature checked with
:func:`pchat.protocol.signing.verify`, the headers, the parsed body) and answered as the test
says: ``plan`` maps an event type to the statuses its attempts get, in turn (then 200);
the first ``hold`` requests get no answer until ``release`` is set (a receiver that hangs);
``delay``: each answer comes after a random time up to that many seconds (a slow receiver).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from pchat.protocol.signing import verify
from tests.helpers import t

__all__ = ["Got", "Receiver"]


@dataclass
class Got:
    """One request the receiver got."""

    at: float
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    signed: bool
    status: int | None = None  # None: not answered (yet)

    @property
    def event_id(self) -> str:
        return str(self.body["id"])

    @property
    def type(self) -> str:
        return str(self.body["type"])


@dataclass
class Receiver:
    secret: str = ""
    plan: dict[str, list[int]] = field(default_factory=dict)
    hold: int = 0
    delay: float = 0.0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    got: list[Got] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signed = bool(self.secret) and verify(
            self.secret, request.headers.get("pchat-signature", ""), raw
        )
        got = Got(time.monotonic(), dict(request.headers), orjson.loads(raw), raw, signed)
        self.got.append(got)
        self._changed.set()
        if len(self.got) <= self.hold:
            await self.release.wait()
        if self.delay:
            await asyncio.sleep(random.uniform(0, self.delay))
        statuses = self.plan.get(got.type)
        got.status = statuses.pop(0) if statuses else 200
        self._changed.set()
        return web.Response(status=got.status)

    def delivered(self, event_type: str | None = None) -> list[Got]:
        """The requests answered 2xx (of one type), in the order they came."""
        return [
            g
            for g in self.got
            if g.status is not None
            and 200 <= g.status < 300
            and (event_type is None or g.type == event_type)
        ]

    def attempts(self, event_id: str) -> list[Got]:
        return [g for g in self.got if g.event_id == event_id]

    async def until(
        self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        """Wait until ``predicate()`` holds, re-checked at each request (scaled timeout)."""
        try:
            async with asyncio.timeout(t(timeout)):
                while not predicate():
                    self._changed.clear()
                    try:
                        async with asyncio.timeout(0.2):
                            await self._changed.wait()
                    except TimeoutError:
                        pass
        except TimeoutError:
            seen = [(g.type, g.status) for g in self.got]
            raise AssertionError(f"timed out waiting for {what or predicate}; got {seen}") from None
