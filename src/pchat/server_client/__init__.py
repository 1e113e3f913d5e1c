"""The Python server client of pchat: the operator's backend calls the server API
(``/public-chat/admin/v1``, docs/server-api.md) with its API key, one async method per
endpoint.

::

    from pchat.server_client import ServerClient

    async with ServerClient("http://127.0.0.1:8080", API_KEY, API_SECRET) as api:
        await api.publish("lobby", "hello from the backend")

Modules: :mod:`~pchat.server_client.client` (the client), :mod:`~pchat.server_client.models`
(what it returns besides the protocol's objects), :mod:`~pchat.server_client.errors`.
"""

from .client import BASE_PATH, ServerClient
from .errors import ServerAPIError, TooManyFailuresError, UnauthorizedError
from .models import (
    HistoryPage,
    ModLogPage,
    PollPage,
    PublishResult,
    PurgeResult,
    RoomList,
    RoomState,
    RoomSummary,
)

__all__ = [
    "BASE_PATH",
    "HistoryPage",
    "ModLogPage",
    "PollPage",
    "PublishResult",
    "PurgeResult",
    "RoomList",
    "RoomState",
    "RoomSummary",
    "ServerAPIError",
    "ServerClient",
    "TooManyFailuresError",
    "UnauthorizedError",
]
