"""Building and running the C load generator (``bench/loadgen/``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .procs import pinned

__all__ = ["FIELDS", "LoadgenError", "Options", "Window", "build", "run"]

LOADGEN_DIR = Path(__file__).resolve().parents[1] / "loadgen"

#: Every field of the loadgen's JSON object (the smoke test checks them all).
FIELDS: tuple[str, ...] = (
    "proto", "mode", "hello", "source_addrs", "concurrency", "subscribers", "nonreaders",
    "joined", "join_seconds", "join_loadgen_cpu_seconds", "join_server_cpu_seconds", "rate",
    "inflight", "size", "warmup", "duration", "drain", "window_seconds", "sent", "sent_per_s",
    "sent_total", "deliveries", "deliveries_per_s", "deliveries_total", "delivery_ratio",
    "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms",
    "latency_max_ms", "latency_mean_ms", "errors", "error_kinds", "closed",
    "closed_readers", "closed_nonreaders", "close_codes", "publish_skipped", "stalls",
    "loadgen_cpu_seconds", "loadgen_cpu_total_seconds", "server_cpu_seconds",
    "server_rss_before_kb", "server_rss_after_kb", "server_rss_per_conn_bytes",
)  # fmt: skip


#: The load generator's note when the subscribers have joined (``N joined in S s``).
_JOINED = re.compile(r"^loadgen: \d+ joined in ")


class LoadgenError(RuntimeError):
    """The load generator failed or printed no result."""


def build() -> Path:
    """``make`` the load generator; its path. Raises if there is no C compiler."""
    if shutil.which("gcc") is None:
        raise LoadgenError("gcc is missing: the load generator cannot be built")
    result = subprocess.run(["make", "-s", "-C", str(LOADGEN_DIR)], capture_output=True, text=True)
    if result.returncode != 0:
        raise LoadgenError(f"building the load generator failed:\n{result.stdout}{result.stderr}")
    return LOADGEN_DIR / "loadgen"


@dataclass(frozen=True, kw_only=True)
class Options:
    """One load generator run (see ``loadgen --help``)."""

    port: int
    proto: str
    subscribers: int
    rate: float = 0.0
    inflight: int = 4
    warmup: float = 3.0
    duration: float = 10.0
    nonreaders: int = 0
    idle: bool = False
    tokens: Path | None = None
    concurrency: int = 100
    join_timeout: float = 60.0
    size: int = 200
    server_pids: Sequence[int] = ()
    #: ``ws``: a token-carrying hello first (tokens from ``tokens``).
    hello: bool = False
    #: Local addresses to spread the connections over (``N`` or ``127.0.0.1-127.0.0.8``).
    source_addrs: str | None = None
    #: The room joined (pchat, hello); None: the load generator's default (``bench``).
    room: str | None = None
    #: pchat: connect with ``"sampling": true`` (a sampled stream in a huge room).
    sampling: bool = False
    #: Subscriber i is user ``u<id_base+i>`` with token line ``id_base+i+1`` (several
    #: load generators, one room: ``bench/bigroom.py``).
    id_base: int = 0
    #: After joining, wait for ``go START END`` on stdin (``bench/bigroom.py``).
    wait_go: bool = False
    #: With ``wait_go``: subscribers only; another load generator publishes.
    no_publisher: bool = False

    def argv(self, binary: Path) -> list[str]:
        flags: dict[str, object] = {
            "--port": self.port,
            "--proto": self.proto,
            "--subscribers": self.subscribers,
            "--duration": self.duration,
            "--concurrency": self.concurrency,
            "--join-timeout": self.join_timeout,
        }
        if not self.idle:
            flags |= {
                "--rate": self.rate,
                "--inflight": self.inflight,
                "--warmup": self.warmup,
                "--size": self.size,
                "--nonreaders": self.nonreaders,
            }
        if self.tokens is not None:
            flags["--tokens"] = self.tokens
        if self.source_addrs:
            flags["--source-addrs"] = self.source_addrs
        if self.room is not None:
            flags["--room"] = self.room
        if self.server_pids:
            flags["--server-pid"] = ",".join(map(str, self.server_pids))
        if self.id_base:
            flags["--id-base"] = self.id_base
        switches = {
            "--idle": self.idle,
            "--hello": self.hello,
            "--sampling": self.sampling,
            "--wait-go": self.wait_go,
            "--no-publisher": self.no_publisher,
        }
        args = [str(binary), *(s for s, on in switches.items() if on)]
        for flag, value in flags.items():
            args += [flag, str(value)]
        return args

    def timeout(self) -> float:
        return self.join_timeout * 2 + self.warmup + self.duration + 60


class Window(Protocol):
    """Something measured over the load generator's window alongside it."""

    def prepare(self) -> None:
        """The subscribers have joined: the warm-up begins."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def run(
    binary: Path, options: Options, *, cpus: str | None, window: Window | None = None
) -> dict[str, Any]:
    """Run the load generator pinned to ``cpus``; its JSON result (plus its stderr).

    ``window`` is started and stopped over the measured window as seen from here: the load
    generator notes on stderr when its subscribers have joined (``window.prepare``); the
    window opens after the publisher's join (milliseconds) and ``warmup``, and lasts
    ``duration``.
    """
    argv = pinned(options.argv(binary), cpus)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    err_lines: list[str] = []
    timers: list[threading.Timer] = []
    prepared, started, stopped = threading.Event(), threading.Event(), threading.Event()
    lock = threading.Lock()
    launched = time.monotonic()
    seen: list[float] = []

    def start() -> None:
        assert window is not None
        prepared.wait(options.duration)
        with lock:
            if not stopped.is_set():
                window.start()
                started.set()

    def stop() -> None:
        with lock:
            if window is not None and started.is_set() and not stopped.is_set():
                window.stop()
            stopped.set()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line.rstrip("\n"))
            if window is not None and not timers and _JOINED.search(line):
                # The schedule first: finding what to watch may take a while.
                seen.append(time.monotonic())
                timers.extend(
                    [
                        threading.Timer(options.warmup, start),
                        threading.Timer(options.warmup + options.duration, stop),
                    ]
                )
                for timer in timers:
                    timer.start()
                window.prepare()
                prepared.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(options.timeout(), kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
        reader.join(5)
        # This window ends a few ms before the load generator's (its publisher joins after
        # the note): its end has come, unless the note was read late; then it ends now, as
        # the load generator has just ended its own.
        for timer in timers:
            timer.cancel()
        for timer in timers:
            timer.join(options.duration + 5)
        stop()
    if timed_out.is_set():
        raise LoadgenError(f"the load generator timed out: {' '.join(argv)}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise LoadgenError(
            f"the load generator failed ({proc.returncode}): {chr(10).join(err_lines)[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["loadgen_notes"] = err_lines[-20:]
    if seen and isinstance(result.get("join_seconds"), (int, float)):
        # When the note was read, after the load generator's start and its join storm:
        # near 0 (its own start-up) when the window here is in step with its own.
        result["window_note_lag_seconds"] = round(seen[0] - launched - result["join_seconds"], 3)
    return result
