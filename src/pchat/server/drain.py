"""The stop of a node on SIGTERM: out of the load balancer first, then its clients moved on
a few at a time, then the process exits — so that a rolling restart of a cluster loses no
message and no client.

::

    SERVING ──SIGTERM──> UNREADY ──drain_ready_delay──> DRAINING ──all gone, or──> DONE
                         /readyz: 503                   stop listening           drain_window
                         (all else served)              WebSocket upgrades: 503  + CLOSE_GRACE
                                                        each client: 4000 + reconnect hint,
                                                        spread over drain_window, after the
                                                        reply to its request in flight

In ``UNREADY`` the node serves as before: a load balancer that polls ``/readyz`` takes it out
of rotation meanwhile, and one that does not (nginx) sees it refuse connections from
``DRAINING`` on and sends them to the next node (``proxy_next_upstream``). Connections
kept alive by a proxy may still carry requests: HTTP ones are served, WebSocket upgrades are
answered ``503 draining`` (nginx retries another node on 503: deploy/nginx.conf).

The clients are closed at evenly spaced times over the window, in random order, each with
``4000`` and its own reconnect hint (docs/protocol.md §8): they reconnect to other nodes and
recover what they missed, a few at a time rather than all at once. A request being handled
when its connection's turn comes is answered first (:meth:`Session.close_when_idle`).

After ``DONE`` the runner (server/runner.py) lets aiohttp finish: whatever is still open is
closed with ``4000`` at once, HTTP requests in flight get a few more seconds, then the chat
service, broker and store stop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable

from aiohttp import web

from pchat.core.connect import hinted
from pchat.core.service import ChatService
from pchat.protocol.codes import CloseCode

from .config import Settings

__all__ = ["CLOSE_GRACE", "Drain", "DrainState"]

log = logging.getLogger(__name__)

#: Seconds past the window for the last clients to answer their close.
CLOSE_GRACE = 3.0
#: How often the drain looks whether every connection is gone.
_POLL = 0.05

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DrainState(enum.StrEnum):
    SERVING = "serving"
    UNREADY = "unready"
    DRAINING = "draining"
    DONE = "done"


class Drain:
    """The drain of one node (one per application; run once, by the runner)."""

    def __init__(
        self, service: ChatService, settings: Settings, *, rng: random.Random | None = None
    ) -> None:
        if settings.drain_ready_delay < 0 or settings.drain_window < 0:
            raise ValueError("drain_ready_delay and drain_window must not be negative")
        self.service = service
        self.ready_delay = settings.drain_ready_delay
        self.window = settings.drain_window
        self.hint_max = settings.reconnect_hint_max
        self.rng = rng or random.SystemRandom()
        self.state = DrainState.SERVING

    async def run(self, stop_listening: Callable[[], Awaitable[None]]) -> None:
        """Drain: unready, wait, stop listening, close the clients over the window, and
        return once they are gone (or the window and the grace have passed)."""
        if self.state is not DrainState.SERVING:
            raise RuntimeError(f"the drain already ran ({self.state})")
        loop = asyncio.get_running_loop()
        self.state = DrainState.UNREADY
        self.service.serving = False  # /readyz: 503
        log.info(
            "drain: not ready; stop listening in %g s", self.ready_delay,
            extra={"connections": len(self.service.sessions())},
        )  # fmt: skip
        await asyncio.sleep(self.ready_delay)
        self.state = DrainState.DRAINING
        await stop_listening()
        sessions = self.service.sessions()
        self.rng.shuffle(sessions)
        start = loop.time()
        deadline = start + self.window + CLOSE_GRACE
        log.info(
            "drain: closing %d connections over %g s", len(sessions), self.window,
            extra={"connections": len(sessions)},
        )  # fmt: skip
        live = self.service.connections.sessions
        count, i = len(sessions), 0
        while i < count and live:
            # Every connection whose time has come, then sleep until the next one's.
            while i < count and start + self.window * i / count <= loop.time():
                session = sessions[i]
                i += 1
                if session in live and not session.closing:
                    session.close_when_idle(
                        CloseCode.SHUTDOWN, hinted("server shutting down", self.hint_max)
                    )
            if i < count:
                await asyncio.sleep(max(0.0, start + self.window * i / count - loop.time()))
        while self.service.sessions() and loop.time() < deadline:
            await asyncio.sleep(_POLL)
        self.state = DrainState.DONE
        left = len(self.service.sessions())
        log.info(
            "drain: done in %.1f s", loop.time() - start + self.ready_delay,
            extra={"connections": left},
        )  # fmt: skip

    def guard(self, handler: Handler) -> Handler:
        """``handler`` (the WebSocket's), answering ``503 draining`` once the node drains:
        an upgrade that reaches it on a connection kept alive goes to another node."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.state is DrainState.DRAINING or self.state is DrainState.DONE:
                return web.json_response(
                    {"error": {"name": "draining", "message": "this node is stopping"}},
                    status=503,
                    headers={"Retry-After": "1"},
                )
            return await handler(request)

        return guarded
