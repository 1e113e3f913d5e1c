"""Errors of the server API: one JSON shape, a status per protocol code, at one place.

Every refusal is ``{"error": {...}}`` with the token service's fields — ``name`` and
``message``, and ``code`` for the protocol's errors (docs/protocol.md §7) with the rest of
their wire form (``temporary``, ``retry_after_ms``, ``until``). Handlers raise the chat
core's :class:`~pchat.protocol.errors.RequestError` (or let the core raise it) and
:func:`errors_middleware` answers it with the status :func:`status_of` gives; aiohttp's own
refusals (no such path, wrong method, a body too large) get the same shape; anything else
is logged and answered ``500 internal`` without details.

Request bodies and query strings are read by :func:`read_body` and :func:`query_fields`,
which check a request type's fields with the client frames' table
(:data:`~pchat.protocol.frames.REQUEST_FIELDS`), so that a field is refused with the code
a WebSocket client would get.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Final

import orjson
from aiohttp import web

from pchat.core.session import CloseRequested
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.frames import REQUEST_FIELDS, check_fields
from pchat.storage.base import StoreUnavailable

from .auth import error_response

__all__ = [
    "STATUS",
    "errors_middleware",
    "json_response",
    "query_fields",
    "query_values",
    "read_body",
    "refusal",
    "status_of",
]

log = logging.getLogger(__name__)

#: The HTTP status of each protocol error (by its name, so codes added later need no edit
#: here unless they deserve their own); any other ``1xx`` is 400, a token error 401.
STATUS: Final[dict[str, int]] = {
    "internal": 500,
    "forbidden": 403,
    "role_not_granted": 403,
    "banned": 403,
    "room_mode": 403,
    "not_found": 404,
    "already_voted": 409,
    "poll_not_open": 409,
    "already_deleted": 409,
    "already_connected": 409,
    "limit_reached": 409,
    "duplicate_message": 409,
    "blocked_word": 422,
    "rejected": 422,
    "rate_limited": 429,
    "unavailable": 503,
    "not_connected": 500,
}

_UINT: Final = re.compile(r"[0-9]{1,16}")


def status_of(code: ErrorCode) -> int:
    """The HTTP status that answers a protocol error."""
    status = STATUS.get(code.slug)
    if status is not None:
        return status
    return 401 if 200 <= code < 300 else 400


def refusal(exc: RequestError) -> web.Response:
    """The response to a protocol error: its wire form, its status; ``Retry-After`` (whole
    seconds, at least 1) when it says how long to wait, and 1 s for ``unavailable``."""
    status = status_of(exc.code)
    response = json_response({"error": exc.to_wire()}, status=status)
    if exc.retry_after_ms is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_ms / 1000)))
    elif exc.code is ErrorCode.UNAVAILABLE:
        response.headers["Retry-After"] = "1"
    return response


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response (orjson: what the core's wire forms are made for)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_body(request: web.Request, rtype: str | None = None) -> dict[str, Any]:
    """The request's JSON object (an empty body: ``{}``); with ``rtype`` only the fields of
    that request type, checked as a client frame's. Not JSON or not an object:
    ``malformed_frame`` (400)."""
    raw = await request.read()
    obj: Any = {}
    if raw.strip():
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise request_error(ErrorCode.MALFORMED_FRAME, "the body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise request_error(ErrorCode.MALFORMED_FRAME, "the body must be a JSON object")
    return obj if rtype is None else check_fields(rtype, obj)


def query_fields(request: web.Request, rtype: str) -> dict[str, Any]:
    """The query parameters of a request type's fields, as typed values checked as a client
    frame's: integers as decimal digits, booleans as ``true``/``false``."""
    return check_fields(rtype, query_values(request, rtype))


def query_values(request: web.Request, rtype: str) -> dict[str, Any]:
    """The query parameters of a request type's fields as typed values, not checked yet
    (:func:`query_fields` checks them)."""
    spec = REQUEST_FIELDS[rtype]
    obj: dict[str, Any] = {}
    for name, (kind, _required) in spec.items():
        value = request.query.get(name)
        if value is None:
            continue
        if kind in ("uint", "count"):
            obj[name] = int(value) if _UINT.fullmatch(value) else value
        elif kind == "bool":
            obj[name] = {"true": True, "false": False}.get(value, value)
        else:
            obj[name] = value
    return obj


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every refusal in the API's error shape (see the module docstring)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except RequestError as exc:
        return refusal(exc)
    except StoreUnavailable:
        return refusal(request_error(ErrorCode.UNAVAILABLE, "the store is unavailable"))
    except CloseRequested as exc:
        if exc.error is not None:
            return refusal(exc.error)
        log.error("server API: %s %s asked to close: %s", request.method, request.path, exc)
        return refusal(request_error(ErrorCode.INTERNAL, "internal error"))
    except web.HTTPException as exc:
        return _http_refusal(exc)
    except Exception:
        log.exception("server API: %s %s failed", request.method, request.path)
        return refusal(request_error(ErrorCode.INTERNAL, "internal error"))


def _http_refusal(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals in the API's shape."""
    if exc.status == 404:
        return refusal(request_error(ErrorCode.NOT_FOUND, "no such endpoint"))
    if exc.status == 405:
        response = error_response(405, "method_not_allowed", "this endpoint takes no such method")
        allow = exc.headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    if exc.status == 413:
        return error_response(413, "body_too_large", "the body is too large")
    return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
