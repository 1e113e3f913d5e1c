"""`pchat serve --workers 2`: one port, two processes, one room across both."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from tests.helpers import RawClient, free_port, t, wait_until_serving


async def test_two_workers_share_rooms(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {
        **os.environ,
        "PCHAT_PORT": str(port),
        "PCHAT_DATA_DIR": str(data),
        "PCHAT_WORKERS": "2",
        "PCHAT_DEMO_TOKEN_ENDPOINT": "true",
        "PCHAT_RATE_MESSAGES": "none",
        "PCHAT_STATS_INTERVAL": "0.1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pchat",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    clients: list[RawClient] = []
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{base}/demo/token?sub=probe", proc=proc)

            async def client(i: int) -> RawClient:
                async with http.get(f"{base}/demo/token?sub=u{i}") as r:
                    token = (await r.json())["token"]
                c = RawClient(await http.ws_connect(f"ws://127.0.0.1:{port}/public-chat/ws"))
                c.connected = await c.ok("connect", room="big", username=f"u{i}", token=token)
                return c

            nodes: set[str] = set()
            while len(nodes) < 2 or len(clients) < 6:
                assert len(clients) < 60, "every connection landed on one worker"
                clients.append(await client(len(clients)))
                nodes.add(clients[-1].connected["node"])

            sent = []
            for i, c in enumerate(clients[:4]):
                sent.append((await c.ok("send", text=f"m{i}"))["message"]["seq"])
                sent.append((await c.ok("send", text=f"n{i}"))["message"]["seq"])
            assert sorted(sent) == list(range(1, 9))
            orders = []
            for c in clients:
                start = c.connected["room"]["seq"]
                got = [(await c.push("message"))["message"]["text"] for _ in range(8 - start)]
                orders.append(got)
            last = clients[-1]
            full = [o for o in orders if len(o) == 8]
            assert full and all(o == full[0] for o in full)
            while (await last.push("online"))["online"] != len(clients):
                pass
            for c in clients:
                await c.close()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), t(15))
    assert proc.returncode == 0
