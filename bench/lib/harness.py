"""The measurements: broadcast at an offered load, idle memory and join storm, history pages.

Each measurement starts a fresh server (pinned to ``server_cpus``) and drives it from the
load generator (pinned to ``loadgen_cpus``); pchat gets a fresh data directory each time,
with signing keys copied from one template so that one token file serves every run. With
``hello``, the ``ws`` peers that can (``System.hello``) get a secret in their environment
and the load generator a file of tokens signed with it (:mod:`.hello`), so that their
clients join with a token and the room in the first frame, as pchat's do.

A pchat variant on shared services (``PCHAT_BROKER=redis://…?prefix={run_id}``,
``PCHAT_STORE=postgresql://…?schema={run_id}``) gets a fresh prefix and schema per server
start: the signing keys are imported into the schema first (``pchat keys import``), and
the schema and keys are dropped once the server has stopped. Its broadcast runs also
report the CPU time of the processes at the other end of its connections (Redis, its
PostgreSQL backends: :mod:`.backends`) over the window.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import hello as hello_tokens
from . import loadgen
from .backends import BackendSampler
from .procs import ServerProcess, free_port, listen_drops, pinned, raise_nofile
from .systems import System

__all__ = ["Config", "Harness"]

#: Seconds a server gets to settle between its start and the load.
SETTLE = 0.3


@dataclass(frozen=True, kw_only=True)
class Config:
    """What the runner was asked to measure."""

    root: Path
    out: Path
    work: Path
    subscribers: int = 5000
    rates: tuple[float, ...] = (20, 40, 80, 160, 0)
    runs: int = 3
    warmup: float = 3.0
    duration: float = 10.0
    inflight: int = 4
    size: int = 200
    nonreaders: int = 0
    concurrency: int = 100
    join_timeout: float = 60.0
    idle: int = 10000
    idle_hold: float = 5.0
    history: int = 1_000_000
    history_pages: int = 2000
    server_cpus: str | None = "0"
    loadgen_cpus: str | None = "1"
    #: ``ws`` peers that can: a token-carrying hello first (:mod:`bench.lib.hello`).
    hello: bool = False
    #: Local addresses the load generator spreads its connections over (``loadgen
    #: --source-addrs``: ``N`` or ``127.0.0.1-127.0.0.8``); None: the kernel's choice.
    source_addrs: str | None = None
    #: Seconds the join storm measurement holds the joined connections before stopping.
    joins_hold: float = 0.5

    @property
    def pchat_python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    @property
    def tools(self) -> Path:
        return self.root / "bench" / "lib" / "pchat_tools.py"

    @property
    def pchat(self) -> Path:
        return self.root / ".venv" / "bin" / "pchat"


class Harness:
    """Runs one measurement at a time and returns its record (a flat dict)."""

    def __init__(self, config: Config, binary: Path, log: Callable[[str], None]) -> None:
        self.config = config
        self.binary = binary
        self.log = log
        self._keys_dir = config.work / "keys"
        self._tokens: Path | None = None
        self._hello_secret = hello_tokens.new_secret()
        self._hello_tokens: Path | None = None
        self._serial = 0
        # One file per connection, in the servers started from here too.
        raise_nofile(max(config.subscribers, config.idle) + 1000)

    # -- pchat plumbing ---------------------------------------------------------------------

    def _tool(self, *args: str, cpus: str | None = None, timeout: float = 3600) -> dict[str, Any]:
        argv = pinned([str(self.config.pchat_python), str(self.config.tools), *args], cpus)
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=self.config.root
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def tokens(self) -> Path:
        """One token per subscriber of the biggest run, plus one for the publisher."""
        if self._tokens is None:
            count = self._token_count()
            path = self.config.work / "tokens.txt"
            self._tool(
                "tokens",
                "--data-dir",
                str(self._keys_dir),
                "--count",
                str(count),
                "--out",
                str(path),
            )
            self._tokens = path
        return self._tokens

    def _token_count(self) -> int:
        return max(self.config.subscribers, self.config.idle) + 1

    def hello_tokens(self) -> Path:
        """Tokens for the hello of the ``ws`` peers, signed with this run's secret."""
        if self._hello_tokens is None:
            path = self.config.work / "hello-tokens.txt"
            hello_tokens.write_tokens(path, self._hello_secret, self._token_count())
            self._hello_tokens = path
        return self._hello_tokens

    def uses_hello(self, system: System) -> bool:
        return self.config.hello and system.hello

    def _fresh_data_dir(self, system: System) -> Path:
        self._serial += 1
        data_dir = self.config.work / f"data-{self._serial:04d}-{system.name}"
        data_dir.mkdir(parents=True)
        if system.is_pchat:
            self.tokens()
            # On PostgreSQL the keys are imported into the run's schema instead (_start).
            if not _postgres_store(system):
                shutil.copy2(self._keys_dir / "keys.sqlite3", data_dir / "keys.sqlite3")
            # A variant with PCHAT_BENCH_BLOCKLIST=N runs with an N-entry server-wide word
            # filter (read by the harness only; the server does not know the variable).
            blocklist = system.env.get("PCHAT_BENCH_BLOCKLIST")
            if blocklist:
                self._tool("blocklist-fill", "--data-dir", str(data_dir), "--count", blocklist)
        return data_dir

    # -- servers ----------------------------------------------------------------------------

    def _start(self, system: System, data_dir: Path, label: str) -> tuple[ServerProcess, int]:
        port = free_port()
        self._serial += 1
        run_id = f"bench_{os.getpid()}_{self._serial}"
        env = system.environ(port, data_dir, run_id)
        if self.uses_hello(system):
            env[hello_tokens.HELLO_SECRET_ENV] = self._hello_secret
        after_stop = self._services(system, env, run_id)
        server = ServerProcess(
            pinned(system.argv(port, data_dir, run_id), self._cpus(system)),
            env=env,
            log_path=self.config.out / "logs" / f"{label}.log",
            cwd=self.config.root,
            after_stop=after_stop,
            run_id=run_id,
        )
        try:
            server.wait_ready(port, settle=SETTLE)
            if system.workers > 1:
                server.wait_listeners(port, system.workers)
        except BaseException:
            server.stop()
            raise
        return server, port

    def _cpus(self, system: System) -> str | None:
        if self.config.server_cpus is None:  # --no-pin
            return None
        return system.server_cpus or self.config.server_cpus

    def _services(
        self, system: System, env: dict[str, str], run_id: str
    ) -> Callable[[], None] | None:
        """Prepare this run's schema (the signing keys imported into it); what cleans up
        its schema and Redis keys after the server has stopped."""
        broker, store = env.get("PCHAT_BROKER"), env.get("PCHAT_STORE")
        if not system.is_pchat or (broker is None and store is None):
            return None
        names = [v for v in (broker, store) if v is not None]
        if not all(run_id in v for v in names):
            raise ValueError(
                f"{system.name}: PCHAT_BROKER and PCHAT_STORE need a fresh prefix and schema "
                "per run: put {run_id} in them (?prefix={run_id}, ?schema={run_id})"
            )
        drop = ["cluster-drop", "--run-id", run_id]
        drop += ["--broker", broker] if broker else []
        drop += ["--store", store] if store else []

        def after_stop() -> None:
            try:
                self._tool(*drop, timeout=120)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                self.log(f"  cleanup of {run_id} failed: {exc}")

        if store is not None and _postgres_store(system):
            imported = subprocess.run(
                [str(self.config.pchat), "keys", "import", "--from", str(self._keys_dir)],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=120,
                cwd=self.config.root,
            )
            if imported.returncode != 0:
                after_stop()
                raise RuntimeError(f"pchat keys import failed: {imported.stderr.strip()[-2000:]}")
        return after_stop

    def _drive(
        self, system: System, label: str, options: dict[str, Any], *, backends: bool = False
    ) -> dict[str, Any]:
        """Start ``system``, run the load generator against it, stop it; the result.

        ``backends``: also the CPU time of the services it uses over the window (and, as
        for any server of several processes, that of each of its processes).
        """
        data_dir = self._fresh_data_dir(system)
        server, port = self._start(system, data_dir, label)
        try:
            pids = server.pids()
            opts = loadgen.Options(
                port=port,
                proto=system.proto,
                tokens=self._tokens_for(system),
                hello=self.uses_hello(system),
                source_addrs=self.config.source_addrs,
                server_pids=pids,
                concurrency=self.config.concurrency,
                join_timeout=self.config.join_timeout,
                **options,
            )
            sampler = (
                BackendSampler(pids, port, backends=backends) if backends or len(pids) > 1 else None
            )
            drops = listen_drops()
            result = loadgen.run(self.binary, opts, cpus=self.config.loadgen_cpus, window=sampler)
            if sampler is not None:
                result.update(sampler.result)
            alive = server.proc.poll() is None
            after = listen_drops()
            # Machine-wide counters: another process's drops in the same moment count too.
            result["listen_overflows"] = after.get("ListenOverflows", 0) - drops.get(
                "ListenOverflows", 0
            )
        finally:
            status = server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        result["server_processes"] = len(pids)
        result["run_id"] = server.run_id
        result["server_alive_at_end"] = alive
        result["server_exit_status"] = status
        return result

    def _tokens_for(self, system: System) -> Path | None:
        if system.is_pchat:
            return self.tokens()
        return self.hello_tokens() if self.uses_hello(system) else None

    # -- measurements -----------------------------------------------------------------------

    def broadcast(self, system: System, rate: float, run: int) -> dict[str, Any]:
        """Deliveries, latency and server CPU at one offered load."""
        c = self.config
        label = f"broadcast-{system.name}-{_rate_label(rate)}-run{run}"
        result = self._drive(
            system,
            label,
            {
                "subscribers": c.subscribers,
                "rate": rate,
                "inflight": c.inflight,
                "size": c.size,
                "warmup": c.warmup,
                "duration": c.duration,
                "nonreaders": c.nonreaders,
            },
            backends=bool(system.services()),
        )
        return {
            "system": system.name,
            "offered_rate": rate,
            "run": run,
            **result,
            **_derived(result),
        }

    def idle(self, system: System, run: int) -> dict[str, Any]:
        """Server RSS per idle connection and the join storm, at ``config.idle`` clients."""
        c = self.config
        label = f"idle-{system.name}-run{run}"
        result = self._drive(
            system, label, {"subscribers": c.idle, "idle": True, "duration": c.idle_hold}
        )
        return {"system": system.name, "connections": c.idle, "run": run, **result}

    def joins(self, system: System, n: int, run: int) -> dict[str, Any]:
        """The join storm alone: ``n`` clients, ``config.concurrency`` joining at once.

        ``join_seconds`` runs from the first connect until the last join reply; the server's
        CPU time over the same span (``/proc``, read by the load generator at both ends)
        over ``n`` is its CPU per join.
        """
        label = f"joins-{system.name}-{n}-run{run}"
        result = self._drive(
            system, label, {"subscribers": n, "idle": True, "duration": self.config.joins_hold}
        )
        cpu = result.get("join_server_cpu_seconds")
        joined = result.get("joined") or 0
        return {
            "system": system.name,
            "joins": n,
            "run": run,
            **result,
            "server_cpu_us_per_join": cpu / joined * 1e6 if cpu is not None and joined else None,
            "loadgen_cpu_us_per_join": (
                result["join_loadgen_cpu_seconds"] / joined * 1e6 if joined else None
            ),
        }

    def history_fill(self) -> tuple[Path, dict[str, Any]]:
        """A pchat data directory whose room holds ``config.history`` messages."""
        data_dir = self.config.work / "history"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.tokens()
        shutil.copy2(self._keys_dir / "keys.sqlite3", data_dir / "keys.sqlite3")
        self.log(f"filling history: {self.config.history:,} messages (SQLiteStore)...")
        fill = self._tool(
            "history-fill", "--data-dir", str(data_dir), "--count", str(self.config.history)
        )
        self.log(f"  filled in {fill['fill_seconds']} s, {fill['db_bytes'] / 1e6:.0f} MB")
        return data_dir, fill

    def history(self, system: System, data_dir: Path, run: int) -> dict[str, Any]:
        """50-message history pages over the WebSocket of a pchat server on ``data_dir``."""
        server, port = self._start(system, data_dir, f"history-{system.name}-run{run}")
        try:
            result = self._tool(
                "history-measure",
                "--url",
                f"ws://127.0.0.1:{port}/public-chat/ws",
                "--token-file",
                str(self.tokens()),
                "--total",
                str(self.config.history),
                "--pages",
                str(self.config.history_pages),
                cpus=self.config.loadgen_cpus,
                timeout=600,
            )
        finally:
            server.stop()
        return {"system": system.name, "run": run, **result}

    def history_store(self, data_dir: Path) -> dict[str, Any]:
        """The same pages through the store API in-process (no server, no WebSocket)."""
        return self._tool(
            "history-store",
            "--data-dir",
            str(data_dir),
            "--total",
            str(self.config.history),
            "--pages",
            str(self.config.history_pages),
            cpus=self.config.server_cpus,
            timeout=600,
        )


def _postgres_store(system: System) -> bool:
    return system.env.get("PCHAT_STORE", "").startswith(("postgresql://", "postgres://"))


def _rate_label(rate: float) -> str:
    return "sat" if rate <= 0 else f"{rate:g}"


def _derived(r: dict[str, Any]) -> dict[str, Any]:
    """Per-million and per-core figures of one broadcast result."""
    window = r.get("window_seconds") or 0
    deliveries = r.get("deliveries") or 0
    server_cpu = r.get("server_cpu_seconds")
    readers = max(0, (r.get("joined") or 0) - (r.get("nonreaders") or 0))
    return {
        "offered_deliveries_per_s": r["rate"] * readers if r.get("rate", 0) > 0 else None,
        "server_cpu_per_million": (
            server_cpu / deliveries * 1e6 if server_cpu is not None and deliveries else None
        ),
        "server_cpu_pct": server_cpu / window * 100 if server_cpu is not None and window else None,
        "loadgen_cpu_pct": r["loadgen_cpu_seconds"] / window * 100 if window else None,
        **_backend_derived(r),
    }


def _backend_derived(r: dict[str, Any]) -> dict[str, Any]:
    """The services' CPU per million deliveries and per core, over their own window (read
    from here, within a few ms of the load generator's)."""
    cpu, window = r.get("backend_cpu_seconds"), r.get("backend_window_seconds")
    rate = r.get("deliveries_per_s")
    if cpu is None or not window:
        return {}
    return {
        "backend_cpu_per_million": cpu / window / rate * 1e6 if rate else None,
        "backend_cpu_pct": cpu / window * 100,
    }
