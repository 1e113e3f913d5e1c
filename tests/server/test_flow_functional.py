"""The chat service over a real WebSocket: connect, messages, history, delete, reactions."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.helpers import RunningServer


async def test_token_service(server: RunningServer) -> None:
    assert server.http is not None
    url = f"{server.url}/public-chat/token/"
    ok = {"auth-api-key": server.api_key, "auth-api-secret": server.api_secret}
    async with server.http.get(url, params={"sub": "alice"}, headers=ok) as r:
        assert r.status == 200
        token = (await r.json())["token"]
    header = orjson.loads(_b64(token.split(".")[0]))
    assert header == {"typ": "JWT", "alg": "HS256", "kid": header["kid"]}
    assert list(header) == ["typ", "alg", "kid"]
    assert token.startswith("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIs")  # as in the seed
    async with server.http.get(
        url, params={"sub": "alice"}, headers={**ok, "auth-api-secret": "x"}
    ) as r:
        assert r.status == 401
        assert (await r.json())["error"]["name"] == "unauthorized"
    async with server.http.get(url, params={"sub": "a b"}, headers=ok) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == 104
    async with server.http.get(url, headers=ok) as r:
        assert r.status == 400
    async with server.http.get(url, params={"sub": "a", "role": "god"}, headers=ok) as r:
        assert r.status == 400


async def test_token_service_throttles_failures(server: RunningServer) -> None:
    assert server.http is not None
    url = f"{server.url}/public-chat/token/?sub=alice"
    statuses = []
    for _ in range(12):
        async with server.http.get(
            url, headers={"auth-api-key": "pk_x", "auth-api-secret": "no"}
        ) as r:
            statuses.append(r.status)
            retry = r.headers.get("Retry-After")
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    assert retry is not None and int(retry) >= 1


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def test_connect_reply(raw: Any) -> None:
    c = await raw("lobby", user="alice", name="Alice")
    result = c.connected
    assert result["user"] == {"id": "alice", "username": "Alice", "role": "viewer"}
    room = result["room"]
    assert room["id"] == "lobby" and room["seq"] == 0 and room["online"] >= 1
    assert room["reactions"]["stats"] == {} and "like" in room["reactions"]["types"]
    assert room["polls"] == []
    assert isinstance(result["token_exp"], (int, float))


async def test_two_clients_chat_in_one_order(raw: Any) -> None:
    a = await raw("r1", user="alice")
    b = await raw("r1", user="bob")
    sent = await asyncio.gather(
        *[a.ok("send", text=f"a{i}") for i in range(5)],
        *[b.ok("send", text=f"b{i}") for i in range(5)],
    )
    assert {s["message"]["seq"] for s in sent} == set(range(1, 11))
    got_a = [(await a.push("message"))["message"]["text"] for _ in range(10)]
    got_b = [(await b.push("message"))["message"]["text"] for _ in range(10)]
    assert got_a == got_b
    first = sent[0]["message"]
    assert first["user"] == {"id": "alice", "username": "alice", "role": "viewer"}
    assert first["deleted"] is False and len(first["id"]) == 16 and first["ts"] > 0


async def test_idempotent_retry(raw: Any) -> None:
    a = await raw("r2", user="alice")
    one = await a.ok("send", text="once", cid="c-1")
    two = await a.ok("send", text="once", cid="c-1")
    assert one["message"] == two["message"]
    assert (one["duplicate"], two["duplicate"]) == (False, True)
    page = await a.ok("history")
    assert [m["text"] for m in page["messages"]] == ["once"]


async def test_history_paging(raw: Any) -> None:
    a = await raw("r3", user="alice")
    for i in range(7):
        await a.ok("send", text=f"m{i}")
    page = await a.ok("history", limit=3)
    assert [m["text"] for m in page["messages"]] == ["m4", "m5", "m6"] and page["has_more"]
    older = await a.ok("history", limit=3, before_seq=page["messages"][0]["seq"])
    assert [m["text"] for m in older["messages"]] == ["m1", "m2", "m3"] and older["has_more"]
    oldest = await a.ok("history", limit=3, before_seq=older["messages"][0]["seq"])
    assert [m["text"] for m in oldest["messages"]] == ["m0"] and not oldest["has_more"]
    ts = page["messages"][0]["ts"]
    by_ts = await a.ok("history", before_ts=ts + 1)
    assert all(m["ts"] <= ts for m in by_ts["messages"])
    bad = await a.request("history", limit=0)
    assert bad["error"]["code"] == 104


async def test_soft_delete(raw: Any) -> None:
    a = await raw("r4", user="alice")
    b = await raw("r4", user="bob")
    mod = await raw("r4", user="mia", role="moderator")
    m1 = (await a.ok("send", text="mine"))["message"]
    m2 = (await a.ok("send", text="second"))["message"]
    refused = await b.request("delete", message_id=m1["id"])
    assert refused["error"]["name"] == "forbidden"
    assert (await a.ok("delete", message_id=m1["id"]))["message_id"] == m1["id"]
    push = await b.push("message_delete")
    assert push["message_id"] == m1["id"] and push["message_seq"] == m1["seq"]
    assert push["deleted_by"]["id"] == "alice" and push["seq"] == m2["seq"] + 1
    assert (await mod.ok("delete", message_id=m2["id"]))["seq"] == push["seq"] + 1
    again = await a.request("delete", message_id=m1["id"])
    assert again["error"]["code"] == 119
    missing = await a.request("delete", message_id="nope")
    assert missing["error"]["code"] == 112
    history = (await b.ok("history"))["messages"]
    assert [(m["text"], m["deleted"]) for m in history] == [("", True), ("", True)]
    assert history[1]["deleted_by"]["role"] == "moderator"


async def test_reactions_and_stats(raw: Any) -> None:
    a = await raw("r5", user="alice")
    b = await raw("r5", user="bob")
    await a.ok("react", reaction="like")
    await b.ok("react", reaction="like")
    await b.ok("react", reaction="fire")
    push = await b.push("reaction")
    assert push["reaction"] == "like" and push["user"]["id"] == "alice"
    stats = await a.push("reactions_stats")
    assert sum(stats["stats"].values()) >= 1
    assert (await a.ok("reactions_stats"))["stats"] == {"like": 2, "fire": 1}
    bad = await a.request("react", reaction="poop")
    assert bad["error"]["code"] == 118
    late = await raw("r5", user="carol")
    assert late.connected["room"]["reactions"]["stats"] == {"like": 2, "fire": 1}


async def test_online_count_pushed(raw: Any) -> None:
    a = await raw("r6", user="alice")
    await raw("r6", user="bob")
    while True:
        push = await a.push("online")
        if push["online"] == 2:
            break


async def test_history_survives_restart(server: RunningServer, raw: Any) -> None:
    a = await raw("r7", user="alice")
    sent = (await a.ok("send", text="persist me"))["message"]
    epoch = a.connected["room"]["epoch"]
    await a.ws.close()
    await server.restart()
    b = await raw("r7", user="bob")
    assert b.connected["room"]["epoch"] == epoch and b.connected["room"]["seq"] == sent["seq"]
    assert (await b.ok("history"))["messages"] == [sent]


async def test_demo_token_endpoint(server: RunningServer, raw: Any) -> None:
    assert server.http is not None
    async with server.http.get(
        f"{server.url}/demo/token", params={"sub": "d1", "role": "moderator"}
    ) as r:
        assert r.status == 200
        token = (await r.json())["token"]
    c = await raw(None)
    reply = await c.ok("connect", room="demo", username="D", token=token, role="moderator")
    assert reply["user"]["role"] == "moderator"
    async with server.http.get(f"{server.url}/demo/token", params={"sub": "bad id"}) as r:
        assert r.status == 400


async def test_demo_token_endpoint_can_be_off(tmp_path: Any) -> None:
    from tests.helpers import start_server

    srv = await start_server(tmp_path / "d", demo_token_endpoint=False)
    try:
        assert srv.http is not None
        async with srv.http.get(f"{srv.url}/demo/token", params={"sub": "x"}) as r:
            assert r.status == 404
    finally:
        await srv.stop()
        await srv.http.close()


async def test_health(server: RunningServer) -> None:
    assert server.http is not None
    async with server.http.get(f"{server.url}/healthz") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok", "broker": True, "store": True}
    async with server.http.get(f"{server.url}/readyz") as r:
        assert r.status == 200
        assert await r.json() == {"ready": True, "serving": True, "broker": True, "store": True}


async def test_room_reopens_after_everyone_left(server: RunningServer, raw: Any) -> None:
    for _round in range(3):  # each round empties the room, which closes it on the server
        clients = await asyncio.gather(*[raw("reopen", user=f"u{i}") for i in range(15)])
        assert all(c.connected["room"]["id"] == "reopen" for c in clients)
        await clients[0].ok("send", text="still works")
        for c in clients:
            await c.close()
        await asyncio.sleep(0.05)


async def test_rotated_signing_keys_are_picked_up_while_running(tmp_path: Any) -> None:
    from pchat.cli import main
    from tests.helpers import start_server

    srv = await start_server(tmp_path / "d", keys_reload_interval=0.05)
    try:
        old_token = await srv.token("ann")
        old_kid = orjson.loads(_b64(old_token.split(".")[0]))["kid"]
        rotate = ["keys", "rotate", "--data-dir", str(srv.settings.data_dir)]
        assert await asyncio.to_thread(main, rotate) == 0  # the CLI runs its own loop
        await asyncio.sleep(0.3)
        new_token = await srv.token("ann")
        new_kid = orjson.loads(_b64(new_token.split(".")[0]))["kid"]
        assert new_kid != old_kid  # the server signs with the new key
        assert srv.http is not None
        for token in (old_token, new_token):  # and both verify
            from tests.helpers import RawClient

            c = RawClient(await srv.http.ws_connect(srv.ws_url))
            await c.ok("connect", room="rot", username="Ann", token=token)
            await c.close()
    finally:
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


def test_the_demo_token_endpoint_is_off_by_default() -> None:
    from pchat.server.config import Settings

    assert Settings().demo_token_endpoint is False
    assert Settings.from_env({"PCHAT_DEMO_TOKEN_ENDPOINT": "true"}).demo_token_endpoint is True
