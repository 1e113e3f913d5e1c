"""The fan-out benchmark: pchat and its peers, side by side, in one run.

::

    python3 bench/run.py --systems pchat,raw,ws-node,picows,socketio-node,python-socketio \\
        --subscribers 5000 --rates 20,40,80,160,0 --runs 3

For each system and offered load it starts the server pinned to CPU 0, drives it from the
C load generator pinned to CPU 1, and records deliveries/s, latency percentiles, server CPU
per million deliveries and the join storm; then server memory per idle connection
(``--idle``) and, for pchat, history page latency on a big room (``--history``). Results go
to ``bench/results/<timestamp>/``: ``results.json``, ``results.md`` and ``plot.png``. See
``bench/README.md``; ``bench/joinstorm.py`` measures the join storm alone.

Needs only the standard library; pchat-side helpers run with ``.venv``, the plot with
matplotlib (in this interpreter or in ``.venv-bench``), and is skipped without it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import loadgen, report  # noqa: E402
from bench.lib.harness import Config, Harness  # noqa: E402
from bench.lib.systems import System, builtin_systems, parse_variant, unavailable  # noqa: E402

DEFAULT_SYSTEMS = "pchat,raw,ws-node,picows,socketio-node,python-socketio"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Fan-out benchmark of pchat and its peers (see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--systems", default=DEFAULT_SYSTEMS, help="comma-separated, in table order")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=BASE:KEY=VALUE[:KEY=VALUE]",
        help="a system started with extra environment, usable in --systems "
        "(e.g. pchat-c10=pchat:PCHAT_COALESCE_MS=10)",
    )
    p.add_argument("--subscribers", type=int, default=5000)
    p.add_argument("--rates", default="20,40,80,160,0", help="messages/s published; 0 = saturating")
    p.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    p.add_argument("--inflight", type=int, default=4, help="saturating: messages in flight")
    p.add_argument("--size", type=int, default=200, help="message text bytes")
    p.add_argument(
        "--nonreaders", default="0", help="subscribers that stop reading (a count, or N%%)"
    )
    p.add_argument("--concurrency", type=int, default=100, help="connections joining at once")
    p.add_argument("--join-timeout", type=float, default=60.0)
    p.add_argument(
        "--hello",
        action="store_true",
        help="the ws peers join with a token and the room in the first frame, as pchat "
        "(bench/lib/hello.py)",
    )
    p.add_argument(
        "--source-addrs",
        help="spread the connections over local addresses: N (127.0.0.1..N) or "
        "127.0.0.1-127.0.0.8 (for more than ~28,000 connections to one port)",
    )
    p.add_argument("--idle", type=int, default=10000, help="idle connections (0: skip)")
    p.add_argument("--idle-hold", type=float, default=5.0, help="seconds idle before RSS")
    p.add_argument(
        "--history", type=int, default=1_000_000, help="messages in the history room (0: skip)"
    )
    p.add_argument("--history-pages", type=int, default=2000)
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--loadgen-cpus", default="1")
    p.add_argument("--no-pin", action="store_true", help="run unpinned (no taskset)")
    p.add_argument("--out", type=Path, help="results directory (default bench/results/<time>)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary data dirs")
    return p


def _nonreaders(spec: str, subscribers: int) -> int:
    if spec.endswith("%"):
        return round(subscribers * float(spec[:-1]) / 100)
    return int(spec)


def machine_info() -> dict[str, Any]:
    """The machine and checkout a run was made on (for ``results.json``)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "node": shutil.which("node")
        and subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
        "commit": commit,
    }


def select_systems(names: str, variants: list[str], notes: list[str]) -> list[System]:
    """The systems named (comma-separated) that can run here; a note for each skipped."""
    known = builtin_systems(ROOT)
    for spec in variants:
        variant = parse_variant(spec, known)
        known[variant.name] = variant
    chosen = []
    for name in [s.strip() for s in names.split(",") if s.strip()]:
        if name not in known:
            raise SystemExit(f"unknown system {name!r}; known: {', '.join(known)}")
        reason = unavailable(known[name])
        if reason:
            notes.append(f"skipped {name}: {reason}")
            _log(f"skipping {name}: {reason}")
        else:
            chosen.append(known[name])
    return chosen


def _attempt(results: list[dict[str, Any]], base: dict[str, Any], fn: Any, *a: Any) -> None:
    """Run one measurement; a failure is recorded, not raised."""
    try:
        results.append(fn(*a))
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        _log(f"  FAILED: {exc}")
        results.append({**base, "failed": str(exc)[-2000:]})


def _summary_line(r: dict[str, Any]) -> str:
    if "failed" in r:
        return "failed"
    p99 = r.get("latency_p99_ms")
    cpm = r.get("server_cpu_per_million")
    return (
        f"{r['deliveries_per_s']:,.0f} deliveries/s, p99 "
        f"{'–' if p99 is None else f'{p99:.1f} ms'}, server "
        f"{'–' if cpm is None else f'{cpm:.2f} CPU s/M'}, errors {r['errors']}, "
        f"closed {r['closed']}"
    )


def _broadcast(h: Harness, systems: list[System], cfg: Config, out: dict[str, Any]) -> None:
    total = cfg.runs * len(cfg.rates) * len(systems)
    step = 0
    # Systems interleaved within a run: drift of the machine hits all of them alike.
    for run in range(1, cfg.runs + 1):
        for rate in cfg.rates:
            for system in systems:
                step += 1
                _log(f"[{step}/{total}] {system.name} rate={rate:g} run {run}")
                base = {"system": system.name, "offered_rate": rate, "run": run}
                _attempt(out["broadcast"], base, h.broadcast, system, rate, run)
                _log(f"  {_summary_line(out['broadcast'][-1])}")
                _save(out)


def _idle(h: Harness, systems: list[System], cfg: Config, out: dict[str, Any]) -> None:
    for run in range(1, cfg.runs + 1):
        for system in systems:
            _log(f"[idle] {system.name} {cfg.idle:,} connections run {run}")
            base = {"system": system.name, "connections": cfg.idle, "run": run}
            _attempt(out["idle"], base, h.idle, system, run)
            r = out["idle"][-1]
            if "failed" not in r:
                _log(
                    f"  joined {r['joined']:,} in {r['join_seconds']:.2f} s, "
                    f"RSS/connection {r['server_rss_per_conn_bytes']} bytes, errors {r['errors']}"
                )
            _save(out)


def _history(h: Harness, systems: list[System], cfg: Config, out: dict[str, Any]) -> None:
    pchat = next((s for s in systems if s.is_pchat), None)
    if pchat is None:
        return
    try:
        data_dir, fill = h.history_fill()
    except (RuntimeError, subprocess.SubprocessError) as exc:
        _log(f"  history fill FAILED: {exc}")
        out["meta"]["notes"].append(f"history not measured: {exc}")
        return
    out["history"]["fill"] = fill
    for run in range(1, cfg.runs + 1):
        _log(f"[history] {pchat.name} run {run}")
        _attempt(out["history"]["runs"], {"run": run}, h.history, pchat, data_dir, run)
        r = out["history"]["runs"][-1]
        if "failed" not in r:
            _log(
                f"  random page p50 {r['random_page']['p50_ms']} ms, "
                f"p99 {r['random_page']['p99_ms']} ms"
            )
        _save(out)
    try:
        out["history"]["store"] = h.history_store(data_dir)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        out["meta"]["notes"].append(f"store-API history timing failed: {exc}")


def _save(out: dict[str, Any]) -> None:
    report.write_json(out["meta"]["out"] / "results.json", _jsonable(out))


def _jsonable(out: dict[str, Any]) -> dict[str, Any]:
    meta = {**out["meta"], "out": str(out["meta"]["out"])}
    return {**out, "meta": meta}


def _plot(results: dict[str, Any], out_dir: Path, notes: list[str]) -> None:
    png = out_dir / "plot.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        bench_python = ROOT / ".venv-bench" / "bin" / "python"
        if not bench_python.exists():
            notes.append("no plot: matplotlib is missing (run `make -C bench venv`)")
            return
        done = subprocess.run(
            [
                str(bench_python),
                str(ROOT / "bench" / "lib" / "plot.py"),
                str(out_dir / "results.json"),
                str(png),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            notes.append(f"no plot: {done.stderr.strip().splitlines()[-1:]}")
        return
    from bench.lib.plot import plot

    plot(results, png)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    notes: list[str] = []
    systems = select_systems(args.systems, args.variant, notes)
    if args.hello:
        notes.append(
            "--hello: the ws peers' clients joined with a token and the room in their first "
            "frame, checked by the peer (bench/lib/hello.py)"
        )
    rates = tuple(float(r) for r in args.rates.split(",") if r.strip()) if args.rates else ()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    out_dir = args.out or ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pchat-bench-"))
    cfg = Config(
        root=ROOT,
        out=out_dir,
        work=work,
        subscribers=args.subscribers,
        rates=rates,
        runs=args.runs,
        warmup=args.warmup,
        duration=args.duration,
        inflight=args.inflight,
        size=args.size,
        nonreaders=_nonreaders(args.nonreaders, args.subscribers),
        concurrency=args.concurrency,
        join_timeout=args.join_timeout,
        hello=args.hello,
        source_addrs=args.source_addrs,
        idle=args.idle,
        idle_hold=args.idle_hold,
        history=args.history,
        history_pages=args.history_pages,
        server_cpus=None if args.no_pin else args.server_cpus,
        loadgen_cpus=None if args.no_pin else args.loadgen_cpus,
    )
    binary = loadgen.build()
    config_meta = {k: v for k, v in vars(cfg).items() if k not in ("root", "out", "work")} | {
        "rates": list(rates)
    }
    out: dict[str, Any] = {
        "meta": {
            "started": started,
            "command": shlex.join([sys.executable, *sys.argv])
            if argv is None
            else shlex.join(["bench/run.py", *argv]),
            "machine": machine_info(),
            "config": config_meta,
            "systems": [s.name for s in systems],
            "notes": notes,
            "out": out_dir,
            "loadgen_fields": list(loadgen.FIELDS),
        },
        "broadcast": [],
        "idle": [],
        "history": {"fill": {}, "runs": []},
    }
    h = Harness(cfg, binary, _log)
    try:
        if rates:
            _broadcast(h, systems, cfg, out)
        if cfg.idle > 0:
            _idle(h, systems, cfg, out)
        if cfg.history > 0:
            _history(h, systems, cfg, out)
    finally:
        if args.keep_work:
            _log(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out["summary"] = report.summarize(out)
    results = _jsonable(out)
    report.write_json(out_dir / "results.json", results)
    if not args.no_plot and out["summary"]["broadcast"]:
        _plot(results, out_dir, notes)
    results = _jsonable(out)
    report.write_json(out_dir / "results.json", results)
    md = report.markdown(results)
    (out_dir / "results.md").write_text(md)
    print(md)
    _log(f"results in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
