"""Periodic jobs of a node, each named for what it does.

A job runs its coroutine every ``interval`` seconds until stopped. A failing round is
logged and the job goes on: while the store is unavailable (expected during an outage) in
one line, anything else with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pchat.storage.base import StoreUnavailable

__all__ = ["Job", "Jobs"]

log = logging.getLogger(__name__)


class Job:
    """``run()`` every ``interval`` seconds, under ``name`` in the logs."""

    def __init__(self, name: str, interval: float, run: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.interval = interval
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._forever(), name=f"pchat-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.run_once()

    async def run_once(self) -> None:
        """One round, its failure logged (not raised)."""
        try:
            await self._run()
        except StoreUnavailable as exc:
            log.warning("%s skipped: store unavailable (%s)", self.name, exc)
        except Exception:
            log.exception("%s failed", self.name)


class Jobs:
    """The jobs of a node, started and stopped together."""

    def __init__(self) -> None:
        self._jobs: list[Job] = []

    def add(self, name: str, interval: float, run: Callable[[], Awaitable[None]]) -> Job:
        job = Job(name, interval, run)
        self._jobs.append(job)
        return job

    @property
    def names(self) -> list[str]:
        return [job.name for job in self._jobs]

    def start(self) -> None:
        for job in self._jobs:
            job.start()

    async def stop(self) -> None:
        for job in reversed(self._jobs):
            await job.stop()
