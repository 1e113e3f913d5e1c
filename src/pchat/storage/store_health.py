"""A store's health as its own operations see it, and a probe while it is idle.

Health endpoints must answer at once even while the database hangs, so they never ask the
database: they read :attr:`StoreHealth.healthy`, which every operation keeps up to date
(:meth:`~StoreHealth.ok` when one answered, :meth:`~StoreHealth.failed` when one raised
:class:`~pchat.storage.base.StoreUnavailable`). While no operation succeeded for a probe
interval, :meth:`~StoreHealth.start`'s task runs the store's own cheap probe through the
same path, so an idle node notices a stall — and the recovery — without any client asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .base import StoreUnavailable

__all__ = ["StoreHealth"]

log = logging.getLogger(__name__)


class StoreHealth:
    """Whether a store answers within its budget; transitions are logged once each."""

    def __init__(
        self, name: str, probe: Callable[[], Awaitable[object]], interval: float = 1.0
    ) -> None:
        self.name = name
        self.healthy = False
        self._probe = probe
        self._interval = interval
        self._last_ok = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def ok(self) -> None:
        """An operation answered."""
        self._last_ok = time.monotonic()
        if not self.healthy:
            self.healthy = True
            log.info("%s: available", self.name)

    def failed(self, exc: BaseException) -> None:
        """An operation could not reach the store or ran over its budget."""
        if self.healthy:
            self.healthy = False
            log.warning("%s: unavailable (%s)", self.name, repr(exc)[:200])

    def start(self) -> None:
        """The store opened: healthy, and probed whenever idle."""
        self.ok()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """The store is closing: unhealthy, and no more probes."""
        self.healthy = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if time.monotonic() - self._last_ok < self._interval:
                continue  # operations answer: nothing to ask
            try:
                await self._probe()  # reports through ok() / failed() like any operation
            except StoreUnavailable:
                pass
            except Exception:
                log.exception("%s: the health probe failed", self.name)
