"""The Python SDK of pchat: a client of one chat room, built on :mod:`pchat.protocol`.

::

    from pchat.sdk import Events, PChatSDK

    sdk = PChatSDK("http://127.0.0.1:8080")
    sdk.on(Events.MESSAGE, lambda message: print(message.user.username, message.text))
    await sdk.connect("lobby", "Ann", token)
    await sdk.load_history()
    await sdk.send_message("hello")

Modules: :mod:`~pchat.sdk.client` (the client), :mod:`~pchat.sdk.events` (states, events,
payloads), :mod:`~pchat.sdk.emitter` (listeners), :mod:`~pchat.sdk.connection` (one
WebSocket, injectable transport), :mod:`~pchat.sdk.room_state` (pure state, driven by the
shared test vectors), :mod:`~pchat.sdk.backoff` (full-jitter reconnect delays), and the
client's calls by concern: :mod:`~pchat.sdk.polls`, :mod:`~pchat.sdk.moderation`,
:mod:`~pchat.sdk.reviews` (reports, the review queue), :mod:`~pchat.sdk.mutes`.
"""

from .backoff import Backoff, backoff_delay
from .client import PChatSDK, TokenRefresher, ws_url
from .connection import AiohttpConnector, Connector, Transport
from .events import (
    BannedEvent,
    ConnectEvent,
    DisconnectEvent,
    Events,
    HandlerError,
    InvalidArgumentError,
    MessageRejectedEvent,
    ModLogPage,
    PurgeEvent,
    PurgeResult,
    Reaction,
    ReactionEvent,
    ReportRemovedEvent,
    ReviewRemovedEvent,
    SampledEvent,
    StateChange,
    StateChangeEvent,
    States,
    TokenRefreshError,
)
from .room_state import RoomState

__all__ = [
    "AiohttpConnector",
    "Backoff",
    "BannedEvent",
    "ConnectEvent",
    "Connector",
    "DisconnectEvent",
    "Events",
    "HandlerError",
    "InvalidArgumentError",
    "MessageRejectedEvent",
    "ModLogPage",
    "PChatSDK",
    "PurgeEvent",
    "PurgeResult",
    "Reaction",
    "ReactionEvent",
    "ReportRemovedEvent",
    "ReviewRemovedEvent",
    "RoomState",
    "SampledEvent",
    "StateChange",
    "StateChangeEvent",
    "States",
    "TokenRefreshError",
    "TokenRefresher",
    "Transport",
    "backoff_delay",
    "ws_url",
]
