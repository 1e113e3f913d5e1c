"""Reconnect delays: the shared vectors (tests/vectors/reconnect.json), and the SDK waiting a
shutdown close's reconnect hint against the fake server."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pchat.protocol.codes import CloseCode
from pchat.sdk import Events, PChatSDK, States
from pchat.sdk import backoff as bo
from pchat.sdk.backoff import Backoff, reconnect_hint

from .fake_server import FakeServer

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "reconnect.json").read_text()
)


class Half(random.Random):
    """A random source that always draws the middle of the range."""

    def random(self) -> float:
        return 0.5


def test_constants_agree_with_the_vectors() -> None:
    c = VECTORS["constants_ms"]
    assert c["backoff_base"] == bo.DEFAULT_BASE * 1000
    assert c["backoff_max"] == bo.DEFAULT_MAX_DELAY * 1000
    assert c["restart_retry_max"] == bo.RESTART_RETRY_MAX * 1000
    assert c["restart_window"] == bo.RESTART_WINDOW * 1000
    assert c["max_hint"] == bo.MAX_HINT * 1000
    assert sorted(bo.RESTART_CODES) == VECTORS["restart_codes"]


@pytest.mark.parametrize("case", VECTORS["hints"], ids=lambda case: repr(case["reason"]))
def test_reconnect_hint_vectors(case: dict[str, Any]) -> None:
    hint = reconnect_hint(case["reason"])
    if case["hint_ms"] is None:
        assert hint is None
    else:
        assert hint == pytest.approx(case["hint_ms"] / 1000)


@pytest.mark.parametrize("case", VECTORS["sequences"], ids=lambda case: case["name"])
def test_backoff_sequence_vectors(case: dict[str, Any]) -> None:
    now = [1000.0]
    backoff = Backoff(rng=Half(), clock=lambda: now[0])
    backoff.closed(case["close"]["code"], case["close"]["reason"])
    for step in case["steps"]:
        now[0] += step["advance_ms"] / 1000
        assert backoff.next_delay() == pytest.approx(step["delay_ms"] / 1000), step


def test_reset_forgets_a_restart() -> None:
    backoff = Backoff(rng=Half())
    backoff.closed(CloseCode.SHUTDOWN, "reconnect_after_ms=1250")
    assert backoff.restarting
    backoff.reset()
    assert not backoff.restarting
    assert backoff.next_delay() == pytest.approx(0.25)


def test_restart_delays_respect_a_smaller_max_delay() -> None:
    backoff = Backoff(base=0.01, max_delay=0.04, rng=Half())
    backoff.closed(CloseCode.RESTART, "")
    assert [backoff.next_delay() for _ in range(3)] == pytest.approx([0.02] * 3)


def test_shutdown_reasons_of_the_server_fit_a_close_frame() -> None:
    # A close frame's reason is at most 123 bytes; the server's is well under.
    reason = "server shutting down; reconnect_after_ms=999999999"
    assert len(reason.encode()) < 123
    assert reconnect_hint(reason) == bo.MAX_HINT


# -- the SDK against the fake server ----------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    await server.start()
    yield server
    await server.stop()


async def _reconnect_after(fake: FakeServer, sdk: PChatSDK, code: int, reason: str) -> float:
    """Close the SDK's connection; seconds until its next connect reached the server."""
    connects = len(fake.connects)
    closed = time.monotonic()
    await fake.close_clients(code, reason)
    async with asyncio.timeout(5):
        while len(fake.connects) == connects:
            await asyncio.sleep(0.005)
    waited = time.monotonic() - closed
    async with asyncio.timeout(5):
        while sdk.state is not States.CONNECTED:
            await asyncio.sleep(0.005)
    return waited


async def test_the_sdk_waits_the_hint_of_a_shutdown_close(fake: FakeServer) -> None:
    # Backoff bounds of 10-40 ms: only the hint can make the SDK wait 0.4 s.
    sdk = PChatSDK(fake.url, ping_interval=None, backoff_base=0.01, backoff_max=0.04)
    reasons: list[str] = []
    sdk.on(Events.DISCONNECT, lambda event: reasons.append(event.reason))
    try:
        await sdk.connect("lobby", "Ann", "u-ann")
        hinted = await _reconnect_after(
            fake, sdk, CloseCode.SHUTDOWN, "server shutting down; reconnect_after_ms=400"
        )
        assert 0.38 <= hinted < 2.0
        assert reasons == ["server shutting down; reconnect_after_ms=400"]
        # The same hint with a code that does not mean a restart is ignored.
        other = await _reconnect_after(
            fake, sdk, CloseCode.SLOW_CONSUMER, "slow consumer; reconnect_after_ms=400"
        )
        assert other < 0.3
    finally:
        await sdk.disconnect()
