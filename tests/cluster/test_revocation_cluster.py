"""Revoked tokens across nodes (issue 12): a revocation made through one node's server API
closes the user's connections on the other nodes within a second and every node refuses
the older tokens; one written to the store only (``pchat users revoke --store``) reaches
every node through their periodic read."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from pchat.cli import main
from pchat.protocol.codes import CloseCode
from tests.cluster.conftest import Cluster, until
from tests.helpers import RawClient, RunningServer, t

BASE = "/public-chat/admin/v1"


async def _raw(node: Any, room: str, user: str, token: str) -> RawClient:
    """A raw client of ``node`` that sent ``connect`` with ``token`` (reply or error)."""
    assert isinstance(node, RunningServer) and node.http is not None
    client = RawClient(await node.http.ws_connect(node.ws_url))
    client.connected = await client.request("connect", room=room, username=user, token=token)
    return client


async def _revoke(node: Any, sub: str) -> dict[str, Any]:
    assert isinstance(node, RunningServer) and node.http is not None
    headers = {"auth-api-key": node.api_key, "auth-api-secret": node.api_secret}
    async with node.http.post(f"{node.url}{BASE}/users/{sub}/revoke", headers=headers) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def test_a_revocation_on_one_node_closes_the_users_connections_on_the_others(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The nodes' periodic read of the store is pushed out of the way: only the broker's
    # publication can close the connections on the other nodes within the second.
    monkeypatch.setattr("pchat.core.service.RELOAD_INTERVAL", 60.0)
    a, b, c = [await cluster.start_node() for _ in range(3)]
    old = await cluster.token("bob")
    bob_b = await _raw(b, "show", "bob", old)
    bob_c = await _raw(c, "backstage", "bob", old)
    ann_b = await _raw(b, "show", "ann", await cluster.token("ann"))
    clients = [bob_b, bob_c, ann_b]
    try:
        assert all(x.connected["type"] == "reply" for x in clients)
        start = time.monotonic()
        await _revoke(a, "bob")
        await until(
            lambda: bob_b.close_code is not None and bob_c.close_code is not None,
            timeout=1.0,
            what="bob's connections on nodes b and c closed",
        )
        assert time.monotonic() - start < t(1.0)
        assert (bob_b.close_code, bob_c.close_code) == (CloseCode.REVOKED, CloseCode.REVOKED)
        assert (await ann_b.ok("ping"))["ts"] > 0
        # Every node refuses the old token; a new one (issued by node a) works on each.
        for node in (a, b, c):
            refused = await _raw(node, "show", "bob", old)
            clients.append(refused)
            assert refused.connected["error"]["code"] == 210, refused.connected
            assert await refused.closed() == CloseCode.REVOKED
        fresh = await cluster.token("bob")
        for node in (b, c):
            again = await _raw(node, "show", "bob", fresh)
            clients.append(again)
            assert again.connected["type"] == "reply", again.connected
    finally:
        for x in clients:
            await x.close()


async def test_a_revocation_in_the_store_only_reaches_every_node(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pchat users revoke --store`` publishes nothing: each node's read of the store
    (every second) applies it, as after a publication lost in a broker outage."""
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)
    a, b = [await cluster.start_node() for _ in range(2)]
    old = await cluster.token("bob")
    bob_a = await _raw(a, "show", "bob", old)
    bob_b = await _raw(b, "show", "bob", old)
    try:
        argv = ["users", "revoke", "bob", "--data-dir", str(cluster.data_dir)]
        assert await asyncio.to_thread(main, [*argv, "--store", cluster.store]) == 0
        await until(
            lambda: bob_a.close_code is not None and bob_b.close_code is not None,
            timeout=3.0,
            what="bob's connections on both nodes closed",
        )
        assert (bob_a.close_code, bob_b.close_code) == (CloseCode.REVOKED, CloseCode.REVOKED)
    finally:
        await bob_a.close()
        await bob_b.close()
