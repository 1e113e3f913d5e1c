"""The server API: the operator's backend drives pchat over HTTP, under
``/public-chat/admin/v1/``, with the token service's API key (docs/server-api.md).

::

    add_admin_routes(app, ctx) ── a sub-application at /public-chat/admin/v1
        middlewares: errors (one JSON error shape, a status per protocol code)
                     auth   (the token service's API-key check, failures throttled)
        route modules: rooms, messages, moderation, polls (and the others of
                       ROUTE_MODULES), each ``routes(ctx)`` and ``PATHS``
        actor: runs the chat core's own handlers as the system user or a named one

Adding a route module (``users.py``, ``keys.py``, ``webhooks.py``, …):

1. Write ``src/pchat/server/admin/NAME.py`` with ``routes(ctx: AdminContext) ->
   list[web.RouteDef]`` (paths below the base, e.g. ``web.post("/users/{sub}/revoke",
   handler)``; handlers return :func:`.errors.json_response` and raise
   :class:`~pchat.protocol.errors.RequestError` for a refusal — the middleware answers it)
   and ``PATHS``, the OpenAPI path items of those routes, built with
   :func:`.spec.operation` (and ``SCHEMAS`` for schemas of its own). Read a body with
   :func:`.errors.read_body`, query parameters with :func:`.errors.query_fields`.
2. Add the module to :data:`ROUTE_MODULES` below.
3. Regenerate the document: ``.venv/bin/python -m pchat.server.admin``; the tests
   (tests/server/test_admin_api_spec.py) fail until the file, the routes and ``PATHS``
   agree, and schemathesis fuzzes the new operations.
4. Document the endpoints in docs/server-api.md (a section with a ``curl`` example).

The API key check comes first for every path but the document's: a caller without the key
learns nothing, not even which paths exist.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from aiohttp import web

from . import keys, messages, moderation, polls, retention, rooms, users, webhooks
from .auth import SessionAuth, auth_middleware
from .context import AdminContext
from .errors import errors_middleware
from .openapi import BASE, SPEC_FILE, openapi_handler

__all__ = ["BASE", "ROUTE_MODULES", "AdminContext", "add_admin_routes"]

#: The route modules of the API, in the order of the document's tags.
ROUTE_MODULES: Final[tuple[ModuleType, ...]] = (
    rooms,
    retention,
    messages,
    moderation,
    polls,
    users,
    keys,
    webhooks,
)


def add_admin_routes(
    app: web.Application, ctx: AdminContext, sessions: SessionAuth | None = None
) -> None:
    """Mount the server API on ``app`` under :data:`BASE`; with ``sessions``, a call may
    carry the admin console's session instead of the API key (see :mod:`.auth`)."""
    spec_path = f"{BASE}/openapi.json"
    admin = web.Application(
        middlewares=[
            errors_middleware,
            auth_middleware(ctx.gate, ctx.proxies, public={spec_path}, sessions=sessions),
        ]
    )
    admin.router.add_get("/openapi.json", openapi_handler(SPEC_FILE.read_bytes()))
    for module in ROUTE_MODULES:
        admin.router.add_routes(module.routes(ctx))
    app.add_subapp(BASE, admin)
