"""The OpenAPI document of the server API agrees with the server: the file kept in the
repository is what the route modules describe, the server serves it, and its operations
are exactly the routes the server registers (path and method)."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from pchat.server.admin import BASE, ROUTE_MODULES
from pchat.server.admin.openapi import SPEC_FILE, build, encode
from pchat.server.app import build_app
from tests.helpers import RunningServer, make_settings

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path below BASE) of every route of the API's sub-application."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if not isinstance(sub, web.Application) or resource.canonical != BASE:
            continue
        for route in sub.router.routes():
            if route.method == "HEAD":
                continue  # aiohttp adds one to every GET
            info = route.resource.get_info() if route.resource else {}
            path = info.get("formatter") or info.get("path") or ""
            found.add((route.method.lower(), path[len(BASE) :]))
    return found


def _spec_operations(spec: dict[str, object]) -> set[tuple[str, str]]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return {(method, path) for path, item in paths.items() for method in item if method in _METHODS}


def test_the_file_is_what_the_route_modules_describe() -> None:
    expected = encode(build(ROUTE_MODULES))
    assert SPEC_FILE.read_bytes() == expected, (
        "src/pchat/server/admin/openapi.json is stale: run `python -m pchat.server.admin`"
    )


def test_every_route_is_in_the_document_and_every_operation_is_served(tmp_path: Path) -> None:
    app = build_app(make_settings(tmp_path / "data"))
    routes = _served_routes(app)
    operations = _spec_operations(build(ROUTE_MODULES))
    assert routes, "no route of the API found"
    assert sorted(routes - operations) == [], "routes the document does not describe"
    assert sorted(operations - routes) == [], "operations the server does not serve"


def test_the_document_names_each_path_parameter() -> None:
    spec = build(ROUTE_MODULES)
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            assert declared == names, (method, path)
            assert op["operationId"], (method, path)


async def test_the_server_serves_the_file(server: RunningServer) -> None:
    assert server.http is not None
    async with server.http.get(f"{server.url}{BASE}/openapi.json") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == SPEC_FILE.read_bytes()
