"""Variants of pchat in ``bench/run.py``: several workers, and a node on Redis and PostgreSQL.

The worker variant must count the CPU time of every process of the server (the hub and its
workers); the cluster variant must run each server on a schema and key prefix of its own,
drop them afterwards, and report the CPU time of the services at the other end of the
server's connections. A few hundred subscribers for a couple of seconds: numbers are not
checked. The cluster part needs the Redis and PostgreSQL of the backend tests (skipped
without them, as those are).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.lib.systems import builtin_systems, parse_variant
from tests.helpers import t
from tests.storage.backends import postgres_dsn, redis_url, require_postgres, require_redis

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 200

pytestmark = pytest.mark.timeout(t(180))


def test_variant_values_may_be_urls() -> None:
    store = "postgresql://postgres@127.0.0.1:5432/test?schema={run_id}"
    broker = "redis://127.0.0.1:6379/0?prefix={run_id}_"
    system = parse_variant(
        f"c=pchat:PCHAT_BROKER={broker}:PCHAT_STORE={store}:PCHAT_WORKERS=2",
        builtin_systems(ROOT),
    )
    env = system.environ(8080, Path("/d"), "bench_1_2")
    assert env["PCHAT_BROKER"] == "redis://127.0.0.1:6379/0?prefix=bench_1_2_"
    assert env["PCHAT_STORE"] == "postgresql://postgres@127.0.0.1:5432/test?schema=bench_1_2"
    assert system.workers == 2
    assert system.services() == [broker, store]


def _run(tmp_path: Path, systems: str, *variants: str) -> dict[str, Any]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: the benchmark load generator (C) cannot be built")
    out = tmp_path / "out"
    argv = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--systems",
        systems,
        *(a for v in variants for a in ("--variant", v)),
        *("--subscribers", str(SUBSCRIBERS), "--rates", "20", "--runs", "1"),
        *("--warmup", "1", "--duration", "2", "--idle", "0", "--history", "0"),
        *("--join-timeout", "20", "--no-plot", "--out", str(out)),
    ]
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        argv.append("--no-pin")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=t(150), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    for run in results["broadcast"]:
        assert "failed" not in run, run.get("failed")
        assert run["joined"] == SUBSCRIBERS
        assert run["deliveries"] > 0
        assert run["errors"] == 0, run["error_kinds"]
        assert run["server_cpu_seconds"] is not None
    return results


def test_workers_count_every_process(tmp_path: Path) -> None:
    results = _run(tmp_path, "pchat,pchat-w2", "pchat-w2=pchat:PCHAT_WORKERS=2")
    procs = {r["system"]: r["server_processes"] for r in results["broadcast"]}
    assert procs["pchat"] == 1
    # The hub (the parent) and two workers, at least (spawn may add its resource tracker).
    assert procs["pchat-w2"] >= 3
    (w2,) = [r for r in results["broadcast"] if r["system"] == "pchat-w2"]
    roles = sorted(p["role"] for p in w2["server_cpu_by_process"])
    assert roles.count("main") == 1 and roles.count("worker") == 2, roles
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## CPU per delivery against pchat" in md


async def _leftovers(run_id: str) -> tuple[list[str], list[bytes]]:
    import asyncpg
    from redis.asyncio import Redis

    conn = await asyncpg.connect(postgres_dsn(), timeout=5)
    try:
        rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname = $1", run_id)
    finally:
        await conn.close()
    client = Redis.from_url(redis_url(), socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = [k async for k in client.scan_iter(match=f"{run_id}_*", count=500)]
    finally:
        await client.aclose()
    return [r["nspname"] for r in rows], keys


def test_cluster_variant_runs_on_its_own_schema_and_cleans_up(tmp_path: Path) -> None:
    asyncio.run(require_postgres())
    asyncio.run(require_redis())
    cluster = (
        f"pchat-cluster=pchat:PCHAT_BROKER={redis_url()}?prefix={{run_id}}_"
        f":PCHAT_STORE={postgres_dsn()}?schema={{run_id}}"
    )
    results = _run(tmp_path, "pchat,pchat-cluster", cluster)
    (run,) = [r for r in results["broadcast"] if r["system"] == "pchat-cluster"]
    assert run["run_id"].startswith("bench_")
    assert run["backend_processes"].get("redis-server") == 1
    assert run["backend_processes"].get("postgres", 0) >= 1
    assert run["backend_cpu_seconds"] >= 0
    assert run["backend_cpu_per_million"] is not None
    (local,) = [r for r in results["broadcast"] if r["system"] == "pchat"]
    assert "backend_cpu_seconds" not in local
    assert asyncio.run(_leftovers(run["run_id"])) == ([], [])
