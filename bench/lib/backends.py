"""The processes a server talks to: the other end of its outgoing TCP connections.

A pchat node on a Redis broker and a PostgreSQL store spends part of each delivery's cost
in those services, which the server's own CPU time does not show. :class:`BackendSampler`
finds, at the start of the measured window, every process that holds the far end of one
of the server's TCP connections other than its clients' (the ``redis-server`` process;
the PostgreSQL backend process serving each pooled connection) and reads their CPU time
(utime + stime of all threads, ``/proc/PID/stat``) at both ends of the window. It finds
them before the window (the scan reads every process's open files) and again at its end:
a process born in the window (a pooled connection opened late) counts whole.

What it does not see: a shared service's work for other clients in the same seconds
(Redis is one process for everyone; a PostgreSQL backend serves one connection, so it is
this server's alone) and PostgreSQL's own background processes (WAL writer, checkpointer,
background writer), which no connection leads to. Reading another user's ``/proc/PID/fd``
needs the same user or root; without it, no backend is found and the result says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BackendSampler", "cpu_seconds", "far_ends", "socket_inodes"]

_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_ESTABLISHED = "01"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` (all its threads) in seconds; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets ``pid`` holds open (empty if not readable)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


@dataclass(frozen=True)
class _Conn:
    local: str  # address:port in the kernel's hex notation
    remote: str
    inode: int


def _connections() -> list[_Conn]:
    """Every established TCP connection of this network namespace."""
    conns = []
    for table in _TCP_TABLES:
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == _ESTABLISHED:
                    conns.append(_Conn(cols[1], cols[2], int(cols[9])))
    return conns


def far_ends(server_pids: Iterable[int], listen_port: int) -> dict[int, str]:
    """The processes (pid → name) at the far end of the server's outgoing connections.

    Outgoing: the server's sockets whose local port is not ``listen_port`` (that one is
    its clients'). The far end is the socket with the local and remote ends swapped, held
    by a process that is not the server.
    """
    server_pids = set(server_pids)
    mine: set[int] = set()
    for pid in server_pids:
        mine |= socket_inodes(pid)
    conns = _connections()
    listen_hex = f"{listen_port:04X}"
    wanted = {
        (c.remote, c.local)
        for c in conns
        if c.inode in mine and c.local.rsplit(":", 1)[1] != listen_hex
    }
    far_inodes = {c.inode for c in conns if (c.local, c.remote) in wanted and c.inode}
    found: dict[int, str] = {}
    if not far_inodes:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in server_pids:
            continue
        pid = int(entry)
        if socket_inodes(pid) & far_inodes:
            found[pid] = _comm(pid)
    return found


@dataclass
class BackendSampler:
    """The far ends' CPU time over a window, and that of each of the server's processes:
    :meth:`prepare` (at the start of the warm-up), :meth:`start` and :meth:`stop` (the
    window's ends)."""

    server_pids: list[int]
    listen_port: int
    #: Look for the far ends (else only the server's processes are sampled).
    backends: bool = True
    _start_cpu: dict[int, float] = field(default_factory=dict)
    _names: dict[int, str] = field(default_factory=dict)
    _started: float | None = None
    _started_ticks: float = 0.0
    _roles: dict[int, str] = field(default_factory=dict)
    _server_start: dict[int, float | None] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    def prepare(self) -> None:
        """Find the far ends (before the window: a scan of every process's files)."""
        self._names = far_ends(self.server_pids, self.listen_port) if self.backends else {}
        self._roles = {pid: _role(pid, i == 0) for i, pid in enumerate(self.server_pids)}

    def start(self) -> None:
        self._started = time.monotonic()
        self._started_ticks = _uptime_ticks()
        self._server_start = {pid: cpu_seconds(pid) for pid in self.server_pids}
        self._start_cpu = {pid: cpu for pid in self._names if (cpu := cpu_seconds(pid)) is not None}

    def stop(self) -> None:
        if self._started is None:
            return
        server_now = {pid: cpu_seconds(pid) for pid in self.server_pids}
        now = {pid: cpu_seconds(pid) for pid in self._start_cpu}
        window = time.monotonic() - self._started
        # Each of the server's processes (the hub and its workers, say), over this window.
        by_process = [
            {"role": self._roles.get(pid, "?"), "cpu_seconds": round(after - before, 3)}
            for pid, after in server_now.items()
            if after is not None and (before := self._server_start.get(pid)) is not None
        ]
        total = sum(c - self._start_cpu[p] for p, c in now.items() if c is not None)
        # Far ends that appeared during the window (a connection the pool opened late): a
        # process born in the window counts whole; one that was there before (the pool
        # reached it only now) cannot be split, and is left out but counted as late.
        ends = far_ends(self.server_pids, self.listen_port) if self.backends else {}
        late = {pid: name for pid, name in ends.items() if pid not in self._names}
        uncounted = 0
        for pid in late:
            born = _start_ticks(pid)
            cpu = cpu_seconds(pid)
            if born is not None and cpu is not None and born >= self._started_ticks:
                total += cpu
            else:
                uncounted += 1
        names: dict[str, int] = {}
        for pid in [*self._start_cpu, *late]:
            name = self._names.get(pid) or late[pid]
            names[name] = names.get(name, 0) + 1
        self.result = {
            "server_cpu_by_process": by_process,
            "sampler_window_seconds": window,
        }
        if not self._names and not late:
            return
        self.result |= {
            "backend_cpu_seconds": total,
            "backend_window_seconds": window,
            "backend_processes": names,
            "backend_uncounted": uncounted,
        }


def _role(pid: int, main: bool) -> str:
    """What a server process is: the one started, or a child by its command line."""
    if main:
        return "main"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "spawn_main" in cmdline or "forkserver" in cmdline:
        return "worker"
    return _comm(pid)


def _uptime_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * _CLK_TCK


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])
