"""Serving an application: pchat's event loop and aiohttp's runner, set up one way.

Used by the single-process server (``app.run``) and by each worker process (``workers``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .config import Settings

__all__ = ["new_event_loop", "serve"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it is a dependency on every platform it builds on)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(app: web.Application, settings: Settings, *, reuse_port: bool | None = None) -> None:
    """Serve ``app`` on the settings' host and port until SIGINT or SIGTERM."""
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        shutdown_timeout=5.0,
        loop=new_event_loop(),
    )
