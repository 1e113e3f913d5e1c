"""The online count of a connect reply: the last room-wide count known here, read from the
presence at most once per period before the first push, never below this node's count."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson

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


async def _rounds(live: LiveState, node: _Node, period: float, until: float) -> int:
    """The period's job, run every ``period`` for ``until`` seconds, with each room's count
    changing every round; how many rounds ran."""
    loop = asyncio.get_running_loop()
    end = loop.time() + until
    rounds = 0
    while loop.time() < end:
        for room_id in node.counts:
            node.counts[room_id] += 1
            live.touch(room_id)
        await live.report_presence()
        rounds += 1
        await asyncio.sleep(period)
    return rounds


class _TimedNode(_Node):
    def __init__(self) -> None:
        super().__init__()
        self.timed: list[tuple[str, float, int]] = []

    def push_local(self, room_id: str, frame: bytes) -> None:
        super().push_local(room_id, frame)
        online = orjson.loads(frame)["online"]
        self.timed.append((room_id, asyncio.get_running_loop().time(), online))


def _push_times(node: _TimedNode, room_id: str, start: float) -> list[float]:
    return [t - start for r, t, _ in node.timed if r == room_id]


async def test_a_room_with_many_connections_here_gets_its_count_less_often() -> None:
    """Each online push is one write per connection: a room of ``size`` connections on the
    node gets it at most every ``size / online_push_budget`` seconds (at most
    ``online_push_max_interval``), a small room every period as before; the count pushed
    is always the newest."""
    node, presence = _TimedNode(), _Presence(others=0)
    settings = CoreSettings(
        stats_interval=0.02, online_push_budget=10_000.0, online_push_max_interval=0.3
    )
    live = LiveState(settings, node=node, store=_Reactions(), presence=presence)  # type: ignore[arg-type]
    node.counts.update(small=10, big=1500, huge=1_000_000)  # ≤ 0.006 s, 0.15 s, 100 s
    start = asyncio.get_running_loop().time()
    rounds = await _rounds(live, node, period=0.02, until=1.0)
    small, big, huge = (_push_times(node, r, start) for r in ("small", "big", "huge"))
    assert len(small) == rounds  # every round, as without a budget
    assert 3 <= len(big) <= 7, big  # every 0.15 s (its members had the count at connect)
    assert all(b - a >= 0.15 - 0.005 for a, b in itertools.pairwise(big)), big
    assert big[0] >= 0.15 - 0.005, big  # not at once: the replies carried the count
    assert 2 <= len(huge) <= 3, huge  # every 0.3 s, the cap
    assert all(b - a >= 0.3 - 0.005 for a, b in itertools.pairwise(huge)), huge
    last_big = [o for r, _, o in node.timed if r == "big"][-1]
    assert last_big >= node.counts["big"] - 9  # the newest count, not the one held back


async def test_a_held_back_count_is_pushed_when_its_time_comes_without_a_new_change() -> None:
    node, presence = _TimedNode(), _Presence(others=0)
    settings = CoreSettings(stats_interval=0.02, online_push_budget=1000.0)
    live = LiveState(settings, node=node, store=_Reactions(), presence=presence)  # type: ignore[arg-type]
    node.counts["big"] = 100  # 0.1 s
    live.touch("big")
    await live.report_presence()
    node.counts["big"] = 120
    live.touch("big")
    await live.report_presence()
    assert node.timed == []  # held back: the members' replies carried a count
    for _ in range(15):  # 0.3 s of rounds with no change at all
        await asyncio.sleep(0.02)
        await live.report_presence()
    assert [o for _, _, o in node.timed] == [120]
