"""Periodic jobs: each round runs; a failing round is logged and the job goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pchat.core.jobs import Jobs
from pchat.storage.base import StoreUnavailable


async def test_jobs_run_every_interval_and_survive_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds: list[str] = []

    async def flaky() -> None:
        rounds.append("flaky")
        if len(rounds) == 1:
            raise StoreUnavailable("the store is paused")
        if len(rounds) == 2:
            raise RuntimeError("a bug")

    jobs = Jobs()
    jobs.add("flaky-job", 0.01, flaky)
    assert jobs.names == ["flaky-job"]
    caplog.set_level(logging.WARNING)
    jobs.start()
    async with asyncio.timeout(5):
        while len(rounds) < 4:
            await asyncio.sleep(0.01)
    await jobs.stop()
    count = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == count  # stopped
    unavailable = [r for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(unavailable) == 1 and unavailable[0].exc_info is None  # one line
    bug = [r for r in caplog.records if r.getMessage() == "flaky-job failed"]
    assert len(bug) == 1 and bug[0].exc_info is not None  # with its traceback
