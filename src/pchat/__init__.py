"""pchat: a self-hosted public chat service with Python and browser SDKs.

The public names are the SDK's (the vendor tutorial's ``PChatSDK``, ``Events``, ``States``)
and the exception tree. The SDK is imported on first use, so importing
:mod:`pchat.protocol` (which must stay free of I/O) does not pull in aiohttp or asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pchat.protocol.errors import (
    ConflictError,
    ConnectionClosedError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PChatError,
    RateLimitedError,
    RequestError,
    RequestTimeoutError,
    StateError,
    TokenError,
)
from pchat.protocol.models import Message, Poll, PollOption, User

if TYPE_CHECKING:
    from pchat.sdk import (
        ConnectEvent,
        DisconnectEvent,
        Events,
        PChatSDK,
        Reaction,
        ReactionEvent,
        StateChangeEvent,
        States,
    )

__version__ = "0.1.0"

_LAZY = frozenset(
    {
        "PChatSDK",
        "Events",
        "States",
        "ConnectEvent",
        "DisconnectEvent",
        "Reaction",
        "ReactionEvent",
        "StateChangeEvent",
    }
)

__all__ = [
    "ConflictError",
    "ConnectEvent",
    "ConnectionClosedError",
    "DisconnectEvent",
    "Events",
    "ForbiddenError",
    "InvalidRequestError",
    "Message",
    "NotFoundError",
    "PChatError",
    "PChatSDK",
    "Poll",
    "PollOption",
    "RateLimitedError",
    "Reaction",
    "ReactionEvent",
    "RequestError",
    "RequestTimeoutError",
    "StateChangeEvent",
    "StateError",
    "States",
    "TokenError",
    "User",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import pchat.sdk

        return getattr(pchat.sdk, name)
    raise AttributeError(f"module 'pchat' has no attribute {name!r}")
