"""The operator's keys through the server API against a real server: API keys created (the
secret once), listed and revoked; signing keys rotated (new tokens carry the new kid at
once, older tokens keep verifying) and retired (refused for the key that signs and while
its tokens may be valid, unless forced; its tokens then stop verifying)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from pchat.protocol.codes import CloseCode
from tests.helpers import RawClient, RunningServer, start_server, t

BASE = "/public-chat/admin/v1"


async def api(
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    assert server.http is not None
    api_key, secret = key or (server.api_key, server.api_secret)
    async with server.http.request(
        method,
        server.url + BASE + path,
        json=body,
        headers={"auth-api-key": api_key, "auth-api-secret": secret},
    ) as response:
        return response.status, await response.json()


async def token_with(server: RunningServer, key: str, secret: str, sub: str = "bob") -> int:
    """The token service's status for a call with ``key`` and ``secret``."""
    assert server.http is not None
    async with server.http.get(
        server.url + "/public-chat/token/",
        params={"sub": sub},
        headers={"auth-api-key": key, "auth-api-secret": secret},
    ) as response:
        return response.status


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def connect(server: RunningServer, token: str) -> dict[str, Any]:
    """The reply or error of a connect with ``token`` (then the connection is closed)."""
    assert server.http is not None
    client = RawClient(await server.http.ws_connect(server.ws_url))
    frame = await client.request("connect", room="lobby", username="Bob", token=token)
    await client.close()
    return frame


# API keys ---------------------------------------------------------------------------------


async def test_a_created_key_works_at_the_token_endpoint_and_its_secret_is_shown_once(
    server: RunningServer,
) -> None:
    before = int(time.time()) * 1000
    status, created = await api(server, "POST", "/keys")
    assert status == 201, created
    assert set(created) == {"api_key", "api_secret", "created_at", "revoked_at"}
    assert created["api_key"].startswith("pk_") and created["api_secret"].startswith("sk_")
    assert created["revoked_at"] is None and created["created_at"] >= before
    assert await token_with(server, created["api_key"], created["api_secret"]) == 200
    # The new key calls the API too.
    pair = (created["api_key"], created["api_secret"])
    status, listed = await api(server, "GET", "/keys", key=pair)
    assert status == 200
    # Oldest first (by the second: the two keys may share one).
    assert {k["api_key"] for k in listed["api_keys"]} == {server.api_key, created["api_key"]}
    assert all(set(k) == {"api_key", "created_at", "revoked_at"} for k in listed["api_keys"])
    assert created["api_secret"] not in str(listed)


async def test_a_revoked_key_is_refused_at_once(server: RunningServer) -> None:
    _, created = await api(server, "POST", "/keys")
    pair = (created["api_key"], created["api_secret"])
    assert await token_with(server, *pair) == 200  # cached as usable
    status, revoked = await api(server, "POST", f"/keys/{created['api_key']}/revoke")
    assert status == 200
    assert revoked["api_key"] == created["api_key"] and revoked["revoked_at"] is not None
    assert await token_with(server, *pair) == 401
    status, body = await api(server, "GET", "/keys", key=pair)
    assert status == 401 and body["error"]["name"] == "unauthorized"
    # Again: nothing changes; the list says when.
    assert (await api(server, "POST", f"/keys/{created['api_key']}/revoke"))[1] == revoked
    _, listed = await api(server, "GET", "/keys")
    assert revoked in listed["api_keys"]
    status, body = await api(server, "POST", "/keys/pk_nope/revoke")
    assert status == 404 and body["error"]["name"] == "not_found"
    assert await token_with(server, server.api_key, server.api_secret) == 200


# Signing keys -----------------------------------------------------------------------------


async def test_rotation_signs_new_tokens_with_the_new_key_at_once_and_old_ones_verify(
    server: RunningServer,
) -> None:
    old_token = await server.token("bob")
    status, listed = await api(server, "GET", "/signing-keys")
    assert status == 200
    (first,) = listed["signing_keys"]
    assert first["kid"] == kid(old_token) and first["signing"] and first["retire_after"] is None
    status, new = await api(server, "POST", "/signing-keys/rotate")
    assert status == 201, new
    assert new["kid"] != first["kid"] and new["signing"] and new["retire_after"] is None
    assert kid(await server.token("bob")) == new["kid"]  # this node: no reload to wait for
    assert (await connect(server, old_token))["type"] == "reply"
    _, listed = await api(server, "GET", "/signing-keys")
    assert [k["kid"] for k in listed["signing_keys"]] == [first["kid"], new["kid"]]
    older = listed["signing_keys"][0]
    assert older["signing"] is False
    s = server.settings
    lives = s.keys_reload_interval + s.token_ttl + 2 * s.token_leeway
    assert older["retire_after"] >= (new["created_at"] / 1000 + lives) * 1000
    assert "secret" not in str(listed)


async def test_retire_refuses_the_signing_key_and_a_key_whose_tokens_may_be_valid(
    server: RunningServer,
) -> None:
    old_token = await server.token("bob")
    _, new = await api(server, "POST", "/signing-keys/rotate")
    old_kid = kid(old_token)
    for force in (False, True):
        status, body = await api(
            server, "POST", f"/signing-keys/{new['kid']}/retire", {"force": force}
        )
        assert status == 409 and body["error"]["name"] == "signing_key_in_use"
        assert body["error"]["until"] is None
    status, body = await api(server, "POST", f"/signing-keys/{old_kid}/retire")
    assert status == 409 and body["error"]["name"] == "signing_key_in_use"
    _, listed = await api(server, "GET", "/signing-keys")
    assert body["error"]["until"] == listed["signing_keys"][0]["retire_after"]
    assert (await connect(server, old_token))["type"] == "reply"
    # Forced: its tokens stop verifying at once.
    status, retired = await api(server, "POST", f"/signing-keys/{old_kid}/retire", {"force": True})
    assert status == 200 and retired["kid"] == old_kid
    error = (await connect(server, old_token))["error"]
    assert error["name"] == "token_unknown_key"
    assert (await connect(server, await server.token("bob")))["type"] == "reply"
    _, listed = await api(server, "GET", "/signing-keys")
    assert [k["kid"] for k in listed["signing_keys"]] == [new["kid"]]
    status, body = await api(server, "POST", f"/signing-keys/{old_kid}/retire", {"force": True})
    assert status == 404 and body["error"]["name"] == "not_found"
    status, body = await api(server, "POST", f"/signing-keys/{new['kid']}/retire", {"force": 1})
    assert status == 400 and body["error"]["name"] == "invalid_field"
    status, body = await api(server, "POST", f"/signing-keys/{new['kid']}/retire", [1])
    assert status == 400 and body["error"]["name"] == "malformed_frame"


@pytest.fixture
async def short_lived(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server whose tokens live 1 s (no leeway) and which reloads keys every 0.1 s."""
    srv = await start_server(
        tmp_path / "data", token_ttl=1, token_leeway=0, keys_reload_interval=0.1
    )
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


async def test_an_older_key_is_retired_without_force_once_its_tokens_expired(
    short_lived: RunningServer,
) -> None:
    server = short_lived
    old_token = await server.token("bob")
    await api(server, "POST", "/signing-keys/rotate")
    _, listed = await api(server, "GET", "/signing-keys")
    older = listed["signing_keys"][0]
    assert older["kid"] == kid(old_token)
    # Wait for the wall clock to pass retire_after (1.1 s after the rotation).
    async with asyncio.timeout(t(5)):
        while time.time() * 1000 < older["retire_after"]:
            await asyncio.sleep(0.05)
    status, retired = await api(server, "POST", f"/signing-keys/{older['kid']}/retire")
    assert status == 200 and retired["kid"] == older["kid"]


async def test_a_retired_keys_connection_is_not_closed_but_its_reconnect_is_refused(
    server: RunningServer,
) -> None:
    """Retiring is about tokens: a connection opened with one stays; its next connect is
    refused (4500: a bad token, not a revoked user)."""
    old_token = await server.token("bob")
    assert server.http is not None
    client = RawClient(await server.http.ws_connect(server.ws_url))
    await client.ok("connect", room="lobby", username="Bob", token=old_token)
    await api(server, "POST", "/signing-keys/rotate")
    await api(server, "POST", f"/signing-keys/{kid(old_token)}/retire", {"force": True})
    assert (await client.ok("ping"))["ts"] > 0
    assert server.http is not None
    again = RawClient(await server.http.ws_connect(server.ws_url))
    await again.request("connect", room="lobby", username="Bob", token=old_token)
    assert await again.closed() == CloseCode.BAD_TOKEN
    await again.close()
    await client.close()
