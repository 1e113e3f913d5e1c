"""Requests that arrive together share one store read.

A reconnect storm after a restart brings thousands of connects with ``recover`` within a
second or two, most of them from about the same position of the same room. One store read
each is a round trip to the store's thread (or the database) each: under such a storm's
load, that costs more CPU than the rest of the connect. :class:`RangeReads` gathers the
requests for one key — those that arrive while its read runs, and in a storm those of the
next few milliseconds — into one read of the range that covers them all, and gives each
request its own part of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["RangeReads", "Sequenced"]

#: A request within this many seconds of the key's last read is part of a storm, and the
#: read waits ``GATHER`` seconds for more requests to share it (a lone one reads at once).
STORM = 0.01
GATHER = 0.004


class Sequenced(Protocol):
    """Something at a position of a stream."""

    @property
    def seq(self) -> int: ...


K = TypeVar("K", bound=Hashable)
E = TypeVar("E", bound=Sequenced)

#: ``read(key, after, limit)``: the items with ``seq > after`` in order, at most ``limit``.
RangeRead = Callable[[K, int, int], Awaitable[list[E]]]


#: A request: after, upto, and the future of its answer.
_Request = tuple[int, int, "asyncio.Future[list[E]]"]


class RangeReads(Generic[K, E]):
    """The items of a key's stream in ``(after, upto]``, read for many requests at once."""

    def __init__(self, read: RangeRead[K, E]) -> None:
        self._read = read
        self._waiting: dict[K, list[_Request[E]]] = {}
        self._running: set[K] = set()
        self._read_at: dict[K, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def between(self, key: K, after: int, upto: int) -> list[E]:
        """The items with ``after < seq <= upto`` the store has, in order (a hole where it
        has none: the caller checks)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[E]] = loop.create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = []
            if key not in self._running:  # else the read in flight starts this one
                self._start(key)
        waiting.append((after, upto, future))
        return await future

    def _start(self, key: K) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._read_at.get(key, -STORM) < STORM:
            loop.call_later(GATHER, self._go, key)
        else:
            loop.call_soon(self._go, key)

    def _go(self, key: K) -> None:
        requests = self._waiting.pop(key, None)
        if not requests:
            return
        loop = asyncio.get_running_loop()
        self._read_at[key] = loop.time()
        self._running.add(key)
        task = loop.create_task(self._answer(key, requests))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(key, done))

    async def _answer(self, key: K, requests: list[_Request[E]]) -> None:
        low = min(after for after, _upto, _f in requests)
        high = max(upto for _after, upto, _f in requests)
        try:
            items = await self._read(key, low, high - low) if high > low else []
        except Exception as exc:
            for _after, _upto, future in requests:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _after, _upto, future in requests:
                future.cancel()
            raise
        for after, upto, future in requests:
            if not future.done():
                future.set_result([item for item in items if after < item.seq <= upto])

    def _done(self, key: K, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._running.discard(key)
        if key in self._waiting:
            self._start(key)
        elif len(self._read_at) > 1024:  # forget the keys that went quiet
            now = asyncio.get_running_loop().time()
            for k in [k for k, at in self._read_at.items() if now - at > STORM]:
                del self._read_at[k]
