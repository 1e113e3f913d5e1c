"""How long a connection lives against the real server (issue 10): by default past its
token's ``exp`` (the vendor's SDK has no refresh hook); with
``end_connections_at_token_exp`` it ends then, and only a token refresher keeps it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pchat.protocol.codes import CloseCode
from pchat.sdk import DisconnectEvent, Events, PChatSDK, States
from tests.helpers import start_server, t


async def test_a_connection_outlives_its_token_by_default(tmp_path: Path) -> None:
    srv = await start_server(tmp_path / "d", token_ttl=2, token_leeway=0)
    sdk = PChatSDK(srv.url, request_timeout=t(5))
    lost: list[DisconnectEvent] = []
    sdk.on(Events.DISCONNECT, lost.append)
    try:
        token = await srv.token("ann")
        issued_by = time.time()  # the token's exp is at most issued_by + ttl
        await sdk.connect("life", "Ann", token)
        await asyncio.sleep(max(0.0, issued_by + 2 - time.time()) + 0.5)  # past exp
        sent = await sdk.send_message("an hour later, as it were")
        assert sent.text == "an hour later, as it were"
        assert sdk.state is States.CONNECTED and lost == []
    finally:
        await sdk.disconnect()
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


async def test_with_the_setting_on_a_connection_ends_at_exp(tmp_path: Path) -> None:
    srv = await start_server(
        tmp_path / "d", token_ttl=2, token_leeway=0, end_connections_at_token_exp=True
    )
    sdk = PChatSDK(srv.url, request_timeout=t(5))
    lost: list[DisconnectEvent] = []
    sdk.on(Events.DISCONNECT, lost.append)
    try:
        await sdk.connect("life", "Ann", await srv.token("ann"))
        async with asyncio.timeout(t(5)):
            while not lost:
                await asyncio.sleep(0.05)
        assert lost[0].code == CloseCode.TOKEN_EXPIRED and lost[0].reconnect is False
    finally:
        await sdk.disconnect()
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()
