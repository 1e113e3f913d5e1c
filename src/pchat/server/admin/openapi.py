"""The OpenAPI 3.1 document of the server API: built from the route modules, kept in the
repository as ``openapi.json`` beside this module, served as it is.

``python -m pchat.server.admin`` writes ``openapi.json`` from :func:`build`; the
tests fail when the file is not what :func:`build` makes, or when its paths and methods
and the routes the server registers differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import orjson
from aiohttp import web

from .spec import ERROR_STATUSES, SCHEMAS, operation, ref

__all__ = ["BASE", "SPEC_FILE", "build", "openapi_handler", "write"]

#: Where the API lives.
BASE: Final = "/public-chat/admin/v1"
#: The document, as kept in the repository and packaged.
SPEC_FILE: Final = Path(__file__).with_name("openapi.json")

_INFO: Final = {
    "title": "pchat server API",
    "version": "1.0.0",
    "summary": "The operator's side of pchat: rooms, messages, moderation, polls.",
    "description": (
        "Every call but `GET /openapi.json` carries the API key headers `auth-api-key` and "
        "`auth-api-secret` (the token service's). Requests and responses are JSON; errors "
        'are `{"error": {"code", "name", "message", …}}` with the protocol\'s error '
        "codes. See docs/server-api.md."
    ),
    "license": {"name": "MIT", "identifier": "MIT"},
}


_SPEC_OPERATION: Final = operation(
    "getOpenApi",
    "This document",
    tag="meta",
    response={"type": "object"},
    secured=False,
    description="Served without the API key: it holds nothing that is not in the repository.",
)


def build(modules: Iterable[ModuleType]) -> dict[str, Any]:
    """The document for the route modules ``modules`` (each with ``PATHS``, and optionally
    ``SCHEMAS``)."""
    paths: dict[str, Any] = {"/openapi.json": {"get": _SPEC_OPERATION}}
    schemas = dict(SCHEMAS)
    for module in modules:
        for path, item in module.PATHS.items():
            paths.setdefault(path, {}).update(item)
        schemas.update(getattr(module, "SCHEMAS", {}))
    responses = {
        f"E{status}": {
            "description": description,
            "content": {"application/json": {"schema": ref("Error")}},
            **(
                {"headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}}
                if status in (429, 503)
                else {}
            ),
        }
        for status, description in ERROR_STATUSES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": _INFO,
        "servers": [{"url": BASE}],
        "security": [{"apiKey": [], "apiSecret": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "auth-api-key"},
                "apiSecret": {"type": "apiKey", "in": "header", "name": "auth-api-secret"},
            },
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
        },
    }


def encode(document: dict[str, Any]) -> bytes:
    """The document as kept in the file (indented, keys in order, a final newline)."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def write(modules: Iterable[ModuleType], path: Path = SPEC_FILE) -> None:
    path.write_bytes(encode(build(modules)))


def openapi_handler(spec: bytes) -> Any:
    """``GET /openapi.json``: the document (served without the API key: it holds nothing
    that is not in the repository)."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=spec, content_type="application/json")

    return handler
