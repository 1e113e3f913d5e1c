"""One big room on one server core (issue 14, item 4): 50,000 viewers at 50 messages/s.

::

    W3='PCHAT_WORKERS=3:PCHAT_COALESCE_BUDGET=66667'
    flock /tmp/bench.lock .venv/bin/python bench/bigroom.py --viewers 50000 --rate 50 \\
        --variant "sampled=pchat:$W3:PCHAT_VIEWER_MAX_RATE=10:PCHAT_BENCH_SAMPLING=1" \\
        --variant "all=pchat:$W3" --systems sampled,all --runs 3

Why several processes on each side: a process may hold at most ``RLIMIT_NOFILE`` open
files (20,000 where this was written, hard, and nothing may raise it), one per connection.
So the server runs as ``pchat serve --workers W`` with every process pinned to one core
(``--server-cpus``, 0: the workers inherit the ``taskset`` of their parent; the bar is one
core, and it stays one core), the kernel spreading the connections over the workers'
``SO_REUSEPORT`` sockets; and the viewers are joined by ``--loadgens`` C load generators on
``--loadgen-cpus`` (1), each from its own loopback source addresses (127.0.0.2, …: one
address has one ephemeral port range, about 28,000 ports, towards the server's port). The
last load generator also publishes ``--rate`` messages/s.

A run: a fresh server (the fan-out benchmark's environment, ``bench/lib/systems.py``, plus
the variant's); the load generators join their share of the viewers at once
(``--concurrency`` joining at once each) and say ``ready`` (``loadgen --wait-go``); then all
get ``go START END`` (``CLOCK_REALTIME`` ns: START = now + ``--warmup``, END = START +
``--duration``): the publisher publishes from then on, every process counts the deliveries
received between START and END with their latency, then stops publishing and reads every
connection 3 s longer. The results are merged, not averaged: deliveries, errors and closes
are summed, the latency percentiles come from the sum of the processes' histograms
(``loadgen``'s buckets: <= 1.6% error), and each viewer's own count of deliveries over the
whole run (fewest and most) shows whether every viewer got everything (or the same sample).
The server's CPU over the window is read by the publishing load generator from ``/proc``
(all the server's processes); its RSS (``VmRSS`` summed over its processes) every 0.5 s
from here, the peak reported, and the processes' PSS once after the window.

Variables of a variant that are this runner's, not the server's: ``PCHAT_BENCH_SAMPLING=1``
(the viewers connect with ``"sampling": true``, as the SDK does: pchat samples only the
clients that ask; the expected deliveries are then divided by ``ceil(rate /
PCHAT_VIEWER_MAX_RATE)``), and those of ``bench/lib/systems.py``.

The coalescing budget (``PCHAT_COALESCE_BUDGET``, writes/s) is one core's: since
``454f816`` W workers on one core divide it among themselves (before, each had all of it
unless the variant divided it, 200,000 / W).

Results go to ``bench/results/bigroom-<time>/results.{json,md}`` (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import loadgen, report  # noqa: E402
from bench.lib.harness import Config, Harness  # noqa: E402
from bench.lib.procs import descendants, listen_drops, pinned  # noqa: E402
from bench.lib.systems import System, builtin_systems, parse_variant  # noqa: E402

#: The viewers opt in to sampling (the runner's variable, not the server's).
SAMPLING_ENV = "PCHAT_BENCH_SAMPLING"
#: Seconds every connection is read after the window (the load generator's --drain).
DRAIN = 3.0
READY = "loadgen: ready:"

#: loadgen's histogram: values < 128 us exact, then 64 buckets per power of two.
HIST_EXACT, HIST_SUB = 128, 64


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/bigroom.py",
        description="One room of many viewers on one server core, joined by several load "
        "generators (issue 14, item 4).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--systems", default="pchat", help="comma-separated, in table order")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=pchat:KEY=VALUE[:KEY=VALUE]",
        help="pchat with extra environment (PCHAT_WORKERS=3, PCHAT_BENCH_SAMPLING=1, …)",
    )
    p.add_argument("--viewers", type=int, default=50_000)
    p.add_argument("--rate", type=float, default=50.0, help="messages/s published")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--loadgens", type=int, default=4, help="load generator processes")
    p.add_argument(
        "--addrs-per-loadgen", type=int, default=2, help="loopback source addresses each"
    )
    p.add_argument("--concurrency", type=int, default=100, help="joining at once, each")
    p.add_argument("--join-timeout", type=float, default=600.0)
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--loadgen-cpus", default="1")
    p.add_argument("--out", type=Path)
    p.add_argument("--keep-work", action="store_true")
    return p


# -- merging ------------------------------------------------------------------------------


def bucket_mid_us(index: int) -> float:
    """The middle of loadgen's histogram bucket ``index``, in µs (``hist_bucket_mid_us``)."""
    if index < HIST_EXACT:
        return float(index)
    shift = (index - HIST_EXACT) // HIST_SUB + 1
    mantissa = (index - HIST_EXACT) % HIST_SUB + HIST_SUB
    return float((mantissa << shift) + (1 << shift) / 2)


def merged_latency(parts: list[dict[str, Any]]) -> dict[str, float | None]:
    """Percentiles of the sum of the processes' histograms (``go`` objects), in ms, with
    loadgen's rule: the nearest rank, a bucket's middle, no more than the maximum."""
    hist: dict[int, int] = {}
    count, total_us, max_us = 0, 0.0, 0
    for go in parts:
        for index, n in go["latency_hist"]:
            hist[index] = hist.get(index, 0) + n
        count += go["latency_count"]
        total_us += go["latency_sum_us"]
        max_us = max(max_us, go["latency_max_us"])
    out: dict[str, float | None] = {"latency_count": count}
    quantiles = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
    if not count:
        return out | {f"latency_{k}_ms": None for k in [*quantiles, "max", "mean"]}
    ordered = sorted(hist.items())
    for name, q in quantiles.items():
        rank = min(int(q * count), count - 1)
        seen, value = 0, float(max_us)
        for index, n in ordered:
            seen += n
            if seen > rank:
                value = min(bucket_mid_us(index), float(max_us))
                break
        out[f"latency_{name}_ms"] = round(value / 1000, 3)
    out["latency_max_ms"] = round(max_us / 1000, 3)
    out["latency_mean_ms"] = round(total_us / count / 1000, 3)
    return out


def merge(parts: list[dict[str, Any]], publisher: dict[str, Any], every: int) -> dict[str, Any]:
    """One run's figures from its load generators' results (``publisher`` among them)."""
    gos = [p["go"] for p in parts]
    window = publisher["window_seconds"]
    joined = sum(p["joined"] for p in parts)
    deliveries = sum(p["deliveries"] for p in parts)
    kinds: dict[str, int] = {}
    codes: dict[str, int] = {}
    for p in parts:
        for k, v in p["error_kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
        for k, v in p["close_codes"].items():
            codes[k] = codes.get(k, 0) + v
    sent = publisher["sent"]
    expected = sent * joined / every
    server_cpu = publisher.get("server_cpu_seconds")
    loadgen_cpu = sum(p["loadgen_cpu_seconds"] for p in parts)
    return {
        "viewers": joined,
        "window_seconds": window,
        "sent": sent,
        "sent_total": publisher["sent_total"],
        "sent_per_s": publisher["sent_per_s"],
        "every": every,
        "deliveries": deliveries,
        "deliveries_per_s": sum(p["deliveries_per_s"] for p in parts),
        "expected_deliveries": expected,
        "expected_deliveries_per_s": expected / window if window else None,
        "delivery_ratio": deliveries / expected if expected else None,
        "deliveries_total": sum(p["deliveries_total"] for p in parts),
        "per_viewer_min": min(g["per_reader_deliveries_min"] for g in gos),
        "per_viewer_max": max(g["per_reader_deliveries_max"] for g in gos),
        "open_viewers": sum(g["open_readers"] for g in gos),
        **merged_latency(gos),
        "errors": sum(p["errors"] for p in parts),
        "error_kinds": kinds,
        "closed": sum(p["closed"] for p in parts),
        "close_codes": codes,
        "publish_skipped": publisher["publish_skipped"],
        "server_cpu_seconds": server_cpu,
        "server_cpu_pct": server_cpu / window * 100 if server_cpu is not None and window else None,
        "server_cpu_per_million": (
            server_cpu / deliveries * 1e6 if server_cpu is not None and deliveries else None
        ),
        "loadgen_cpu_pct": loadgen_cpu / window * 100 if window else None,
        "join_seconds_max": max(p["join_seconds"] for p in parts),
    }


# -- the server's memory ---------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def sockets(pid: int) -> int:
    """Sockets open in process ``pid`` (a worker's connections, plus a few)."""
    n = 0
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                n += os.readlink(fd.path).startswith("socket:")
    except OSError:
        pass
    return n


class RssSampler:
    """``VmRSS`` summed over the server's processes every ``period`` s, in a thread."""

    def __init__(self, root_pid: int, period: float = 0.5) -> None:
        self.root_pid = root_pid
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            rss = sum(_status_kb(pid, "VmRSS") for pid in descendants(self.root_pid))
            self.samples.append((round(time.monotonic() - t0, 2), rss))
            self._stop.wait(self.period)

    @property
    def peak_kb(self) -> int:
        return max((kb for _, kb in self.samples), default=0)


# -- the load generators -------------------------------------------------------------------


@dataclass
class Loadgen:
    """One load generator process, its stderr read as it comes."""

    index: int
    argv: list[str]
    proc: subprocess.Popen[str]
    notes: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, index: int, argv: list[str]) -> Loadgen:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        lg = cls(index, argv, proc)
        threading.Thread(target=lg._read_stderr, daemon=True).start()
        threading.Thread(target=lg._read_stdout, daemon=True).start()
        return lg

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.notes.append(line.rstrip("\n"))
            if line.startswith(READY):
                self.ready.set()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout.extend(self.proc.stdout.read().splitlines())

    def go(self, start_ns: int, end_ns: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {start_ns} {end_ns}\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"load generator {self.index} timed out") from None
        time.sleep(0.1)  # the reader threads take the last lines
        lines = [line for line in self.stdout if line.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError(
                f"load generator {self.index} failed ({self.proc.returncode}): "
                + "\n".join(self.notes[-20:])
            )
        result: dict[str, Any] = json.loads(lines[-1])
        result["loadgen_notes"] = self.notes[-10:]
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` nearly equal counts."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def source_addrs(index: int, per: int) -> str:
    """The loopback addresses of load generator ``index``: 127.0.0.2 on, ``per`` each."""
    first = 2 + index * per
    if first + per - 1 > 254:
        raise ValueError("too many source addresses (127.0.0.2-254)")
    return ",".join(f"127.0.0.{first + k}" for k in range(per))


def every_for(system: System, rate: float) -> int:
    """1 in how many messages a viewer gets: ``ceil(rate / PCHAT_VIEWER_MAX_RATE)`` when its
    clients opt in to sampling and the server samples; else 1."""
    if system.env.get(SAMPLING_ENV) != "1":
        return 1
    limit = system.env.get("PCHAT_VIEWER_MAX_RATE", "10")
    if limit in ("none", "0", ""):
        return 1
    return max(1, math.ceil(rate / float(limit) - 1e-9))


class BigRoom:
    """Runs one measurement at a time."""

    def __init__(self, args: argparse.Namespace, out_dir: Path, work: Path) -> None:
        self.args = args
        self.binary = loadgen.build()
        self.harness = Harness(
            Config(
                root=ROOT,
                out=out_dir,
                work=work,
                subscribers=args.viewers,
                rates=(args.rate,),
                runs=args.runs,
                idle=0,
                history=0,
                concurrency=args.concurrency,
                join_timeout=args.join_timeout,
                server_cpus=args.server_cpus,
                loadgen_cpus=args.loadgen_cpus,
            ),
            self.binary,
            _log,
        )

    def run(self, system: System, run: int) -> dict[str, Any]:
        a = self.args
        h = self.harness
        label = f"bigroom-{system.name}-run{run}"
        data_dir = h._fresh_data_dir(system)
        load0 = os.getloadavg()
        started = time.monotonic()
        server, port = h._start(system, data_dir, label)
        lgs: list[Loadgen] = []
        sampler = RssSampler(server.proc.pid)
        try:
            pids = server.pids()
            rss_idle = sum(_status_kb(pid, "VmRSS") for pid in pids)
            sampler.start()
            drops = listen_drops()
            counts = shares(a.viewers, a.loadgens)
            base = 0
            for i, n in enumerate(counts):
                publisher = i == len(counts) - 1
                opts = loadgen.Options(
                    port=port,
                    proto="pchat",
                    subscribers=n,
                    rate=a.rate,
                    size=a.size,
                    warmup=a.warmup,
                    duration=a.duration,
                    tokens=h.tokens(),
                    concurrency=a.concurrency,
                    join_timeout=a.join_timeout,
                    source_addrs=source_addrs(i, a.addrs_per_loadgen),
                    server_pids=pids if publisher else (),
                    sampling=system.env.get(SAMPLING_ENV) == "1",
                    id_base=base,
                    wait_go=True,
                    no_publisher=not publisher,
                )
                lgs.append(Loadgen.start(i, pinned(opts.argv(self.binary), a.loadgen_cpus)))
                base += n
            deadline = time.monotonic() + a.join_timeout + 60
            for lg in lgs:
                while not lg.ready.wait(0.5):
                    if lg.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"load generator {lg.index} did not get ready: "
                            + "\n".join(lg.notes[-10:])
                        )
            join_all = time.monotonic() - started
            per_worker = {pid: sockets(pid) for pid in pids}
            rss_joined = sum(_status_kb(pid, "VmRSS") for pid in pids)
            _log(
                f"  {a.viewers:,} joined, all ready {join_all:.1f} s after the server's start; "
                f"sockets per process {sorted(per_worker.values())}; RSS {rss_joined / 1024:.0f} MB"
            )
            start_ns = time.time_ns() + int(a.warmup * 1e9)
            end_ns = start_ns + int(a.duration * 1e9)
            for lg in lgs:
                lg.go(start_ns, end_ns)
            parts = [lg.result(a.warmup + a.duration + DRAIN + 120) for lg in lgs]
            pss = sum(_pss_kb(pid) for pid in pids)
            alive = server.proc.poll() is None
            after = listen_drops()
        finally:
            for lg in lgs:
                lg.kill()
            sampler.stop()
            status = server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        every = every_for(system, a.rate)
        merged = merge(parts, parts[-1], every)
        return {
            "system": system.name,
            "run": run,
            **merged,
            "server_processes": len(pids),
            "server_sockets_per_process": list(per_worker.values()),
            "server_rss_idle_kb": rss_idle,
            "server_rss_joined_kb": rss_joined,
            "server_rss_peak_kb": sampler.peak_kb,
            "server_pss_after_window_kb": pss,
            "ready_seconds_after_start": round(join_all, 2),
            "listen_overflows": after.get("ListenOverflows", 0) - drops.get("ListenOverflows", 0),
            "server_alive_at_end": alive,
            "server_exit_status": status,
            "loadavg_before": load0,
            "loadavg_after": os.getloadavg(),
            "rss_samples_kb": sampler.samples,
            "loadgens": parts,
        }


# -- report --------------------------------------------------------------------------------


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(records: list[dict[str, Any]], systems: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in systems:
        runs = [r for r in records if r["system"] == name and "failed" not in r]
        if not runs:
            continue
        keys = (
            "deliveries_per_s", "expected_deliveries_per_s", "delivery_ratio", "latency_p50_ms",
            "latency_p99_ms", "latency_p999_ms", "latency_max_ms", "server_cpu_pct",
            "server_cpu_per_million", "loadgen_cpu_pct", "server_rss_peak_kb",
            "server_pss_after_window_kb", "ready_seconds_after_start",
        )  # fmt: skip
        row: dict[str, Any] = {"system": name, "runs": len(runs)}
        row |= {k: _median([r.get(k) for r in runs]) for k in keys}
        row |= {k: max(r[k] for r in runs) for k in ("errors", "closed")}
        row["latency_p99_ms_runs"] = [r["latency_p99_ms"] for r in runs]
        row["server_rss_peak_kb_runs"] = [r["server_rss_peak_kb"] for r in runs]
        row["per_viewer"] = [
            (r["per_viewer_min"], r["per_viewer_max"], r["sent_total"]) for r in runs
        ]
        rows.append(row)
    return rows


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    c = meta["config"]
    lines = [
        f"# One big room, {meta['started']}",
        "",
        f"{c['viewers']:,} viewers in one room, {c['rate']:g} messages/s of {c['size']} bytes; "
        f"server on CPU {c['server_cpus']}, {c['loadgens']} load generators on CPU "
        f"{c['loadgen_cpus']}; {c['warmup']:g} s warm-up, {c['duration']:g} s measured; "
        f"medians of {c['runs']} run(s) (errors and closes: the worst run).",
        "",
        "| system | deliveries/s (expected) | p50 ms | p99 ms | p99.9 ms | max ms | server CPU % "
        "| loadgen CPU % | peak RSS MB | errors | closed | p99 per run | per viewer (min, max, "
        "sent) per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def num(v: Any, digits: int = 1) -> str:
        return "–" if v is None else f"{v:,.{digits}f}"

    for row in results["summary"]:
        lines.append(
            f"| {row['system']} | {num(row['deliveries_per_s'], 0)} "
            f"({num(row['expected_deliveries_per_s'], 0)}) | {num(row['latency_p50_ms'])} | "
            f"{num(row['latency_p99_ms'])} | {num(row['latency_p999_ms'])} | "
            f"{num(row['latency_max_ms'])} | {num(row['server_cpu_pct'], 0)} | "
            f"{num(row['loadgen_cpu_pct'], 0)} | {num((row['server_rss_peak_kb'] or 0) / 1024, 0)} "
            f"| {row['errors']} | {row['closed']} | "
            f"{', '.join(num(v) for v in row['latency_p99_ms_runs'])} | "
            f"{'; '.join(f'{lo}, {hi}, {sent}' for lo, hi, sent in row['per_viewer'])} |"
        )
    failed = [r for r in results["runs"] if "failed" in r]
    if failed:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {r['system']} run {r['run']}: {r['failed'][:300]}" for r in failed]
    lines += ["", "## Command", "", "```", meta["command"], "```", ""]
    return "\n".join(lines)


def _proc_sys(name: str) -> str:
    try:
        return " ".join(Path("/proc/sys", name).read_text().split())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.loadgen_cpus:
        # This runner's own threads (the RSS sampler) stay off the server's core.
        os.sched_setaffinity(0, {int(c) for c in args.loadgen_cpus.split(",")})
    known = builtin_systems(ROOT)
    for spec in args.variant:
        v = parse_variant(spec, known)
        if not v.is_pchat:
            raise SystemExit(f"{v.name}: only pchat variants")
        known[v.name] = v
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    systems = [known[n] for n in names]
    out_dir = args.out or ROOT / "bench" / "results" / time.strftime("bigroom-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pchat-bigroom-"))
    config = {k: v for k, v in vars(args).items() if k not in ("out", "variant")}
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": shlex.join([*(["bench/bigroom.py"] if argv else sys.argv), *(argv or [])]),
            "config": config,
            "variants": {s.name: dict(s.env) for s in systems},
            "commit": subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "nofile_hard": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
            "ip_local_port_range": _proc_sys("net/ipv4/ip_local_port_range"),
            "somaxconn": _proc_sys("net/core/somaxconn"),
        },
        "runs": [],
    }
    bench = BigRoom(args, out_dir, work)
    try:
        total = args.runs * len(systems)
        step = 0
        for run in range(1, args.runs + 1):
            for system in systems:  # alternating within a run
                step += 1
                _log(f"[{step}/{total}] {system.name} run {run}")
                try:
                    r = bench.run(system, run)
                except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                    _log(f"  FAILED: {exc}")
                    r = {"system": system.name, "run": run, "failed": str(exc)[-2000:]}
                else:
                    _log(
                        f"  {r['deliveries_per_s']:,.0f} deliveries/s of "
                        f"{r['expected_deliveries_per_s']:,.0f} expected, p50 "
                        f"{r['latency_p50_ms']} p99 {r['latency_p99_ms']} max "
                        f"{r['latency_max_ms']} ms, per viewer {r['per_viewer_min']}.."
                        f"{r['per_viewer_max']} of {r['sent_total']} sent, server CPU "
                        f"{r['server_cpu_pct']:.0f}%, loadgens {r['loadgen_cpu_pct']:.0f}%, "
                        f"peak RSS {r['server_rss_peak_kb'] / 1024:.0f} MB, errors "
                        f"{r['errors']}, closed {r['closed']}"
                    )
                results["runs"].append(r)
                report.write_json(out_dir / "results.json", results)
    finally:
        if args.keep_work:
            _log(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["summary"] = summarize(results["runs"], names)
    report.write_json(out_dir / "results.json", results)
    md = markdown(results)
    (out_dir / "results.md").write_text(md)
    print(md)
    _log(f"results in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
