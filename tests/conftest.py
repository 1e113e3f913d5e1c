"""Shared fixtures: a real pchat server on port 0 with its own data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RawClient, RunningServer, start_server


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
