"""``pchat serve --log-format json``: every line of a served node's stderr is one JSON
object, the events of a connection carry its id and those of an HTTP request theirs, and no
line holds the token, the API secret (right or wrong) or the text of a message."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pchat.core.apikeys import create_api_key
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import RawClient, free_port, t, wait_until_serving
from tests.logscan import find_secrets, log_files

TEXT = "a message text that must never be logged 7f3e"


async def serve(tmp_path: Path, *args: str, **env: str) -> tuple[Any, int, str, str]:
    """``pchat serve`` (stderr to serve.log, stdout to serve.out); its API key and secret."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    key, secret = await create_api_key(SQLiteKeyStore(data / "keys.sqlite3"))
    port = free_port()
    environ = {
        **os.environ,
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(data),
        "PCHAT_SERVE_DEMO": "false",
        "PCHAT_DRAIN_READY_DELAY": "0.2",
        "PCHAT_DRAIN_WINDOW": "0.5",
        **env,
    }
    with (tmp_path / "serve.log").open("wb") as err, (tmp_path / "serve.out").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pchat", "serve", *args, env=environ, stdout=out, stderr=err
        )
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc, port, key, secret


async def stop(proc: Any) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert await asyncio.wait_for(proc.wait(), t(20)) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_json_logs_parse_carry_ids_and_hold_no_secret(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    proc, port, key, secret = await serve(
        tmp_path, "--log-format", "json", PCHAT_LOG_LEVEL="debug", PCHAT_TRUSTED_PROXIES="127.0.0.1"
    )
    base = f"http://127.0.0.1:{port}"
    wrong = "sk_" + "W" * 43  # a wrong secret of the right shape
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{base}/public-chat/token/?sub=alice"
            async with http.get(url, headers={"auth-api-key": key, "auth-api-secret": wrong}) as r:
                assert r.status == 401
            async with http.get(url, headers={"auth-api-key": key, "auth-api-secret": secret}) as r:
                token = (await r.json())["token"]
            # An id given by a trusted proxy (nginx's $request_id) is the request's.
            async with http.get(f"{base}/healthz", headers={"X-Request-Id": "from-nginx-1"}) as r:
                assert r.headers["X-Request-Id"] == "from-nginx-1"
            client = RawClient(await http.ws_connect(f"ws://127.0.0.1:{port}/public-chat/ws"))
            connected = await client.ok("connect", room="lobby", username="Alice", token=token)
            assert (await client.ok("send", text=TEXT))["message"]["seq"] == 1
            await client.send_raw(b"{not json")
            assert (await client.error_without_id())["type"] == "error"
            await client.close()
    finally:
        await stop(proc)

    raw = (tmp_path / "serve.log").read_text()
    lines = [json.loads(line) for line in raw.splitlines()]  # every line is one JSON object
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert {line["level"] for line in lines} <= {"debug", "info", "warning", "error"}

    def events(msg: str) -> list[dict[str, Any]]:
        return [line for line in lines if line["msg"] == msg]

    # The connection's events, tied by its id (the core's session id).
    [opened] = events("connection opened")
    [joined] = events("connected")
    [closed] = events("connection closed")
    assert opened["conn"] == joined["conn"] == closed["conn"] and len(opened["conn"]) == 16
    assert opened["client"] == "127.0.0.1"
    assert (joined["room"], joined["user"]) == ("lobby", "alice")
    assert connected["user"]["id"] == "alice"
    assert closed["by"] == "client" and closed["code"] == 1000
    # Each HTTP request has an id of its own; the WebSocket's is not logged as one.
    requests = events("http request")
    token_calls = [r for r in requests if r["path"] == "/public-chat/token/"]
    assert sorted(r["status"] for r in token_calls) == [200, 401]
    assert len({r["req"] for r in requests}) == len(requests)
    assert [r["status"] for r in requests if r["req"] == "from-nginx-1"] == [200]
    assert all(r["path"] != "/public-chat/ws" for r in requests)
    # The stop: readiness off, the drain, the end.
    assert [line["msg"].split(" ")[1] for line in lines if line["msg"].startswith("drain:")] == [
        "not",
        "closing",
        "done",
    ]
    assert lines[-1]["msg"] == "stopped"
    # Nothing secret, and no message text.
    for secret_text in (token, secret, wrong, TEXT, "not json"):
        assert secret_text not in raw
    assert find_secrets(raw) == []
    # And the session's search of every log file covers this one.
    assert tmp_path / "serve.log" in set(log_files(tmp_path_factory.getbasetemp()))


async def test_text_logs_are_the_default(tmp_path: Path) -> None:
    proc, port, _, _ = await serve(tmp_path)
    await stop(proc)
    lines = (tmp_path / "serve.log").read_text().splitlines()
    listening = [line for line in lines if " INFO pchat.server.runner: listening " in line]
    assert len(listening) == 1 and listening[0].endswith(f"host=127.0.0.1 port={port}")
    assert not any(line.startswith("{") for line in lines)
