"""``GET /metrics`` scraped by a real Prometheus (Debian's ``prometheus``, installed by
``scripts/debian-tools.sh`` for ``make test``), read back through its HTTP API; and
``--workers 2``, whose workers add up each other's values whichever answers the scrape."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pchat.core.apikeys import create_api_key
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import RawClient, free_port, t, wait_until_serving

PROMETHEUS = "/usr/bin/prometheus"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@dataclass
class Pchat:
    """A ``pchat serve`` subprocess on a free port, with an API key made before its start."""

    port: int
    api_key: str
    api_secret: str
    proc: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def token(self, http: aiohttp.ClientSession, sub: str, secret: str = "") -> int | str:
        """A token from the token service (its status if refused)."""
        async with http.get(
            f"{self.url}/public-chat/token/",
            params={"sub": sub},
            headers={"auth-api-key": self.api_key, "auth-api-secret": secret or self.api_secret},
        ) as response:
            if response.status != 200:
                return response.status
            return str((await response.json())["token"])

    async def client(self, http: aiohttp.ClientSession, user: str, **connect: Any) -> RawClient:
        token = await self.token(http, user)
        assert isinstance(token, str)
        client = RawClient(await http.ws_connect(f"ws://127.0.0.1:{self.port}/public-chat/ws"))
        client.connected = await client.ok(
            "connect", room="stage", username=user, token=token, **connect
        )
        return client


@contextlib.asynccontextmanager
async def pchat_serve(tmp_path: Path, **env: str) -> AsyncIterator[Pchat]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    key, secret = await create_api_key(SQLiteKeyStore(data / "keys.sqlite3"))
    port = free_port()
    environ = {
        **os.environ,
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(data),
        "PCHAT_RATE_MESSAGES": "none",
        "PCHAT_SERVE_DEMO": "false",
        "PCHAT_STATS_INTERVAL": "0.2",
        **env,
    }
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "pchat.log", "wb")  # noqa: SIM115 (the process owns it)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pchat", "serve", env=environ, stdout=log, stderr=log
    )
    log.close()
    server = Pchat(port, key, secret, proc)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{server.url}/healthz", proc=proc)
        yield server
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), t(20))


@contextlib.asynccontextmanager
async def prometheus(tmp_path: Path, target: int) -> AsyncIterator[str]:
    """Prometheus scraping ``127.0.0.1:target`` every second, with the shipped alerting
    rules (deploy/prometheus-alerts.yml) evaluated every second; yields its base URL."""
    if not Path(PROMETHEUS).exists():
        if os.environ.get("CI"):  # scripts/debian-tools.sh installs it for make test
            pytest.fail("prometheus is not installed — CI is set, so this test must run")
        pytest.skip("prometheus is not installed (bash scripts/debian-tools.sh)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{DEPLOY / 'prometheus-alerts.yml'}']\n"
        "scrape_configs:\n  - job_name: pchat\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target}']\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 (the process owns it)
    proc = await asyncio.create_subprocess_exec(
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=log,
        stderr=log,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{base}/-/ready", timeout=60, proc=proc)
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), t(20))


async def query(http: aiohttp.ClientSession, base: str, expr: str) -> float | None:
    """The value of an instant query that yields one series (None: no series)."""
    async with http.get(f"{base}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


async def settles(http: aiohttp.ClientSession, base: str, expected: dict[str, float]) -> None:
    """Wait until Prometheus has scraped values that agree with ``expected``."""
    seen: dict[str, float | None] = {}
    try:
        async with asyncio.timeout(t(60)):
            while True:
                seen = {expr: await query(http, base, expr) for expr in expected}
                if seen == expected:
                    return
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"Prometheus has {seen}, expected {expected}") from None


async def test_prometheus_scrapes_what_happened(tmp_path: Path) -> None:
    async with (
        pchat_serve(tmp_path) as server,
        prometheus(tmp_path, server.port) as prom,
        aiohttp.ClientSession() as http,
    ):
        clients = [await server.client(http, f"u{i}") for i in range(3)]
        epoch = clients[0].connected["room"]["epoch"]
        for i in range(5):
            await clients[i % 3].ok("send", text=f"hello {i}", cid=f"c{i}")
        assert (await clients[0].ok("send", text="hello 0", cid="c0"))["duplicate"]
        refused = await clients[1].request("send", text=" ")
        assert refused["error"]["name"] == "message_empty"
        assert await server.token(http, "u9", secret="sk_wrong") == 401
        # Two recoveries: one that gets the five messages, one from another epoch.
        late = await server.client(http, "late", recover={"epoch": epoch, "seq": 0})
        assert late.connected["recovery"]["recovered"]
        reset = await server.client(http, "reset", recover={"epoch": "other", "seq": 0})
        assert reset.connected["recovery"]["reason"] == "epoch_changed"
        await reset.close()
        await settles(
            http,
            prom,
            {
                'up{job="pchat"}': 1,
                "sum(pchat_connections)": 4,
                "sum(pchat_rooms)": 1,
                "sum(pchat_store_healthy)": 1,
                "sum(pchat_broker_healthy)": 1,
                'pchat_messages_total{outcome="stored"}': 5,
                'pchat_messages_total{outcome="duplicate"}': 1,
                'pchat_messages_total{outcome="refused",reason="message_empty"}': 1,
                # Each message to the three clients in the room then: 5 publications, 15.
                'pchat_publications_total{kind="message"}': 5,
                'pchat_deliveries_total{kind="message"}': 15,
                "pchat_delivery_lag_seconds_count": 5,
                'pchat_store_operation_seconds_count{op="append_message"}': 6,
                'pchat_recoveries_total{outcome="recovered"}': 1,
                'pchat_recoveries_total{outcome="epoch_changed"}': 1,
                'pchat_token_requests_total{status="200"}': 5,
                'pchat_token_requests_total{status="401"}': 1,
                'pchat_closes_total{code="1000"}': 1,
            },
        )
        lag = await query(http, prom, "histogram_quantile(0.99, pchat_delivery_lag_seconds_bucket)")
        assert lag is not None and 0 < lag < 10
        publishes = 'pchat_broker_operation_seconds_count{op="publish"}'
        assert (await query(http, prom, publishes) or 0) >= 5
        await dashboard_and_rules_work(http, prom)
        for c in [*clients, late]:
            await c.close()
        await settles(http, prom, {"sum(pchat_connections)": 0, "sum(pchat_rooms)": 0})


async def dashboard_and_rules_work(http: aiohttp.ClientSession, prom: str) -> None:
    """Every query of the shipped dashboard runs; the shipped rules are loaded, evaluate
    without error, and none about health or failures fires (or is pending) for a healthy
    node."""
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    variables = {"$__rate_interval": "1m", "$job": "pchat", "$instance": ".*"}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in variables.items():
                expr = expr.replace(name, value)
            async with http.get(f"{prom}/api/v1/query", params={"query": expr}) as response:
                body = await response.json()
            assert body["status"] == "success", (panel["title"], expr, body)
    async with asyncio.timeout(t(30)):
        while True:
            async with http.get(f"{prom}/api/v1/rules") as response:
                rules = [r for g in (await response.json())["data"]["groups"] for r in g["rules"]]
            if rules and all(r["health"] == "ok" for r in rules):
                break
            assert all(r["health"] != "err" for r in rules), rules
            await asyncio.sleep(0.25)
    assert len(rules) >= 9
    # The lag and latency rules depend on how busy the machine running the tests is.
    loaded = {"PchatDeliveryLagHigh", "PchatEventLoopLagHigh", "PchatStoreSlow"}
    active = [r["name"] for r in rules if r["state"] != "inactive" and r["name"] not in loaded]
    assert active == []


async def test_workers_add_up_each_others_metrics(tmp_path: Path) -> None:
    """Two workers share the port; whichever answers a scrape reports both."""
    async with pchat_serve(tmp_path, PCHAT_WORKERS="2") as server, aiohttp.ClientSession() as http:
        clients: list[RawClient] = []
        nodes: set[str] = set()
        while len(nodes) < 2 or len(clients) < 4:
            assert len(clients) < 60, "every connection landed on one worker"
            clients.append(await server.client(http, f"u{len(clients)}"))
            nodes.add(clients[-1].connected["node"])
        for i, c in enumerate(clients):
            await c.ok("send", text=f"m{i}")
        expected = {
            "connections": float(len(clients)),
            "stored": float(len(clients)),
            "nodes": 2.0,
        }
        seen: dict[str, float] = {}
        try:
            async with asyncio.timeout(t(30)):
                agreed = 0
                while agreed < 6:  # several scrapes in a row, answered by either worker
                    seen = await _scrape(http, server.url)
                    agreed = agreed + 1 if seen == expected else 0
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"/metrics has {seen}, expected {expected}") from None
        for c in clients:
            await c.close()


async def _scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    found = {"connections": 0.0, "stored": 0.0, "nodes": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pchat_connections":
                found["connections"] += sample.value
                found["nodes"] += 1
            elif sample.name == "pchat_messages_total" and sample.labels["outcome"] == "stored":
                found["stored"] += sample.value
    return found


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    async with (
        pchat_serve(tmp_path, PCHAT_METRICS="false") as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/metrics") as response,
    ):
        assert response.status == 404
