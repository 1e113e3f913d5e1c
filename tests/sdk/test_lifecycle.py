"""The connection lifecycle as vendor-style code drives it, against the fake server
(tests/sdk/fake_server.py): ``connect()`` while connecting or reconnecting, calls made while
reconnecting, the ``DISCONNECT`` payload; the timestamps ``load_history`` and
``create_poll`` accept (the shared vectors tests/vectors/timestamps.json); listener removal.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pchat.protocol.codes import CloseCode
from pchat.protocol.errors import (
    ConnectionClosedError,
    PChatError,
    RequestTimeoutError,
    StateError,
    TokenError,
)
from pchat.sdk import (
    ConnectEvent,
    DisconnectEvent,
    Events,
    InvalidArgumentError,
    PChatSDK,
    States,
)
from pchat.sdk.timestamps import timestamp_ms

from .fake_server import FakeServer

#: Every timeout and delay of this file is a multiple of T (seconds).
T = 0.05

MakeSDK = Callable[..., PChatSDK]

TIMESTAMPS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "timestamps.json").read_text()
)


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
        options.setdefault("backoff_base", T / 5)
        options.setdefault("backoff_max", T)
        options.setdefault("rng", random.Random(7))
        sdk = PChatSDK(fake.url, **options)
        sdks.append(sdk)
        return sdk

    yield make
    for sdk in sdks:
        await sdk.disconnect()
        await sdk.drain()


async def until(predicate: Callable[[], bool], timeout: float = 40 * T) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(T / 10)


async def reconnecting(fake: FakeServer, sdk: PChatSDK, token: str = "u-ann") -> None:
    """Drop the connection and keep the SDK reconnecting (its token refused as busy)."""
    fake.busy_tokens.add(token)
    fake.drop()
    await until(lambda: sdk.state is States.RECONNECTING)


def recorded(sdk: PChatSDK, event: Events) -> list[Any]:
    seen: list[Any] = []
    sdk.on(event, seen.append)
    return seen


# -- connect() while connecting or reconnecting ---------------------------------------------


async def test_connect_with_the_same_arguments_joins_the_reconnection(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    disconnects: list[DisconnectEvent] = recorded(sdk, Events.DISCONNECT)
    connects: list[ConnectEvent] = recorded(sdk, Events.CONNECT)
    errors: list[PChatError] = recorded(sdk, Events.ERROR)
    await sdk.connect("lobby", "Ann", "u-ann")
    await reconnecting(fake, sdk)
    assert [(d.code, d.reconnect) for d in disconnects] == [(None, True)]

    joined = asyncio.create_task(sdk.connect("lobby", "Ann", "u-ann"))
    await until(lambda: len(fake.connects) >= 3)  # the SDK's own attempts go on
    assert not joined.done() and sdk.state is States.RECONNECTING
    fake.busy_tokens.clear()
    event = await joined
    assert event is connects[-1] and event.recovered is True
    assert sdk.state is States.CONNECTED and len(connects) == 2
    assert all("recover" in c for c in fake.connects[1:])  # no fresh connect was made
    assert errors == []


async def test_connect_with_the_same_arguments_joins_a_connect_under_way(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    fake.delay["connect"] = 2 * T
    sdk = make_sdk()
    first = asyncio.create_task(sdk.connect("lobby", "Ann", "u-ann"))
    await until(lambda: sdk.state is States.CONNECTING)
    with pytest.raises(StateError):  # other arguments while connecting
        await sdk.connect("lobby", "Bob", "u-bob")
    second = await sdk.connect("lobby", "Ann", "u-ann")
    assert second is await first and len(fake.connects) == 1
    with pytest.raises(StateError):  # connected: disconnect() first
        await sdk.connect("lobby", "Ann", "u-ann")


async def test_a_joined_connect_fails_when_the_reconnection_ends(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    disconnects: list[DisconnectEvent] = recorded(sdk, Events.DISCONNECT)
    await sdk.connect("lobby", "Ann", "u-ann")
    await reconnecting(fake, sdk)
    joined = asyncio.create_task(sdk.connect("lobby", "Ann", "u-ann"))
    fake.bad_tokens.add("u-ann")
    fake.busy_tokens.clear()
    with pytest.raises(TokenError):
        await joined
    assert sdk.state is States.DISCONNECTED
    assert [(d.code, d.reconnect) for d in disconnects] == [
        (None, True),
        (CloseCode.BAD_TOKEN, False),
    ]

    fake.bad_tokens.clear()
    await sdk.connect("lobby", "Ann", "u-ann")
    await reconnecting(fake, sdk)
    joined = asyncio.create_task(sdk.connect("lobby", "Ann", "u-ann"))
    await asyncio.sleep(T)
    await sdk.disconnect()
    with pytest.raises(ConnectionClosedError):
        await joined
    assert disconnects[-1] == DisconnectEvent(CloseCode.NORMAL, "client disconnect", False)


async def test_connect_with_other_arguments_while_reconnecting_connects_anew(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    states: list[Any] = recorded(sdk, Events.STATE_CHANGE)
    await sdk.connect("lobby", "Ann", "u-ann")
    await fake.post("held")
    await until(lambda: len(sdk.messages) == 1)
    await reconnecting(fake, sdk)
    waiting = asyncio.create_task(sdk.send_message("meant for Ann's session"))
    await asyncio.sleep(T)

    event = await sdk.connect("lobby", "Bob", "u-bob")
    assert event.recovered is None and event.user.id == "u-bob"
    assert "recover" not in fake.connects[-1] and sdk.messages == []
    with pytest.raises(ConnectionClosedError):
        await waiting
    attempts = len(fake.connects)
    await asyncio.sleep(4 * T)
    assert len(fake.connects) == attempts  # the old reconnection is over
    assert sdk.state is States.CONNECTED and sdk.user is not None and sdk.user.id == "u-bob"
    assert [t for t, _ in fake.requests if t == "send"] == []
    assert [(s.old_state, s.new_state) for s in states][-3:] == [
        (States.CONNECTED, States.RECONNECTING),
        (States.RECONNECTING, States.CONNECTING),
        (States.CONNECTING, States.CONNECTED),
    ]


async def test_a_disconnect_handler_that_connects_again_ends_connected(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    errors: list[PChatError] = recorded(sdk, Events.ERROR)
    results: list[ConnectEvent] = []

    @sdk.on(Events.DISCONNECT)
    async def connect_again(event: DisconnectEvent) -> None:  # what vendor-style code does
        results.append(await sdk.connect("lobby", "Ann", "u-ann"))

    await sdk.connect("lobby", "Ann", "u-ann")
    for count in range(1, 4):
        fake.drop()
        await until(lambda n=count: sdk.state is States.CONNECTED and len(results) == n)  # type: ignore[misc]
    sdk.off(Events.DISCONNECT)  # or disconnect() would connect again
    await sdk.drain()
    assert errors == [] and len(fake.connects) == 4


# -- calls made while (re)connecting --------------------------------------------------------


async def test_calls_made_while_reconnecting_wait_for_the_connection(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    await fake.post("older")
    sdk = make_sdk()
    await sdk.connect("lobby", "Mia", "u-mia", role="moderator")
    await reconnecting(fake, sdk, "u-mia")
    calls = [
        asyncio.create_task(sdk.send_message("while away", cid="c-away")),
        asyncio.create_task(sdk.load_history()),
        asyncio.create_task(sdk.send_reaction("like")),
        asyncio.create_task(sdk.get_reactions_stats()),
        asyncio.create_task(sdk.create_poll("Tea?", ["yes", "no"])),
    ]
    await asyncio.sleep(2 * T)
    assert not any(c.done() for c in calls)
    fake.busy_tokens.clear()
    sent, page, _, _, poll = await asyncio.gather(*calls)
    assert sent.text == "while away" and page[0].text == "older"
    assert poll.question == "Tea?" and sdk.state is States.CONNECTED
    assert [a["cid"] for t, a in fake.requests if t == "send"] == ["c-away"]
    await until(lambda: [m.text for m in sdk.messages] == ["older", "while away"])


async def test_calls_made_while_connecting_wait_for_the_connect(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    fake.delay["connect"] = 2 * T
    sdk = make_sdk()
    connecting = asyncio.create_task(sdk.connect("lobby", "Ann", "u-ann"))
    await until(lambda: sdk.state is States.CONNECTING)
    sent = await sdk.send_message("early")  # the seed calls before connect() resolved
    await connecting
    assert sent.text == "early" and sdk.messages == [sent]


async def test_a_call_waiting_for_the_connection_times_out_or_ends_with_it(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk(request_timeout=4 * T)
    with pytest.raises(StateError):  # disconnected: nothing to wait for
        await sdk.send_reaction("like")
    await sdk.connect("lobby", "Ann", "u-ann")
    await reconnecting(fake, sdk)
    with pytest.raises(RequestTimeoutError):
        await sdk.send_reaction("like")
    assert sdk.state is States.RECONNECTING  # a call's timeout does not stop the SDK
    waiting = asyncio.create_task(sdk.load_history())
    await asyncio.sleep(T)
    await sdk.disconnect()
    with pytest.raises(ConnectionClosedError):
        await waiting

    fake.busy_tokens.clear()
    await sdk.connect("lobby", "Ann", "u-ann")
    await reconnecting(fake, sdk)
    waiting = asyncio.create_task(sdk.send_message("never sent"))
    fake.bad_tokens.add("u-ann")
    fake.busy_tokens.clear()
    with pytest.raises(ConnectionClosedError) as info:
        await waiting
    assert info.value.code == CloseCode.BAD_TOKEN
    assert [t for t, _ in fake.requests if t == "send"] == []


async def test_a_send_whose_connection_drops_is_sent_again_after_a_slow_reconnect(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    await sdk.connect("lobby", "Ann", "u-ann")
    fake.drop_on.add("send")  # stored, then the connection drops before the reply
    fake.busy_tokens.add("u-ann")
    sending = asyncio.create_task(sdk.send_message("once"))
    await until(lambda: sdk.state is States.RECONNECTING)
    await asyncio.sleep(2 * T)
    fake.busy_tokens.clear()
    sent = await sending
    cids = [a["cid"] for t, a in fake.requests if t == "send"]
    assert len(cids) == 2 and cids[0] == cids[1]
    await until(lambda: sdk.last_seq == 1)
    assert [m.id for m in sdk.messages] == [sent.id]


# -- timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", TIMESTAMPS["accepted"], ids=lambda c: repr(c["value"]))
def test_timestamp_vectors_accepted(case: dict[str, Any]) -> None:
    assert timestamp_ms(case["value"]) == case["ms"]


@pytest.mark.parametrize("case", TIMESTAMPS["local"], ids=lambda c: c["value"])
def test_timestamp_vectors_local_time(case: dict[str, Any]) -> None:
    y, mo, d, h, mi, s, ms = case["fields"]
    local = datetime(y, mo, d, h, mi, s, ms * 1000).astimezone()
    assert timestamp_ms(case["value"]) == round(local.timestamp() * 1000)


@pytest.mark.parametrize("value", TIMESTAMPS["rejected"], ids=repr)
def test_timestamp_vectors_rejected(value: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        timestamp_ms(value)


def test_timestamps_of_python_types() -> None:
    aware = datetime(2023, 11, 14, 22, 13, 20, 123999, tzinfo=UTC)
    assert timestamp_ms(aware) == 1_700_000_000_123  # truncated, never rounded up
    assert timestamp_ms(aware.astimezone(timezone(timedelta(hours=-5)))) == 1_700_000_000_123
    naive = datetime(2023, 11, 14, 22, 13, 20, 123000)  # local time, as JavaScript
    assert timestamp_ms(naive) == round(naive.astimezone().timestamp() * 1000)
    assert timestamp_ms(1_700_000_000_123.9) == 1_700_000_000_123
    for bad in (math.nan, math.inf, -math.inf, object(), b"1700000000123", None):
        with pytest.raises(InvalidArgumentError) as info:
            timestamp_ms(bad)
        assert isinstance(info.value, ValueError) and isinstance(info.value, PChatError)


async def test_load_history_and_create_poll_refuse_a_bad_timestamp(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    with pytest.raises(InvalidArgumentError):  # the argument is checked first
        await sdk.load_history("yesterday")
    await sdk.connect("lobby", "Mia", "u-mia", role="moderator")
    for bad in ("yesterday", math.nan, True, {"ts": 1}):
        with pytest.raises(InvalidArgumentError):
            await sdk.load_history(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await sdk.create_poll("Q?", ["a", "b"], scheduled_date=bad)  # type: ignore[arg-type]
    assert [t for t, _ in fake.requests if t in ("history", "poll_create")] == []


async def test_each_accepted_timestamp_form_is_sent_as_before_ts(
    fake: FakeServer, make_sdk: MakeSDK
) -> None:
    sdk = make_sdk()
    await sdk.connect("lobby", "Ann", "u-ann")
    ms = 1_700_000_000_123
    forms = [
        ms,
        str(ms),
        "2023-11-14T22:13:20.123Z",
        datetime.fromtimestamp(ms / 1000, UTC),
    ]
    for form in forms:
        await sdk.load_history(form)
    assert [a["before_ts"] for t, a in fake.requests if t == "history"] == [ms] * len(forms)


# -- listener removal -----------------------------------------------------------------------


def test_off_without_a_handler_removes_every_handler_of_the_event() -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    seen: list[Any] = []

    def a(payload: Any) -> None:
        seen.append(("a", payload))

    def b(payload: Any) -> None:
        seen.append(("b", payload))

    sdk.on([Events.ONLINE, Events.POLL, Events.MESSAGE], a)
    sdk.on(Events.ONLINE, b)
    sdk.once(Events.ONLINE, b)
    sdk.off(Events.ONLINE)  # as remove_all_listeners(Events.ONLINE)
    assert sdk.listener_count(Events.ONLINE) == 0
    sdk.emit(Events.ONLINE, 1)
    sdk.off([Events.POLL, "message"])
    sdk.emit(Events.POLL, 2)
    sdk.emit(Events.MESSAGE, 3)
    assert seen == []

    sdk.on([Events.ONLINE, Events.POLL], a)
    sdk.on(Events.ONLINE, b)
    sdk.remove_listener(Events.ONLINE, a)  # the alias of off, every form
    sdk.emit(Events.ONLINE, 4)
    sdk.remove_listener(Events.POLL)
    sdk.emit(Events.POLL, 5)
    assert seen == [("b", 4)]
    assert PChatSDK.remove_listener is PChatSDK.off
