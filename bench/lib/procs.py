"""Processes of a benchmark: a server pinned to CPUs, its process tree, its shutdown."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "ServerProcess",
    "descendants",
    "free_port",
    "listen_drops",
    "listeners",
    "pinned",
    "raise_nofile",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit (which servers started later inherit).

    The soft limit goes up to the hard one; past the hard one only where that is allowed
    (root). Returns the soft limit now in force: big rooms need one file per connection.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listen_drops() -> dict[str, int]:
    """The kernel's counts of connections a full accept queue dropped (this namespace).

    ``ListenOverflows``: a handshake completed while the listening socket's accept queue
    (its backlog) was full; ``ListenDrops``: every drop at a listening socket. A join storm
    with more connects in flight than a server's backlog shows up here.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {k: int(table[k]) for k in ("ListenOverflows", "ListenDrops") if k in table}
    return {}


def listeners(port: int) -> int:
    """How many sockets listen on TCP ``port`` (the workers of a ``SO_REUSEPORT`` server)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def pinned(command: Sequence[str], cpus: str | None) -> list[str]:
    """``command`` run on ``cpus`` (taskset list syntax: ``0``, ``0-1``); unpinned if None."""
    if not cpus:
        return list(command)
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset is missing (util-linux); pass --no-pin to run unpinned")
    return [taskset, "-c", cpus, *command]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (workers of a multi-process server)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


class ServerProcess:
    """A server under test, in its own process group, with its output in a log file."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        after_stop: Callable[[], None] | None = None,
        run_id: str = "",
    ) -> None:
        self.command = list(command)
        #: Unique to this start: the name of its schema or key prefix on shared services.
        self.run_id = run_id
        self.log_path = log_path
        #: Run once the server is gone (a run's schema dropped, its keys deleted).
        self.after_stop = after_stop
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command,
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, port: int, timeout: float = 30.0, settle: float = 0.3) -> None:
        """Wait until the port accepts connections; raise if the server died or timed out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    time.sleep(settle)  # let a multi-process server finish starting
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not listen on {port} within {timeout} s: {self.tail()}")

    def wait_listeners(self, port: int, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` sockets listen on ``port`` (every worker has started), so
        that the kernel spreads the clients over all of them."""
        deadline = time.monotonic() + timeout
        while listeners(port) < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{listeners(port)} of {count} workers listen on {port} after {timeout} s"
                )
            time.sleep(0.05)

    def pids(self, stable_for: float = 0.5, timeout: float = 10.0) -> list[int]:
        """The server's processes, once their set has not changed for ``stable_for`` s.

        A multi-process server may still be starting workers when its port first answers.
        """
        deadline = time.monotonic() + timeout
        pids = descendants(self.proc.pid)
        since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < stable_for:
            time.sleep(0.1)
            now = descendants(self.proc.pid)
            if sorted(now) != sorted(pids):
                pids, since = now, time.monotonic()
        return pids

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it if it lingers; the exit status."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        # Workers of the group that outlived their parent.
        self._signal(signal.SIGKILL)
        self._log.close()
        if self.after_stop is not None:
            after, self.after_stop = self.after_stop, None
            after()
        return self.proc.returncode

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
