"""Smoke run of the benchmark harness: the C load generator and ``bench/run.py`` end to end.

A few hundred subscribers for a few seconds at a low rate against pchat and the raw peer,
so that the harness cannot rot. Numbers are not checked, only that messages flow, nothing
fails and the result carries every field. Needs gcc (skipped without it), not
``.venv-bench``: the plot is off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.lib.loadgen import FIELDS
from tests.helpers import t

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 200
SYSTEMS = ("pchat", "raw")
DERIVED = ("offered_deliveries_per_s", "server_cpu_per_million", "server_cpu_pct")

pytestmark = pytest.mark.timeout(t(120))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: the benchmark load generator (C) cannot be built")
    out = tmp_path_factory.mktemp("bench")
    argv = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--systems",
        ",".join(SYSTEMS),
        "--subscribers",
        str(SUBSCRIBERS),
        "--rates",
        "20",
        "--runs",
        "1",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--idle",
        "0",
        "--history",
        "0",
        "--join-timeout",
        "20",
        "--no-plot",
        "--out",
        str(out),
    ]
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        argv.append("--no-pin")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=t(100), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "results.md").read_text().startswith("# Fan-out benchmark")
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    data["stderr"] = done.stderr
    return data


@pytest.mark.parametrize("system", SYSTEMS)
def test_messages_flow_without_errors(results: dict[str, Any], system: str) -> None:
    if system == "raw" and not (ROOT / "bench" / "peers" / "raw" / "server.py").exists():
        pytest.skip("the raw peer (bench/peers/raw/server.py) is not there")
    runs = [r for r in results["broadcast"] if r["system"] == system]
    assert len(runs) == 1, results["stderr"][-3000:]
    run = runs[0]
    assert "failed" not in run, run.get("failed")
    assert set(FIELDS) <= run.keys(), set(FIELDS) - run.keys()
    assert set(DERIVED) <= run.keys()
    assert run["joined"] == SUBSCRIBERS
    assert run["sent"] > 0
    assert run["deliveries"] > 0
    assert run["errors"] == 0, run["error_kinds"]
    assert run["closed"] == 0, run["close_codes"]
    assert run["latency_p50_ms"] is not None
    assert run["latency_p99_ms"] >= run["latency_p50_ms"]
    assert run["server_cpu_seconds"] is not None
    assert run["server_alive_at_end"]


def test_summary_has_a_row_per_system(results: dict[str, Any]) -> None:
    rows = results["summary"]["broadcast"]
    assert {r["system"] for r in rows} == set(results["meta"]["systems"])
    assert all(r["runs"] == 1 and r["deliveries_per_s"] > 0 for r in rows)
