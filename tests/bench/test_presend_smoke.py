"""Smoke run of the send benchmark (``bench/presend.py``): pchat without and with the local
pre-send hook, a few senders for a second, so that it cannot rot. Numbers are not checked,
only that sends are accepted through each variant and nothing fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import t

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(t(180))


def test_the_send_benchmark_runs_every_variant(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        str(ROOT / "bench" / "presend.py"),
        "--senders",
        "10",
        "--rooms",
        "5",
        "--rates",
        "0",
        "--runs",
        "1",
        "--warmup",
        "0.5",
        "--duration",
        "1",
        "--no-pin",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=t(150), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {r["variant"]: r for r in results["results"]}
    assert set(rows) == {"no-hook", "hook-allow", "hook-rewrite10"}
    for variant, r in rows.items():
        assert "failed" not in r, r
        assert r["accepted"] > 0 and r["errors"] == {} and r["unanswered"] == 0, r
        assert (r["hook_cpu_pct"] is None) == (variant == "no-hook"), r
    assert "| hook-allow | saturating |" in (tmp_path / "results.md").read_text()
