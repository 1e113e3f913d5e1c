"""Concurrent asks for the same thing share one call.

A join storm asks for the same room's state (moderation settings, reaction totals, polls,
the online count) thousands of times within the few milliseconds a store read takes: a
cache that is empty or stale then misses once per connect, and every miss is a read. With
:class:`SingleFlight` the first miss starts the read and the others wait for its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """One call in flight per key; the callers that come meanwhile get its result (or its
    exception). The call runs as its own task, so a caller that is cancelled cancels only
    its own wait, not the others'."""

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Task[V]] = {}

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        task = self._calls.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(_run(call))
            self._calls[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(task)

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    def __len__(self) -> int:
        return len(self._calls)


async def _run(call: Callable[[], Awaitable[V]]) -> V:
    return await call()
