"""The Python SDK against the in-process fake server (tests/sdk/fake_server.py)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import pchat.sdk
from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import (
    ConflictError,
    ConnectionClosedError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PChatError,
    RequestTimeoutError,
    StateError,
    TokenError,
)
from pchat.protocol.models import Message
from pchat.sdk import (
    AiohttpConnector,
    Backoff,
    ConnectEvent,
    DisconnectEvent,
    Events,
    HandlerError,
    PChatSDK,
    StateChange,
    States,
    Transport,
    backoff_delay,
    ws_url,
)

from .fake_server import FakeServer

#: Every timeout and delay of this file is a multiple of T (seconds).
T = 0.05

MakeSDK = Callable[..., PChatSDK]


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_sdk(fake: FakeServer) -> AsyncIterator[MakeSDK]:
    sdks: list[PChatSDK] = []

    def make(**options: Any) -> PChatSDK:
        options.setdefault("request_timeout", 10 * T)
        options.setdefault("ping_interval", None)
        options.setdefault("backoff_base", T)
        options.setdefault("backoff_max", 4 * T)
        options.setdefault("rng", random.Random(7))
        sdk = PChatSDK(fake.url, **options)
        sdks.append(sdk)
        return sdk

    yield make
    for sdk in sdks:
        await sdk.disconnect()
        await sdk.drain()


class Recorder:
    """Records every event of an SDK as (event, payload)."""

    def __init__(self, sdk: PChatSDK) -> None:
        self.events: list[tuple[Events, Any]] = []
        for event in Events:
            sdk.on(event, lambda payload, event=event: self.events.append((event, payload)))

    def of(self, event: Events) -> list[Any]:
        return [payload for ev, payload in self.events if ev is event]

    def ids(self, event: Events) -> list[str]:
        return [m.id for m in self.of(event)]


async def until(predicate: Callable[[], bool], timeout: float = 40 * T) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(T / 10)


# -- the seed's flow ------------------------------------------------------------------------


async def test_seed_flow(fake: FakeServer, make_sdk: MakeSDK) -> None:
    for text in ("one", "two", "three"):
        await fake.post(text)
    sdk = make_sdk()
    errors: list[PChatError] = []
    connects: list[ConnectEvent] = []
    received: list[Message] = []
    sdk.on(Events.ERROR, errors.append)
    sdk.on(Events.CONNECT, connects.append)
    sdk.on(Events.MESSAGE, received.append)

    await sdk.connect("room_id", "username", "u-ann")
    assert sdk.state is States.CONNECTED
    assert sdk.user is not None and sdk.user.username == "username"
    assert connects[0].room == "room_id" and connects[0].recovered is None
    assert connects[0].seq == 3

    page = await sdk.load_history()
    assert [m.text for m in page] == ["one", "two", "three"]
    assert [m.text for m in sdk.messages] == ["one", "two", "three"]

    sent = await sdk.send_message("hello")
    assert sent.text == "hello" and sent.cid
    await until(lambda: sdk.last_seq == 4)
    assert [m.text for m in sdk.messages] == ["one", "two", "three", "hello"]
    assert [m.id for m in received] == [sent.id]  # push and reply: one MESSAGE
    assert errors == []


async def test_reply_before_push_also_fires_once(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.reply_first = True  # the reply of the send comes before its push
    sent = await sdk.send_message("a")
    assert rec.ids(Events.MESSAGE) == [sent.id]
    other = await fake.post("b")
    await until(lambda: sdk.last_seq == 2)
    assert rec.ids(Events.MESSAGE) == [sent.id, other.id]


async def test_state_changes_and_disconnect(make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    changes: list[StateChange] = []
    disconnects: list[DisconnectEvent] = []
    sdk.on(Events.STATE_CHANGE, changes.append)
    sdk.on(Events.DISCONNECT, disconnects.append)
    await sdk.connect("lobby", "Ann", "u-ann")
    await sdk.disconnect()
    assert [(c.old, c.new) for c in changes] == [
        (States.DISCONNECTED, States.CONNECTING),
        (States.CONNECTING, States.CONNECTED),
        (States.CONNECTED, States.DISCONNECTED),
    ]
    assert disconnects == [DisconnectEvent(1000, "client disconnect", False)]
    await sdk.disconnect()  # a second call does nothing
    assert len(disconnects) == 1


# -- listeners ------------------------------------------------------------------------------


def test_listener_removal_in_five_forms() -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    calls: list[str] = []

    def a(payload: Any) -> None:
        calls.append("a")

    def b(payload: Any) -> None:
        calls.append("b")

    def fire_all() -> list[str]:
        calls.clear()
        for event in (Events.MESSAGE, Events.POLL, Events.ONLINE):
            sdk.emit(event, None)
        return list(calls)

    def register() -> None:
        sdk.remove_all_listeners()
        for event in (Events.MESSAGE, Events.POLL, Events.ONLINE):
            sdk.on(event, a)
            sdk.on(event, b)

    register()
    assert fire_all() == ["a", "b"] * 3
    sdk.off(Events.MESSAGE, a)  # one listener of one event
    assert fire_all() == ["b", "a", "b", "a", "b"]
    register()
    sdk.off([Events.MESSAGE, Events.POLL], a)  # one listener of several events
    assert fire_all() == ["b", "b", "a", "b"]
    register()
    sdk.remove_all_listeners(Events.POLL)  # all listeners of one event
    assert fire_all() == ["a", "b", "a", "b"]
    register()
    sdk.remove_all_listeners([Events.MESSAGE, Events.ONLINE])  # all of several events
    assert fire_all() == ["a", "b"]
    register()
    sdk.remove_all_listeners()  # everything
    assert fire_all() == []
    assert sdk.listener_count(Events.MESSAGE) == 0


def test_on_returns_the_handler_and_works_as_a_decorator() -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    seen: list[Any] = []

    @sdk.on(Events.ONLINE)
    def on_online(count: int) -> None:
        seen.append(count)

    handler = seen.append
    assert sdk.on(Events.ONLINE, handler) is handler
    sdk.emit(Events.ONLINE, 3)
    assert seen == [3, 3]
    sdk.off(Events.ONLINE, on_online)
    sdk.emit(Events.ONLINE, 4)
    assert seen == [3, 3, 4]
    sdk.on("poll", seen.append)  # the string value of an event works too
    sdk.emit(Events.POLL, "p")
    assert seen[-1] == "p"


async def test_sync_async_and_zero_argument_handlers(caplog: pytest.LogCaptureFixture) -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    seen: list[Any] = []
    errors: list[PChatError] = []
    sdk.on(Events.ERROR, errors.append)

    async def async_handler(payload: Any) -> None:
        await asyncio.sleep(0)
        seen.append(("async", payload))

    async def async_zero() -> None:
        seen.append("async-zero")

    def sync_zero() -> None:
        seen.append("sync-zero")

    def sync_raises(payload: Any) -> None:
        raise ValueError("sync boom")

    async def async_raises() -> None:
        raise KeyError("async boom")

    for handler in (async_handler, async_zero, sync_zero, sync_raises, async_raises):
        sdk.on(Events.ONLINE, handler)
    sdk.emit(Events.ONLINE, 5)  # never raises
    await sdk.drain()
    assert sorted(map(str, seen)) == sorted(map(str, [("async", 5), "async-zero", "sync-zero"]))
    assert [type(e.__cause__) for e in errors] == [ValueError, KeyError]
    assert all(isinstance(e, HandlerError) and e.event == "online" for e in errors)

    def error_handler_raises(error: PChatError) -> None:
        raise RuntimeError("error handler fails")

    sdk.on(Events.ERROR, error_handler_raises)
    sdk.emit(Events.ONLINE, 6)  # an ERROR handler's own failure is only logged
    await sdk.drain()
    assert "error handler fails" in caplog.text


# -- errors ---------------------------------------------------------------------------------


async def test_errors_map_to_exception_classes(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    errors: list[PChatError] = []
    sdk.on(Events.ERROR, errors.append)
    with pytest.raises(StateError):
        await sdk.send_message("too early")
    await sdk.connect("lobby", "Ann", "u-ann")
    with pytest.raises(StateError):
        await sdk.connect("lobby", "Ann", "u-ann")
    with pytest.raises(NotFoundError):
        await sdk.delete_message("nope")
    with pytest.raises(InvalidRequestError) as info:
        await sdk.send_message("   ")
    assert info.value.code is ErrorCode.MESSAGE_EMPTY
    with pytest.raises(ForbiddenError):
        await sdk.create_poll("Q?", ["a", "b"])
    with pytest.raises(InvalidRequestError) as info:
        await sdk.send_reaction("nope")
    assert info.value.code is ErrorCode.INVALID_REACTION
    fake.omit.add("reactions_stats")
    with pytest.raises(RequestTimeoutError):
        await sdk.get_reactions_stats()
    assert sdk.state is States.CONNECTED
    assert errors == []  # failed calls raise; they do not fire ERROR


async def test_refused_connect_raises_and_disconnects(fake: FakeServer, make_sdk: MakeSDK) -> None:
    fake.bad_tokens.add("forged")
    sdk = make_sdk()
    with pytest.raises(TokenError) as info:
        await sdk.connect("lobby", "Ann", "forged")
    assert info.value.code is ErrorCode.TOKEN_BAD_SIGNATURE
    assert sdk.state is States.DISCONNECTED
    fake.connect_failures.append((ErrorCode.ROLE_NOT_GRANTED, CloseCode.FORBIDDEN))
    with pytest.raises(ForbiddenError):
        await sdk.connect("lobby", "Ann", "u-ann", role="admin")
    await sdk.connect("lobby", "Ann", "u-ann", role="moderator")
    assert sdk.user is not None and sdk.user.role == "moderator"
    assert fake.connects[-1]["role"] == "moderator"


async def test_connect_to_nothing_raises_connection_closed(make_sdk: MakeSDK) -> None:
    sdk = PChatSDK("http://127.0.0.1:9", request_timeout=10 * T)
    with pytest.raises(ConnectionClosedError):
        await sdk.connect("lobby", "Ann", "u-ann")
    assert sdk.state is States.DISCONNECTED


# -- history, messages, deletes, polls, reactions -------------------------------------------


async def test_history_calls_are_queued_in_call_order(fake: FakeServer, make_sdk: MakeSDK) -> None:
    for i in range(1, 11):
        await fake.post(f"t{i}")
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.delay["history"] = T
    pages = await asyncio.gather(*(sdk.load_history(limit=3) for _ in range(3)))
    assert [[m.text for m in page] for page in pages] == [
        ["t8", "t9", "t10"],
        ["t5", "t6", "t7"],
        ["t2", "t3", "t4"],
    ]
    assert [args.get("before_seq") for t, args in fake.requests if t == "history"] == [None, 8, 5]
    assert [len(p) for p in rec.of(Events.HISTORY_LOAD)] == [3, 3, 3]
    assert [m.seq for m in sdk.messages] == list(range(2, 11))
    assert sdk.has_more_history
    ts = sdk.messages[1].ts
    page = await sdk.load_history(timestamp=datetime.fromtimestamp(ts / 1000, UTC))
    assert fake.requests[-1][1]["before_ts"] == ts
    assert all(m.ts < ts for m in page)


async def test_delete_fires_message_delete_once(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    sent = await sdk.send_message("oops")
    deleted = await sdk.delete_message(sent.id)
    assert deleted is not None and deleted.deleted and deleted.text == ""
    assert deleted.deleted_by is not None and deleted.deleted_by.id == "u-ann"
    assert rec.ids(Events.MESSAGE_DELETE) == [sent.id]
    assert sdk.messages == [deleted]
    with pytest.raises(ConflictError):
        await sdk.delete_message(sent.id)


async def test_polls_and_reactions(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Mia", "u-mia", role="moderator")
    poll = await sdk.create_poll("Tea or coffee?", ["tea", "coffee"])
    assert poll.status == "open" and sdk.polls[poll.id] == poll
    voted = await sdk.vote(poll.id, 1)
    assert voted.my_vote == 1 and voted.total_votes == 1
    with pytest.raises(ConflictError):
        await sdk.vote(poll.id, 0)
    finished = await sdk.finish_poll(poll.id)
    assert finished.status == "finished"
    await until(lambda: sdk.polls[poll.id].status == "finished")
    assert sdk.polls[poll.id].my_vote == 1  # kept although pushes carry no my_vote
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = await sdk.create_poll("Later?", ["yes", "no"], scheduled_date=later)
    assert scheduled.status == "scheduled"
    assert scheduled.publish_at == int(later.timestamp() * 1000)
    assert {p.id for p in await sdk.get_polls()} == {poll.id, scheduled.id}
    assert poll.id in {p.id for p in rec.of(Events.POLL)}

    await sdk.send_reaction("like")
    await until(lambda: bool(rec.of(Events.REACTION)))
    reaction = rec.of(Events.REACTION)[0]
    assert reaction.reaction == "like" and reaction.user.id == "u-mia"
    stats = await sdk.get_reactions_stats()
    assert stats == {"like": 1} == sdk.reactions_stats
    assert rec.of(Events.REACTIONS_STATS)[-1] == {"like": 1}
    assert "like" in sdk.reaction_types


async def test_online_count(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.inject({"type": "online", "online": 7})
    await until(lambda: sdk.online == 7)
    assert rec.of(Events.ONLINE) == [7]


async def test_the_sdk_ends_a_held_timeout_by_itself(fake: FakeServer, make_sdk: MakeSDK) -> None:
    """The server pushes nothing when a timeout ends: the SDK fires UNBANNED at ``until``,
    once; a newer ban replaces the timer, and an ``unbanned`` push cancels it."""
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")

    def soon() -> int:
        return int(time.time() * 1000) + int(2 * T * 1000)

    await fake.inject({"type": "banned", "until": soon(), "reason": "calm down"})
    await until(lambda: len(rec.of(Events.UNBANNED)) == 1)
    assert [b.reason for b in rec.of(Events.BANNED)] == ["calm down"] and sdk.my_ban is None

    await fake.inject({"type": "banned", "until": soon(), "reason": ""})
    await fake.inject({"type": "banned", "until": None, "reason": "for good"})
    await until(lambda: len(rec.of(Events.BANNED)) == 3)
    await asyncio.sleep(4 * T)
    assert len(rec.of(Events.UNBANNED)) == 1
    assert sdk.my_ban is not None and sdk.my_ban.until is None

    await fake.inject({"type": "banned", "until": soon(), "reason": ""})
    await fake.inject({"type": "unbanned"})
    await until(lambda: len(rec.of(Events.UNBANNED)) == 2)
    await asyncio.sleep(4 * T)
    assert len(rec.of(Events.UNBANNED)) == 2 and sdk.my_ban is None


async def test_pending_calls_fail_when_the_connection_drops(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.omit.add("history")
    call = asyncio.create_task(sdk.load_history())
    await until(lambda: any(t == "history" for t, _ in fake.requests))
    fake.drop()
    with pytest.raises(ConnectionClosedError):
        await call
    fake.omit.clear()
    page = await sdk.load_history()  # made while reconnecting: waits for the connection
    assert page == [] and sdk.state is States.CONNECTED


# -- reconnect and recovery -----------------------------------------------------------------


async def test_reconnect_recovers_without_duplicate_or_loss(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    first = await fake.post("before")
    await until(lambda: sdk.last_seq == 1)

    fake.delay["connect"] = 3 * T
    fake.drop()
    await until(lambda: sdk.state is States.RECONNECTING)
    # The second connect has arrived and is held by the delay: the room moves on meanwhile.
    await until(lambda: [t for t, _ in fake.requests].count("connect") == 2)
    during = await fake.post("during")
    gone = await fake.post("deleted while away")
    await fake.remove(gone.id)
    await until(lambda: sdk.state is States.CONNECTED)
    after = await fake.post("after")
    await until(lambda: sdk.last_seq == 5)

    assert fake.connects[1]["recover"] == {"epoch": "e1", "seq": 1}
    assert [c.get("sampling") for c in fake.connects] == [True, True]  # it takes a sample
    assert [m.id for m in sdk.messages] == [first.id, during.id, gone.id, after.id]
    assert sdk.messages[2].deleted
    assert rec.ids(Events.MESSAGE) == [first.id, during.id, gone.id, after.id]
    assert rec.of(Events.MESSAGE_DELETE) == []  # it arrived already deleted
    [lost] = rec.of(Events.DISCONNECT)
    assert lost.reconnect and lost.code is None
    assert [c.recovered for c in rec.of(Events.CONNECT)] == [None, True]
    assert rec.of(Events.ERROR) == []


async def test_send_is_retried_with_the_same_cid_after_a_lost_ack(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.drop_on.add("send")  # stored, then the connection drops before the reply
    sent = await sdk.send_message("only once")
    assert len(fake.messages) == 1
    sends = [args for t, args in fake.requests if t == "send"]
    assert len(sends) == 2 and sends[0]["cid"] == sends[1]["cid"]
    assert [m.id for m in sdk.messages] == [sent.id]
    assert rec.ids(Events.MESSAGE) == [sent.id]


async def test_transient_close_codes_reconnect(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    for n, code in enumerate((CloseCode.SHUTDOWN, CloseCode.RESTART), start=2):
        await fake.close_clients(code)
        await until(lambda n=n: len(fake.connects) == n and sdk.state is States.CONNECTED)
    assert [(d.code, d.reconnect) for d in rec.of(Events.DISCONNECT)] == [
        (CloseCode.SHUTDOWN, True),
        (CloseCode.RESTART, True),
    ]
    states = [c.new for c in rec.of(Events.STATE_CHANGE)]
    assert states.count(States.RECONNECTING) == 2


async def test_terminal_close_is_not_retried(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.close_clients(CloseCode.FORBIDDEN, "banned")
    await until(lambda: sdk.state is States.DISCONNECTED)
    await asyncio.sleep(5 * T)
    assert len(fake.connects) == 1
    assert rec.of(Events.DISCONNECT) == [DisconnectEvent(CloseCode.FORBIDDEN, "banned", False)]
    [error] = rec.of(Events.ERROR)
    assert isinstance(error, ConnectionClosedError) and error.code == CloseCode.FORBIDDEN


async def test_terminal_error_during_reconnect_stops(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.connect_failures.append((ErrorCode.TOKEN_BAD_SIGNATURE, CloseCode.BAD_TOKEN))
    fake.drop()
    await until(lambda: sdk.state is States.DISCONNECTED)
    await asyncio.sleep(5 * T)
    assert len(fake.connects) == 2
    [error] = rec.of(Events.ERROR)
    assert isinstance(error, TokenError)
    final = rec.of(Events.DISCONNECT)[-1]
    assert final.code == CloseCode.BAD_TOKEN and not final.reconnect


async def test_temporary_refusals_are_retried(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.connect_failures.append((ErrorCode.UNAVAILABLE, CloseCode.INTERNAL))
    fake.drop()
    await until(lambda: len(fake.connects) == 3 and sdk.state is States.CONNECTED)


async def test_gap_in_the_stream_reconnects_with_recovery(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    one = await fake.post("one")
    await until(lambda: sdk.last_seq == 1)
    phantom = Message("phantom", 3, 0, one.user, "skips seq 2")
    await fake.inject({"type": "message", "seq": 3, "message": phantom.to_wire()})
    await until(lambda: len(fake.connects) == 2 and sdk.state is States.CONNECTED)
    assert fake.connects[1]["recover"] == {"epoch": "e1", "seq": 1}
    assert [m.id for m in sdk.messages] == [one.id]
    assert rec.ids(Events.MESSAGE) == [one.id]


async def test_refused_recovery_reloads_the_latest_page(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.post("old")
    await until(lambda: sdk.last_seq == 1)
    fake.epoch = "e2"  # the stream was reset
    fake.messages.clear()
    fake.stream.clear()
    await fake.post("new 1")
    await fake.post("new 2")
    fake.drop()
    await until(lambda: len(rec.of(Events.HISTORY_LOAD)) == 1)
    assert [m.text for m in sdk.messages] == ["new 1", "new 2"]
    assert sdk.epoch == "e2" and sdk.last_seq == 2
    assert rec.of(Events.CONNECT)[-1].recovered is False


# -- tokens and liveness --------------------------------------------------------------------


async def test_token_refreshed_before_expiry(fake: FakeServer, make_sdk: MakeSDK) -> None:
    fake.token_ttl = 4 * T
    calls: list[int] = []

    async def refresher() -> str:
        calls.append(1)
        return f"u-ann-{len(calls)}"

    sdk = make_sdk(token_refresher=refresher)
    await sdk.connect("lobby", "Ann", "u-ann")
    await until(lambda: len(fake.refreshes) >= 2)  # refreshed, then scheduled again
    assert fake.refreshes[:2] == ["u-ann-1", "u-ann-2"]
    assert len(fake.connects) == 1


async def test_token_refresher_on_expired_close(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk(token_refresher=lambda: "u-ann-new")
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.close_clients(CloseCode.TOKEN_EXPIRED)
    await until(lambda: len(fake.connects) == 2 and sdk.state is States.CONNECTED)
    assert fake.connects[1]["token"] == "u-ann-new"
    assert rec.of(Events.DISCONNECT)[0].reconnect


async def test_expired_close_without_refresher_is_terminal(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.close_clients(CloseCode.TOKEN_EXPIRED)
    await until(lambda: sdk.state is States.DISCONNECTED)
    assert rec.of(Events.DISCONNECT) == [DisconnectEvent(CloseCode.TOKEN_EXPIRED, "", False)]
    assert len(fake.connects) == 1


async def test_expired_token_on_connect_uses_the_refresher(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    fake.expired_tokens.add("stale")
    sdk = make_sdk(token_refresher=lambda: "fresh")
    await sdk.connect("lobby", "Ann", "stale")
    assert [c["token"] for c in fake.connects] == ["stale", "fresh"]
    plain = make_sdk()
    with pytest.raises(TokenError):
        await plain.connect("lobby", "Ann", "stale")


async def test_expired_token_during_reconnect_uses_the_refresher(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk(token_refresher=lambda: "fresh")
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.expired_tokens.add("u-ann")
    fake.drop()
    await until(lambda: sdk.state is States.CONNECTED and fake.connects[-1]["token"] == "fresh")


async def test_a_failing_refresher_reports_an_error(fake: FakeServer, make_sdk: MakeSDK) -> None:
    fake.token_ttl = 2 * T

    def refresher() -> str:
        raise OSError("auth server down")

    sdk = make_sdk(token_refresher=refresher)
    errors: list[PChatError] = []
    sdk.on(Events.ERROR, errors.append)
    await sdk.connect("lobby", "Ann", "u-ann")
    await until(lambda: bool(errors))
    assert isinstance(errors[0], pchat.sdk.TokenRefreshError)
    assert isinstance(errors[0].__cause__, OSError)


async def test_ping_timeout_reconnects(fake: FakeServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk(ping_interval=T, request_timeout=2 * T)
    rec = Recorder(sdk)
    await sdk.connect("lobby", "Ann", "u-ann")
    await until(lambda: any(t == "ping" for t, _ in fake.requests))
    fake.omit.add("ping")
    await until(lambda: len(fake.connects) == 2)
    fake.omit.clear()
    await until(lambda: sdk.state is States.CONNECTED)
    lost = rec.of(Events.DISCONNECT)[0]
    assert lost.code == CloseCode.PING_TIMEOUT and lost.reconnect


# -- backoff and small pieces ---------------------------------------------------------------


def test_backoff_delays_stay_within_full_jitter_bounds() -> None:
    rng = random.Random(1234)
    for attempt in range(40):
        for _ in range(50):
            delay = backoff_delay(attempt, base=0.5, max_delay=20.0, rng=rng)
            assert 0.0 <= delay <= min(20.0, 0.5 * 2**attempt)
    assert backoff_delay(10_000, base=1.0, max_delay=3.0, rng=rng) <= 3.0
    with pytest.raises(ValueError):
        backoff_delay(-1)


def test_backoff_is_reproducible_and_resets() -> None:
    expected_rng = random.Random(99)
    expected = [backoff_delay(n, base=0.1, max_delay=1.0, rng=expected_rng) for n in range(6)]
    backoff = Backoff(base=0.1, max_delay=1.0, rng=random.Random(99))
    assert [backoff.next_delay() for _ in range(6)] == expected
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 0.1


def test_ws_url() -> None:
    assert ws_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/public-chat/ws"
    assert ws_url("https://chat.example/") == "wss://chat.example/public-chat/ws"
    assert ws_url("https://example.org/chat") == "wss://example.org/chat/public-chat/ws"
    assert ws_url("ws://h/public-chat/ws") == "ws://h/public-chat/ws"


def test_public_names() -> None:
    assert set(pchat.sdk.__all__) >= {"PChatSDK", "Events", "States"}
    for name in pchat.sdk.__all__:
        assert hasattr(pchat.sdk, name)
    assert {e.value for e in Events} == {
        "error",
        "connect",
        "disconnect",
        "message",
        "message_delete",
        "reaction",
        "reactions_stats",
        "poll",
        "history_load",
        "state_change",
        "online",
        "room_settings",
        "pin",
        "banned",
        "unbanned",
        "purge",
        "mention",
        "message_hidden",
        "message_restored",
        "muted",
        "unmuted",
        "report_added",
        "report_removed",
        "review_added",
        "review_removed",
        "message_rejected",
        "sampled",
    }
    assert {s.value for s in States} == {"connecting", "connected", "reconnecting", "disconnected"}


async def test_a_malformed_push_is_ignored(
    fake: FakeServer, make_sdk: MakeSDK, caplog: pytest.LogCaptureFixture
) -> None:
    sdk = make_sdk()
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.inject({"type": "message", "seq": 1})  # no message
    one = await fake.post("one")
    await until(lambda: sdk.last_seq == 1)
    assert [m.id for m in sdk.messages] == [one.id]
    assert "malformed message frame" in caplog.text
    assert sdk.state is States.CONNECTED


async def test_the_transport_is_injectable(fake: FakeServer, make_sdk: MakeSDK) -> None:
    opened: list[str] = []
    default = AiohttpConnector()

    async def connector(url: str) -> Transport:
        opened.append(url)
        return await default(url)

    sdk = make_sdk(connector=connector)
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.drop()
    await until(lambda: len(opened) == 2 and sdk.state is States.CONNECTED)
    assert opened[0] == fake.url.replace("http://", "ws://") + "/public-chat/ws"


async def test_send_failing_before_the_close_is_noticed_waits_for_a_new_connection(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    default = AiohttpConnector()
    transports: list[Any] = []

    class FailsOnce:
        """Its first send of a ``send`` frame fails as a dead socket would, then it drops."""

        def __init__(self, inner: Transport) -> None:
            self.inner = inner
            self.failed = False

        @property
        def close_code(self) -> int | None:
            return self.inner.close_code

        @property
        def close_reason(self) -> str:
            return self.inner.close_reason

        async def send(self, data: str) -> None:
            if '"send"' in data and not self.failed and len(transports) == 1:
                self.failed = True
                fake.drop()  # the reader notices only later
                raise ConnectionClosedError(None, "write on a dead socket")
            await self.inner.send(data)

        async def receive(self) -> str | bytes | None:
            return await self.inner.receive()

        async def close(self, code: int = 1000, reason: str = "") -> None:
            await self.inner.close(code, reason)

    async def connector(url: str) -> Transport:
        transport = FailsOnce(await default(url))
        transports.append(transport)
        return transport

    sdk = make_sdk(connector=connector)
    await sdk.connect("lobby", "Ann", "u-ann")
    sent = await sdk.send_message("through the next connection")
    assert len(transports) == 2 and transports[0].failed
    assert len(fake.messages) == 1 and [m.id for m in sdk.messages] == [sent.id]
