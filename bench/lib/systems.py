"""The systems under test: pchat and its peers, and how the runner starts each.

Every system serves WebSocket on ``127.0.0.1:PORT`` with one room (the contract in
``bench/README.md``). ``proto`` tells the load generator how to join and publish:
``pchat`` (the pchat protocol), ``socketio`` (engine.io v4 / socket.io) or ``ws`` (every
text frame is broadcast as is). The ``ws`` peers also speak the hello of
:mod:`bench.lib.hello` (a token and the room in the first frame, as pchat's connect) when
the runner asks for it (``hello``). Commands and environment hold ``{port}``, ``{data_dir}``
and ``{run_id}`` placeholders; ``run_id`` is unique to one server start (``bench_<pid>_<n>``:
a PostgreSQL schema or a Redis key prefix of that run alone).

A variant (:func:`parse_variant`) is a system with extra environment. Two variables are the
runner's, not the server's: ``PCHAT_BENCH_SERVER_CPUS`` pins that system elsewhere than
``--server-cpus`` (``0-1``: workers on both cores), ``PCHAT_BENCH_BLOCKLIST`` (pchat) fills a
server-wide word filter first.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["PCHAT_BENCH_ENV", "System", "builtin_systems", "parse_variant", "unavailable"]

#: pchat with its per-user and per-connection limits off: one publisher sends thousands
#: of messages per second, nobody is pinged during a run, and every client comes from one
#: address (the load generator's). Sampling is off too: every subscriber gets every
#: message, as the contract says (a variant with ``PCHAT_VIEWER_MAX_RATE`` measures it).
PCHAT_BENCH_ENV: Mapping[str, str] = {
    "PCHAT_MAX_CONNECTIONS_PER_ADDRESS": "none",
    "PCHAT_RATE_MESSAGES": "none",
    "PCHAT_RATE_FRAMES": "none",
    "PCHAT_RATE_REACTIONS": "none",
    "PCHAT_FLOOD_STRIKES": "none",
    "PCHAT_HEARTBEAT": "none",
    "PCHAT_VIEWER_MAX_RATE": "none",
}


@dataclass(frozen=True)
class System:
    """One server under test."""

    name: str
    proto: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    #: Files that must exist for the system to run (else it is skipped with a note).
    requires: tuple[Path, ...] = ()
    #: A Python interpreter that must import these modules (else skipped).
    imports: tuple[str, ...] = ()
    #: pchat needs signed tokens and a data directory.
    is_pchat: bool = False
    #: A ``ws`` peer that checks a token-carrying hello when given ``BENCH_HELLO_SECRET``.
    hello: bool = False

    def argv(self, port: int, data_dir: Path, run_id: str = "") -> list[str]:
        return [a.format(port=port, data_dir=data_dir, run_id=run_id) for a in self.command]

    def environ(self, port: int, data_dir: Path, run_id: str = "") -> dict[str, str]:
        env = {
            k: v.format(port=port, data_dir=data_dir, run_id=run_id) for k, v in self.env.items()
        }
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    @property
    def workers(self) -> int:
        """pchat's worker processes (``PCHAT_WORKERS``): listeners to wait for."""
        return int(self.env.get("PCHAT_WORKERS", "1")) if self.is_pchat else 1

    @property
    def server_cpus(self) -> str | None:
        """Where this system is pinned, if not where ``--server-cpus`` says."""
        return self.env.get("PCHAT_BENCH_SERVER_CPUS")

    def services(self) -> list[str]:
        """The URLs of the shared services this system runs on (pchat's Redis broker and
        PostgreSQL store), with their placeholders: each needs a fresh schema or prefix."""
        if not self.is_pchat:
            return []
        return [self.env[k] for k in ("PCHAT_BROKER", "PCHAT_STORE") if self.env.get(k)]


def builtin_systems(root: Path) -> dict[str, System]:
    """pchat and the five peers of ``bench/peers/``, by name."""
    venv = root / ".venv" / "bin"
    bench_venv = root / ".venv-bench" / "bin"
    peers = root / "bench" / "peers"
    node = shutil.which("node") or "node"
    systems = [
        System(
            name="pchat",
            proto="pchat",
            command=(
                str(venv / "pchat"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--data-dir",
                "{data_dir}",
            ),
            env={**PCHAT_BENCH_ENV, "PCHAT_DATA_DIR": "{data_dir}", "PCHAT_PORT": "{port}"},
            requires=(venv / "pchat", venv / "python"),
            is_pchat=True,
        ),
        System(
            name="raw",
            proto="ws",
            command=(str(venv / "python"), str(peers / "raw" / "server.py"), "--port", "{port}"),
            requires=(venv / "python", peers / "raw" / "server.py"),
            hello=True,
        ),
        System(
            name="ws-node",
            proto="ws",
            command=(node, str(peers / "node_ws" / "server.js"), "--port", "{port}"),
            requires=(peers / "node_ws" / "server.js", peers / "node_ws" / "node_modules"),
            hello=True,
        ),
        System(
            name="picows",
            proto="ws",
            command=(
                str(bench_venv / "python"),
                str(peers / "picows" / "server.py"),
                "--port",
                "{port}",
            ),
            requires=(bench_venv / "python", peers / "picows" / "server.py"),
            imports=("picows", "uvloop"),
            hello=True,
        ),
        System(
            name="socketio-node",
            proto="socketio",
            command=(node, str(peers / "node_socketio" / "server.js"), "--port", "{port}"),
            requires=(
                peers / "node_socketio" / "server.js",
                peers / "node_socketio" / "node_modules",
            ),
        ),
        System(
            name="python-socketio",
            proto="socketio",
            command=(
                str(bench_venv / "python"),
                str(peers / "python_socketio" / "server.py"),
                "--port",
                "{port}",
            ),
            requires=(bench_venv / "python", peers / "python_socketio" / "server.py"),
            imports=("socketio",),
        ),
    ]
    return {s.name: s for s in systems}


_PAIRS = re.compile(r":(?=[A-Za-z_][A-Za-z0-9_]*=)")


def parse_variant(spec: str, systems: Mapping[str, System]) -> System:
    """``NAME=BASE:KEY=VALUE[:KEY=VALUE…]``: BASE started with extra environment.

    ``pchat-c10=pchat:PCHAT_COALESCE_MS=10`` is pchat with that variable set. A colon
    separates pairs only where a ``KEY=`` follows it, so that values may be URLs
    (``PCHAT_BROKER=redis://127.0.0.1:6379/0?prefix={run_id}``).
    """
    name, sep, rest = spec.partition("=")
    if not sep or not name:
        raise ValueError(f"bad --variant {spec!r}: NAME=BASE:KEY=VALUE[:KEY=VALUE…]")
    base_name, *pairs = _PAIRS.split(rest)
    if base_name not in systems:
        raise ValueError(f"--variant {spec!r}: unknown system {base_name!r}")
    env = dict(systems[base_name].env)
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"bad --variant {spec!r}: {pair!r} is not KEY=VALUE")
        env[key] = value
    return replace(systems[base_name], name=name, env=env)


def unavailable(system: System) -> str | None:
    """Why ``system`` cannot run here, or None."""
    for path in system.requires:
        if not path.exists():
            return f"{path} is missing"
    if system.command[0] == "node" and shutil.which("node") is None:
        return "node is not installed"
    for url in system.services():
        reason = _unreachable(url)
        if reason:
            return reason
    if system.imports:
        check = subprocess.run(
            [system.command[0], "-c", "import " + ", ".join(system.imports)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            return (
                f"{system.command[0]} cannot import {', '.join(system.imports)} "
                "(run `make -C bench venv`)"
            )
    return None


def _unreachable(url: str) -> str | None:
    """Why the TCP service of ``url`` (``redis://host:port/…``, ``postgresql://…``) does not
    answer, or None (a unix socket or a URL without a port is not checked)."""
    match = re.match(r"^[a-z]+://(?:[^@/]*@)?([^/:?]+):(\d+)", url)
    if not match:
        return None
    host, port = match.group(1), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} does not answer ({exc})"
