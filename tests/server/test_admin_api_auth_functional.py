"""The server API's authentication against a real server: the token service's API-key
check on every path (401 ``unauthorized``, 429 ``too_many_failures`` with ``Retry-After``,
one failure budget shared with the token service), the document served without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import RunningServer, start_server

BASE = "/public-chat/admin/v1"


@pytest.fixture
async def strict(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server that throttles after 3 failures within a minute."""
    srv = await start_server(tmp_path / "data", auth_failures_max=3, auth_failures_window=60.0)
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


def _headers(server: RunningServer, secret: str | None = None) -> dict[str, str]:
    return {"auth-api-key": server.api_key, "auth-api-secret": secret or server.api_secret}


async def test_every_path_needs_the_api_key(server: RunningServer) -> None:
    assert server.http is not None
    for method, path in [
        ("GET", "/rooms"),
        ("GET", "/no/such/path"),
        ("POST", "/rooms/lobby/messages"),
    ]:
        async with server.http.request(method, server.url + BASE + path) as response:
            assert response.status == 401, path
            body = await response.json()
            assert body["error"]["name"] == "unauthorized"
        wrong = _headers(server, "sk_wrong")
        async with server.http.request(method, server.url + BASE + path, headers=wrong) as response:
            assert response.status == 401, path


async def test_unknown_paths_and_methods_answer_in_the_error_shape(server: RunningServer) -> None:
    assert server.http is not None
    url = server.url + BASE
    async with server.http.get(url + "/no/such/path", headers=_headers(server)) as response:
        assert response.status == 404
        assert (await response.json())["error"]["name"] == "not_found"
    async with server.http.delete(url + "/openapi.json", headers=_headers(server)) as response:
        assert response.status == 405
        assert (await response.json())["error"]["name"] == "method_not_allowed"


async def test_the_document_is_served_without_the_key(server: RunningServer) -> None:
    assert server.http is not None
    async with server.http.get(server.url + BASE + "/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": BASE}]


async def test_failures_are_throttled_with_the_token_service(strict: RunningServer) -> None:
    """Distinct wrong secrets for one key: the token service's and the API's failures
    count against one budget, then both refuse even the right secret with 429."""
    http = strict.http
    assert http is not None
    token_url = strict.url + "/public-chat/token/?sub=u1"
    async with http.get(token_url, headers=_headers(strict, "sk_wrong1")) as response:
        assert response.status == 401
    for i in (2, 3):
        async with http.get(
            strict.url + BASE + "/rooms", headers=_headers(strict, f"sk_wrong{i}")
        ) as response:
            assert response.status == 401
    async with http.get(strict.url + BASE + "/rooms", headers=_headers(strict)) as response:
        assert response.status == 429
        assert (await response.json())["error"]["name"] == "too_many_failures"
        assert int(response.headers["Retry-After"]) >= 1
    async with http.get(token_url, headers=_headers(strict)) as response:
        assert response.status == 429
