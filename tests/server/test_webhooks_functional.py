"""Webhooks against a real server and a real receiver (tests/webhook_receiver.py): endpoints
registered through the server API, every event type delivered signed (the receiver checks
each signature), retries after 500s with a growing backoff until success, giving up and a
retry by hand, a delivery that survives a restart, the test event, and the API's refusals."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pchat.protocol.signing import REPLAY_WINDOW_S, verify
from tests.helpers import RawClient, RunningServer, start_server, t
from tests.webhook_receiver import Receiver

BASE = "/public-chat/admin/v1"
#: Fast retries: 0.2 s, 0.4 s, 0.8 s, then 1 s apart (each times [0.5, 1]); 4 attempts.
FAST = {
    "webhook_retry_base": 0.2,
    "webhook_retry_max": 1.0,
    "webhook_max_attempts": 4,
    "webhook_timeout": 2.0,
    "webhook_poll_interval": 0.05,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    srv = await start_server(tmp_path / "data", **FAST)
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def api(
    server: RunningServer, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    assert server.http is not None
    auth = {"auth-api-key": server.api_key, "auth-api-secret": server.api_secret}
    async with server.http.request(
        method, server.url + BASE + path, json=body, headers={**auth, **headers}
    ) as response:
        return response.status, await response.json()


async def register(
    server: RunningServer, receiver: Receiver, types: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": receiver.url, "description": "the test's receiver"}
    if types is not None:
        body["types"] = types
    status, created = await api(server, "POST", "/webhooks", body)
    assert status == 201, created
    receiver.secret = created["secret"]
    return created


async def client(server: RunningServer, user: str = "u1", role: str | None = None) -> RawClient:
    assert server.http is not None
    c = RawClient(await server.http.ws_connect(server.ws_url))
    token = await server.token(user, role)
    args = {"room": "lobby", "username": user, "token": token}
    if role:
        args["role"] = role
    await c.ok("connect", **args)
    return c


async def test_every_event_is_delivered_signed(server: RunningServer, receiver: Receiver) -> None:
    created = await register(server, receiver)
    assert created["secret"].startswith("whsec_")
    assert created["types"] == ["*"] and created["active"] is True
    alice = await client(server, "alice")
    # Online counts are sampled each stats period: the room is live at the next one.
    await receiver.until(lambda: len(receiver.delivered("room.live")) == 1, what="room.live")
    sent = await alice.ok("send", text="hello")
    _, deleted = await api(server, "DELETE", f"/rooms/lobby/messages/{sent['message']['id']}")
    await alice.ok("send", text="again")
    await api(server, "POST", "/rooms/lobby/purge", {"user_id": "alice"})
    await api(server, "POST", "/rooms/lobby/bans", {"user_id": "troll", "duration": 60})
    await api(server, "DELETE", "/rooms/lobby/bans/troll")
    _, poll = await api(
        server, "POST", "/rooms/lobby/polls", {"question": "Tea?", "options": ["yes", "no"]}
    )
    await api(server, "POST", f"/rooms/lobby/polls/{poll['poll']['id']}/finish")
    await alice.close()

    expected = [
        "room.live",
        "message.posted",
        "message.deleted",
        "message.posted",
        "messages.purged",
        "user.banned",
        "user.unbanned",
        "poll.published",
        "poll.finished",
        "room.empty",
    ]
    await receiver.until(
        lambda: sorted(g.type for g in receiver.delivered()) == sorted(expected),
        what="every event",
    )
    got = receiver.delivered()
    assert all(g.signed for g in got)
    assert len({g.event_id for g in got}) == len(expected)
    for g in got:
        assert g.headers["pchat-event-id"] == g.event_id
        assert g.headers["pchat-event-type"] == g.type
        assert g.headers["pchat-delivery-attempt"] == "1"
        assert g.headers["Content-Type"] == "application/json"
        assert g.body["room_id"] == "lobby"
    by_type = {g.type: g.body["data"] for g in got}
    first = next(g for g in got if g.type == "message.posted")
    assert first.body["data"]["message"] == sent["message"]
    assert by_type["message.deleted"]["message"]["id"] == sent["message"]["id"]
    assert by_type["message.deleted"]["message"]["text"] == ""
    assert by_type["message.deleted"]["seq"] == deleted["seq"]
    assert by_type["messages.purged"]["user_id"] == "alice"
    assert by_type["messages.purged"]["count"] == 1
    assert by_type["user.banned"]["ban"]["user_id"] == "troll"
    assert by_type["user.banned"]["ban"]["until"] is not None
    assert by_type["user.unbanned"]["user_id"] == "troll"
    assert by_type["poll.published"]["poll"]["question"] == "Tea?"
    assert by_type["poll.finished"]["poll"]["status"] == "finished"
    assert by_type["room.live"] == {"online": 1}
    assert by_type["room.empty"] == {"online": 0}

    # The receiver's check: a changed body, another secret or an old signature fail.
    raw, header = got[0].raw, got[0].headers["pchat-signature"]
    assert verify(receiver.secret, header, raw)
    assert not verify(receiver.secret, header, raw + b" ")
    assert not verify("whsec_other_secret_0123", header, raw)
    signed_at = int(header.split(",")[0][2:])
    assert not verify(receiver.secret, header, raw, now=signed_at + REPLAY_WINDOW_S + 1)

    # Each outcome is recorded just after the receiver answered.
    async with asyncio.timeout(t(5)):
        while (listed := (await api(server, "GET", "/webhooks"))[1])["webhooks"][0]["pending"]:
            await asyncio.sleep(0.05)
    [shown] = listed["webhooks"]
    assert "secret" not in shown and created["secret"] not in str(listed)
    assert (shown["pending"], shown["dead"], shown["last_error"]) == (0, 0, None)


async def test_only_the_subscribed_types_arrive(server: RunningServer, receiver: Receiver) -> None:
    await register(server, receiver, ["user.banned"])
    await api(server, "POST", "/rooms/lobby/messages", {"text": "not for this endpoint"})
    await api(server, "POST", "/rooms/lobby/bans", {"user_id": "troll"})
    await receiver.until(lambda: len(receiver.delivered()) == 1)
    assert [g.type for g in receiver.got] == ["user.banned"]


async def test_500s_are_retried_with_a_growing_backoff_until_success(
    server: RunningServer, receiver: Receiver
) -> None:
    created = await register(server, receiver, ["message.posted"])
    receiver.plan["message.posted"] = [500, 500, 503]
    await api(server, "POST", "/rooms/lobby/messages", {"text": "retry me"})
    await receiver.until(lambda: len(receiver.delivered()) == 1, what="the 4th attempt's success")
    attempts = receiver.got
    assert [g.status for g in attempts] == [500, 500, 503, 200]
    assert [g.headers["pchat-delivery-attempt"] for g in attempts] == ["1", "2", "3", "4"]
    assert len({g.event_id for g in attempts}) == 1
    assert all(g.raw == attempts[0].raw for g in attempts)  # the same event, byte for byte
    assert all(g.signed for g in attempts)
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    # At least half of 0.2, 0.4, 0.8 s (the jitter), and growing overall.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4, gaps
    assert gaps[2] > gaps[0], gaps
    async with asyncio.timeout(t(5)):  # recorded just after the receiver answered
        while (shown := (await api(server, "GET", f"/webhooks/{created['id']}"))[1])["pending"]:
            await asyncio.sleep(0.05)
    assert (shown["pending"], shown["dead"]) == (0, 0)
    assert shown["last_error"] is None  # delivered: the outbox row is gone


async def test_a_delivery_given_up_is_dead_until_retried(
    server: RunningServer, receiver: Receiver
) -> None:
    created = await register(server, receiver, ["message.posted"])
    receiver.plan["message.posted"] = [500] * 4
    await api(server, "POST", "/rooms/lobby/messages", {"text": "doomed"})
    await receiver.until(lambda: len(receiver.got) == 4, what="four attempts")

    async def outbox() -> dict[str, Any]:
        _, shown = await api(server, "GET", f"/webhooks/{created['id']}")
        return {k: shown[k] for k in ("pending", "dead", "last_error")}

    # The fourth answer is recorded just after the receiver sent it.
    async with asyncio.timeout(t(5)):
        while (await outbox())["dead"] != 1:
            await asyncio.sleep(0.05)
    assert await outbox() == {"pending": 0, "dead": 1, "last_error": "HTTP 500"}
    assert len(receiver.got) == 4  # no fifth attempt

    status, retried = await api(server, "POST", f"/webhooks/{created['id']}/retry")
    assert (status, retried) == (200, {"retried": 1})
    await receiver.until(lambda: len(receiver.delivered()) == 1)
    assert receiver.got[-1].headers["pchat-delivery-attempt"] == "1"
    assert receiver.got[-1].event_id == receiver.got[0].event_id


async def test_pending_deliveries_survive_a_restart(
    server: RunningServer, receiver: Receiver
) -> None:
    await register(server, receiver, ["message.posted"])
    receiver.plan["message.posted"] = [503]
    await api(server, "POST", "/rooms/lobby/messages", {"text": "durable"})
    await receiver.until(lambda: len(receiver.got) == 1, what="the first attempt")
    await server.restart()
    await receiver.until(lambda: len(receiver.delivered()) == 1, what="delivery after restart")
    assert receiver.got[-1].event_id == receiver.got[0].event_id
    assert receiver.got[-1].body["data"]["message"]["text"] == "durable"


async def test_the_test_event_and_changes_to_an_endpoint(
    server: RunningServer, receiver: Receiver
) -> None:
    created = await register(server, receiver, ["user.banned"])
    path = f"/webhooks/{created['id']}"
    status, tested = await api(server, "POST", path + "/test")
    assert status == 200, tested
    assert tested["ok"] is True and tested["status"] == 200 and tested["error"] is None
    [test] = receiver.got
    assert test.type == "webhook.test" and test.signed
    assert test.body["room_id"] is None and test.body["data"] == {"webhook_id": created["id"]}
    assert test.event_id == tested["event_id"]

    # Inactive: no new events; active again: later ones arrive.
    status, changed = await api(server, "PATCH", path, {"active": False, "description": "off"})
    assert status == 200 and changed["active"] is False and changed["description"] == "off"
    await api(server, "POST", "/rooms/lobby/bans", {"user_id": "quiet"})
    status, changed = await api(server, "PATCH", path, {"active": True, "types": ["*"]})
    assert changed["types"] == ["*"]
    await api(server, "POST", "/rooms/lobby/bans", {"user_id": "loud"})
    await receiver.until(lambda: len(receiver.delivered("user.banned")) == 1)
    assert receiver.delivered("user.banned")[0].body["data"]["ban"]["user_id"] == "loud"

    # A new secret signs from now on.
    new_secret = "whsec_rotated_0123456789"
    assert (await api(server, "PATCH", path, {"secret": new_secret}))[0] == 200
    receiver.secret = new_secret
    await api(server, "POST", path + "/test")
    assert receiver.got[-1].signed

    status, removed = await api(server, "DELETE", path)
    assert (status, removed) == (200, {"id": created["id"]})
    assert (await api(server, "GET", path))[0] == 404
    assert (await api(server, "GET", "/webhooks"))[1] == {"webhooks": []}


async def test_a_test_to_an_endpoint_that_does_not_answer(server: RunningServer) -> None:
    status, created = await api(
        server, "POST", "/webhooks", {"url": "http://127.0.0.1:1/nothing-listens"}
    )
    assert status == 201
    status, tested = await api(server, "POST", f"/webhooks/{created['id']}/test")
    assert status == 200
    assert tested["ok"] is False and tested["status"] is None and tested["error"]


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({}, "missing_field"),
        ({"url": "ftp://example.com/x"}, "invalid_field"),
        ({"url": "https://user:pw@example.com/"}, "invalid_field"),
        ({"url": "https://example.com/", "types": ["message.edited"]}, "invalid_field"),
        ({"url": "https://example.com/", "types": []}, "invalid_field"),
        ({"url": "https://example.com/", "secret": "short"}, "invalid_field"),
        ({"url": "https://example.com/", "active": False}, "invalid_field"),
        ({"url": "https://example.com/", "colour": "red"}, "invalid_field"),
    ],
)
async def test_bad_registrations_are_refused(
    server: RunningServer, body: dict[str, Any], name: str
) -> None:
    status, error = await api(server, "POST", "/webhooks", body)
    assert status == 400 and error["error"]["name"] == name, error
    assert (await api(server, "GET", "/webhooks"))[1] == {"webhooks": []}


async def test_unknown_endpoints_and_wrong_credentials(server: RunningServer) -> None:
    for method, path in [
        ("GET", "/webhooks/wh_nope"),
        ("PATCH", "/webhooks/wh_nope"),
        ("DELETE", "/webhooks/wh_nope"),
        ("POST", "/webhooks/wh_nope/test"),
        ("POST", "/webhooks/wh_nope/retry"),
    ]:
        status, error = await api(server, method, path, {} if method == "PATCH" else None)
        assert status == 404 and error["error"]["name"] == "not_found", (method, path)
    status, error = await api(
        server, "GET", "/webhooks", **{"auth-api-secret": "sk_wrong_wrong_wrong_wrong"}
    )
    assert status == 401 and error["error"]["name"] == "unauthorized"
    _, created = await api(server, "POST", "/webhooks", {"url": "https://example.com/h"})
    status, error = await api(server, "PATCH", f"/webhooks/{created['id']}", {"active": "yes"})
    assert status == 400 and error["error"]["name"] == "invalid_field"
