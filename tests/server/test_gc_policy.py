"""The server's garbage-collector policy (``PCHAT_GC``; server/runner.py): applied once the
application is up, in the process that serves it."""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pchat.server import runner
from pchat.server.app import build_app
from pchat.server.config import Settings


@pytest.fixture
def gc_state() -> Iterator[None]:
    """Put the collector back as it was: these tests change the process's own."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class _OnListening(logging.Handler):
    """Reads the collector's state when the runner logs ``listening`` (its startup done),
    then stops the server with SIGTERM, which the runner handles from then on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, int, int], int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "listening" and not self.seen:
            self.seen.append((gc.get_threshold(), gc.get_freeze_count()))
            signal.raise_signal(signal.SIGTERM)


def _serve_until_listening(tmp_path: Path, policy: str) -> tuple[tuple[int, int, int], int]:
    settings = Settings(
        port=0, data_dir=tmp_path, gc=policy, drain_ready_delay=0.0, drain_window=0.0
    )
    handler = _OnListening()
    log = logging.getLogger(runner.__name__)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        runner.serve(build_app(settings), settings)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert len(handler.seen) == 1
    return handler.seen[0]


@pytest.mark.usefixtures("gc_state")
def test_tuned_freezes_startup_and_raises_thresholds(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    thresholds, frozen = _serve_until_listening(tmp_path, "tuned")
    assert thresholds == runner.GC_THRESHOLDS
    assert thresholds[0] > 700
    # The application, its store and every module loaded by then: many thousand objects.
    assert frozen > 10_000


@pytest.mark.usefixtures("gc_state")
def test_default_leaves_the_collector_alone(tmp_path: Path) -> None:
    before = gc.get_threshold()
    thresholds, frozen = _serve_until_listening(tmp_path, "default")
    assert thresholds == before
    assert frozen == 0


def test_tuned_is_the_default_and_env_selects() -> None:
    assert Settings().gc == "tuned"
    assert Settings.from_env({"PCHAT_GC": "default"}).gc == "default"


@pytest.mark.usefixtures("gc_state")
def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="PCHAT_GC"):
        runner.apply_gc_policy(Settings(gc="off"))
    assert gc.get_freeze_count() == 0
