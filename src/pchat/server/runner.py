"""Serving an application: pchat's event loop and aiohttp's runner, set up one way.

Used by the single-process server (``app.run``) and by each worker process (``workers``).
SIGTERM (or SIGINT) starts the node's drain (:mod:`.drain`): readiness off, listening
stopped, the clients closed over the drain window; then aiohttp's cleanup closes what is
left, waits for the requests in flight, and the chat service stops. A second SIGINT (a
second Ctrl-C) cuts the drain short; a repeated SIGTERM changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from aiohttp import web

from .appkeys import DRAIN_KEY
from .chat_socket import ChatSite
from .config import Settings
from .drain import CLOSE_GRACE

__all__ = [
    "GC_THRESHOLDS",
    "SHUTDOWN_TIMEOUT",
    "apply_gc_policy",
    "new_event_loop",
    "serve",
    "stop_timeout",
]

log = logging.getLogger(__name__)

#: Seconds aiohttp waits, once the drain is over, for the handlers still running (HTTP
#: requests in flight, connections completing their close) before it cancels them.
SHUTDOWN_TIMEOUT = 5.0


#: The collector's thresholds under ``PCHAT_GC=tuned``. Every connection keeps a few hundred
#: container objects alive (aiohttp's request, protocol and WebSocket, the session, its
#: timers), so with Python's (700, 10, 10) a join storm or a busy room runs a young
#: collection every few joins and walks the survivors again and again (docs/benchmarks.md,
#: Joins: about a third of a join's CPU). Garbage cycles wait longer before they are freed,
#: at most a first generation's worth of objects (a few MB).
GC_THRESHOLDS = (50_000, 20, 100)


def apply_gc_policy(settings: Settings) -> None:
    """Once the application is up (store open, caches built): ``tuned`` moves everything
    alive into the collector's permanent generation (``gc.freeze``: never walked again)
    and raises the thresholds; ``default`` changes nothing."""
    if settings.gc == "default":
        return
    if settings.gc != "tuned":
        raise ValueError(f"PCHAT_GC must be tuned or default, not {settings.gc!r}")
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it is a dependency on every platform it builds on)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def stop_timeout(settings: Settings) -> float:
    """The longest a node takes from SIGTERM to its exit (service stop aside): what a
    supervisor must wait before it kills it (systemd's TimeoutStopSec, Kubernetes'
    terminationGracePeriodSeconds, ``docker stop -t``)."""
    return settings.drain_ready_delay + settings.drain_window + CLOSE_GRACE + SHUTDOWN_TIMEOUT


def serve(app: web.Application, settings: Settings, *, reuse_port: bool | None = None) -> None:
    """Serve ``app`` on the settings' host and port until SIGTERM or SIGINT, then drain."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, settings, reuse_port))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers are in place (startup)
        pass
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve(app: web.Application, settings: Settings, reuse_port: bool | None) -> None:
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    apply_gc_policy(settings)
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_sigint() -> None:
        (hurry if stop.is_set() else stop).set()

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        site = ChatSite(runner, settings.host, settings.port, reuse_port=reuse_port)
        await site.start()
        log.info("listening", extra={"host": settings.host, "port": settings.port})
        await stop.wait()
        drain = loop.create_task(app[DRAIN_KEY].run(site.stop))
        hurried = loop.create_task(hurry.wait())
        await asyncio.wait([drain, hurried], return_when=asyncio.FIRST_COMPLETED)
        for task in (drain, hurried):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hurry.is_set():
            log.info("drain cut short")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("stopped")
