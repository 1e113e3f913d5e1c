"""Debian's nginx running the shipped ``deploy/nginx.conf`` as it is, in front of pchat nodes.

The only files a test writes are the two the shipped configuration includes for what differs
between installs (deploy/nginx/ holds the examples): ``pchat-upstreams.conf``, the nodes —
the example's lines with this test's addresses, so the failover settings are the shipped
ones — and ``pchat-site.conf``, where to listen and log. Main-context settings that are not
the site's (the pid file, the error log) are given on the command line with ``-g``.

scripts/debian-tools.sh installs nginx for ``make test``; without it these tests skip (and
fail when ``CI`` is set).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import free_port, t, wait_until_serving

__all__ = ["DEPLOY", "Nginx", "nginx_binary"]

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
_SERVER_LINE = re.compile(r"^server pchat\d:8080( [^;]*)?;$", re.M)


def nginx_binary() -> str:
    """The nginx executable; skips the test (fails it under CI) when there is none."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        if os.environ.get("CI"):  # scripts/debian-tools.sh installs it for make test
            pytest.fail("nginx is not installed — CI is set, so this test must run")
        pytest.skip("nginx is not installed (bash scripts/debian-tools.sh)")
    return binary


def upstreams(ports: list[int]) -> str:
    """The example ``pchat-upstreams.conf`` with one line per port on 127.0.0.1 (each with the
    example's parameters)."""
    example = (DEPLOY / "nginx" / "pchat-upstreams.conf").read_text()
    params = {m.group(1) or "" for m in _SERVER_LINE.finditer(example)}
    assert len(params) == 1, f"the example's server lines differ: {params}"
    (shared,) = params
    return "".join(f"server 127.0.0.1:{port}{shared};\n" for port in ports)


class Nginx:
    """One nginx master (and its workers) in ``root``, listening on 127.0.0.1:``port``."""

    def __init__(self, root: Path, upstream_ports: list[int], port: int | None = None) -> None:
        self.root = root
        self.upstream_ports = upstream_ports
        self.port = port or free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEPLOY / "nginx.conf", self.root / "nginx.conf")
        (self.root / "pchat-upstreams.conf").write_text(upstreams(self.upstream_ports))
        site = [
            f"listen 127.0.0.1:{self.port};",
            f"access_log {self.root}/access.log;",
            # Bodies and buffered responses: here rather than in /var/lib/nginx.
            f"client_body_temp_path {self.root}/client_body;",
            f"proxy_temp_path {self.root}/proxy;",
        ]
        (self.root / "pchat-site.conf").write_text("\n".join(site) + "\n")

    async def start(self) -> None:
        """Start and wait until it forwards ``/healthz`` to a node."""
        binary = nginx_binary()
        self.write_config()
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            *("-p", str(self.root), "-c", str(self.root / "nginx.conf")),
            *("-g", f"daemon off; pid {self.root}/nginx.pid; error_log {self.error_log};"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{self.url}/healthz", proc=self.proc)

    async def stop(self) -> None:
        """SIGTERM (nginx's fast stop), SIGKILL if it lingers; by its own pid."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), t(10))
        except TimeoutError:
            proc.kill()
            await proc.wait()
