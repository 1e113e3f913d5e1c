"""Private service processes for the fault tests: each test starts, pauses, restarts and
kills its own instance on its own port, and never touches the machine's shared services.

:class:`PrivatePostgres` runs ``initdb`` and ``postgres`` as the ``postgres`` user (trust
auth, loopback only) in a temporary directory that user owns.
:meth:`~PrivatePostgres.pause` stops the postmaster *and* every backend (each backend is in
a session of its own, so they are found by parent pid), as ``kill -STOP`` of the whole
server would.

:class:`RedisProcess` runs ``redis-server`` without persistence on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import free_port, t

__all__ = ["PrivatePostgres", "RedisProcess", "private_postgres", "private_redis"]

_PG_USER = "postgres"
#: Run as postgres: setpriv execs (no process in between), so the pid is the postmaster's.
_AS_POSTGRES = ("setpriv", f"--reuid={_PG_USER}", f"--regid={_PG_USER}", "--init-groups")


class PrivatePostgres:
    """A PostgreSQL server of one test: ``start``, ``pause``/``resume``, ``stop``, ``kill``."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None
        self.paused = False

    @property
    def dsn(self) -> str:
        return f"postgresql://{_PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not running"
        return self.proc.pid

    @classmethod
    async def create(cls) -> PrivatePostgres:
        """A new data directory (``initdb``) in a temporary directory owned by postgres."""
        if not all(shutil.which(cmd) for cmd in ("initdb", "postgres", "setpriv")):
            pytest.skip("initdb, postgres or setpriv is not installed")
        if os.geteuid() != 0:
            pytest.skip("starting a private PostgreSQL as user postgres needs root")
        root = Path(tempfile.mkdtemp(prefix="pchat-pg-"))
        shutil.chown(root, _PG_USER, _PG_USER)
        try:
            proc = await asyncio.create_subprocess_exec(
                *_AS_POSTGRES,
                "initdb",
                *("-D", str(root / "data"), "-U", _PG_USER, "--auth=trust"),
                *("--no-sync", "-E", "UTF8", "--locale=C"),
                cwd=root,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"initdb failed: {err.decode(errors='replace')}")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(root, free_port())

    async def start(self) -> None:
        """Start on ``port`` and wait until it accepts connections."""
        assert self.proc is None, "already running"
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 (the process owns it)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *_AS_POSTGRES,
                "postgres",
                *("-D", str(self.root / "data"), "-p", str(self.port), "-k", str(self.root)),
                *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                *("-c", "max_connections=50", "-c", "shared_buffers=16MB"),
                cwd=self.root,
                start_new_session=True,  # signals to this test's process group miss it
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        await self._wait_ready()

    async def _wait_ready(self, timeout: float = 15.0) -> None:
        import asyncpg

        async with asyncio.timeout(t(timeout)):
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise RuntimeError(f"postgres exited with {self.proc.returncode}: {self.log()}")
                try:
                    conn = await asyncpg.connect(self.dsn, timeout=1)
                except (TimeoutError, OSError, asyncpg.PostgresError):
                    await asyncio.sleep(0.05)
                    continue
                await conn.close()
                return

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "postgres.log").read_text(errors="replace")[-2000:]
        return ""

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend (connections stay open, nothing answers)."""
        os.kill(self.pid, signal.SIGSTOP)  # first: it forks no new backend while stopped
        for pid in _children(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        for pid in _children(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    async def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Shut down (SIGINT: PostgreSQL's "fast" mode: clients are disconnected at once)."""
        proc = self.proc
        if proc is None:
            return
        if self.paused:
            self.resume()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), t(15))
        except TimeoutError:
            for pid in [proc.pid, *_children(proc.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await proc.wait()
        self.proc = None

    async def restart(self) -> None:
        """Fast shutdown, then start again on the same port and data."""
        await self.stop()
        await self.start()

    async def destroy(self) -> None:
        """Stop (SIGKILL if it will not stop) and remove the data directory."""
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A running private PostgreSQL, destroyed on exit."""
    pg = await PrivatePostgres.create()
    try:
        await pg.start()
        yield pg
    finally:
        await pg.destroy()


class RedisProcess:
    """A ``redis-server`` of one test (no persistence): ``pause``/``resume``, ``restart``,
    ``kill``; always stopped by its own process id."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not running"
        return self.proc.pid

    async def start(self) -> None:
        """Start on ``port`` and wait until it answers PING."""
        assert self.proc is None, "already running"
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 (the process owns it)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)),
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        await self._wait_ready()

    async def _wait_ready(self, timeout: float = 10.0) -> None:
        from redis.asyncio import Redis

        async with asyncio.timeout(t(timeout)):
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
                client = Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
                try:
                    await client.ping()
                    return
                except Exception:
                    await asyncio.sleep(0.05)
                finally:
                    await client.aclose()

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL by pid (resumed first if paused, so that it dies at once)."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.proc = None

    async def restart(self) -> None:
        """Kill, then start again on the same port (empty: no persistence)."""
        await self.kill()
        await self.start()


@contextlib.asynccontextmanager
async def private_redis(root: Path) -> AsyncIterator[RedisProcess]:
    """A running private Redis in ``root`` on a free port, killed on exit."""
    redis = RedisProcess(root, free_port())
    try:
        await redis.start()
        yield redis
    finally:
        await redis.kill()
