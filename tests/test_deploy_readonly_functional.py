"""A node as the shipped container files run it, without a container runtime: ``pchat serve``
with a read-only root filesystem, a fresh tmpfs on /tmp, the image's environment and the
Kubernetes container's settings (deploy/Dockerfile, deploy/k8s/pchat.yaml), on the cluster
backends (PostgreSQL with the keys, Redis).

It runs in a mount namespace of its own (``unshare -m``: / remounted read-only, the data
directory too), so it needs root — CI has it; elsewhere it is skipped. It shows what the
manifests promise: the node starts, serves /readyz, /metrics and the token service with the
API key its first start created in PostgreSQL, drains on SIGTERM and exits 0, with one
worker and with two (whose metrics and hub live in /tmp), and writes nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pchat.server.runner import stop_timeout
from tests.helpers import free_port, t
from tests.storage.backends import (
    drop_redis_prefix,
    drop_schema,
    postgres_dsn,
    redis_url,
    require_postgres,
    require_redis,
    unique_name,
)
from tests.test_deploy import container_settings, image_env, pchat_container

#: Inside the namespace: everything read-only but a new /tmp, then the image's command.
#: What must stay visible there (the checkout with its virtualenv, the data directory) may
#: itself be under /tmp (a CI checkout, pytest's tmp_path): it is bound back, read-only, into
#: the new /tmp from the old one, kept at /mnt.
NAMESPACE = """
set -e
mount --make-rprivate /
mount --bind /tmp /mnt
mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp
for dir in $PCHAT_KEEP; do
    case "$dir" in
        /tmp/*)
            mkdir -p "$dir"
            mount --bind "/mnt${dir#/tmp}" "$dir"
            mount -o remount,bind,ro "$dir"
            ;;
    esac
done
mount -o remount,bind,ro /
mount --bind "$PCHAT_DATA_DIR" "$PCHAT_DATA_DIR"
mount -o remount,bind,ro "$PCHAT_DATA_DIR"
cd "$PCHAT_DATA_DIR"
exec "$PCHAT_BIN" serve "$@"
"""


def needs_namespaces() -> None:
    missing = [cmd for cmd in ("unshare", "mount") if shutil.which(cmd) is None]
    reason = f"missing {missing}" if missing else "needs root (mount namespaces)"
    if missing or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} — CI is set, so this test must run")
        pytest.skip(reason)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """The image's empty /data (mode 0700), outside /tmp (which the namespace replaces)."""
    path = Path(tempfile.mkdtemp(prefix="pchat-ro-", dir="/dev/shm"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=t(5)) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("workers", [1, 2])
async def test_node_runs_on_a_read_only_root(tmp_path: Path, data_dir: Path, workers: int) -> None:
    needs_namespaces()
    await require_postgres()
    await require_redis()
    name = unique_name(tmp_path)
    port = free_port()
    container = pchat_container()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PCHAT_")},
        **image_env(),
        **{e["name"]: e["value"] for e in container["env"]},
        # Where this machine has them: loopback, a free port, this test's schema and prefix.
        "PATH": os.environ["PATH"],
        "PCHAT_HOST": "127.0.0.1",
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(data_dir),
        "PCHAT_STATIC_DIR": str(data_dir),  # no web build here: its absence is served as 404
        "PCHAT_STORE": f"{postgres_dsn()}?schema={name}",
        "PCHAT_BROKER": f"{redis_url()}?prefix={name}:",
        "PCHAT_WORKERS": str(workers),
        "PCHAT_BIN": str(Path(sys.executable).parent / "pchat"),
        # The checkout (virtualenv and sources) and the data directory.
        "PCHAT_KEEP": f"{Path(__file__).resolve().parents[1]} {data_dir}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", NAMESPACE, "sh"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + t(30)
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "not ready in time"
            time.sleep(0.1)
        status, metrics = get(f"{base}/metrics")
        assert status == 200 and "pchat_connections" in metrics
        # The first start created an API key in PostgreSQL and printed it once (stdout).
        assert proc.stdout is not None
        first = ""
        while "API_SECRET=" not in first:
            first += proc.stdout.readline()
        found = re.search(r"API_KEY=(\S+)\s+API_SECRET=(\S+)", first)
        assert found, "no first API key printed"
        status, body = get(
            f"{base}/public-chat/token?sub=alice",
            {"auth-api-key": found[1], "auth-api-secret": found[2]},
        )
        assert status == 200 and '"token"' in body, (status, body)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        settings = container_settings(container)
        _, err = proc.communicate(timeout=t(stop_timeout(settings) + 10))
        assert proc.returncode == 0, err
        assert time.monotonic() - started < stop_timeout(settings) + 5
        assert "Read-only file system" not in err and "Traceback" not in err, err
        assert "drain: done" in err
        assert list(data_dir.iterdir()) == []  # nothing written: the keys are in PostgreSQL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        await drop_schema(name)
        await drop_redis_prefix(f"{name}:")
