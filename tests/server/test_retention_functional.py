"""History retention against a real server: by count and by age, a room's own rule over the
server API, recovery from a removed position (``gap_too_large``, never a silent gap), and
history that simply ends where the kept part starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from pchat.server_client import ServerClient
from tests.helpers import RawClient, RunningServer, start_server, t

BASE = "/public-chat/admin/v1"


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    servers: list[RunningServer] = []

    async def make(**overrides: Any) -> RunningServer:
        overrides.setdefault("retention_interval", 0.05)
        overrides.setdefault("retention_min_age", 0)  # messages of the test's own seconds go
        overrides.setdefault("rate_messages", None)
        srv = await start_server(tmp_path / f"data{len(servers)}", **overrides)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        for raw in srv.extra.get("clients", []):
            await raw.close()
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


async def client(srv: RunningServer, room: str, user: str = "alice", **connect: Any) -> RawClient:
    assert srv.http is not None
    ws = await srv.http.ws_connect(srv.ws_url)
    raw = RawClient(ws)
    srv.extra.setdefault("clients", []).append(raw)
    token = await srv.token(user, "admin")
    raw.connected = await raw.ok(
        "connect", token=token, room=room, username=user, role="admin", **connect
    )
    return raw


async def api(srv: RunningServer, method: str, path: str, **body: Any) -> tuple[int, Any]:
    assert srv.http is not None
    headers = {"auth-api-key": srv.api_key, "auth-api-secret": srv.api_secret}
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "PUT":
        kwargs["json"] = body
    async with srv.http.request(method, f"{srv.url}{BASE}{path}", **kwargs) as response:
        return response.status, await response.json()


async def send(raw: RawClient, n: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [(await raw.ok("send", text=f"{prefix}{i}"))["message"] for i in range(n)]


async def history_ids(raw: RawClient, **args: Any) -> list[str]:
    page = await raw.ok("history", limit=100, **args)
    return [m["id"] for m in page["messages"]]


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 20.0) -> None:
    """Wait for ``check()`` to hold (the retention job runs every 50 ms)."""
    async with asyncio.timeout(t(timeout)):
        while not await check():
            await asyncio.sleep(0.05)


async def test_by_count_history_ends_and_recovery_from_before_says_gap(
    make_server: Callable[..., Any],
) -> None:
    srv = await make_server(retention_messages=5)
    alice = await client(srv, "count")
    epoch = alice.connected["room"]["epoch"]
    sent = await send(alice, 12)  # seq 1-12
    kept = [m["id"] for m in sent[7:]]

    async def trimmed() -> bool:
        return await history_ids(alice) == kept

    await eventually(trimmed)

    # History pages to the oldest kept message, then ends.
    page = await alice.ok("history", limit=2)
    assert [m["id"] for m in page["messages"]] == kept[-2:] and page["has_more"] is True
    seen: list[str] = []
    before = None
    while True:
        args = {"limit": 2} if before is None else {"limit": 2, "before_seq": before}
        page = await alice.ok("history", **args)
        seen = [m["id"] for m in page["messages"]] + seen
        if not page["has_more"]:
            break
        before = page["messages"][0]["seq"]
    assert seen == kept
    assert await history_ids(alice, before_seq=sent[7]["seq"]) == []

    # From a removed position: gap_too_large, never a replay with a hole.
    bob = await client(srv, "count", "bob", recover={"epoch": epoch, "seq": 2})
    assert bob.connected["recovery"] == {"recovered": False, "reason": "gap_too_large"}
    assert bob.connected["room"]["seq"] == 12
    # From just before the first kept event: everything kept, in order.
    carl = await client(srv, "count", "carl", recover={"epoch": epoch, "seq": 7})
    recovery = carl.connected["recovery"]
    assert recovery["recovered"] is True
    assert [e["message"]["id"] for e in recovery["events"]] == kept

    status, shown = await api(srv, "GET", "/rooms/count/retention")
    assert status == 200
    assert shown == {
        "room": "count",
        "rule": None,
        "effective": {"days": 0.0, "messages": 5},
        "first_seq": 8,
        "last_seq": 12,
    }


async def test_by_age(make_server: Callable[..., Any]) -> None:
    srv = await make_server(retention_days=1.0 / 86_400)  # one second
    alice = await client(srv, "age")
    epoch = alice.connected["room"]["epoch"]
    await send(alice, 3)

    async def emptied() -> bool:
        return await history_ids(alice) == []

    await eventually(emptied)
    status, shown = await api(srv, "GET", "/rooms/age/retention")
    assert status == 200 and (shown["first_seq"], shown["last_seq"]) == (4, 3)
    bob = await client(srv, "age", "bob", recover={"epoch": epoch, "seq": 1})
    assert bob.connected["recovery"] == {"recovered": False, "reason": "gap_too_large"}
    # A client that had seen everything has nothing to miss.
    carl = await client(srv, "age", "carl", recover={"epoch": epoch, "seq": 3})
    assert carl.connected["recovery"] == {"recovered": True, "events": []}
    # The stream goes on where it was.
    [later] = await send(alice, 1, prefix="later")
    assert later["seq"] == 4


async def test_a_rooms_own_rule_over_the_server_api(make_server: Callable[..., Any]) -> None:
    srv = await make_server(retention_messages=3)
    status, shown = await api(srv, "PUT", "/rooms/keep-all/retention", messages=0)
    assert status == 200
    assert shown["rule"] == {"days": None, "messages": 0}
    assert shown["effective"] == {"days": 0.0, "messages": 0}
    assert (shown["first_seq"], shown["last_seq"]) == (1, 0)  # the room need not exist
    status, shown = await api(srv, "PUT", "/rooms/two/retention", messages=2, days=30)
    assert status == 200 and shown["effective"] == {"days": 30.0, "messages": 2}

    rooms = {name: await client(srv, name) for name in ("keep-all", "two", "default")}
    sent = {name: await send(raw, 6) for name, raw in rooms.items()}

    async def trimmed() -> bool:
        two = await history_ids(rooms["two"])
        default = await history_ids(rooms["default"])
        return len(two) == 2 and len(default) == 3

    await eventually(trimmed)
    assert await history_ids(rooms["keep-all"]) == [m["id"] for m in sent["keep-all"]]
    assert await history_ids(rooms["two"]) == [m["id"] for m in sent["two"][4:]]

    # Without its rule, the room follows the server's again (here through the Python
    # server client, which has a method per endpoint).
    async with ServerClient(srv.url, srv.api_key, srv.api_secret) as client_api:
        removed = await client_api.remove_room_retention("keep-all")
        assert (removed.has_rule, removed.days, removed.messages) == (False, 0.0, 3)
        two = await client_api.room_retention("two")
        assert (two.rule_days, two.rule_messages, two.first_seq) == (30.0, 2, 5)
        changed = await client_api.set_room_retention("default", days=0.5)
        assert (changed.rule_days, changed.rule_messages, changed.messages) == (0.5, None, 3)

    async def followed() -> bool:
        return len(await history_ids(rooms["keep-all"])) == 3

    await eventually(followed)


@pytest.mark.parametrize(
    "body",
    [{"messages": -1}, {"days": "soon"}, {"days": 1e9}, {"messages": 1.5}, {"keep": 3}],
)
async def test_bad_rules_are_refused(make_server: Callable[..., Any], body: Any) -> None:
    srv = await make_server()
    status, error = await api(srv, "PUT", "/rooms/lobby/retention", **body)
    assert status == 400 and error["error"]["name"] == "invalid_field"
    status, shown = await api(srv, "GET", "/rooms/lobby/retention")
    assert status == 200 and shown["rule"] is None
