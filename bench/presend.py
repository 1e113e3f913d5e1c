"""The send benchmark: pchat without and with a pre-send hook, side by side, in one run.

::

    .venv/bin/python bench/presend.py --senders 200 --rooms 50 --rates 1000,0 --runs 3

For each run, offered load and variant it starts a fresh pchat server pinned to CPU 0
(``--server-cpus``) and, for the hook variants, the benchmark's hook
(``bench/lib/presend_hook_server.py``: checks each signature, then allows everything —
``hook-allow`` — or rewrites one message in ten — ``hook-rewrite10``) pinned with the load
(``--load-cpus``, CPU 1), then drives it with ``bench/lib/presend_load.py``: many senders,
few subscribers (the senders themselves, ``senders / rooms`` per room), so the send path
is measured, not the fan-out. Variants alternate within a run. Reported, as medians over
runs: accepted sends/s, send-to-reply latency percentiles, errors, and the CPU share of
the server, the hook and the load. Results go to ``bench/results/presend-<time>/``
(``results.json``, ``results.md``).

Needs the project's venv (aiohttp, uvloop) and ``taskset`` (or ``--no-pin``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib.procs import ServerProcess, free_port, pinned  # noqa: E402
from bench.lib.systems import PCHAT_BENCH_ENV  # noqa: E402

SECRET = "bench-presend-secret"
#: name -> the hook's mode (None: no hook)
VARIANTS: dict[str, str | None] = {
    "no-hook": None,
    "hook-allow": "allow",
    "hook-rewrite10": "rewrite10",
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/presend.py",
        description="Send benchmark without and with a pre-send hook.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    p.add_argument("--senders", type=int, default=200)
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--rates", default="1000,0", help="sends/s in all; 0 = saturating")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--timeout-ms", type=int, default=500, help="PCHAT_PRESEND_HOOK_TIMEOUT_MS")
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--load-cpus", default="1", help="the load and the hook")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--out", type=Path)
    return p


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, out: Path) -> None:
        self.args = args
        self.work = work
        self.out = out
        self.python = ROOT / ".venv" / "bin" / "python"
        self.server_cpus = None if args.no_pin else args.server_cpus
        self.load_cpus = None if args.no_pin else args.load_cpus
        self.keys = work / "keys"
        self.tokens = work / "tokens.txt"
        self.serial = 0

    def make_tokens(self) -> None:
        done = subprocess.run(
            [
                str(self.python),
                str(ROOT / "bench" / "lib" / "pchat_tools.py"),
                "tokens",
                "--data-dir",
                str(self.keys),
                "--count",
                str(self.args.senders),
                "--out",
                str(self.tokens),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(f"tokens failed: {done.stderr[-2000:]}")

    def _hook(self, mode: str, label: str) -> tuple[ServerProcess, int]:
        port = free_port()
        hook = ServerProcess(
            pinned(
                [
                    str(self.python),
                    str(ROOT / "bench" / "lib" / "presend_hook_server.py"),
                    "--port",
                    str(port),
                    "--secret",
                    SECRET,
                    "--mode",
                    mode,
                ],
                self.load_cpus,
            ),
            env={"PYTHONUNBUFFERED": "1"},
            log_path=self.out / "logs" / f"{label}-hook.log",
            cwd=ROOT,
        )
        try:
            hook.wait_ready(port)
        except BaseException:
            hook.stop()
            raise
        return hook, port

    def measure(self, variant: str, rate: float, run: int) -> dict[str, Any]:
        self.serial += 1
        label = f"{self.serial:03d}-{variant}-{'sat' if rate <= 0 else f'{rate:g}'}-run{run}"
        data_dir = self.work / f"data-{label}"
        data_dir.mkdir(parents=True)
        shutil.copy2(self.keys / "keys.sqlite3", data_dir / "keys.sqlite3")
        mode = VARIANTS[variant]
        hook: ServerProcess | None = None
        env = {**PCHAT_BENCH_ENV, "PYTHONUNBUFFERED": "1"}
        if mode is not None:
            hook, hook_port = self._hook(mode, label)
            env |= {
                "PCHAT_PRESEND_HOOK_URL": f"http://127.0.0.1:{hook_port}/presend",
                "PCHAT_PRESEND_HOOK_SECRET": SECRET,
                "PCHAT_PRESEND_HOOK_TIMEOUT_MS": str(self.args.timeout_ms),
                "PCHAT_PRESEND_HOOK_ON_FAILURE": "reject",  # a failure shows as an error
            }
        port = free_port()
        server = ServerProcess(
            pinned(
                [
                    str(ROOT / ".venv" / "bin" / "pchat"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data_dir),
                ],
                self.server_cpus,
            ),
            env=env,
            log_path=self.out / "logs" / f"{label}.log",
            cwd=ROOT,
        )
        try:
            server.wait_ready(port)
            argv = [
                str(self.python),
                str(ROOT / "bench" / "lib" / "presend_load.py"),
                "--url",
                f"ws://127.0.0.1:{port}/public-chat/ws",
                "--tokens",
                str(self.tokens),
                "--senders",
                str(self.args.senders),
                "--rooms",
                str(self.args.rooms),
                "--rate",
                str(rate),
                "--warmup",
                str(self.args.warmup),
                "--duration",
                str(self.args.duration),
                "--pids",
                ",".join(map(str, server.pids())),
                "--hook-pids",
                ",".join(map(str, hook.pids())) if hook is not None else "",
            ]
            done = subprocess.run(
                pinned(argv, self.load_cpus),
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=self.args.warmup + self.args.duration + 300,
            )
            if done.returncode != 0:
                raise RuntimeError(f"load failed: {done.stderr.strip()[-2000:]}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            server.stop()
            if hook is not None:
                hook.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        # Other work on the machine shows here (the 1-minute load average at the end).
        load = round(os.getloadavg()[0], 2)
        return {"variant": variant, "rate": rate, "run": run, **result, "loadavg": load}


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(
    results: list[dict[str, Any]], variants: list[str], rates: list[float]
) -> list[dict[str, Any]]:
    summary = []
    for rate in rates:
        for variant in variants:
            rows = [
                r
                for r in results
                if r["variant"] == variant and r["rate"] == rate and "failed" not in r
            ]
            if not rows:
                continue
            errors: dict[str, int] = {}
            for r in rows:
                for code, n in r["errors"].items():
                    errors[code] = max(errors.get(code, 0), n)
            summary.append(
                {
                    "variant": variant,
                    "rate": rate,
                    "runs": len(rows),
                    **{
                        k: _median(rows, k)
                        for k in (
                            "accepted_per_s",
                            "p50_ms",
                            "p99_ms",
                            "p999_ms",
                            "server_cpu_pct",
                            "hook_cpu_pct",
                            "load_cpu_pct",
                        )
                    },
                    "errors_worst_run": errors,
                    "unanswered_worst_run": max(r["unanswered"] for r in rows),
                }
            )
    return summary


def markdown(meta: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    def cell(v: Any, fmt: str = "{:,.1f}") -> str:
        return "–" if v is None else fmt.format(v)

    lines = [
        f"Send benchmark, {meta['started']}: {meta['senders']} senders in {meta['rooms']} rooms "
        f"({meta['senders'] / meta['rooms']:g} connections per room), medians of {meta['runs']} "
        f"runs, hook budget {meta['timeout_ms']} ms.",
        "",
        f"`{meta['command']}`",
        "",
        "| variant | offered | accepted sends/s | p50 ms | p99 ms | p99.9 ms | server CPU % "
        "| hook CPU % | load CPU % | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        offered = "saturating" if s["rate"] <= 0 else f"{s['rate']:,.0f}/s"
        errors = sum(s["errors_worst_run"].values()) + s["unanswered_worst_run"]
        lines.append(
            f"| {s['variant']} | {offered} | {cell(s['accepted_per_s'], '{:,.0f}')} "
            f"| {cell(s['p50_ms'], '{:.2f}')} | {cell(s['p99_ms'], '{:.2f}')} "
            f"| {cell(s['p999_ms'], '{:.2f}')} | {cell(s['server_cpu_pct'], '{:.0f}')} "
            f"| {cell(s['hook_cpu_pct'], '{:.0f}')} | {cell(s['load_cpu_pct'], '{:.0f}')} "
            f"| {errors} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    out = args.out or ROOT / "bench" / "results" / time.strftime("presend-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pchat-presend-"))
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": shlex.join(["bench/presend.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "senders": args.senders,
        "rooms": args.rooms,
        "runs": args.runs,
        "timeout_ms": args.timeout_ms,
        "commit": subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }
    bench = Bench(args, work, out)
    results: list[dict[str, Any]] = []
    try:
        bench.make_tokens()
        for run in range(1, args.runs + 1):
            for rate in rates:
                # Variants alternate within a run: the machine's drift hits all alike.
                for variant in variants:
                    _log(f"[run {run}] {variant} rate={'sat' if rate <= 0 else rate}")
                    try:
                        r = bench.measure(variant, rate, run)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        _log(f"  FAILED: {exc}")
                        r = {"variant": variant, "rate": rate, "run": run, "failed": str(exc)}
                    else:
                        _log(
                            f"  {r['accepted_per_s']:,.0f} sends/s, p99 {r['p99_ms']} ms, "
                            f"errors {r['errors']}, server {r['server_cpu_pct']}%, "
                            f"hook {r['hook_cpu_pct']}%, load {r['load_cpu_pct']}%, "
                            f"loadavg {r['loadavg']}"
                        )
                    results.append(r)
                    (out / "results.json").write_text(
                        json.dumps({"meta": meta, "results": results}, indent=1)
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(results, variants, rates)
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "results": results, "summary": summary}, indent=1)
    )
    md = markdown(meta, summary)
    (out / "results.md").write_text(md)
    print(md)
    _log(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
