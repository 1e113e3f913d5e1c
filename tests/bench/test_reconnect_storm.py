"""The reconnect storm end to end: ``bench/reconnect_storm.py`` with a few clients.

A real pchat server, the C load generator's ``--reconnect-storm``, a real restart (SIGTERM,
the drain closing every client with 4000 and a hint, a new server on the same port and
data directory). Every client must come back with ``recover`` and be told
``recovered: true``, and get the messages published after the restart; restarted on an
empty store instead, none may be counted as recovered. Times are not checked.
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

from tests.helpers import t

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 30

pytestmark = pytest.mark.timeout(t(120))


def storm(out: Path, *extra: str) -> dict[str, Any]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: the benchmark load generator (C) cannot be built")
    argv = [
        sys.executable,
        str(ROOT / "bench" / "reconnect_storm.py"),
        "--clients",
        str(CLIENTS),
        "--backoff",
        "300",
        "--runs",
        "1",
        "--messages",
        "4",
        "--missed",
        "3",
        "--timeout",
        "30",
        "--out",
        str(out),
        *extra,
    ]
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        argv.append("--no-pin")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=t(100), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    (run,) = data["runs"]
    assert "failed" not in run, run
    return run


@pytest.mark.parametrize("hint", [True, False], ids=["hint", "ignore-hint"])
def test_every_client_recovers_after_a_restart(tmp_path: Path, hint: bool) -> None:
    run = storm(tmp_path, *([] if hint else ["--ignore-hint"]))
    s = run["storm"]
    assert run["joined"] == CLIENTS
    assert s["hint"] is hint
    # Closed by the drain with 4000 and a reconnect hint (the publisher too).
    assert run["close_codes"] == {"4000": CLIENTS + 1}
    assert s["closed"] == s["hinted"] == CLIENTS
    assert s["replied"] == s["recovered"] == CLIENTS
    assert s["not_recovered"] == s["no_recovery"] == 0
    # The 4 messages before the restart and the 3 after it, by recovery or live.
    assert s["target_seq"] == 7
    assert s["caught_up"] == CLIENTS
    assert run["errors"] == 0
    assert s["first_close_ns"] <= s["first_connect_ns"] <= s["last_reply_ns"]
    assert run["ready_to_all_s"] is not None
    assert run["ready_to_caught_up_s"] >= run["ready_to_all_s"]


def test_a_fresh_store_is_no_recovery(tmp_path: Path) -> None:
    run = storm(tmp_path, "--restart-fresh")
    s = run["storm"]
    assert s["replied"] == CLIENTS
    assert s["recovered"] == 0
    assert s["not_recovered"] == s["epoch_changed"] == CLIENTS
    # The new room starts again at 0: the 3 messages after the restart are its 1..3.
    assert s["target_seq"] == 3
