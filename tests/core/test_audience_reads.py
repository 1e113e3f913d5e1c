"""The audience's mute reads are single-flight: the connects that arrive while a read runs
share the next one (a join storm makes a few large reads, not one per connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pchat.core import audience as audience_module
from pchat.protocol.models import User
from tests.core.test_audience import _audience, _Mutes


class _SlowMutes(_Mutes):
    """Each read waits until the test lets it go."""

    def __init__(self, mutes: dict[str, list[str]]) -> None:
        super().__init__(mutes)
        self.go = asyncio.Event()

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        await self.go.wait()
        return await super().mutes_of(user_ids)


async def test_connects_during_a_read_share_the_next_one() -> None:
    store = _SlowMutes({"bob": ["ann"], "cat": ["bob"]})
    audience = _audience(store)  # type: ignore[arg-type]
    first = asyncio.create_task(audience.room_state("r", User("ann", "ann", "viewer")))
    await asyncio.sleep(0.01)  # the first read is running (and waits)
    later = []
    for u in ("bob", "cat", "dan"):  # one connect per loop turn
        later.append(asyncio.create_task(audience.room_state("r", User(u, u, "viewer"))))
        for _ in range(3):
            await asyncio.sleep(0)
    store.go.set()
    assert (await first)["mutes"] == []
    assert [(await t)["mutes"] for t in later] == [["ann"], ["bob"], []]
    assert store.reads == [["ann"], ["bob", "cat", "dan"]]


async def test_connects_arriving_fast_gather_for_one_read_and_a_lone_one_reads_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Wider windows than the defaults (10 ms, 2 ms), so that a loaded machine cannot blur them.
    monkeypatch.setattr(audience_module, "_STORM", 0.3)
    monkeypatch.setattr(audience_module, "_GATHER", 0.1)
    store = _Mutes({"u3": ["u1"]})
    audience = _audience(store)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await audience.room_state("r", User("u0", "u0", "viewer")))["mutes"] == []
    assert loop.time() - started < 0.05  # nobody read just before: at once
    # A storm: a connect every 1 ms, each read done long before the next connect comes.
    tasks = []
    for i in range(1, 9):
        tasks.append(asyncio.create_task(audience.room_state("r", User(f"u{i}", "x", "viewer"))))
        await asyncio.sleep(0.001)
    results = [(await t)["mutes"] for t in tasks]
    assert results[2] == ["u1"] and all(r == [] for i, r in enumerate(results) if i != 2)
    assert store.reads[1:] == [[f"u{i}" for i in range(1, 9)]]  # one read, not one each
    await asyncio.sleep(0.35)  # quiet again: the next lone connect reads at once
    started = loop.time()
    await audience.room_state("r", User("u9", "u9", "viewer"))
    assert loop.time() - started < 0.05
