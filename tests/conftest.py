"""Shared fixtures: a real pchat server on port 0 with its own data directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tests.helpers import RawClient, RunningServer, start_server

# Every log of the suite is searched for tokens and secrets (tests/logscan.py).
from tests.logscan import (  # noqa: F401
    _no_secrets_logged,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The server runs on uvloop in production, so its tests do too (loop details such as
    the order of callbacks differ from asyncio's); the SDK is tested on both loops."""
    if "tests/sdk/" in str(item.path).replace("\\", "/"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    srv = await start_server(tmp_path / "data")
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


@pytest.fixture
async def raw(server: RunningServer) -> AsyncIterator[Any]:
    """A factory of raw clients on ``server``; all are closed at the end."""
    assert server.http is not None
    clients: list[RawClient] = []

    async def open_client(
        room: str | None = None,
        user: str = "u1",
        name: str | None = None,
        role: str | None = None,
        grant: str | None = None,
        **connect: Any,
    ) -> RawClient:
        assert server.http is not None
        ws = await server.http.ws_connect(server.ws_url, autoping=True)
        client = RawClient(ws)
        clients.append(client)
        if room is not None:
            token = await server.token(user, grant or role)
            args = {"room": room, "username": name or user, "token": token, **connect}
            if role:
                args["role"] = role
            client.connected = await client.ok("connect", **args)
        return client

    yield open_client
    for c in clients:
        await c.close()
