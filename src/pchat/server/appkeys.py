"""The keys under which the application holds what its handlers share.

One small module, imported by the wiring (``app.py``) that stores the values and by the
handlers (``ws.py``, ``http.py``) that read them, so none of them imports another for a key.
"""

from __future__ import annotations

from aiohttp import web

from pchat.core.service import ChatService

from .config import Settings
from .drain import Drain

__all__ = ["DRAIN_KEY", "SERVICE_KEY", "SETTINGS_KEY"]

#: The chat service of this node.
SERVICE_KEY = web.AppKey("service", ChatService)
#: The server's settings (the transport's: heartbeat, socket buffers, …).
SETTINGS_KEY = web.AppKey("settings", Settings)
#: How this node stops on SIGTERM (run by server/runner.py).
DRAIN_KEY = web.AppKey("drain", Drain)
