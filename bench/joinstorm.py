"""The join storm alone: pchat and its peers side by side, N clients joining, C at once.

::

    .venv-bench/bin/python bench/joinstorm.py                 # 5,000 and 10,000, 3 runs
    .venv-bench/bin/python bench/joinstorm.py --joins 2000 --runs 1

For each run, size and system (systems interleaved, their order reversed every other run,
so that drift of a shared machine hits all of them alike), a fresh server pinned to CPU 0
takes a join storm from the C load generator pinned to CPU 1: ``--joins`` clients, at most
``--concurrency`` (200, issue 14's setting) between their connect and their join reply.
A join is what each system's client needs before it gets messages: for pchat the
WebSocket handshake and a ``connect`` with a token and the room, answered once the token is
checked; for the ``ws`` peers (raw, ws-node, picows) the handshake and a hello with a token
and the room, checked the same way (HS256, ``bench/lib/hello.py``; ``--no-hello``: the
handshake alone); for socket.io engine.io's open and ``40``. Measured (the load generator,
``bench/lib/harness.py`` ``Harness.joins``): the time from the first connect to the last
join reply, and the server's CPU time (``/proc``, all its processes and threads) over that
span per join; then the kernel's accept-queue overflows during the run (machine-wide).
Medians of ``--runs`` go to ``bench/results/joins-<time>/`` (``results.json``,
``results.md``) and to stdout.

Needs only the standard library (like ``bench/run.py``); the pchat tokens are made with
``.venv``, the picows peer runs from ``.venv-bench`` (``make -C bench venv node-peers``).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
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
from bench.run import machine_info, select_systems  # noqa: E402

DEFAULT_SYSTEMS = "pchat,raw,ws-node,picows,socketio-node"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/joinstorm.py",
        description="Join storms of pchat and its peers (see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--systems", default=DEFAULT_SYSTEMS, help="comma-separated, in table order")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=BASE:KEY=VALUE[:KEY=VALUE]",
        help="a system started with extra environment (as bench/run.py's)",
    )
    p.add_argument("--joins", default="5000,10000", help="clients per storm, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    p.add_argument("--concurrency", type=int, default=200, help="clients joining at once")
    p.add_argument("--join-timeout", type=float, default=60.0)
    p.add_argument(
        "--no-hello", action="store_true", help="the ws peers join on the handshake alone"
    )
    p.add_argument(
        "--source-addrs",
        help="spread the connections over local addresses: N (127.0.0.1..N) or 127.0.0.1-127.0.0.8",
    )
    p.add_argument("--hold", type=float, default=0.5, help="seconds held after the storm")
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--loadgen-cpus", default="1")
    p.add_argument("--no-pin", action="store_true", help="run unpinned (no taskset)")
    p.add_argument("--out", type=Path, help="results directory (default bench/results/joins-…)")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary data dirs")
    return p


def _line(r: dict[str, Any]) -> str:
    if "failed" in r:
        return "failed"
    cpu = r.get("server_cpu_us_per_join")
    return (
        f"joined {r['joined']:,} in {r['join_seconds']:.3f} s, "
        f"{'–' if cpu is None else f'{cpu:.0f}'} µs server CPU/join, errors {r['errors']}, "
        f"listen overflows {r['listen_overflows']}"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = [int(n) for n in args.joins.split(",") if n.strip()]
    if not sizes or min(sizes) < 1:
        raise SystemExit("--joins: one or more positive counts")
    notes: list[str] = []
    systems = select_systems(args.systems, args.variant, notes)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    out_dir = args.out or ROOT / "bench" / "results" / time.strftime("joins-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pchat-joinstorm-"))
    config = Config(
        root=ROOT,
        out=out_dir,
        work=work,
        subscribers=max(sizes),
        rates=(),
        runs=args.runs,
        concurrency=args.concurrency,
        join_timeout=args.join_timeout,
        idle=0,
        history=0,
        server_cpus=None if args.no_pin else args.server_cpus,
        loadgen_cpus=None if args.no_pin else args.loadgen_cpus,
        hello=not args.no_hello,
        source_addrs=args.source_addrs,
        joins_hold=args.hold,
    )
    command = shlex.join(
        [sys.executable, *sys.argv] if argv is None else ["bench/joinstorm.py", *argv]
    )
    results: dict[str, Any] = {
        "meta": {
            "started": started,
            "command": command,
            "machine": machine_info(),
            "config": {k: v for k, v in vars(config).items() if k not in ("root", "out", "work")}
            | {"rates": [], "joins": sizes},
            "systems": [s.name for s in systems],
            "notes": notes,
        },
        "joins": [],
        "summary": [],
    }
    harness = Harness(config, loadgen.build(), _log)
    total = args.runs * len(sizes) * len(systems)
    step = 0
    try:
        for run in range(1, args.runs + 1):
            for n in sizes:
                for system in systems if run % 2 else systems[::-1]:
                    step += 1
                    _log(f"[{step}/{total}] {system.name} {n:,} joins run {run}")
                    try:
                        r = harness.joins(system, n, run)
                    except (RuntimeError, OSError, ValueError) as exc:
                        _log(f"  FAILED: {exc}")
                        r = {"system": system.name, "joins": n, "run": run, "failed": str(exc)}
                    results["joins"].append(r)
                    _log(f"  {_line(r)}")
                    report.write_json(out_dir / "results.json", results)
    finally:
        if args.keep_work:
            _log(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["summary"] = report.summarize_joins(results["joins"])
    report.write_json(out_dir / "results.json", results)
    md = report.joins_markdown(results)
    (out_dir / "results.md").write_text(md)
    print(md)
    _log(f"results in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
