"""Reconnect with recovery: every missed event in order, or an explicit gap result."""

from __future__ import annotations

from typing import Any

from tests.helpers import RunningServer, start_server


async def test_recovery_replays_missed_messages_and_deletes(raw: Any) -> None:
    a = await raw("rc1", user="alice")
    b = await raw("rc1", user="bob")
    m1 = (await a.ok("send", text="one"))["message"]
    await b.push("message")
    epoch, seen = b.connected["room"]["epoch"], m1["seq"]
    await b.close()
    m2 = (await a.ok("send", text="two"))["message"]
    m3 = (await a.ok("send", text="three"))["message"]
    await a.ok("delete", message_id=m2["id"])
    b2 = await raw("rc1", user="bob", recover={"epoch": epoch, "seq": seen})
    recovery = b2.connected["recovery"]
    assert recovery["recovered"] is True
    events = recovery["events"]
    assert [e["seq"] for e in events] == [seen + 1, seen + 2, seen + 3]
    assert events[0]["type"] == "message" and events[0]["message"]["deleted"] is True
    assert events[0]["message"]["text"] == ""  # deleted text never replayed
    assert events[1]["message"]["text"] == "three" and events[1]["message"]["id"] == m3["id"]
    assert events[2]["type"] == "message_delete" and events[2]["message_id"] == m2["id"]
    assert b2.connected["room"]["seq"] == events[-1]["seq"]
    m4 = (await a.ok("send", text="four"))["message"]
    live = await b2.push("message")
    assert live["seq"] == m4["seq"] == events[-1]["seq"] + 1
    assert not [p for p in b2.pushes if p["type"] == "message"]


async def test_recovery_nothing_missed(raw: Any) -> None:
    a = await raw("rc2", user="alice")
    await a.ok("send", text="x")
    room = a.connected["room"]
    b = await raw("rc2", user="alice", recover={"epoch": room["epoch"], "seq": 1})
    assert b.connected["recovery"] == {"recovered": True, "events": []}


async def test_recovery_refuses_wrong_epoch(raw: Any) -> None:
    await raw("rc3", user="alice")
    b = await raw("rc3", user="bob", recover={"epoch": "not-it", "seq": 0})
    assert b.connected["recovery"] == {"recovered": False, "reason": "epoch_changed"}


async def test_recovery_gap_too_large(tmp_path: Any) -> None:
    srv = await start_server(tmp_path / "d", recovery_max_events=3, rate_messages=None)
    try:
        await _gap_case(srv)
    finally:
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


async def _gap_case(srv: RunningServer) -> None:
    from tests.helpers import RawClient

    assert srv.http is not None

    async def client(user: str, **extra: Any) -> RawClient:
        assert srv.http is not None
        c = RawClient(await srv.http.ws_connect(srv.ws_url))
        c.connected = await c.ok(
            "connect", room="g", username=user, token=await srv.token(user), **extra
        )
        return c

    a = await client("alice")
    for i in range(5):
        await a.ok("send", text=str(i))
    epoch = a.connected["room"]["epoch"]
    b = await client("bob", recover={"epoch": epoch, "seq": 1})
    assert b.connected["recovery"] == {"recovered": False, "reason": "gap_too_large"}
    c = await client("carl", recover={"epoch": epoch, "seq": 2})
    assert [e["message"]["text"] for e in c.connected["recovery"]["events"]] == ["2", "3", "4"]
    for x in (a, b, c):
        await x.close()


async def test_join_during_traffic_has_no_gap_or_duplicate(raw: Any, server: RunningServer) -> None:
    import asyncio

    senders = [await raw("rc4", user=f"s{i}") for i in range(4)]

    async def blast(c: Any, n: int) -> None:
        for i in range(n):
            await c.ok("send", text=f"{i}")

    task = asyncio.gather(*[blast(s, 8) for s in senders])
    joiners = []
    for i in range(5):
        joiners.append(await raw("rc4", user=f"j{i}"))
        await asyncio.sleep(0.01)
    await task
    for j in joiners:
        start = j.connected["room"]["seq"]
        seqs = []
        while len(seqs) < 32 - start:
            seqs.append((await j.push("message"))["seq"])
        assert seqs == list(range(start + 1, 33))


async def test_coalescing_keeps_order_and_joins_gap_free(tmp_path: Any) -> None:
    import asyncio

    from tests.helpers import RawClient

    srv = await start_server(tmp_path / "d", coalesce_ms=5, rate_messages=None)
    assert srv.http is not None

    async def client(user: str) -> RawClient:
        assert srv.http is not None
        c = RawClient(await srv.http.ws_connect(srv.ws_url))
        c.connected = await c.ok("connect", room="co", username=user, token=await srv.token(user))
        return c

    try:
        senders = [await client(f"s{i}") for i in range(3)]

        async def blast(c: RawClient) -> None:
            for i in range(10):
                await c.ok("send", text=str(i))

        task = asyncio.gather(*[blast(s) for s in senders])
        joiners = []
        for i in range(4):
            joiners.append(await client(f"j{i}"))
            await asyncio.sleep(0.005)
        await task
        for j in [*joiners, *senders]:
            start = j.connected["room"]["seq"]
            seqs = [(await j.push("message"))["seq"] for _ in range(30 - start)]
            assert seqs == list(range(start + 1, 31))
        for c in [*joiners, *senders]:
            await c.close()
    finally:
        await srv.stop()
        await srv.http.close()
