"""Keys in a cluster (issue 13, item 4): the API keys, signing keys and console operators
live in the cluster's PostgreSQL, and a change made through one node reaches the others
within seconds — at once by the node-wide publication, else by their periodic reload.

Nodes run in this process so that a test can lengthen their caches: with a long API-key
cache and a long key reload, only the publication can make another node see a change in
time. The first start of three ``pchat serve`` processes at once on an empty schema makes
exactly one signing key and one first API key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any

import aiohttp
import pytest

from pchat.cli import main
from pchat.core.apikeys import ApiKeyAuthenticator
from pchat.server.key_stores import opened_key_stores
from tests.cluster.conftest import Cluster, ProcessNode
from tests.helpers import RawClient, RunningServer, make_settings, t

BASE = "/public-chat/admin/v1"


def _kid(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


async def _call(node: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """A server API call to ``node`` with its own API key."""
    assert isinstance(node, RunningServer) and node.http is not None
    headers = {"auth-api-key": node.api_key, "auth-api-secret": node.api_secret}
    async with node.http.request(method, f"{node.url}{BASE}{path}", headers=headers, **kwargs) as r:
        return r.status, await r.json()


async def _token_status(node: Any, key: str, secret: str) -> int:
    assert isinstance(node, RunningServer) and node.http is not None
    headers = {"auth-api-key": key, "auth-api-secret": secret}
    async with node.http.get(
        f"{node.url}/public-chat/token/", params={"sub": "bob"}, headers=headers
    ) as r:
        return r.status


async def _connect(node: Any, token: str) -> dict[str, Any]:
    """The reply (or error) to a ``connect`` with ``token`` on ``node``."""
    assert isinstance(node, RunningServer) and node.http is not None
    client = RawClient(await node.http.ws_connect(node.ws_url))
    try:
        return await client.request("connect", room="show", username="bob", token=token)
    finally:
        await client.close()


@pytest.fixture
def slow_caches(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Nodes whose API-key cache and signing-key reload would take a minute: only the
    publication tells them of a change in time. Start nodes with these settings."""
    defaults = ApiKeyAuthenticator.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "cache_ttl", 60.0)
    return {"keys_reload_interval": 60.0}


async def test_an_api_key_made_on_one_node_works_on_the_other_and_its_revocation_too(
    cluster: Cluster, slow_caches: dict[str, Any]
) -> None:
    a = await cluster.start_node(**slow_caches)
    b = await cluster.start_node(**slow_caches)
    status, created = await _call(a, "POST", "/keys")
    assert status == 201
    key, secret = created["api_key"], created["api_secret"]
    # Never seen by b before: read from the shared store at its first use.
    assert await _token_status(b, key, secret) == 200
    assert await _token_status(a, key, secret) == 200  # both nodes have it cached now

    start = time.monotonic()
    status, revoked = await _call(a, "POST", f"/keys/{key}/revoke")
    assert status == 200 and revoked["revoked_at"] is not None
    assert await _token_status(a, key, secret) == 401  # at once on the node called
    async with asyncio.timeout(t(5)):  # b's cache holds it for 60 s: the publication
        while await _token_status(b, key, secret) != 401:
            await asyncio.sleep(0.02)
    assert time.monotonic() - start < t(2.0)

    # b lists what a made; a key b created works on a.
    status, listed = await _call(b, "GET", "/keys")
    assert key in [k["api_key"] for k in listed["api_keys"]]
    status, other = await _call(b, "POST", "/keys")
    assert await _token_status(a, other["api_key"], other["api_secret"]) == 200


async def test_a_rotation_on_one_node_signs_and_verifies_on_the_other_at_once(
    cluster: Cluster, slow_caches: dict[str, Any]
) -> None:
    a = await cluster.start_node(**slow_caches)
    b = await cluster.start_node(**slow_caches)
    assert isinstance(a, RunningServer) and isinstance(b, RunningServer)
    old_token = await a.token("bob")
    old_kid = _kid(old_token)
    assert _kid(await b.token("bob")) == old_kid  # one key for the cluster

    status, rotated = await _call(a, "POST", "/signing-keys/rotate")
    assert status == 201 and rotated["signing"] is True
    new_kid = rotated["kid"]
    new_token = await a.token("bob")
    assert _kid(new_token) == new_kid
    # b verifies the new kid, and signs with it, within moments (its reload: a minute).
    async with asyncio.timeout(t(5)):
        while _kid(await b.token("bob")) != new_kid:
            await asyncio.sleep(0.02)
    assert (await _connect(b, new_token))["type"] == "reply"
    assert (await _connect(b, old_token))["type"] == "reply"  # the old key still verifies

    # Retiring the old key on a: b refuses its tokens at once too.
    status, _ = await _call(a, "POST", f"/signing-keys/{old_kid}/retire", json={"force": True})
    assert status == 200
    async with asyncio.timeout(t(5)):
        while (await _connect(b, old_token)).get("error", {}).get("code") != 206:
            await asyncio.sleep(0.02)
    status, keys = await _call(b, "GET", "/signing-keys")
    assert [k["kid"] for k in keys["signing_keys"]] == [new_kid]


async def test_a_change_made_by_the_cli_reaches_the_nodes_by_their_reload(
    cluster: Cluster,
) -> None:
    """``pchat keys … --store`` writes the database only, publishing nothing: the nodes'
    periodic reload and the API-key cache's lifetime (2 s) bring it."""
    a = await cluster.start_node(keys_reload_interval=0.2)
    b = await cluster.start_node(keys_reload_interval=0.2)
    assert isinstance(a, RunningServer) and isinstance(b, RunningServer)
    where = ["--data-dir", str(cluster.data_dir), "--store", cluster.store]
    assert await asyncio.to_thread(main, ["keys", "rotate", *where]) == 0
    async with opened_key_stores(make_settings(cluster.data_dir, store=cluster.store)) as stores:
        newest = (await stores.keys.signing_keys())[-1].kid
    for node in (a, b):
        async with asyncio.timeout(t(5)):
            while _kid(await node.token("bob")) != newest:
                await asyncio.sleep(0.05)

    assert await _token_status(a, a.api_key, a.api_secret) == 200  # cached on a and b
    assert await _token_status(b, a.api_key, a.api_secret) == 200
    assert await asyncio.to_thread(main, ["keys", "revoke", a.api_key, *where]) == 0
    for node in (a, b):
        async with asyncio.timeout(t(6)):
            while await _token_status(node, a.api_key, a.api_secret) != 401:
                await asyncio.sleep(0.05)


async def test_three_nodes_starting_at_once_make_one_signing_key_and_one_api_key(
    cluster: Cluster,
) -> None:
    nodes = [ProcessNode(cluster.data_dir, cluster.store, cluster.broker) for _ in range(3)]
    cluster.nodes.extend(nodes)  # stopped by the cluster
    await asyncio.gather(*(node.start() for node in nodes))
    logs = [(cluster.data_dir / f"node-{node.port}.log").read_text() for node in nodes]
    firsts = [re.search(r"API_KEY=(\S+)\s+API_SECRET=(\S+)", log) for log in logs]
    printed = [m.groups() for m in firsts if m is not None]
    assert len(printed) == 1, logs  # one first API key, shown by one node
    key, secret = printed[0]
    async with opened_key_stores(make_settings(cluster.data_dir, store=cluster.store)) as stores:
        assert [r.key for r in await stores.keys.list_api_keys()] == [key]
        (signing,) = await stores.keys.signing_keys()
    assert not (cluster.data_dir / "keys.sqlite3").exists()

    tokens = []
    async with aiohttp.ClientSession() as http:
        for node in nodes:  # the printed key works on every node; all sign with one key
            async with http.get(
                f"{node.url}/public-chat/token/",
                params={"sub": "ann"},
                headers={"auth-api-key": key, "auth-api-secret": secret},
            ) as r:
                assert r.status == 200
                tokens.append((await r.json())["token"])
        assert {_kid(token) for token in tokens} == {signing.kid}
        async with http.ws_connect(nodes[2].ws_url) as ws:  # node 0's token on node 2
            client = RawClient(ws)
            reply = await client.request("connect", room="show", username="ann", token=tokens[0])
            assert reply["type"] == "reply", reply
            await client.close()
