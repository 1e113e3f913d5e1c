"""The server's edge against real sockets (issue #8, findings 5, 8 and parts of 10).

Failed token calls counted so that one caller cannot lock out another; connections per
address; the handshake timeout; the ``Origin`` allowlist; one log line (no traceback) for a
bad request or a client that goes away; the descriptor limit and the data directory's
permissions of a ``pchat serve`` subprocess.

Several client addresses come from the loopback network: every ``127.x.y.z`` is this machine
on Linux, so a client bound to ``127.0.0.2`` is another caller to the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pchat.core.apikeys import create_api_key
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import RawClient, RunningServer, free_port, start_server, t, wait_until_serving
from tests.nginx import Nginx, nginx_binary

_UPGRADE = (
    "GET /public-chat/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Any]:
    """A factory of servers with settings of the test's choosing; all stopped at the end."""
    started: list[RunningServer] = []

    async def start(**settings: Any) -> RunningServer:
        srv = await start_server(tmp_path / f"data{len(started)}", **settings)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


class Upgrade:
    """One WebSocket upgrade over a raw TCP connection; ``status`` is the HTTP answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0

    def close(self) -> None:
        self.writer.transport.abort()


async def upgrade(
    port: int, *, local: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> Upgrade:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write((_UPGRADE + extra + "\r\n").encode())
    conn = Upgrade(reader, writer)
    line = await asyncio.wait_for(reader.readline(), t(5))
    conn.status = int(line.split()[1])
    return conn


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closed the connection (EOF or reset)."""
    start = time.monotonic()
    async with asyncio.timeout(t(timeout)):
        while True:
            try:
                if not await reader.read(4096):
                    break
            except ConnectionError:
                break
    return time.monotonic() - start


def session_from(local: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(local, 0)))


async def token_call(
    http: aiohttp.ClientSession,
    server: RunningServer,
    key: str,
    secret: str,
    forwarded: str | None = None,
) -> int:
    headers = {"auth-api-key": key, "auth-api-secret": secret}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    async with http.get(
        f"{server.url}/public-chat/token/", params={"sub": "alice"}, headers=headers
    ) as r:
        return r.status


# Finding 5: failed token calls.


async def test_unknown_keys_failing_do_not_block_a_correct_key(servers: Any) -> None:
    server = await servers()
    assert server.http is not None
    statuses = [await token_call(server.http, server, "pk_nope", "sk_no") for _ in range(12)]
    assert statuses == [401] * 10 + [429] * 2  # the address is throttled for unknown keys
    # ... but a real key with its secret, from the same address, is served.
    assert await token_call(server.http, server, server.api_key, server.api_secret) == 200


async def test_wrong_secrets_for_one_key_block_only_that_key_from_that_address(
    servers: Any,
) -> None:
    server = await servers()
    assert server.http is not None
    other_key, other_secret = await create_api_key(SQLiteKeyStore(server.settings.keys_path))
    guesses = [await token_call(server.http, server, server.api_key, f"sk_{i}") for i in range(12)]
    assert guesses == [401] * 10 + [429] * 2
    # Guessing stays throttled: from this address even the right secret waits...
    assert await token_call(server.http, server, server.api_key, server.api_secret) == 429
    # ... while another key from the same address, and this key from elsewhere, are served.
    assert await token_call(server.http, server, other_key, other_secret) == 200
    async with session_from("127.0.0.2") as elsewhere:
        assert await token_call(elsewhere, server, server.api_key, server.api_secret) == 200


async def test_repeating_one_wrong_secret_is_not_guessing(servers: Any) -> None:
    """A misconfigured backend retrying a stale secret must not lock out its colleagues
    that share its address and key: only distinct wrong secrets count."""
    server = await servers()
    assert server.http is not None
    statuses = [await token_call(server.http, server, server.api_key, "sk_old") for _ in range(15)]
    assert statuses == [401] * 15
    assert await token_call(server.http, server, server.api_key, server.api_secret) == 200


async def test_behind_trusted_proxies_each_forwarded_caller_counts_apart(servers: Any) -> None:
    # A network (CIDR), as the shipped deployments use.
    server = await servers(trusted_proxies=("127.0.0.0/30",))
    assert server.http is not None
    bad = [await token_call(server.http, server, "pk_x", "s", "198.51.100.1") for _ in range(11)]
    assert bad[-1] == 429
    assert await token_call(server.http, server, "pk_x", "s", "198.51.100.2") == 401
    # A caller that is not a trusted proxy cannot choose its address with the header.
    async with session_from("127.0.0.9") as outside:
        assert await token_call(outside, server, "pk_x", "s", "198.51.100.3") == 401


# Finding 8: connections per address, the handshake timeout, the descriptor limit.


async def test_upgrades_per_address_are_limited(servers: Any) -> None:
    server = await servers()  # the default limit: 100 per address
    conns = [await upgrade(server.port) for _ in range(130)]
    try:
        statuses = [c.status for c in conns]
        assert statuses == [101] * 100 + [429] * 30
        # Another address is not affected.
        other = await upgrade(server.port, local="127.0.0.2")
        conns.append(other)
        assert other.status == 101
        # Closing connections frees their slots.
        for c in conns[:10]:
            c.close()
        async with asyncio.timeout(t(5)):
            while (again := await upgrade(server.port)).status != 101:
                again.close()
                await asyncio.sleep(0.02)
        conns.append(again)
    finally:
        for c in conns:
            c.close()


async def test_connection_limit_off_behind_a_trusted_proxy_unless_asked(servers: Any) -> None:
    proxied = await servers(trusted_proxies=("127.0.0.1",), max_connections_per_address=3)
    conns = [await upgrade(proxied.port) for _ in range(6)]
    try:
        assert [c.status for c in conns] == [101] * 6
        asked = await servers(
            trusted_proxies=("127.0.0.1",),
            max_connections_per_address=3,
            limit_connections_behind_proxy=True,
        )
        fwd = {"X-Forwarded-For": "203.0.113.5"}
        conns += [await upgrade(asked.port, headers=fwd) for _ in range(4)]
        assert [c.status for c in conns[6:]] == [101] * 3 + [429]
        conns.append(await upgrade(asked.port, headers={"X-Forwarded-For": "203.0.113.6"}))
        assert conns[-1].status == 101
    finally:
        for c in conns:
            c.close()


async def test_silent_and_half_sent_connections_are_closed(servers: Any) -> None:
    server = await servers(handshake_timeout=0.5)
    silent = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(50)]
    half = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(50)]
    for _, writer in half:
        writer.write(_UPGRADE.encode())  # the request's blank line never comes
    trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", server.port)

    async def dribble() -> None:
        for byte in _UPGRADE.encode():
            if trickle.is_closing():
                return
            trickle.write(bytes([byte]))
            await asyncio.sleep(0.05)

    dribbler = asyncio.get_running_loop().create_task(dribble())
    try:
        waits = await asyncio.gather(
            *(closed_by_server(r, 3.0) for r, _ in silent + half),
            closed_by_server(trickle_reader, 3.0),
        )
        assert max(waits) < t(2.0)
    finally:
        dribbler.cancel()
        for _, writer in [*silent, *half, (None, trickle)]:
            writer.transport.abort()


async def test_handshake_timeout_spares_websockets(servers: Any) -> None:
    server = await servers(handshake_timeout=0.3)
    assert server.http is not None
    ws = await server.http.ws_connect(server.ws_url)
    client = RawClient(ws)
    try:
        await client.ok("connect", room="r", username="u", token=await server.token("u"))
        await asyncio.sleep(1.0)  # past the handshake timeout
        assert (await client.ok("send", text="still here"))["message"]["seq"] == 1
    finally:
        await client.close()


# Finding 10: Origin, log lines.


async def test_origin_allowlist(servers: Any) -> None:
    server = await servers(allowed_origins=("https://chat.example",))
    conns = [
        await upgrade(server.port, headers={"Origin": "https://evil.example"}),
        await upgrade(server.port, headers={"Origin": "https://chat.example.evil"}),
        await upgrade(server.port, headers={"Origin": "null"}),
        await upgrade(server.port, headers={"Origin": "https://chat.example"}),
        await upgrade(server.port, headers={"Origin": "HTTPS://Chat.Example"}),
        await upgrade(server.port),  # not a browser: no Origin to check
    ]
    try:
        assert [c.status for c in conns] == [403, 403, 403, 101, 101, 101]
    finally:
        for c in conns:
            c.close()


async def test_no_origin_check_by_default(servers: Any) -> None:
    server = await servers()
    conn = await upgrade(server.port, headers={"Origin": "https://anywhere.example"})
    conn.close()
    assert conn.status == 101


def _one_liners(records: list[logging.LogRecord]) -> None:
    for record in records:
        assert record.exc_info is None, record.getMessage()
        assert "\n" not in record.getMessage()
        assert len(record.getMessage()) < 400


async def test_a_long_url_logs_one_line(servers: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = await servers()
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    url = "/public-chat/token/?sub=" + "a" * 10_000
    writer.write(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (await asyncio.wait_for(reader.readline(), t(5))).startswith(b"HTTP/1.0 400")
    writer.close()
    await asyncio.sleep(0.1)
    _one_liners(caplog.records)
    assert sum("bad request" in r.getMessage() for r in caplog.records) == 1


async def test_a_client_gone_mid_request_logs_one_line(
    servers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await servers()
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write((_UPGRADE + "\r\n").encode())
        await writer.drain()
        writer.transport.abort()
        await asyncio.sleep(0.1)
    _one_liners(caplog.records)


# A ``pchat serve`` process: its descriptor limit and its files.


async def test_serve_raises_its_descriptor_limit_and_keeps_its_files_private(
    tmp_path: Path,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard descriptor limit is too low to see it raised")
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "PCHAT_PORT": str(port), "PCHAT_DATA_DIR": str(data)}
    env.pop("PCHAT_TRUSTED_PROXIES", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pchat",
            "serve",
            env=env,
            stdout=log_file,
            stderr=log_file,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
        )
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"http://127.0.0.1:{port}/healthz", proc=proc)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
        assert line.split()[3] == ("unlimited" if hard == resource.RLIM_INFINITY else str(hard))
        assert "open files limit raised from 256" in log_path.read_text()

        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = sorted(p.name for p in data.iterdir())
        assert {"pchat.sqlite3", "keys.sqlite3"} <= set(files)
        assert any(name.endswith(("-wal", "-shm")) for name in files)
        for path in data.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), t(10))


# The shipped nginx.conf in front of a server that trusts it, as deploy/docker-compose.yml.


@pytest.fixture
async def nginx_front(tmp_path: Path, servers: Any) -> AsyncIterator[tuple[RunningServer, int]]:
    """deploy/nginx.conf (tests/nginx.py), its upstream a server that trusts 127.0.0.1."""
    nginx_binary()  # skip before starting anything when there is no nginx
    server = await servers(trusted_proxies=("127.0.0.1",))
    nginx = Nginx(tmp_path / "nginx", [server.port])
    await nginx.start()
    try:
        yield server, nginx.port
    finally:
        await nginx.stop()


async def test_behind_the_shipped_nginx_callers_count_apart(nginx_front: Any) -> None:
    server, port = nginx_front
    via = RunningServer(server.settings, server.api_key, server.api_secret, port=port)
    async with session_from("127.0.0.2") as a, session_from("127.0.0.3") as b:
        bad = [await token_call(a, via, "pk_wrong", "sk_wrong") for _ in range(11)]
        assert bad == [401] * 10 + [429]
        assert await token_call(b, via, "pk_wrong", "sk_wrong") == 401  # another caller
        assert await token_call(a, via, server.api_key, server.api_secret) == 200
        assert await token_call(b, via, server.api_key, server.api_secret) == 200


async def test_the_shipped_nginx_limits_websockets_per_caller(nginx_front: Any) -> None:
    _, port = nginx_front
    conns = [await upgrade(port, local="127.0.0.2") for _ in range(101)]
    try:
        assert [c.status for c in conns] == [101] * 100 + [429]
        conns.append(await upgrade(port, local="127.0.0.3"))
        assert conns[-1].status == 101
    finally:
        for c in conns:
            c.close()
