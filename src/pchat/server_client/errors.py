"""The server client's exceptions.

::

    PChatError
     ├── RequestError (pchat.protocol.errors)   a refusal with a protocol code:
     │    ├── InvalidRequestError                 400 (missing_field, invalid_field, …)
     │    ├── ForbiddenError                      403 (forbidden, banned, room_mode)
     │    ├── NotFoundError                       404 (not_found: room, message, poll, …)
     │    ├── ConflictError                       409 (already_deleted, poll_not_open, …)
     │    └── RateLimitedError                    429 rate_limited (``retry_after_ms``)
     └── ServerAPIError                        a refusal without one
          ├── UnauthorizedError                   401 wrong or missing API key / secret
          └── TooManyFailuresError                429 too many failed calls (``retry_after``)

A refusal that carries a protocol code (``{"error": {"code", …}}``) is raised as the
protocol's exception for it — the one the Python SDK raises for the same code — with the
HTTP status in ``status`` of :class:`ServerAPIError` only for refusals without a code.
"""

from __future__ import annotations

from typing import Any

from pchat.protocol.errors import PChatError, RequestError, request_error

__all__ = ["ServerAPIError", "TooManyFailuresError", "UnauthorizedError", "error_from_response"]


class ServerAPIError(PChatError):
    """A refusal of the server API without a protocol code (its ``name`` says what)."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message


class UnauthorizedError(ServerAPIError):
    """401: the API key or secret is missing, wrong or revoked."""


class TooManyFailuresError(ServerAPIError):
    """429 ``too_many_failures``: too many failed calls from here; retry after
    ``retry_after`` seconds."""

    def __init__(self, status: int, name: str, message: str, retry_after: float) -> None:
        super().__init__(status, name, message)
        self.retry_after = retry_after


def error_from_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> PChatError:
    """The exception for an error response (``body``: its decoded JSON, or anything)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ServerAPIError(status, "http_error", f"HTTP {status}")
    name = str(error.get("name", "error"))
    message = str(error.get("message", ""))
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        exc: RequestError = request_error(
            code, message, retry_after_ms=error.get("retry_after_ms"), until=error.get("until")
        )
        return exc
    if status == 401:
        return UnauthorizedError(status, name, message)
    if status == 429:
        retry = (headers or {}).get("Retry-After", "1")
        return TooManyFailuresError(status, name, message, float(retry) if retry.isdigit() else 1.0)
    return ServerAPIError(status, name, message)
