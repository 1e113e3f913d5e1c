"""Server API: users — revoke a user's tokens.

``POST /users/{sub}/revoke`` refuses every token of ``sub`` issued until now, at ``connect``
(``210``, close ``4507``) and at ``refresh`` (``210``), and closes the user's open
connections with ``4507`` within a second on every node (:mod:`pchat.core.revocations`).
A token issued after the call works: the user signs in again through the operator's
backend, which asks the token service for a new one.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from .context import AdminContext
from .errors import json_response
from .spec import obj, operation, path_param, ref

__all__ = ["PATHS", "SCHEMAS", "routes"]

_TAG: Final = "users"


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    async def revoke(request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        before = await ctx.service.revocations.revoke(sub)
        return json_response({"user_id": sub, "revoked_before": before})

    return [web.post("/users/{sub}/revoke", revoke)]


SCHEMAS: Final[dict[str, Any]] = {
    "Revocation": obj(
        {
            "user_id": {"type": "string"},
            "revoked_before": {
                "type": "integer",
                "minimum": 0,
                "description": "Seconds since the epoch: the user's tokens whose `iat` is "
                "earlier are refused (the next whole second after the call)",
            },
        }
    ),
}

PATHS: Final[dict[str, Any]] = {
    "/users/{sub}/revoke": {
        "post": operation(
            "revokeUserTokens",
            "Revoke a user's tokens",
            tag=_TAG,
            response=ref("Revocation"),
            params=(path_param("sub", "The user id (a token's `sub`)"),),
            description="Every token of the user issued until now is refused at `connect` "
            "and `refresh` (error `210 token_revoked`), and the user's open connections "
            "close with `4507` (terminal) within a second on every node. Tokens issued "
            "after the call work. Revoking again moves the time forward.",
        )
    }
}
