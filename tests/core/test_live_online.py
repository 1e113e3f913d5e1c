"""The online count of a connect reply: the last room-wide count known here, read from the
presence at most once per period before the first push, never below this node's count."""

from __future__ import annotations

import asyncio
from typing import Any

from pchat.core.live import LiveState
from pchat.core.settings import CoreSettings
from pchat.protocol.models import User


class _Presence:
    def __init__(self, others: int) -> None:
        self.others = others
        self.calls: list[tuple[str, int]] = []

    async def set_presence(self, room_id: str, node_count: int) -> int:
        self.calls.append((room_id, node_count))
        await asyncio.sleep(0)
        return self.others + node_count

    async def rooms_online(self) -> dict[str, int]:
        return {}


class _Node:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.pushed: list[tuple[str, bytes]] = []

    def size(self, room_id: str) -> int:
        return self.counts.get(room_id, 0)

    def sizes(self) -> dict[str, int]:
        return dict(self.counts)

    def filter(self, *args: Any) -> None: ...

    def on_room_closed(self, *args: Any) -> None: ...

    def push_local(self, room_id: str, frame: bytes) -> None:
        self.pushed.append((room_id, frame))


class _Reactions:
    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        return {}


def _live(node: _Node, presence: _Presence, period: float) -> LiveState:
    settings = CoreSettings(stats_interval=period)
    return LiveState(settings, node=node, store=_Reactions(), presence=presence)  # type: ignore[arg-type]


async def test_a_storm_before_the_first_period_reads_the_presence_once() -> None:
    node, presence = _Node(), _Presence(others=40)
    live = _live(node, presence, period=0.2)
    user = User("u", "u", "viewer")
    online = []
    for i in range(1, 6):
        node.counts["r"] = i
        online.append((await live.room_state("r", user))["online"])
    assert presence.calls == [("r", 1)]
    assert online == [41, 41, 41, 41, 41]  # the count read, at least this node's
    node.counts["r"] = 60
    assert (await live.room_state("r", user))["online"] == 60  # never below the node's own
    await asyncio.sleep(0.25)  # a period later the count is read again
    assert (await live.room_state("r", user))["online"] == 100
    assert presence.calls == [("r", 1), ("r", 60)]


async def test_once_a_count_was_pushed_it_is_used_and_a_closed_room_forgets_its_read() -> None:
    node, presence = _Node(), _Presence(others=5)
    live = _live(node, presence, period=10.0)
    user = User("u", "u", "viewer")
    node.counts["r"] = 2
    assert (await live.room_state("r", user))["online"] == 7
    live.touch("r")
    await live.report_presence()  # the period's job pushes the room-wide count
    assert node.pushed and (await live.room_state("r", user))["online"] == 7
    await live.forget("r")
    presence.others = 9
    node.counts["r"] = 1
    assert (await live.room_state("r", user))["online"] == 10  # read anew
