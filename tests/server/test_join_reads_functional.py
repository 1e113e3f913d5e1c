"""A join storm into a room reads the room's state once, not once per connect: the
connects that find a cache empty or stale while a read is in flight share that read
(core/singleflight.py). Counted with the store operation metrics of a real server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from tests.helpers import start_server

OPS = ("bans", "room_settings", "pin", "filter_entries", "list_polls")


async def _reads(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    counts = {}
    for op in OPS:
        pattern = rf'pchat_store_operation_seconds_count{{[^}}]*op="{op}"[^}}]*}} (\S+)'
        counts[op] = sum(float(v) for v in re.findall(pattern, text))
    return counts


async def test_a_join_storm_reads_the_rooms_state_a_few_times(tmp_path: Path) -> None:
    srv = await start_server(tmp_path / "d", max_connections_per_address=None, rate_frames=None)
    assert srv.http is not None
    try:
        tokens = [await srv.token(f"u{i}") for i in range(60)]
        before = await _reads(srv.http, srv.url)

        async def join(i: int) -> aiohttp.ClientWebSocketResponse:
            assert srv.http is not None
            ws = await srv.http.ws_connect(srv.ws_url)
            await ws.send_json(
                {
                    "type": "connect",
                    "id": 1,
                    "room": "storm",
                    "username": f"u{i}",
                    "token": tokens[i],
                }
            )
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "reply", reply
            return ws

        sockets = await asyncio.gather(*(join(i) for i in range(60)))
        after = await _reads(srv.http, srv.url)
        reads = {op: after[op] - before[op] for op in OPS}
        # Without sharing, each of the 60 connects that miss the cold caches reads.
        assert all(1 <= n <= 5 for n in reads.values()), reads
        for ws in sockets:
            await ws.close()
    finally:
        await srv.stop()
        await srv.http.close()
