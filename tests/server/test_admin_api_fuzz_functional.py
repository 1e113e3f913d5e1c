"""Schemathesis fuzzes the server API from its OpenAPI document against ``pchat serve``: no
call answers a 5xx, and every response conforms to the document — its status is one the
operation lists, its content type, headers and body match their schemas.

Deterministic (``derandomize``) and bounded: a few examples per operation, a few hundred in
all. The server runs in a subprocess (schemathesis calls are synchronous). The room of the
document's examples, ``lobby``, is seeded first — messages, a poll, a pin, a ban, a filter
entry — and a client stays in it, so that the fuzzer's calls find a live room with state
and the success responses are checked too, not only the refusals.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pchat.core.apikeys import create_api_key
from pchat.server.admin.openapi import BASE, SPEC_FILE
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import free_port, make_settings, t

#: Examples per operation: about 35 operations, a few hundred calls in all.
EXAMPLES = int(os.environ.get("PCHAT_FUZZ_EXAMPLES", "10"))
ROOM = "lobby"

schema = schemathesis.openapi.from_path(SPEC_FILE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Served:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``pchat serve`` with an API key; rate limits off, so that the fuzzer's calls reach
    the handlers rather than the limiter."""
    root = tmp_path_factory.mktemp("fuzz")
    data = root / "data"
    data.mkdir(mode=0o700)
    key, secret = asyncio.run(create_api_key(SQLiteKeyStore(make_settings(data).keys_path)))
    port = free_port()
    env = {
        **os.environ,
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(data),
        "PCHAT_SERVE_DEMO": "false",
        "PCHAT_RATE_MESSAGES": "none",
        "PCHAT_RATE_POLLS": "none",
        "PCHAT_RATE_FRAMES": "none",
    }
    with (root / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pchat", "serve"], env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    headers = {"auth-api-key": key, "auth-api-secret": secret}
    ready, stop = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    client = threading.Thread(
        target=lambda: _run(_seed_and_stay(url, headers, ready, stop), errors), daemon=True
    )
    try:
        _wait_serving(url + "/healthz", proc)
        client.start()
        assert ready.wait(t(20)) and not errors, errors
        yield Served(url + BASE, headers)
    finally:
        stop.set()
        client.join(t(10))
        proc.terminate()
        try:
            proc.wait(t(10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_text = (root / "serve.log").read_text(errors="replace")
        assert "Traceback" not in log_text, log_text[-4000:]


def _run(coro: Any, errors: list[BaseException]) -> None:
    try:
        asyncio.run(coro)
    except BaseException as exc:
        errors.append(exc)


async def _seed_and_stay(
    url: str, headers: dict[str, str], ready: threading.Event, stop: threading.Event
) -> None:
    """Give the examples' room some state, then keep a client in it until ``stop``."""
    async with aiohttp.ClientSession() as http:
        api = url + BASE + f"/rooms/{ROOM}"
        seed: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/messages", {"text": "hello"}),
            ("POST", "/messages", {"text": "pinned", "cid": "seed-pin"}),
            ("POST", "/polls", {"question": "Tea?", "options": ["yes", "no"]}),
            ("PUT", "/pin", {"text": "Welcome"}),
            ("POST", "/bans", {"user_id": "u-troll", "duration": 600}),
            ("POST", "/filters", {"pattern": "darn*", "action": "mask"}),
        ]
        for method, path, body in seed:
            async with http.request(method, api + path, json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
        async with http.get(
            url + "/public-chat/token/", params={"sub": "watcher"}, headers=headers
        ) as r:
            token = (await r.json())["token"]
        async with http.ws_connect(url.replace("http", "ws", 1) + "/public-chat/ws") as ws:
            connect = {"type": "connect", "id": 1, "room": ROOM, "username": "W", "token": token}
            await ws.send_bytes(orjson.dumps(connect))
            reader = asyncio.get_running_loop().create_task(_drain(ws))
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            reader.cancel()


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


def _wait_serving(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + t(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pchat serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: schemathesis.Case, served: Served) -> None:
    case.call_and_validate(base_url=served.url, headers=served.headers, checks=CHECKS)
