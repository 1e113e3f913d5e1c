"""A graceful restart under load (issue #8, finding 11): ``pchat serve`` as a subprocess,
1,000 Python SDK clients, SIGTERM, ~5 s down, the same port and data again — every client
must be connected and recovered within 5 s of the server answering ``/healthz``.

Before the fix, the clients' full-jitter backoff had climbed to its 8–20 s ceilings while
the server was down, so the last of them came back 17–19 s after it was ready. Now the
server closes each connection with ``4000`` and a jittered ``reconnect_after_ms`` hint, and
the SDK waits the hint, then retries with a short cap while the server restarts.

The clients share one aiohttp session (one connector, no connection limit) to keep memory
and CPU sane on a small machine; each still opens its own WebSocket.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from pchat.core.tokens import TokenSigner, load_or_create_signing_keys
from pchat.protocol.codes import CloseCode
from pchat.sdk import Events, PChatSDK, States
from pchat.sdk.backoff import reconnect_hint
from pchat.sdk.connection import AiohttpConnector
from pchat.sdk.events import ConnectEvent, DisconnectEvent
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import free_port, start_server, t

CLIENTS = int(os.environ.get("PCHAT_STORM_CLIENTS", "1000"))
DOWN = 5.0  # seconds between the old process exiting and the new one starting
BAR = 5.0  # every client recovered within this many seconds of the server being ready
ROOMS = 10


class Storm:
    """One ``pchat serve`` process at a time on a fixed port and data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> float:
        """Start the server; the monotonic time at which ``/healthz`` first answered 200."""
        env = {
            **os.environ,
            # No rate limits in the way of a test that reconnects a thousand clients at once.
            "PCHAT_RATE_FRAMES": "none",
            "PCHAT_RATE_MESSAGES": "none",
            # A thousand clients on one address: the per-address connection limit is off.
            "PCHAT_MAX_CONNECTIONS_PER_ADDRESS": "none",
            "PCHAT_SERVE_DEMO": "false",
            # One machine, no other node to move the clients to: every client told at once,
            # its hint spreading the returns (the drain over a window: test_drain_functional).
            "PCHAT_DRAIN_READY_DELAY": "0",
            "PCHAT_DRAIN_WINDOW": "0",
        }
        log = (self.data_dir / "server.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pchat", "serve", "--port", str(self.port)),
            *("--data-dir", str(self.data_dir)),
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        async with asyncio.timeout(t(20)):
            while True:
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return time.monotonic()
                except aiohttp.ClientConnectionError:
                    pass
                if self.proc.returncode is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                await asyncio.sleep(0.01)

    async def terminate(self) -> None:
        """SIGTERM, as an init system stops a service, and wait for the process to exit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), t(15))

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_graceful_restart_brings_every_client_back_quickly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    keys = await load_or_create_signing_keys(SQLiteKeyStore(data_dir / "keys.sqlite3"))
    signer = TokenSigner(keys, issuer="pchat", ttl=3600)
    server = Storm(data_dir)
    http = aiohttp.ClientSession()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sdks: list[PChatSDK] = []
    recovered_at: dict[int, float] = {}
    closes: dict[int, tuple[int | None, str]] = {}
    try:
        await server.start(http)

        def on_connect(index: int, event: ConnectEvent) -> None:
            if event.recovered:
                recovered_at.setdefault(index, time.monotonic())

        for index in range(CLIENTS):
            sdk = PChatSDK(
                server.url,
                connector=AiohttpConnector(session),
                request_timeout=t(10),
                ping_interval=None,
            )
            sdk.on(Events.CONNECT, lambda event, i=index: on_connect(i, event))
            sdk.on(
                Events.DISCONNECT,
                lambda event, i=index: closes.setdefault(i, (event.code, event.reason)),
            )
            sdks.append(sdk)
        for start in range(0, CLIENTS, 100):
            batch = range(start, min(start + 100, CLIENTS))
            await asyncio.gather(
                *(
                    sdks[i].connect(f"storm-{i % ROOMS}", f"u{i}", signer.issue(f"u{i}"))
                    for i in batch
                )
            )
        assert all(sdk.state is States.CONNECTED for sdk in sdks)

        await server.terminate()
        await asyncio.sleep(DOWN)
        # Every client got the shutdown close frame, with its own reconnect hint.
        assert len(closes) == CLIENTS
        codes = Counter(code for code, _ in closes.values())
        assert codes == {CloseCode.SHUTDOWN: CLIENTS}, codes
        hints = [reconnect_hint(reason) for _, reason in closes.values()]
        assert all(hint is not None and 0.25 <= hint <= 2.5 for hint in hints), hints[:5]
        assert len(set(hints)) > CLIENTS // 10, "the hints are not spread"
        ready = await server.start(http)

        deadline = ready + t(BAR + 20)  # wait past the bar, to print the real tail
        while len(recovered_at) < CLIENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        after = [recovered_at[i] - ready for i in sorted(recovered_at)]
        missing = CLIENTS - len(after)
        if after:
            print(
                f"\n{CLIENTS} clients, {DOWN:g} s down: recovered {len(after)}; after ready "
                f"p50 {statistics.median(after):.2f} s, p90 {_quantile(after, 0.9):.2f} s, "
                f"max {max(after):.2f} s"
            )
        assert missing == 0, f"{missing} clients not recovered {BAR + 20:g} s after ready"
        assert max(after) <= t(BAR), f"last client recovered {max(after):.2f} s after ready"
        assert all(sdk.state is States.CONNECTED for sdk in sdks)
    finally:
        await asyncio.gather(*(sdk.disconnect() for sdk in sdks), return_exceptions=True)
        await session.close()
        await http.close()
        await server.kill()


@pytest.mark.parametrize("hint_max", [0.5, None])
async def test_shutdown_close_reason_carries_the_hint(
    tmp_path: Path, hint_max: float | None
) -> None:
    server = await start_server(tmp_path / "data", reconnect_hint_max=hint_max)
    sdk = PChatSDK(server.url, ping_interval=None)
    closes: list[DisconnectEvent] = []
    sdk.on(Events.DISCONNECT, closes.append)
    try:
        await sdk.connect("lobby", "Ann", await server.token("u-ann"))
        await server.stop()
        async with asyncio.timeout(t(5)):
            while not closes:
                await asyncio.sleep(0.01)
        [event] = closes
        assert event.code == CloseCode.SHUTDOWN and event.reconnect
        hint = reconnect_hint(event.reason)
        if hint_max is None:
            assert event.reason == "server shutting down"
        else:
            assert event.reason.startswith("server shutting down; reconnect_after_ms=")
            assert hint is not None and hint_max / 10 <= hint <= hint_max
    finally:
        await sdk.disconnect()
        assert server.http is not None
        await server.http.close()
