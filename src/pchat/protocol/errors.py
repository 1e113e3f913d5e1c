"""The one exception hierarchy of pchat, shared by the server and the Python SDK.

::

    PChatError
     ├── RequestError            an error frame: carries ErrorCode, message, temporary flag
     │    ├── InvalidRequestError  malformed frame, missing/invalid field, too long, …
     │    ├── TokenError           2xx: the token was refused
     │    ├── ForbiddenError       the role does not allow the action / role not granted
     │    ├── NotFoundError        no such message or poll
     │    ├── ConflictError        already voted, poll not open, already deleted
     │    └── RateLimitedError     slow down; ``retry_after_ms`` says for how long
     ├── ConnectionClosedError   the connection closed (close code and reason)
     ├── StateError              a call made in a state that does not allow it (SDK side)
     └── RequestTimeoutError     no reply in time (SDK side)

The server raises :class:`RequestError` (through :func:`request_error`) anywhere in the chat
core; the server layer turns it into an error frame at one place. The SDK turns every error
frame back into the matching subclass, so ``except TokenError`` works on both sides.
"""

from __future__ import annotations

from typing import Any

from .codes import TEMPORARY_ERRORS, ErrorCode

__all__ = [
    "ConflictError",
    "ConnectionClosedError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "PChatError",
    "RateLimitedError",
    "RequestError",
    "RequestTimeoutError",
    "StateError",
    "TokenError",
    "request_error",
]


class PChatError(Exception):
    """Root of every error raised by pchat."""


class RequestError(PChatError):
    """A request was refused; maps one-to-one to an ``error`` frame."""

    def __init__(
        self,
        code: ErrorCode,
        message: str = "",
        *,
        retry_after_ms: int | None = None,
        until: int | None = None,
    ) -> None:
        self.code = code
        self.message = message or code.slug.replace("_", " ")
        self.retry_after_ms = retry_after_ms
        #: For ``banned``: when the ban ends (ms since the epoch); None: until lifted.
        self.until = until
        super().__init__(f"{code.slug} ({int(code)}): {self.message}")

    @property
    def temporary(self) -> bool:
        """True when the same request may succeed later unchanged (a timeout ends)."""
        if self.code is ErrorCode.BANNED:
            return self.until is not None
        return self.code in TEMPORARY_ERRORS

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` object of an error frame."""
        body: dict[str, Any] = {
            "code": int(self.code),
            "name": self.code.slug,
            "message": self.message,
            "temporary": self.temporary,
        }
        if self.retry_after_ms is not None:
            body["retry_after_ms"] = self.retry_after_ms
        if self.code is ErrorCode.BANNED:
            body["until"] = self.until
        return body


class InvalidRequestError(RequestError):
    """The frame or one of its fields is invalid."""


class TokenError(RequestError):
    """The token was refused (2xx codes)."""


class ForbiddenError(RequestError):
    """The user's role does not allow this."""


class NotFoundError(RequestError):
    """No such message or poll in this room."""


class ConflictError(RequestError):
    """The action conflicts with the current state (already voted, poll finished, …)."""


class RateLimitedError(RequestError):
    """Too many requests; retry after ``retry_after_ms``."""


class ConnectionClosedError(PChatError):
    """The connection closed; ``code`` is the WebSocket close code (None: no close frame)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed ({code}): {reason}" if reason else f"closed ({code})")


class StateError(PChatError):
    """A call was made in a state that does not allow it."""


class RequestTimeoutError(PChatError):
    """No reply arrived in time."""


_CLASS_BY_CODE: dict[ErrorCode, type[RequestError]] = {
    ErrorCode.FORBIDDEN: ForbiddenError,
    ErrorCode.ROLE_NOT_GRANTED: ForbiddenError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.ALREADY_VOTED: ConflictError,
    ErrorCode.POLL_NOT_OPEN: ConflictError,
    ErrorCode.ALREADY_DELETED: ConflictError,
    ErrorCode.ALREADY_CONNECTED: ConflictError,
    ErrorCode.RATE_LIMITED: RateLimitedError,
    ErrorCode.BANNED: ForbiddenError,
    ErrorCode.ROOM_MODE: ForbiddenError,
    ErrorCode.DUPLICATE_MESSAGE: ConflictError,
    ErrorCode.INTERNAL: RequestError,
    ErrorCode.UNAVAILABLE: RequestError,
}


def request_error(
    code: ErrorCode | int,
    message: str = "",
    *,
    retry_after_ms: int | None = None,
    until: int | None = None,
) -> RequestError:
    """Build the right :class:`RequestError` subclass for ``code``."""
    try:
        code = ErrorCode(code)
    except ValueError:
        code = ErrorCode.INTERNAL
    if 200 <= code < 300:
        cls: type[RequestError] = TokenError
    else:
        cls = _CLASS_BY_CODE.get(code, InvalidRequestError)
    return cls(code, message, retry_after_ms=retry_after_ms, until=until)
