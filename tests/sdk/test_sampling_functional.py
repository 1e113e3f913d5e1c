"""A sampled room, from the Python SDK against the real server (docs/protocol.md §4,
Sampling): the client holds ``sampled`` and fires ``SAMPLED``, takes the jumps in ``seq``
for what they are (it stays connected: no gap, no reconnect), holds its sample, its own
messages and its mentions, and sees sampling end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.sdk import Events, States
from tests.helpers import RunningServer, serving
from tests.sdk.support import MakeSDK, join, record, until
from tests.server.test_sampling_functional import SMALL_ROOM_SAMPLING

ROOM = "stadium"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with serving(tmp_path / "data", **SMALL_ROOM_SAMPLING) as srv:
        yield srv


async def test_a_sampled_viewer_stays_connected_and_holds_its_sample(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, ROOM, "mia", "moderator")
    ann = await join(server, make_sdk, ROOM, "ann")
    bob = await join(server, make_sdk, ROOM, "bob")
    await join(server, make_sdk, ROOM, "cat")
    seen = record(ann, Events.SAMPLED, Events.DISCONNECT, Events.CONNECT)
    assert ann.sampled is None

    async def flood(count: int) -> None:
        for i in range(count):
            await bob.send_message(f"m{i}")
            await asyncio.sleep(0.04)

    while ann.sampled is None:
        await flood(10)
        assert len(mod.messages) < 300, "never sampled"
    assert ann.sampled.every >= 2 and (ann.sampled.rate or 0) > 4
    await flood(10)
    mention = await bob.send_message("over here @Ann")
    await flood(10)
    own = await ann.send_message("mine")
    fence = await mod.send_message("from the staff")  # everyone gets the staff's
    await until(lambda: ann.last_seq == fence.seq and mod.last_seq == fence.seq, 10)

    held = {m.id for m in ann.messages}
    assert {mention.id, own.id, fence.id} <= held
    assert held < {m.id for m in mod.messages}  # a sample: fewer than the staff hold
    assert [m.seq for m in mod.messages] == list(range(1, fence.seq + 1))
    assert ann.state is States.CONNECTED
    assert {e for e, _ in seen} == {Events.SAMPLED}  # no gap, so no reconnect
    assert all(p.every > 1 for _, p in seen)  # started, perhaps changed: not ended yet

    # Quiet again: sampling ends, and every message comes.
    await until(lambda: ann.sampled is None, 15)
    end = seen[-1][1]
    assert seen[-1][0] is Events.SAMPLED and end.every == 1 and end.seq >= fence.seq
    after = await bob.send_message("everyone again")
    await until(lambda: ann.last_seq == after.seq)
    assert ann.messages[-1].id == after.id and ann.state is States.CONNECTED
