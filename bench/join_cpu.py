"""Join storms over the network with the server's CPU time per join, source trees side by side.

::

    .venv/bin/python bench/join_cpu.py --subscribers 5000 --runs 3 \\
        --tree before=/tmp/jb-before/src --tree after=/tmp/jb-after/src

Per run and tree (alternating), a fresh pchat server (``PYTHONPATH=<tree>``, pinned to
``--server-cpus``) takes a join storm from the C load generator in its ``--idle`` mode
(``--concurrency`` joining at once, token and room in the first frame, then a hold). The
server's CPU time (``/proc/<pid>/stat`` utime + stime, sampled every 10 ms) is read when
the storm starts and once it has ended (its ``join_seconds`` after the start, plus 0.2 s
for the last replies): their difference over N is the CPU per join, which a machine
shared with other work disturbs much less than the wall time. Medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lib import loadgen  # noqa: E402
from bench.lib.harness import Config, Harness  # noqa: E402
from bench.lib.systems import builtin_systems, parse_variant  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.monotonic(), _cpu_seconds(self.pid)))
            time.sleep(0.01)

    def at(self, when: float) -> float:
        """The CPU time of the last sample taken at or before ``when``."""
        return max((s for s in self.samples if s[0] <= when), default=self.samples[0])[1]


def _measure(harness: Harness, system: Any, n: int, label: str) -> dict[str, float]:
    data_dir = harness._fresh_data_dir(system)
    server, port = harness._start(system, data_dir, label)
    try:
        sampler = _Sampler(server.proc.pid)
        sampler.start()
        time.sleep(0.1)
        opts = loadgen.Options(
            port=port,
            proto=system.proto,
            tokens=harness.tokens() if system.is_pchat else None,
            server_pids=server.pids(),
            concurrency=harness.config.concurrency,
            join_timeout=harness.config.join_timeout,
            subscribers=n,
            idle=True,
            duration=2.0,
        )
        start = time.monotonic()
        result = loadgen.run(harness.binary, opts, cpus=harness.config.loadgen_cpus)
        sampler.done.set()
        sampler.join()
        joined, seconds = result["joined"], result["join_seconds"]
        cpu = sampler.at(start + seconds + 0.2) - sampler.at(start)
    finally:
        server.stop()
    return {"joined": joined, "join_seconds": seconds, "cpu_us_per_join": cpu / n * 1e6}


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/join_cpu.py", description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=5000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--tree", action="append", default=[], metavar="NAME=SRC")
    p.add_argument(
        "--system",
        action="append",
        default=[],
        help="also a built-in system of bench/run.py (e.g. raw: the machine's floor)",
    )
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--loadgen-cpus", default="1")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pchat-joincpu-"))
    config = Config(
        root=ROOT,
        out=work,
        work=work,
        subscribers=args.subscribers,
        idle=0,
        concurrency=args.concurrency,
        server_cpus=args.server_cpus,
        loadgen_cpus=args.loadgen_cpus,
    )
    harness = Harness(config, loadgen.build(), lambda m: print(m, file=sys.stderr))
    known = builtin_systems(ROOT)
    trees = [t.split("=", 1) for t in args.tree]
    systems = [parse_variant(f"{name}=pchat:PYTHONPATH={src}", known) for name, src in trees]
    systems += [known[name] for name in args.system]
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in systems}
    for run in range(args.runs):
        for system in systems if run % 2 == 0 else systems[::-1]:
            r = _measure(harness, system, args.subscribers, f"joins-{system.name}-run{run + 1}")
            results[system.name].append(r)
            print(
                f"run {run + 1} {system.name}: joined {r['joined']} in {r['join_seconds']:.2f} s, "
                f"{r['cpu_us_per_join']:.0f} µs server CPU/join",
                file=sys.stderr,
            )
    n = args.subscribers
    print(f"| tree | join storm {n:,}, median s (min–max) | server CPU µs per join, median |")
    print("|---|---|---|")
    for name, runs in results.items():
        walls = [r["join_seconds"] for r in runs]
        cpus = [r["cpu_us_per_join"] for r in runs]
        print(
            f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f}) "
            f"| {statistics.median(cpus):.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
