"""What the Python SDK's tests against the real server share: the SDK factory's type, a
wait for a condition, joining a room, recording events, and a network that can be cut (the
``make_sdk`` fixture itself is in ``conftest.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pchat.protocol.errors import ConnectionClosedError
from pchat.sdk import AiohttpConnector, Events, PChatSDK, States, Transport
from pchat.server.ws import SERVICE_KEY
from tests.helpers import RunningServer, t

__all__ = ["Gate", "MakeSDK", "cut_off", "join", "record", "until"]

MakeSDK = Callable[..., PChatSDK]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (scaled timeout) until ``predicate()`` holds."""
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


async def join(
    server: RunningServer,
    make_sdk: MakeSDK,
    room: str,
    sub: str,
    role: str | None = None,
    **options: Any,
) -> PChatSDK:
    """An SDK client of ``server`` connected to ``room`` as user ``sub`` (named ``Sub``)."""
    sdk = make_sdk(**options)
    await sdk.connect(room, sub.capitalize(), await server.token(sub, role), role=role)
    return sdk


def record(sdk: PChatSDK, *events: Events) -> list[tuple[Events, Any]]:
    """Every firing of ``events`` on ``sdk`` from now on, in order, with its payload."""
    seen: list[tuple[Events, Any]] = []
    for event in events:
        sdk.on(event, lambda payload, event=event: seen.append((event, payload)))
    return seen


class Gate:
    """A connector whose network can be cut: while ``down``, every connection fails."""

    def __init__(self) -> None:
        self.down = False
        self._open = AiohttpConnector()

    async def __call__(self, url: str) -> Transport:
        if self.down:
            raise ConnectionClosedError(None, "network down")
        return await self._open(url)


async def cut_off(server: RunningServer, sdk: PChatSDK, gate: Gate) -> None:
    """Take ``sdk`` (connected through ``gate``) away: its network goes down and the server
    drops its connections; returns once it is reconnecting (and failing, until
    ``gate.down`` is False again)."""
    assert sdk.user is not None and server.runner is not None
    gate.down = True
    for session in server.runner.app[SERVICE_KEY].sessions():
        if session.user is not None and session.user.id == sdk.user.id:
            session.sink.abort()  # type: ignore[attr-defined]
    await until(lambda: sdk.state is States.RECONNECTING)
