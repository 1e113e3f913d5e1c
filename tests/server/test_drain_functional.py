"""The stop on SIGTERM (server/drain.py): readiness off first, listening stopped after the
ready delay, the clients closed with ``4000`` and a reconnect hint spread over the window, a
request in flight answered before its connection closes, the exit once all are gone."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pchat.protocol.codes import CloseCode
from pchat.sdk.backoff import reconnect_hint
from pchat.server.appkeys import DRAIN_KEY, SERVICE_KEY
from pchat.server.drain import CLOSE_GRACE, DrainState
from pchat.server.runner import SHUTDOWN_TIMEOUT
from tests.helpers import RawClient, RunningServer, start_server, t
from tests.server.test_logs_functional import serve
from tests.server.test_presend_functional import SECRET, HookEndpoint


async def token(port: int, key: str, secret: str, sub: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{port}/public-chat/token/",
            params={"sub": sub},
            headers={"auth-api-key": key, "auth-api-secret": secret},
        ) as r,
    ):
        return str((await r.json())["token"])


async def ready_status(http: aiohttp.ClientSession, port: int) -> int | None:
    """``/readyz``'s status; None when the node no longer accepts connections."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status
    except aiohttp.ClientConnectionError:
        return None


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_sigterm_takes_the_node_out_then_moves_its_clients_over_the_window(
    tmp_path: Path,
) -> None:
    ready_delay, window, count = 1.5, 2.0, 10
    proc, port, key, secret = await serve(
        tmp_path,
        PCHAT_DRAIN_READY_DELAY=str(ready_delay),
        PCHAT_DRAIN_WINDOW=str(window),
        PCHAT_LOG_LEVEL="debug",
    )
    http = aiohttp.ClientSession()
    clients: list[RawClient] = []
    try:
        for i in range(count):
            client = RawClient(await http.ws_connect(f"ws://127.0.0.1:{port}/public-chat/ws"))
            clients.append(client)
            tok = await token(port, key, secret, f"u{i}")
            await client.ok("connect", room="r", username=f"u{i}", token=tok)
        closed_at: dict[int, float] = {}

        async def watch(i: int) -> None:
            await clients[i].closed(ready_delay + window + 20)
            closed_at[i] = time.monotonic()

        watchers = [asyncio.create_task(watch(i)) for i in range(count)]
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # Out of rotation first: /readyz answers 503 while every client is still served.
        async with asyncio.timeout(t(ready_delay)):
            while (status := await ready_status(http, port)) == 200:
                await asyncio.sleep(0.02)
        unready_at = time.monotonic()
        assert status == 503 and not closed_at
        assert (await clients[0].ok("send", text="still served"))["message"]["seq"] == 1
        # Then the clients, spread over the window; no new connection meanwhile.
        async with asyncio.timeout(t(ready_delay + 5)):
            while not closed_at:
                await asyncio.sleep(0.01)
        assert await refuses_connections(port)
        await asyncio.gather(*watchers)
        exit_code = await asyncio.wait_for(proc.wait(), t(20))
        exited_at = time.monotonic()
    finally:
        for client in clients:
            await client.close()
        await http.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert exit_code == 0
    assert unready_at < min(closed_at.values())
    assert min(closed_at.values()) - signalled >= ready_delay - 0.05  # not before the delay
    spread = max(closed_at.values()) - min(closed_at.values())
    assert spread >= window * (count - 1) / count - 0.1, spread  # evenly over the window
    for client in clients:
        assert client.close_code == CloseCode.SHUTDOWN
        hint = reconnect_hint(client.close_reason)
        assert hint is not None and 0.25 <= hint <= 2.5
    # All gone: the exit follows the last close, well before the drain's longest.
    assert exited_at - signalled < t(ready_delay + window + CLOSE_GRACE + SHUTDOWN_TIMEOUT)
    log = (tmp_path / "serve.log").read_text()
    assert f"drain: closing {count} connections over {window:g} s" in log


async def test_a_second_ctrl_c_cuts_the_drain_short(tmp_path: Path) -> None:
    proc, port, key, secret = await serve(tmp_path, PCHAT_DRAIN_WINDOW="60")
    async with aiohttp.ClientSession() as http:
        client = RawClient(await http.ws_connect(f"ws://127.0.0.1:{port}/public-chat/ws"))
        tok = await token(port, key, secret, "u")
        await client.ok("connect", room="r", username="u", token=tok)
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(t(5)):
            while await ready_status(http, port) == 200:
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), t(10)) == 0
        assert await client.closed() == CloseCode.SHUTDOWN
    assert "drain cut short" in (tmp_path / "serve.log").read_text()


# In-process: the drain run by the test, so that it can look at each step.


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, HookEndpoint]]:
    """A server whose pre-send hook answers only when the test says (``release``); a drain
    without ready delay or window."""
    hook = HookEndpoint()
    await hook.start()
    hook.answer = hook.stall
    server = await start_server(
        tmp_path / "data",
        presend_hook_url=hook.url,
        presend_hook_secret=SECRET,
        presend_hook_timeout_ms=int(t(20) * 1000),
        drain_ready_delay=0.0,
        drain_window=0.0,
    )
    yield server, hook
    await hook.stop()
    await server.stop()
    assert server.http is not None
    await server.http.close()


async def nothing() -> None:
    """Stands in for the runner's stop of listening (the test connects after it)."""


async def test_a_request_in_flight_is_answered_before_its_connection_closes(
    hooked: tuple[RunningServer, HookEndpoint],
) -> None:
    server, hook = hooked
    assert server.http is not None and server.runner is not None
    app = server.runner.app
    client = RawClient(await server.http.ws_connect(server.ws_url))
    await client.ok("connect", room="r", username="u", token=await server.token("u"))
    sending = asyncio.create_task(client.request("send", timeout=30, text="in flight"))
    async with asyncio.timeout(t(5)):
        while not hook.calls:  # the send waits in the hook
            await asyncio.sleep(0.01)
    drain = asyncio.create_task(app[DRAIN_KEY].run(nothing))
    [session] = app[SERVICE_KEY].sessions()
    async with asyncio.timeout(t(5)):
        while session.close_after_reply is None:  # its turn came: it waits for the reply
            await asyncio.sleep(0.01)
    assert client.close_code is None and not sending.done()
    hook.release.set()
    reply = await sending
    assert reply["type"] == "reply" and reply["result"]["message"]["text"] == "in flight"
    assert await client.closed() == CloseCode.SHUTDOWN
    await asyncio.wait_for(drain, t(10))
    assert app[DRAIN_KEY].state is DrainState.DONE


async def test_a_draining_node_refuses_upgrades_on_connections_kept_alive(
    server: RunningServer,
) -> None:
    assert server.runner is not None and server.http is not None
    drain = server.runner.app[DRAIN_KEY]
    drain.ready_delay = drain.window = 0.0
    await drain.run(nothing)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await server.http.ws_connect(server.ws_url)
    assert refused.value.status == 503
    async with server.http.get(f"{server.url}/readyz") as r:
        assert r.status == 503 and (await r.json())["ready"] is False
    async with server.http.get(f"{server.url}/healthz") as r:  # HTTP is still served
        assert r.status == 200


def test_runner_waits_for_the_whole_drain() -> None:
    """The stop of a worker and of a supervisor's unit allow for every step."""
    from pchat.server.config import Settings
    from pchat.server.runner import stop_timeout

    settings = Settings(drain_ready_delay=1.0, drain_window=10.0)
    assert stop_timeout(settings) == 1.0 + 10.0 + CLOSE_GRACE + SHUTDOWN_TIMEOUT
