"""Bad input over a real connection: each case gets its documented error or close code."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import orjson
import pytest

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import request_error
from tests.helpers import RawClient, RunningServer, start_server


async def test_malformed_frames_keep_the_connection(raw: Any) -> None:
    c = await raw("b1", user="alice")
    for data, code in [
        ("{nope", 101),
        ("[1]", 101),
        ('{"type":"dance","id":1}', 102),
        ('{"type":"send","id":2}', 103),
        ('{"type":"send","id":3,"text":[]}', 104),
        (b'{"type":"ping","id":4,"x":"\xff"}', 105),
    ]:
        await c.send_raw(data)
        frame = await c.error_without_id() if code in (101, 105) else await c.reply_to_raw(data)
        assert frame["type"] == "error" and frame["error"]["code"] == code, (data, frame)
    assert "ts" in await c.ok("ping")


async def test_request_errors(raw: Any) -> None:
    c = await raw(None)
    assert (await c.request("send", text="x"))["error"]["code"] == 106
    d = await raw("b2", user="alice")
    second = await d.request("connect", room="b2", username="a", token="checked-after-state")
    assert second["error"]["code"] == 107
    assert (await d.request("send", text="x" * 2001))["error"]["code"] == 109
    assert (await d.request("send", text=" \n "))["error"]["code"] == 110
    assert (await d.request("send", text="hi", cid="bad cid!"))["error"]["code"] == 104


async def test_rate_limit_then_flood_close(tmp_path: Any) -> None:
    srv = await start_server(
        tmp_path / "d", rate_messages=2.0, rate_messages_burst=2, flood_strikes=3
    )
    try:
        c = await _client(srv, "b3", "alice")
        codes = []
        for i in range(6):
            try:
                frame = await c.request("send", text=f"m{i}")
            except ConnectionError:
                break
            codes.append(frame["error"]["code"] if frame["type"] == "error" else 0)
            if frame["type"] == "error":
                assert frame["error"]["temporary"] is True and frame["error"]["retry_after_ms"] > 0
            if c._closed.is_set():
                break
        assert codes[:2] == [0, 0] and codes[2:5] == [108, 108, 108]
        assert await c.closed() == CloseCode.FLOOD
    finally:
        await _stop(srv)


async def _client(srv: RunningServer, room: str, user: str, **extra: Any) -> RawClient:
    assert srv.http is not None
    c = RawClient(await srv.http.ws_connect(srv.ws_url))
    c.connected = await c.ok(
        "connect", room=room, username=user, token=await srv.token(user), **extra
    )
    return c


async def _stop(srv: RunningServer) -> None:
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("case", "error", "close"),
    [
        ("alg_none", 201, CloseCode.BAD_TOKEN),
        ("garbage", 200, CloseCode.BAD_TOKEN),
        ("tampered", 202, CloseCode.BAD_TOKEN),
        ("bad_room", 115, CloseCode.BAD_CONNECT),
        ("bad_username", 116, CloseCode.BAD_CONNECT),
        ("role_not_granted", 117, CloseCode.FORBIDDEN),
    ],
)
async def test_connect_refusals_close(
    server: RunningServer, raw: Any, case: str, error: int, close: int
) -> None:
    token = await server.token("alice")
    args: dict[str, Any] = {"room": "b4", "username": "alice", "token": token}
    if case == "alg_none":
        claims = {"sub": "alice", "exp": time.time() + 99}
        args["token"] = f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}."
    elif case == "garbage":
        args["token"] = "not-a-jwt"
    elif case == "tampered":
        head, _, sig = token.split(".")
        args["token"] = (
            f"{head}.{_b64({'sub': 'mallory', 'exp': time.time() + 99, 'iss': 'pchat'})}.{sig}"
        )
    elif case == "bad_room":
        args["room"] = "no spaces"
    elif case == "bad_username":
        args["username"] = "evil\u202eusername"
    elif case == "role_not_granted":
        args["role"] = "admin"
    c = await raw(None)
    frame = await c.request("connect", **args)
    assert frame["type"] == "error" and frame["error"]["code"] == error
    assert await c.closed() == close


async def test_expired_token_and_expiry_while_connected(tmp_path: Any) -> None:
    srv = await start_server(
        tmp_path / "d", token_ttl=1, token_leeway=0, end_connections_at_token_exp=True
    )
    try:
        c = await _client(srv, "b5", "alice")
        fresh = await srv.token("alice")
        assert (await c.ok("refresh", token=fresh))["exp"] >= c.connected["token_exp"]
        other = await srv.token("bob")
        assert (await c.request("refresh", token=other))["error"]["code"] == 209
        assert await c.closed(timeout=5) == CloseCode.TOKEN_EXPIRED
        await asyncio.sleep(1.1)
        d = RawClient(await srv.http.ws_connect(srv.ws_url))  # type: ignore[union-attr]
        frame = await d.request("connect", room="b5", username="alice", token=fresh)
        assert frame["error"]["code"] == 203
        assert await d.closed() == CloseCode.TOKEN_EXPIRED
    finally:
        await _stop(srv)


async def test_connect_timeout(tmp_path: Any) -> None:
    srv = await start_server(tmp_path / "d", connect_timeout=0.2)
    try:
        assert srv.http is not None
        c = RawClient(await srv.http.ws_connect(srv.ws_url))
        assert await c.closed() == CloseCode.CONNECT_TIMEOUT
    finally:
        await _stop(srv)


async def test_connect_timeout_closes_only_the_late_ones_each_at_its_deadline(
    tmp_path: Any,
) -> None:
    srv = await start_server(tmp_path / "d", connect_timeout=0.6)
    try:
        assert srv.http is not None
        opened = time.monotonic()
        late = RawClient(await srv.http.ws_connect(srv.ws_url))
        await asyncio.sleep(0.5)
        on_time = RawClient(await srv.http.ws_connect(srv.ws_url))
        token = await srv.token("bob")
        await on_time.ok("connect", room="ct", username="bob", token=token)
        later = RawClient(await srv.http.ws_connect(srv.ws_url))
        later_opened = time.monotonic()
        assert await late.closed() == CloseCode.CONNECT_TIMEOUT
        assert 0.5 < time.monotonic() - opened < 0.95  # its own deadline, not the next one's
        assert await later.closed() == CloseCode.CONNECT_TIMEOUT
        assert time.monotonic() - later_opened > 0.5
        await on_time.ok("ping")  # connected in time: open well past its deadline
    finally:
        await _stop(srv)


async def test_oversized_frame_closes_1009(raw: Any) -> None:
    c = await raw("b6", user="alice")
    await c.send_raw(orjson.dumps({"type": "send", "id": 9, "text": "x" * 20000}))
    assert await c.closed() == 1009


async def test_invalid_utf8_text_frame_closes_1007(raw: Any) -> None:
    c = await raw("b7", user="alice")
    await c.ws.send_frame(b'{"type":"ping","id":1,"x":"\xff\xfe"}', aiohttp.WSMsgType.TEXT)
    assert await c.closed() == 1007


async def test_too_many_malformed_frames(raw: Any) -> None:
    c = await raw("b8", user="alice")
    for _ in range(25):
        await c.send_raw("{")
    assert await c.closed() == CloseCode.PROTOCOL_VIOLATION


async def test_slow_consumer_is_closed_others_unaffected(tmp_path: Any) -> None:
    srv = await start_server(
        tmp_path / "d", max_send_buffer=64 * 1024, rate_messages=None, rate_frames=None
    )
    try:
        assert srv.http is not None
        sender = await _client(srv, "b9", "alice")
        fast = await _client(srv, "b9", "bob")
        ws = await srv.http.ws_connect(srv.ws_url)
        await ws.send_bytes(
            orjson.dumps(
                {
                    "type": "connect",
                    "id": 1,
                    "room": "b9",
                    "username": "s",
                    "token": await srv.token("slow"),
                }
            )
        )
        await asyncio.sleep(0.2)  # connected; from now on this client never reads
        text = "y" * 1900
        n = 0
        while not ws.closed and n < 8000:
            await sender.ok("send", text=text)
            n += 1
            if n % 200 == 0:
                await asyncio.sleep(0.05)
                if srv.runner is not None and _slow_gone(srv):
                    break
        assert _slow_gone(srv), "the non-reading client was not dropped"
        got = 0
        while got < n:
            await fast.push("message")
            got += 1
        await ws.close()
    finally:
        await _stop(srv)


def _slow_gone(srv: RunningServer) -> bool:
    from pchat.server.ws import SERVICE_KEY

    assert srv.runner is not None
    service = srv.runner.app[SERVICE_KEY]
    return service.room_sizes().get("b9", 0) == 2


async def test_pings_keep_live_connections_and_drop_dead_ones(tmp_path: Any) -> None:
    srv = await start_server(tmp_path / "d", heartbeat=0.2)
    try:
        assert srv.http is not None
        live = await _client(srv, "hb", "alice")
        token = await srv.token("bob")
        dead_ws = await srv.http.ws_connect(srv.ws_url, autoping=False)
        dead = RawClient(dead_ws)
        await dead.ok("connect", room="hb", username="bob", token=token)
        await asyncio.sleep(1.0)  # five ping periods
        assert dead.close_code is not None or await dead.closed(timeout=2) is not None
        assert live.close_code is None
        assert "ts" in await live.ok("ping")
    finally:
        await _stop(srv)


async def test_a_crashing_handler_is_logged_and_closed(
    server: RunningServer, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from pchat.server.ws import SERVICE_KEY

    assert server.runner is not None
    store = server.runner.app[SERVICE_KEY].store

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    c = await raw("b10", user="alice")
    store.history = broken  # type: ignore[method-assign]
    frame = await c.request("history")
    assert frame["error"] == {
        "code": 100,
        "name": "internal",
        "message": "internal",
        "temporary": True,
    }  # no details leak
    assert await c.closed() == CloseCode.SERVER_ERROR
    assert "disk on fire" in caplog.text


async def test_failed_connects_leave_no_room_behind(server: RunningServer, raw: Any) -> None:
    """A connect refused after its checks began must not leave the room open on the node,
    subscribed on the broker, or created in the store (issue 8, finding 7)."""
    import sqlite3

    from pchat.server.ws import SERVICE_KEY

    assert server.runner is not None
    service = server.runner.app[SERVICE_KEY]
    token = await server.token("alice")
    # Refused with an error reply; the connection stays and may try again: each try must
    # clean up (before the fix each one left its room open, subscribed and stored).
    c = await raw(None)
    bad_recovers: list[Any] = [{"seq": -1}, {"seq": "x"}, {}, {"seq": 2**40, "epoch": 7}]
    for i in range(16):  # fewer than the malformed frames that close a connection
        args = {"room": f"ghost{i}", "username": "alice", "token": token}
        frame = await c.request("connect", recover=bad_recovers[i % len(bad_recovers)], **args)
        assert frame["type"] == "error", frame
    # Refused after the room was opened and joined (a store read failing mid-connect).
    real_stats = service.live.reaction_stats

    async def failing_stats(room_id: str) -> dict[str, int]:
        if room_id.startswith("flaky"):
            raise request_error(ErrorCode.UNAVAILABLE, "store unavailable")
        return await real_stats(room_id)

    service.live.reaction_stats = failing_stats
    for i in range(16):
        frame = await c.request("connect", room=f"flaky{i}", username="alice", token=token)
        assert frame["type"] == "error" and frame["error"]["code"] == 120, frame
    assert set(service.room_sizes()) == set(), service.room_sizes()
    # Refused with a close.
    for extra in ({"role": "admin"}, {"username": "  "}, {"token": "x"}):
        d = await raw(None)
        args = {"room": "ghost-closed", "username": "alice", "token": token, **extra}
        await d.request("connect", **args)
        await d.closed()
    live = await raw("real", user="bob")
    assert "ts" in await live.ok("ping")
    assert set(service.room_sizes()) == {"real"}
    await c.close()
    with sqlite3.connect(server.settings.db_path) as db:
        rooms = {row[0] for row in db.execute("SELECT room_id FROM rooms")}
    assert {r for r in rooms if not r.startswith("flaky")} == {"real"}, sorted(rooms)


def _ping_of_size(size: int) -> str:
    head = '{"type":"ping","id":1,"pad":"'
    return head + "a" * (size - len(head) - 2) + '"}'


async def test_a_frame_of_exactly_the_limit_passes_one_byte_more_closes(raw: Any) -> None:
    """docs/protocol.md: a frame may be at most ``max_frame_bytes`` (16 KiB) long."""
    c = await raw("size", user="alice")
    frame = _ping_of_size(16 * 1024)
    assert len(frame.encode()) == 16384
    await c.send_raw(frame)
    assert (await c.reply_to_raw(frame))["type"] == "reply"
    await c.send_raw(_ping_of_size(16 * 1024 + 1))
    assert await c.closed() == 1009


async def test_an_unmasked_client_frame_closes_with_1002(server: RunningServer) -> None:
    """RFC 6455 §5.1: the server must close a connection that sends an unmasked frame."""
    from tests.rawws import RawSocketClient

    ok = await RawSocketClient.open("127.0.0.1", server.port)
    await ok.send(b'{"type":"ping","id":1}')
    bad = await RawSocketClient.open("127.0.0.1", server.port)
    await bad.send(b'{"type":"ping","id":1}', masked=False)
    try:
        assert await bad.read_close(5) == 1002
        await ok.send(b'{"type":"ping","id":2}')  # the masked one is still served
    finally:
        ok.close()
        bad.close()


async def test_by_default_a_connection_outlives_its_token(tmp_path: Any) -> None:
    """Issue 10: the vendor's SDK has no refresh hook, so by default a token is checked at
    connect (and at every reconnect) and an established connection outlives it."""
    srv = await start_server(tmp_path / "d", token_ttl=2, token_leeway=0)
    try:
        c = await _client(srv, "life", "alice")
        token = await srv.token("alice")
        # Until the token of the connection and `token` have expired.
        await asyncio.sleep(max(0.0, c.connected["token_exp"] - time.time()) + 2.5)
        assert c.close_code is None
        assert (await c.ok("send", text="still here"))["message"]["text"] == "still here"
        d = RawClient(await srv.http.ws_connect(srv.ws_url))  # type: ignore[union-attr]
        frame = await d.request("connect", room="life", username="alice", token=token)
        assert frame["error"]["code"] == 203  # a new connection (a reconnect) is checked
        assert await d.closed() == CloseCode.TOKEN_EXPIRED
    finally:
        await _stop(srv)
