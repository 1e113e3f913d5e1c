"""Revoking a user's tokens against a real server: ``POST /users/{sub}/revoke`` of the
server API and ``pchat users revoke``. The user's open connections close with ``4507``
within a second, older tokens are refused at connect (``210``, then ``4507``) and at refresh
(``210``), tokens issued since work at once, and the revocation outlives a restart; the
Python SDK stops for good on the close."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import jwt
import pytest

from pchat.cli import main
from pchat.protocol.codes import CloseCode
from pchat.sdk import DisconnectEvent, Events, PChatSDK, States
from pchat.server.appkeys import SERVICE_KEY
from tests.helpers import RawClient, RunningServer, t

BASE = "/public-chat/admin/v1"


async def api(
    server: RunningServer, method: str, path: str, *, auth: bool = True
) -> tuple[int, dict[str, Any]]:
    assert server.http is not None
    headers = {"auth-api-key": server.api_key, "auth-api-secret": server.api_secret}
    async with server.http.request(
        method, server.url + BASE + path, headers=headers if auth else {}
    ) as response:
        return response.status, await response.json()


async def connect_with(server: RunningServer, token: str, room: str = "lobby") -> RawClient:
    """A raw client that sends ``connect`` with ``token`` (the reply or error is its own)."""
    assert server.http is not None
    client = RawClient(await server.http.ws_connect(server.ws_url))
    client.connected = await client.request("connect", room=room, username="Bob", token=token)
    return client


async def test_revoking_closes_every_connection_of_the_user_with_4507_at_once(
    raw: Any, server: RunningServer
) -> None:
    bob_here = await raw("lobby", user="bob")
    bob_there = await raw("elsewhere", user="bob")
    ann = await raw("lobby", user="ann")
    loop = asyncio.get_running_loop()
    start = loop.time()
    status, body = await api(server, "POST", "/users/bob/revoke")
    assert status == 200, body
    assert body["user_id"] == "bob"
    assert int(time.time()) <= body["revoked_before"] <= int(time.time()) + 1
    assert await bob_here.closed(timeout=1) == CloseCode.REVOKED
    assert await bob_there.closed(timeout=1) == CloseCode.REVOKED
    assert loop.time() - start < t(1.0)
    # Everyone else goes on.
    assert (await ann.ok("send", text="still here"))["message"]["text"] == "still here"


async def test_an_older_token_is_refused_at_connect_and_a_new_one_works_at_once(
    server: RunningServer,
) -> None:
    old = await server.token("bob")
    assert (await api(server, "POST", "/users/bob/revoke"))[0] == 200
    refused = await connect_with(server, old)
    error = refused.connected["error"]
    assert error["code"] == 210 and error["name"] == "token_revoked", error
    assert error["temporary"] is False
    assert await refused.closed() == CloseCode.REVOKED
    # A token asked for right after the revocation (the same second) is not revoked.
    fresh = await connect_with(server, await server.token("bob"))
    assert fresh.connected["type"] == "reply", fresh.connected
    await fresh.close()
    await refused.close()


async def test_an_older_token_is_refused_at_refresh_on_a_connection_that_stays(
    server: RunningServer,
) -> None:
    old = await server.token("bob")
    await api(server, "POST", "/users/bob/revoke")
    bob = await connect_with(server, await server.token("bob"))
    assert bob.connected["type"] == "reply"
    error = (await bob.request("refresh", token=old))["error"]
    assert error["code"] == 210 and error["name"] == "token_revoked"
    assert (await bob.ok("ping"))["ts"] > 0  # still open
    assert (await bob.ok("refresh", token=await server.token("bob")))["exp"] > time.time()
    await bob.close()


def iat(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["iat"])


async def test_a_connection_refreshed_with_a_newer_token_is_not_closed(
    server: RunningServer,
) -> None:
    """A node that hears of a revocation late (the store's reload, a lost publication)
    closes only the connections whose token — the last refreshed — was issued before."""
    first = await server.token("bob")
    stale = await connect_with(server, first)
    bob = await connect_with(server, first)
    async with asyncio.timeout(t(3)):
        while int(time.time()) <= iat(first):
            await asyncio.sleep(0.05)
    newer = await server.token("bob")
    assert iat(newer) == iat(first) + 1
    await bob.ok("refresh", token=newer)
    assert server.runner is not None
    service = server.runner.app[SERVICE_KEY]
    await service.store.revoke_tokens("bob", iat(newer))  # as the CLI does
    await service.revocations.reload()
    assert await stale.closed(timeout=1) == CloseCode.REVOKED
    assert (await bob.ok("ping"))["ts"] > 0
    await bob.close()
    await stale.close()


async def test_the_revocation_outlives_a_restart(server: RunningServer) -> None:
    old = await server.token("bob")
    await api(server, "POST", "/users/bob/revoke")
    await server.restart()
    refused = await connect_with(server, old)
    assert refused.connected["error"]["code"] == 210
    assert await refused.closed() == CloseCode.REVOKED
    await refused.close()


async def test_pchat_users_revoke_reaches_the_running_server(
    raw: Any, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI writes the store only; the server reads it every second."""
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)
    bob = await raw("lobby", user="bob")
    ann = await raw("lobby", user="ann")
    argv = ["users", "revoke", "bob", "--data-dir", str(server.settings.data_dir)]
    assert await asyncio.to_thread(main, argv) == 0
    assert await bob.closed(timeout=3) == CloseCode.REVOKED
    assert (await ann.ok("ping"))["ts"] > 0
    assert await asyncio.to_thread(main, ["users", "revoke", "not a user id"]) == 2


async def test_the_revoke_endpoint_needs_the_key_and_a_valid_user_id(
    server: RunningServer,
) -> None:
    status, body = await api(server, "POST", "/users/bob/revoke", auth=False)
    assert status == 401 and body["error"]["name"] == "unauthorized"
    status, body = await api(server, "POST", "/users/bad%20id/revoke")
    assert status == 400 and body["error"]["name"] == "invalid_field"
    status, body = await api(server, "GET", "/users/bob/revoke")
    assert status == 405


async def test_the_python_sdk_stops_for_good_on_4507(server: RunningServer) -> None:
    sdk = PChatSDK(server.url, request_timeout=t(5), backoff_base=0.05, backoff_max=0.2)
    disconnects: list[DisconnectEvent] = []
    sdk.on(Events.DISCONNECT, disconnects.append)
    try:
        await sdk.connect("lobby", "Bob", await server.token("bob"))
        await api(server, "POST", "/users/bob/revoke")
        async with asyncio.timeout(t(5)):
            while sdk.state is not States.DISCONNECTED:
                await asyncio.sleep(0.01)
        assert disconnects == [DisconnectEvent(CloseCode.REVOKED, "tokens revoked", False)]
        await asyncio.sleep(t(0.5))  # no reconnect follows
        assert sdk.state is States.DISCONNECTED and len(disconnects) == 1
    finally:
        await sdk.disconnect()
