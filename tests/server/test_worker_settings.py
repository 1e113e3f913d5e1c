"""Workers that outnumber their cores share one core's write budget for coalescing."""

from __future__ import annotations

from pathlib import Path

from pchat.server.config import Settings
from pchat.server.workers import worker_settings


def _settings(workers: int, budget: float | None = 200_000.0) -> Settings:
    return Settings(data_dir=Path("/nonexistent"), workers=workers, coalesce_budget=budget)


def test_three_workers_on_one_core_share_its_budget() -> None:
    assert worker_settings(_settings(3), cores=1).coalesce_budget == 200_000.0 / 3
    assert worker_settings(_settings(4), cores=2).coalesce_budget == 100_000.0


def test_a_worker_per_core_keeps_the_whole_budget_and_off_stays_off() -> None:
    assert worker_settings(_settings(2), cores=2).coalesce_budget == 200_000.0
    assert worker_settings(_settings(2), cores=8).coalesce_budget == 200_000.0
    assert worker_settings(_settings(3, budget=None), cores=1).coalesce_budget is None
    kept = worker_settings(_settings(3), cores=1)
    assert kept.workers == 3 and kept.coalesce_max_ms == _settings(3).coalesce_max_ms
