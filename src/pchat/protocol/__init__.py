"""The pchat protocol core: frames, codes, validation, the session state machine.

No I/O happens here: no asyncio, no sockets, no storage. The server and the Python SDK both
build on it; ``docs/protocol.md`` describes the same contract for the TypeScript SDK.
"""

from .codes import TEMPORARY_ERRORS, CloseCode, ErrorCode, close_is_reconnectable
from .errors import (
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
    request_error,
)
from .models import Message, Poll, PollOption, User

PROTOCOL_VERSION = 1

__all__ = [
    "PROTOCOL_VERSION",
    "TEMPORARY_ERRORS",
    "CloseCode",
    "ConflictError",
    "ConnectionClosedError",
    "ErrorCode",
    "ForbiddenError",
    "InvalidRequestError",
    "Message",
    "NotFoundError",
    "PChatError",
    "Poll",
    "PollOption",
    "RateLimitedError",
    "RequestError",
    "RequestTimeoutError",
    "StateError",
    "TokenError",
    "User",
    "close_is_reconnectable",
    "request_error",
]
