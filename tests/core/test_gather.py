"""Recovery reads that arrive together share one store read (core/gather.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from pchat.core import gather
from pchat.core.gather import RangeReads


@dataclass(frozen=True)
class _Event:
    seq: int


class _Stream:
    """A store's stream of events 1..n, counting its reads; a read waits for ``go``."""

    def __init__(self, n: int, *, gone_before: int = 0) -> None:
        self.n = n
        self.gone_before = gone_before  # removed by retention
        self.reads: list[tuple[str, int, int]] = []
        self.go = asyncio.Event()
        self.go.set()
        self.fail: Exception | None = None

    async def events_since(self, room: str, after: int, limit: int) -> list[_Event]:
        self.reads.append((room, after, limit))
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        first = max(after + 1, self.gone_before)
        return [_Event(s) for s in range(first, min(self.n, after + limit) + 1)]


def _seqs(events: list[_Event]) -> list[int]:
    return [e.seq for e in events]


async def test_a_lone_request_reads_its_range_at_once() -> None:
    stream = _Stream(20)
    reads = RangeReads(stream.events_since)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert _seqs(await reads.between("r", 5, 9)) == [6, 7, 8, 9]
    assert loop.time() - started < 0.05
    assert stream.reads == [("r", 5, 4)]
    assert await reads.between("r", 9, 9) == []


async def test_requests_during_a_read_share_the_next_and_each_gets_its_part() -> None:
    stream = _Stream(50)
    stream.go.clear()
    reads = RangeReads(stream.events_since)
    first = asyncio.create_task(reads.between("r", 10, 12))
    await asyncio.sleep(0.01)  # the first read runs (and waits)
    later = [asyncio.create_task(reads.between("r", a, u)) for a, u in [(3, 8), (7, 12), (11, 14)]]
    other = asyncio.create_task(reads.between("other", 0, 2))
    await asyncio.sleep(0.01)
    stream.go.set()
    assert _seqs(await first) == [11, 12]
    assert [_seqs(await t) for t in later] == [[4, 5, 6, 7, 8], [8, 9, 10, 11, 12], [12, 13, 14]]
    assert _seqs(await other) == [1, 2]
    # One read per room for all that waited, of the range covering them all.
    assert sorted(stream.reads) == [("other", 0, 2), ("r", 3, 11), ("r", 10, 2)]


async def test_a_storm_of_requests_is_gathered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gather, "STORM", 0.3)
    monkeypatch.setattr(gather, "GATHER", 0.1)
    stream = _Stream(100)
    reads = RangeReads(stream.events_since)
    await reads.between("r", 90, 91)
    tasks = []
    for i in range(8):  # one every 1 ms, each read done long before the next comes
        tasks.append(asyncio.create_task(reads.between("r", 90 + i, 95)))
        await asyncio.sleep(0.001)
    assert [_seqs(await t) for t in tasks] == [list(range(91 + i, 96)) for i in range(8)]
    assert stream.reads == [("r", 90, 1), ("r", 90, 5)]


async def test_holes_are_left_for_the_caller_to_see() -> None:
    stream = _Stream(30, gone_before=12)  # retention removed 1..11
    reads = RangeReads(stream.events_since)
    assert _seqs(await reads.between("r", 8, 14)) == [12, 13, 14]


async def test_a_failed_read_fails_every_request_and_a_cancelled_one_spoils_nothing() -> None:
    stream = _Stream(10)
    stream.go.clear()
    reads = RangeReads(stream.events_since)
    blocker = asyncio.create_task(reads.between("r", 0, 1))
    await asyncio.sleep(0.01)
    kept = asyncio.create_task(reads.between("r", 2, 5))
    gone = asyncio.create_task(reads.between("r", 1, 5))
    await asyncio.sleep(0.01)
    gone.cancel()
    stream.go.set()
    assert _seqs(await blocker) == [1]
    assert _seqs(await kept) == [3, 4, 5]
    stream.fail = OSError("store down")
    waiters = [asyncio.create_task(reads.between("r", a, 6)) for a in (1, 2)]
    for w in waiters:
        with pytest.raises(OSError):
            await w
    stream.fail = None
    assert _seqs(await reads.between("r", 5, 6)) == [6]  # reads again after a failure
