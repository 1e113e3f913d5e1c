"""The audience's mute reads are single-flight: the connects that arrive while a read runs
share the next one (a join storm makes a few large reads, not one per connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

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
