"""The reconnect storm (issue 14): N clients recovering after a pchat restart.

::

    flock /tmp/bench.lock .venv/bin/python bench/reconnect_storm.py                # 5,000, 3 runs
    .venv/bin/python bench/reconnect_storm.py --clients 200 --backoff 1000 --runs 1

For each run, number of clients and backoff: a fresh ``pchat serve`` pinned to CPU 0 (the
benchmark environment of ``bench/lib/systems.py``, with an instant drain:
``PCHAT_DRAIN_READY_DELAY=0``, ``PCHAT_DRAIN_WINDOW=0``) takes ``--clients`` subscribers and
one publisher from the C load generator pinned to CPU 1 (``loadgen --reconnect-storm``).
The publisher sends ``--messages`` messages; once every subscriber has them (its position:
the room's ``epoch`` from its connect reply and the ``seq`` of the last push) the load
generator says ``storm armed`` and this script restarts the server as fast as it can:
SIGTERM, wait for the exit, start it again on the same port and data directory. Every
client is closed with ``4000`` and a ``reconnect_after_ms`` hint; each reconnects as the
SDKs do (``src/pchat/sdk/backoff.py``): it waits the hint (``--ignore-hint``: a uniform
delay in [0, B] instead), and after a refused attempt (the server is still down) waits
uniform [0, B] again (B = ``--backoff``, ms), then sends ``connect`` with
``recover: {epoch, seq}``. The publisher returns at once and publishes ``--missed``
messages that the subscribers missed. The load generator ends when every subscriber has
its connect reply and the missed messages (or after ``--timeout``).

Measured per run: the server's downtime (first close to its port accepting again), the time
from the server being ready (its port accepts) to the last subscriber's connect reply
(``ready_to_all_s``, the bar: all recovered within 2 s), and to the last having every missed
message; the same from the first close; how many replies said ``recovered: true``, how many
a fresh state; connect attempts refused while the server was down; errors; the new server's
CPU time from ready to the end (per client); the kernel's accept-queue overflows over the
storm (machine-wide). Medians over ``--runs`` go to
``bench/results/reconnect-<time>/results.{json,md}`` and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import loadgen  # noqa: E402
from bench.lib.procs import (  # noqa: E402
    ServerProcess,
    descendants,
    free_port,
    listen_drops,
    pinned,
    raise_nofile,
)
from bench.lib.systems import builtin_systems  # noqa: E402

#: The drain made instant: the clients are closed at once and the server exits.
INSTANT_DRAIN = {"PCHAT_DRAIN_READY_DELAY": "0", "PCHAT_DRAIN_WINDOW": "0"}
ARMED = "loadgen: storm armed"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/reconnect_storm.py",
        description="Reconnect storms of pchat clients after a server restart.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--clients", default="5000", help="subscribers, comma-separated")
    p.add_argument(
        "--backoff", default="1000,2000", help="B, ms: retry delays uniform in [0, B]; a list"
    )
    p.add_argument(
        "--ignore-hint",
        action="store_true",
        help="the first attempt waits uniform [0, B] too (the SDKs wait the close's hint)",
    )
    p.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    p.add_argument("--messages", type=int, default=5, help="published before the restart")
    p.add_argument("--missed", type=int, default=5, help="published right after it")
    p.add_argument("--concurrency", type=int, default=100, help="clients joining at once")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds from the first close")
    p.add_argument("--source-addrs", help="as the load generator's (N or A-B)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more environment for the server (e.g. PCHAT_RECONNECT_HINT_MAX=1)",
    )
    p.add_argument(
        "--restart-fresh",
        action="store_true",
        help="restart on an empty data dir (signing keys kept): no client can recover",
    )
    p.add_argument("--server-cpus", default="0")
    p.add_argument("--loadgen-cpus", default="1")
    p.add_argument("--no-pin", action="store_true", help="run unpinned (no taskset)")
    p.add_argument("--out", type=Path, help="results directory (default bench/results/…)")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary data dirs")
    return p


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (gone ones count 0)."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / hz


def wait_accepting(server: ServerProcess, port: int, timeout: float = 30.0) -> int:
    """Poll the port every 2 ms until it accepts a TCP connection; that time (ns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited with {server.proc.returncode}: {server.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.time_ns()
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"the server did not listen on {port} within {timeout} s")


class Storm:
    """One run: a server, the load generator's clients, a restart."""

    def __init__(self, args: argparse.Namespace, binary: Path, work: Path, out: Path) -> None:
        self.args = args
        self.binary = binary
        self.work = work
        self.out = out
        self.system = builtin_systems(ROOT)["pchat"]
        self.extra_env = dict(INSTANT_DRAIN)
        for pair in args.server_env:
            key, eq, value = pair.partition("=")
            if not eq:
                raise SystemExit(f"--server-env {pair!r}: KEY=VALUE")
            self.extra_env[key] = value
        self.serial = 0

    def _server(self, data_dir: Path, port: int, label: str) -> ServerProcess:
        env = self.system.environ(port, data_dir) | self.extra_env
        cpus = None if self.args.no_pin else self.args.server_cpus
        return ServerProcess(
            pinned(self.system.argv(port, data_dir), cpus),
            env=env,
            log_path=self.out / "logs" / f"{label}.log",
            cwd=ROOT,
        )

    def _tokens(self, data_dir: Path, count: int) -> Path:
        path = data_dir.parent / f"{data_dir.name}-tokens.txt"
        tools = ROOT / "bench" / "lib" / "pchat_tools.py"
        argv = [str(ROOT / ".venv" / "bin" / "python"), str(tools), "tokens"]
        argv += ["--data-dir", str(data_dir), "--count", str(count), "--out", str(path)]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"tokens failed: {done.stderr[-2000:]}")
        return path

    def _loadgen_argv(self, port: int, n: int, backoff: float, tokens: Path) -> list[str]:
        a = self.args
        argv = [str(self.binary), "--reconnect-storm", "--proto", "pchat"]
        argv += ["--port", str(port), "--subscribers", str(n), "--tokens", str(tokens)]
        argv += ["--concurrency", str(a.concurrency), "--storm-backoff", f"{backoff:g}"]
        argv += ["--storm-messages", str(a.messages), "--storm-missed", str(a.missed)]
        argv += ["--storm-timeout", f"{a.timeout:g}"]
        if a.ignore_hint:
            argv.append("--storm-ignore-hint")
        if a.source_addrs:
            argv += ["--source-addrs", a.source_addrs]
        return pinned(argv, None if a.no_pin else a.loadgen_cpus)

    def run(self, n: int, backoff: float, run: int) -> dict[str, Any]:
        self.serial += 1
        label = f"{self.serial:03d}-n{n}-b{backoff:g}-r{run}"
        data_dir = self.work / f"data-{label}"
        data_dir.mkdir(parents=True)
        tokens = self._tokens(data_dir, n + 1)
        port = free_port()
        first = self._server(data_dir, port, f"{label}-a")
        second: ServerProcess | None = None
        proc: subprocess.Popen[str] | None = None
        try:
            first.wait_ready(port, settle=0.2)
            proc = subprocess.Popen(
                self._loadgen_argv(port, n, backoff, tokens),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            armed = threading.Event()
            notes: list[str] = []

            def read_stderr() -> None:
                assert proc is not None and proc.stderr is not None
                for line in proc.stderr:
                    notes.append(line.rstrip("\n"))
                    if line.startswith(ARMED):
                        armed.set()

            reader = threading.Thread(target=read_stderr, daemon=True)
            reader.start()
            while not armed.wait(0.1):
                if proc.poll() is not None:
                    reader.join(2)
                    raise RuntimeError("the load generator ended early: " + "\n".join(notes[-10:]))
            # The restart, as fast as the server allows.
            drops_before = listen_drops().get("ListenOverflows", 0)
            term_ns = time.time_ns()
            first.stop(timeout=30)
            exit_ns = time.time_ns()
            if self.args.restart_fresh:
                fresh = self.work / f"data-{label}-fresh"
                fresh.mkdir()
                shutil.copy2(data_dir / "keys.sqlite3", fresh / "keys.sqlite3")
                data_dir = fresh
            second = self._server(data_dir, port, f"{label}-b")
            ready_ns = wait_accepting(second, port)
            pids = descendants(second.proc.pid)
            cpu_ready = cpu_seconds(pids)
            assert proc.stdout is not None
            try:
                stdout, _ = proc.communicate(timeout=self.args.timeout + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise RuntimeError("the load generator did not end") from None
            reader.join(2)
            cpu_end = cpu_seconds(pids)
            drops = listen_drops().get("ListenOverflows", 0) - drops_before
            lines = [line for line in stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"the load generator failed: {notes[-10:]}")
            result: dict[str, Any] = json.loads(lines[-1])
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            first.stop()
            if second is not None:
                second.stop()
        return summarize(
            result,
            n=n,
            backoff=backoff,
            run=run,
            term_ns=term_ns,
            exit_ns=exit_ns,
            ready_ns=ready_ns,
            server_cpu=cpu_end - cpu_ready,
            listen_overflows=drops,
        ) | {"loadgen_notes": notes[-10:]}


def _s(a: int | None, b: int | None) -> float | None:
    """Seconds from ``b`` to ``a`` (ns), or None."""
    return None if a is None or b is None else round((a - b) / 1e9, 3)


def summarize(r: dict[str, Any], *, n: int, backoff: float, run: int, **t: Any) -> dict[str, Any]:
    """One run's numbers from the load generator's ``storm`` object and our times."""
    s = r["storm"]
    first_close = s["first_close_ns"]
    return {
        "clients": n,
        "backoff_ms": backoff,
        "run": run,
        "hint": s["hint"],
        "joined": r["joined"],
        "closed": s["closed"],
        "hinted": s["hinted"],
        "replied": s["replied"],
        "recovered": s["recovered"],
        "not_recovered": s["not_recovered"],
        "caught_up": s["caught_up"],
        "attempts": s["attempts"],
        "refused": s["refused"],
        "errors": sum(s["errors"].values()),
        "error_kinds": s["errors"],
        "close_codes": r["close_codes"],
        "stop_s": _s(t["exit_ns"], t["term_ns"]),
        "downtime_s": _s(t["ready_ns"], first_close),
        "ready_to_all_s": _s(s["last_reply_ns"], t["ready_ns"]),
        "ready_to_caught_up_s": _s(s["caught_up_ns"], t["ready_ns"]),
        "close_to_all_s": _s(s["last_reply_ns"], first_close),
        "reply_p50_after_close_s": None
        if s["reply_p50_ms"] is None
        else round(s["reply_p50_ms"] / 1e3, 3),
        "server_cpu_s": round(t["server_cpu"], 3),
        "server_cpu_us_per_client": round(t["server_cpu"] * 1e6 / max(1, s["replied"])),
        "loadgen_cpu_s": s["loadgen_cpu_seconds"],
        "listen_overflows": t["listen_overflows"],
        "storm": s,
    }


MEDIAN_KEYS = (
    "downtime_s",
    "ready_to_all_s",
    "ready_to_caught_up_s",
    "close_to_all_s",
    "reply_p50_after_close_s",
    "server_cpu_s",
    "server_cpu_us_per_client",
    "refused",
    "listen_overflows",
)
WORST_KEYS = ("errors", "not_recovered")


def medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (clients, backoff): medians of MEDIAN_KEYS, the worst of WORST_KEYS, the fewest
    recovered, and the min-max of ready_to_all_s."""
    groups: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for r in runs:
        if "failed" not in r:
            groups.setdefault((r["clients"], r["backoff_ms"]), []).append(r)
    rows = []
    for (n, b), rs in sorted(groups.items()):
        row: dict[str, Any] = {"clients": n, "backoff_ms": b, "runs": len(rs)}
        for k in MEDIAN_KEYS:
            values = [r[k] for r in rs if r[k] is not None]
            row[k] = statistics.median(values) if values else None
        for k in WORST_KEYS:
            row[k] = max(r[k] for r in rs)
        row["recovered_min"] = min(r["recovered"] for r in rs)
        all_s = [r["ready_to_all_s"] for r in rs if r["ready_to_all_s"] is not None]
        row["ready_to_all_range"] = [min(all_s), max(all_s)] if all_s else None
        row["all_recovered_runs"] = sum(r["recovered"] == n for r in rs)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], hint: bool) -> str:
    def f(v: Any, spec: str = ".2f") -> str:
        return "–" if v is None else format(v, spec)

    first = "hint, then [0, B]" if hint else "[0, B]"
    out = [
        f"Reconnect storm: first attempt {first}; medians (min–max) of the runs",
        "",
        "| clients | B ms | runs | downtime s | ready → all replied s | ready → caught up s "
        "| close → all s | recovered (fewest) | not recovered | refused | server CPU s "
        "(µs/client) | overflows | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rng = r["ready_to_all_range"]
        span = f" ({rng[0]:.2f}–{rng[1]:.2f})" if rng else ""
        out.append(
            f"| {r['clients']:,} | {r['backoff_ms']:g} | {r['runs']} | {f(r['downtime_s'])} "
            f"| {f(r['ready_to_all_s'])}{span} | {f(r['ready_to_caught_up_s'])} "
            f"| {f(r['close_to_all_s'])} | {r['recovered_min']:,} | {r['not_recovered']} "
            f"| {f(r['refused'], '.0f')} | {f(r['server_cpu_s'])} "
            f"({f(r['server_cpu_us_per_client'], '.0f')}) | {f(r['listen_overflows'], '.0f')} "
            f"| {r['errors']} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = [int(x) for x in args.clients.split(",") if x.strip()]
    backoffs = [float(x) for x in args.backoff.split(",") if x.strip()]
    if not sizes or min(sizes) < 1 or not backoffs or min(backoffs) < 0:
        raise SystemExit("--clients: positive counts; --backoff: ms >= 0")
    raise_nofile(max(sizes) + 1000)
    out = args.out or ROOT / "bench" / "results" / time.strftime("reconnect-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pchat-reconnect-"))
    storm = Storm(args, loadgen.build(), work, out)
    command = shlex.join(
        [sys.executable, *sys.argv] if argv is None else ["bench/reconnect_storm.py", *argv]
    )
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command,
            "loadavg": os.getloadavg(),
            "server_env": storm.extra_env,
        },
        "runs": [],
    }
    try:
        for run in range(1, args.runs + 1):
            for n in sizes:
                for backoff in backoffs:
                    _log(f"{n:,} clients, B={backoff:g} ms, run {run}")
                    try:
                        r = storm.run(n, backoff, run)
                    except (RuntimeError, OSError, ValueError, KeyError) as exc:
                        _log(f"  FAILED: {exc}")
                        r = {"clients": n, "backoff_ms": backoff, "run": run, "failed": str(exc)}
                    else:
                        _log(
                            f"  downtime {r['downtime_s']} s; ready -> all replied "
                            f"{r['ready_to_all_s']} s, caught up {r['ready_to_caught_up_s']} s; "
                            f"recovered {r['recovered']:,}/{n:,}, errors {r['errors']}, "
                            f"refused {r['refused']:,}, server CPU {r['server_cpu_s']} s"
                        )
                    results["runs"].append(r)
                    (out / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        if args.keep_work:
            _log(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["summary"] = medians(results["runs"])
    (out / "results.json").write_text(json.dumps(results, indent=1))
    md = markdown(results["summary"], not args.ignore_hint)
    (out / "results.md").write_text(md)
    print(md)
    _log(f"results in {out}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    raise SystemExit(main())
