"""The RateLimits contract, run against every broker backend of ``conftest.BROKER_FACTORIES``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pchat.storage.base import RateLimits

RateLimitsMaker = Callable[..., Awaitable[RateLimits]]


async def test_take_token_is_shared_or_declined(make_broker: RateLimitsMaker) -> None:
    broker = await make_broker()
    first = await broker.take_token("k", 1.0, 1)
    if first is None:  # a one-node broker: the node's own buckets apply
        return
    assert first == 0.0
    second = await broker.take_token("k", 1.0, 1)
    assert second is not None and second > 0
