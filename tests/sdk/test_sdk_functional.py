"""The Python SDK against the real server on port 0 (fixture ``server`` of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pchat.protocol.errors import ForbiddenError, TokenError
from pchat.protocol.models import Message
from pchat.sdk import Events, PChatSDK, States
from tests.helpers import RunningServer, t

MakeSDK = Callable[..., PChatSDK]


@pytest.fixture
async def make_sdk(server: RunningServer) -> AsyncIterator[MakeSDK]:
    sdks: list[PChatSDK] = []

    def make(**options: Any) -> PChatSDK:
        options.setdefault("request_timeout", t(5))
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.2)
        options.setdefault("rng", random.Random(3))
        sdk = PChatSDK(server.url, **options)
        sdks.append(sdk)
        return sdk

    yield make
    for sdk in sdks:
        await sdk.disconnect()
        await sdk.drain()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_seed_flow_between_two_users(server: RunningServer, make_sdk: MakeSDK) -> None:
    ann, bob = make_sdk(), make_sdk()
    seen_by_bob: list[Message] = []
    bob.on(Events.MESSAGE, seen_by_bob.append)
    await ann.connect("lobby", "Ann", await server.token("ann"))
    await bob.connect("lobby", "Bob", await server.token("bob"))
    sent = await ann.send_message("hello")
    await until(lambda: [m.id for m in seen_by_bob] == [sent.id])
    await until(lambda: [m.id for m in ann.messages] == [sent.id])

    late = make_sdk()
    await late.connect("lobby", "Cat", await server.token("cat"))
    page = await late.load_history()
    assert [m.text for m in page] == ["hello"]
    assert [m.id for m in late.messages] == [sent.id]


async def test_refusals_raise_the_right_errors(server: RunningServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    with pytest.raises(TokenError):
        await sdk.connect("lobby", "Ann", "not-a-jwt")
    with pytest.raises(ForbiddenError):
        await sdk.connect("lobby", "Ann", await server.token("ann"), role="admin")
    assert sdk.state is States.DISCONNECTED
    await sdk.connect("lobby", "Ann", await server.token("ann", "moderator"), role="moderator")
    poll = await sdk.create_poll("Tea or coffee?", ["tea", "coffee"])
    voted = await sdk.vote(poll.id, 0)
    assert voted.my_vote == 0 and voted.options[0].votes == 1


async def test_reconnects_and_recovers_after_a_restart(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann, bob = make_sdk(), make_sdk()
    await ann.connect("lobby", "Ann", await server.token("ann"))
    first = await ann.send_message("before")
    await server.restart()
    await until(lambda: ann.state is States.CONNECTED)
    await bob.connect("lobby", "Bob", await server.token("bob"))
    second = await bob.send_message("after")
    await until(lambda: [m.id for m in ann.messages] == [first.id, second.id])
