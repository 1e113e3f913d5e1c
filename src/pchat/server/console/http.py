"""The console's HTTP side: its endpoints, its cookie, and the session check of the API.

``/public-chat/admin/console/session``: ``POST`` signs in, ``GET`` says who is signed in
(with the CSRF token), ``DELETE`` signs out; ``POST /public-chat/admin/console/chat-token``
gives the signed-in operator a short-lived admin token for the room connections the console
opens. :meth:`ConsoleHttp.guard` lets the server API (``/public-chat/admin/v1``) accept a
console session instead of the API key headers.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web

from pchat.storage.base import StoreUnavailable

from ..admin.auth import error_response
from ..edge import TrustedProxies, client_address
from .service import Checked, Console, Refused
from .sessions import ConsoleSession, Ended

__all__ = ["BACKGROUND_HEADER", "BASE", "COOKIE", "COOKIE_PATH", "CSRF_HEADER", "ConsoleHttp"]

#: Where the console's own endpoints are.
BASE: Final = "/public-chat/admin/console"
#: The session cookie: sent with the console's calls and the server API's, nowhere else.
COOKIE: Final = "pchat_console"
COOKIE_PATH: Final = "/public-chat/admin"
#: The header every change made with a console session carries its CSRF token in.
CSRF_HEADER: Final = "x-csrf-token"
#: ``x-console-background: 1`` marks a call the page makes by itself (a periodic refresh, the
#: SDK's token refresh): it does not count as use, so an open page still idles out.
BACKGROUND_HEADER: Final = "x-console-background"

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_BODY: Final = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(exc: Refused) -> web.Response:
    response = error_response(exc.status, exc.name, exc.message)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


class ConsoleHttp:
    """The console's endpoints and the server API's session check, around a
    :class:`~.service.Console`."""

    def __init__(self, console: Console, proxies: TrustedProxies) -> None:
        self.console = console
        self.proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{BASE}/session", self._sign_in),
            web.get(f"{BASE}/session", self._who),
            web.delete(f"{BASE}/session", self._sign_out),
            web.post(f"{BASE}/chat-token", self._chat_token),
        ]

    # -- the server API's check ----------------------------------------------------------

    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse | None:
        """For a request with a console cookie: its refusal (401 for no session, 403 for a
        change without the CSRF token), or the handler's response with the cookie sealed
        again when due (:func:`_used`). None for a request without one (the API key
        decides)."""
        if COOKIE not in request.cookies:
            return None
        try:
            checked = await self._authenticate(request)
        except Refused as exc:
            return _refusal(exc)
        if isinstance(checked, web.Response):
            return checked
        response = await handler(request)
        if _used(request, checked):
            self._set_cookie(request, response, checked.session)
        return response

    async def _authenticate(self, request: web.Request) -> Checked | web.Response:
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            return error_response(401, "no_session", "not signed in to the console")
        result = await self.console.check(cookie)
        if isinstance(result, Ended):
            message = {
                Ended.IDLE: "the console session expired (unused too long): sign in again",
                Ended.EXPIRED: "the console session expired: sign in again",
                Ended.INVALID: "the console session has ended: sign in again",
            }[result]
            response = error_response(401, "session_expired", message)
            self._clear_cookie(request, response)
            return response
        if request.method not in _SAFE_METHODS and not self.console.seal.csrf_ok(
            result.session, request.headers.get(CSRF_HEADER)
        ):
            return error_response(
                403, "csrf_failed", f"a change needs the session's CSRF token in {CSRF_HEADER}"
            )
        return result

    # -- the cookie ----------------------------------------------------------------------

    def _secure(self, request: web.Request) -> bool:
        forced = self.console.settings.console_cookie_secure
        if forced is not None:
            return forced
        if request.secure:
            return True
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https" and (request.remote or "") in self.proxies

    def _set_cookie(
        self, request: web.Request, response: web.StreamResponse, session: ConsoleSession
    ) -> None:
        lifetimes = self.console.lifetimes
        left_ms = session.issued_ms + lifetimes.absolute_ms - session.seen_ms
        response.set_cookie(
            COOKIE,
            self.console.seal.seal(session),
            max_age=max(1, math.ceil(left_ms / 1000)),
            path=COOKIE_PATH,
            secure=self._secure(request),
            httponly=True,
            samesite="Strict",
        )
        response.headers["Cache-Control"] = "no-store"

    def _clear_cookie(self, request: web.Request, response: web.StreamResponse) -> None:
        response.del_cookie(
            COOKIE, path=COOKIE_PATH, secure=self._secure(request), httponly=True, samesite="Strict"
        )

    # -- the endpoints -------------------------------------------------------------------

    async def _sign_in(self, request: web.Request) -> web.Response:
        try:
            body = await _json_object(request)
            addr = client_address(request, self.proxies)
            session = await self.console.sign_in(addr, body)
        except Refused as exc:
            return _refusal(exc)
        response = _json(self.console.describe(session))
        self._set_cookie(request, response, session)
        return response

    async def _who(self, request: web.Request) -> web.Response:
        try:
            checked = await self._authenticate(request)
        except Refused as exc:
            return _refusal(exc)
        if isinstance(checked, web.Response):
            return checked
        response = _json(self.console.describe(checked.session))
        if _used(request, checked):
            self._set_cookie(request, response, checked.session)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _sign_out(self, request: web.Request) -> web.Response:
        try:
            checked = await self._authenticate(request)
            if isinstance(checked, web.Response):
                return checked
            await self.console.sign_out(checked.session)
        except Refused as exc:
            return _refusal(exc)
        except StoreUnavailable:
            return _refusal(Refused(503, "unavailable", "the store is unavailable", 1.0))
        response = _json({"signed_out": True})
        self._clear_cookie(request, response)
        return response

    async def _chat_token(self, request: web.Request) -> web.Response:
        try:
            checked = await self._authenticate(request)
            if isinstance(checked, web.Response):
                return checked
            token = await self.console.chat_token(checked.session)
        except Refused as exc:
            return _refusal(exc)
        response = _json(token)
        response.headers["Cache-Control"] = "no-store"
        if _used(request, checked):
            self._set_cookie(request, response, checked.session)
        return response


def _used(request: web.Request, checked: Checked) -> bool:
    """Whether the cookie is sealed again with the use: due, and not a background call."""
    return checked.touched and request.headers.get(BACKGROUND_HEADER) != "1"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _MAX_BODY:
        raise Refused(413, "body_too_large", "the body is too large")
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise Refused(413, "body_too_large", "the body is too large")
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "malformed_body", "the body must be a JSON object")
    return body
