"""SingleFlight: concurrent asks share one call; errors and cancellations stay contained."""

from __future__ import annotations

import asyncio

import pytest

from pchat.core.singleflight import SingleFlight


async def test_concurrent_asks_share_one_call_and_later_ones_call_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls: list[str] = []
    gate = asyncio.Event()

    async def read(key: str) -> int:
        calls.append(key)
        await gate.wait()
        return len(calls)

    asks = [asyncio.create_task(flight.do("r", lambda: read("r"))) for _ in range(50)]
    other = asyncio.create_task(flight.do("s", lambda: read("s")))
    await asyncio.sleep(0.01)
    gate.set()
    assert {await a for a in asks} == {2} or {await a for a in asks} == {1}
    assert len({await a for a in asks}) == 1
    await other
    assert sorted(calls) == ["r", "s"] and len(flight) == 0
    assert await flight.do("r", lambda: read("r")) == 3  # done: the next ask calls again


async def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise OSError("down")

    results = await asyncio.gather(
        *(flight.do("r", fail) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)

    async def ok() -> int:
        return 7

    assert await flight.do("r", ok) == 7


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    async def slow() -> int:
        await asyncio.sleep(0.05)
        return 5

    first = asyncio.create_task(flight.do("r", slow))
    second = asyncio.create_task(flight.do("r", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == 5
