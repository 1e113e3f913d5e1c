"""The server API's authentication: the token service's API-key check, for every route.

A call carries ``auth-api-key`` and ``auth-api-secret``; :func:`api_key_refusal` asks the
:class:`~pchat.core.apikeys.ApiKeyGate` (constant-time comparison, failures counted per
caller address — behind trusted proxies, from ``X-Forwarded-For`` — and key) and answers a
refusal exactly as the token service does: ``401 unauthorized``, or ``429
too_many_failures`` with ``Retry-After``. The token service and the server API share one
gate, so failures at either count against the same budget.

A request without the API key headers may instead carry the admin console's session cookie:
``sessions`` (:meth:`pchat.server.console.http.ConsoleHttp.guard`) then decides — 401
without a live session, 403 for a change without the session's CSRF token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Container
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from pchat.core.apikeys import ApiKeyGate, Verdict
from pchat.storage.base import StoreUnavailable

from ..edge import client_address

__all__ = ["SessionAuth", "api_key_refusal", "auth_middleware", "error_response"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Answers a request made with a console session (the handler's response, or a refusal), or
#: None for a request without one.
SessionAuth = Callable[[web.Request, Handler], Awaitable[web.StreamResponse | None]]


def error_response(status: int, name: str, message: str, code: int | None = None) -> web.Response:
    """``{"error": {"code"?, "name", "message"}}``: the token service's error shape."""
    body: dict[str, Any] = {"name": name, "message": message}
    if code is not None:
        body["code"] = code
    return web.json_response({"error": body}, status=status)


async def api_key_refusal(
    request: web.Request, gate: ApiKeyGate, trusted_proxies: Container[str]
) -> web.Response | None:
    """None when the call's API key and secret are accepted; else the refusal to answer
    (503 ``unavailable`` when the key store cannot be read and the key was not before)."""
    addr = client_address(request, trusted_proxies)
    key = request.headers.get("auth-api-key")
    secret = request.headers.get("auth-api-secret")
    try:
        verdict, wait = await gate.check(addr, key, secret, time.monotonic())
    except StoreUnavailable:
        response = error_response(503, "unavailable", "the key store is unavailable; retry")
        response.headers["Retry-After"] = "1"
        return response
    if verdict is Verdict.THROTTLED:
        response = error_response(
            429, "too_many_failures", "too many failed calls; try again later"
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response
    if verdict is Verdict.REFUSED:
        return error_response(
            401, "unauthorized", "missing or wrong auth-api-key / auth-api-secret"
        )
    return None


def auth_middleware(
    gate: ApiKeyGate,
    trusted_proxies: Container[str],
    public: Container[str] = (),
    sessions: SessionAuth | None = None,
) -> Middleware:
    """Every request must pass :func:`api_key_refusal`, except ``GET`` of the paths in
    ``public`` (the OpenAPI document) and, without the API key headers, a request that
    ``sessions`` answers. Unknown paths too: a caller without the key learns nothing of
    which paths exist."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("GET", "HEAD") and request.path in public:
            return await handler(request)
        if sessions is not None and not (
            "auth-api-key" in request.headers or "auth-api-secret" in request.headers
        ):
            answered = await sessions(request, handler)
            if answered is not None:
                return answered
        refused = await api_key_refusal(request, gate, trusted_proxies)
        if refused is not None:
            return refused
        return await handler(request)

    return middleware
