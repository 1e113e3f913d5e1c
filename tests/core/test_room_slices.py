"""A big room's write goes a slice of connections at a time, and the loop runs in between:
a send, a relay from another node or worker, a join reach the node during a write of tens
of thousands of connections instead of after it. Every connection still gets every push
once, in order."""

from __future__ import annotations

import asyncio

from pchat.core import room as room_module
from pchat.core.room import Room, Tailored, Targeted
from tests.core.test_room import FakeSink, frames, live_room

SLICE = room_module._SLICE
FROM = room_module._SLICE_FROM


def big_room(count: int = FROM + 2 * SLICE, **kw: object) -> tuple[Room, list[FakeSink]]:
    """A room of ``count`` live connections whose writes are coalesced (a window)."""
    return live_room(count, **{"coalesce_budget": 100_000.0, "coalesce_max": 0.03, **kw})


def written(sinks: list[FakeSink]) -> int:
    return sum(1 for s in sinks if s.frames)


async def settle(seconds: float = 0.1) -> None:
    await asyncio.sleep(seconds)


async def test_the_loop_runs_between_the_slices_of_a_big_rooms_write() -> None:
    r, sinks = big_room()
    seen: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: seen.append(written(sinks)))
    r.publish(1, b"1")
    assert written(sinks) == SLICE  # the first slice at once
    await settle()
    assert seen and 0 < seen[0] < len(sinks), seen  # the loop ran in the middle of it
    assert all(s.frames == [frames(b"1")] for s in sinks)
    await r.close()


async def test_pushes_during_a_sliced_write_follow_it_in_order() -> None:
    r, sinks = big_room()
    last, first = sinks[-1], sinks[0]
    r.publish(1, b"1")  # the write starts
    r.publish(2, Targeted(lambda sink: b"2", [last, first]))  # not yet written to `last`
    r.publish(3, b"3")
    await settle()
    assert last.frames == [frames(b"1"), frames(b"2", b"3")]
    assert first.frames == [frames(b"1"), frames(b"2", b"3")]
    assert all(s.frames == [frames(b"1"), frames(b"3")] for s in sinks[1:-1])
    await r.close()


async def test_a_connection_that_leaves_during_a_sliced_write_gets_nothing_more() -> None:
    r, sinks = big_room()
    r.publish(1, b"1")
    r.leave(sinks[-1])
    await settle()
    assert sinks[-1].frames == []
    assert written(sinks) == len(sinks) - 1
    await r.close()


async def test_a_join_a_tailored_push_or_a_close_finish_the_write_first() -> None:
    r, sinks = big_room()
    newcomer = FakeSink()
    r.join(newcomer)
    r.publish(1, b"1")
    r.activate(newcomer, covered_seq=0)  # its buffer has 1; the others get 1 first
    assert all(s.frames == [frames(b"1")] for s in sinks)
    assert newcomer.frames == [frames(b"1")]
    await settle()
    r.publish(2, b"2")
    r.publish(3, Tailored(lambda sink: b"3"))
    assert all(s.frames == [frames(b"1"), frames(b"2"), frames(b"3")] for s in sinks)
    await settle()
    r.publish(4, b"4")
    await r.close()
    assert all(s.frames[-1] == frames(b"4") for s in [*sinks, newcomer])


async def test_a_room_of_up_to_some_thousands_is_written_in_one_go() -> None:
    r, sinks = big_room(FROM)
    r.publish(1, b"1")
    assert written(sinks) == FROM
    await r.close()


async def test_without_coalescing_a_big_room_writes_at_once() -> None:
    r, sinks = big_room(coalesce_budget=None)
    r.publish(1, b"1")
    assert written(sinks) == len(sinks)
    await r.close()
