"""The room hub: one encoding per push, joining buffers, stream order, slow consumers."""

from __future__ import annotations

import asyncio
import time

from pchat.core.room import Room, Tailored, Targeted
from pchat.protocol.wsframe import encode_text_frame


class FakeSink:
    def __init__(self, buffered: int = 0) -> None:
        self.frames: list[bytes] = []
        self.buffered = buffered

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered


def room(**kw: object) -> tuple[Room, list[FakeSink]]:
    slow: list[FakeSink] = []
    r = Room("r", max_send_buffer=1000, on_slow=slow.append, **kw)  # type: ignore[arg-type]
    return r, slow


def test_same_bytes_to_every_connection() -> None:
    r, _ = room()
    sinks = [FakeSink() for _ in range(3)]
    r.seed_position(0)
    for s in sinks:
        r.join(s)
        r.activate(s, 0)
    r.publish(1, b'{"type":"message"}')
    assert all(s.frames == [encode_text_frame(b'{"type":"message"}')] for s in sinks)
    assert sinks[0].frames[0] is sinks[1].frames[0]  # encoded once, shared


def test_joining_buffer_skips_what_the_reply_covered() -> None:
    r, _ = room()
    s = FakeSink()
    r.seed_position(0)
    r.join(s)
    r.publish(1, b"1")
    r.publish(None, b"online")
    r.publish(2, b"2")
    assert s.frames == []
    r.activate(s, covered_seq=1)
    assert s.frames == [encode_text_frame(b"online") + encode_text_frame(b"2")]
    r.publish(3, b"3")
    assert s.frames[-1] == encode_text_frame(b"3")


def test_duplicates_dropped_and_early_held() -> None:
    r, _ = room()
    s = FakeSink()
    r.join(s)
    r.activate(s, 0)
    r.seed_position(5)
    r.publish(5, b"5")  # duplicate of what is known
    r.publish(7, b"7")  # early: held
    assert s.frames == []
    r.publish(6, b"6")
    assert s.frames == [encode_text_frame(b"6"), encode_text_frame(b"7")]
    assert r.last_seq == 7


async def test_gap_is_filled_from_the_store() -> None:
    calls: list[tuple[str, int, int]] = []

    async def fetch(room_id: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        calls.append((room_id, after, upto))
        return [(seq, str(seq).encode()) for seq in range(after + 1, upto + 1)]

    r, _ = room(gap_fetcher=fetch, gap_wait=0.01)
    s = FakeSink()
    r.join(s)
    r.activate(s, 0)
    r.seed_position(1)
    r.publish(4, b"4")
    await asyncio.sleep(0.05)
    assert calls == [("r", 1, 3)]
    assert s.frames == [encode_text_frame(x) for x in (b"2", b"3", b"4")]
    await r.close()


def test_slow_consumer_removed_others_served() -> None:
    r, slow = room()
    good, bad = FakeSink(), FakeSink(buffered=5000)
    for s in (good, bad):
        r.join(s)
        r.activate(s, 0)
    r.publish(None, b"x")
    assert slow == [bad] and len(r) == 1
    r.publish(None, b"y")
    assert len(good.frames) == 2 and len(bad.frames) == 1


def frames(*payloads: bytes) -> bytes:
    return b"".join(encode_text_frame(p) for p in payloads)


async def test_coalescing_gathers_a_window_into_one_write() -> None:
    r = Room("r", max_send_buffer=None, on_slow=lambda s: None, coalesce=0.02)
    early, late = FakeSink(), FakeSink()
    r.seed_position(0)
    r.join(early)
    r.activate(early, 0)
    r.publish(1, b"1")  # the leading edge: nothing written within a window, so at once
    assert early.frames == [frames(b"1")]
    r.publish(2, b"2")
    assert early.frames == [frames(b"1")]  # gathered
    r.join(late)
    r.publish(3, b"3")
    r.activate(late, covered_seq=1)  # flushes the window to the live connection first
    assert early.frames == [frames(b"1"), frames(b"2", b"3")]
    assert late.frames == [frames(b"3")]  # joined after 2
    r.publish(4, b"4")
    r.publish(None, b"online")
    await asyncio.sleep(0.05)
    want = frames(b"4", b"online")
    assert early.frames[-1] == want and late.frames[-1] == want
    await r.close()


def live_room(count: int, **kw: object) -> tuple[Room, list[FakeSink]]:
    r = Room("r", max_send_buffer=None, on_slow=lambda s: None, **kw)  # type: ignore[arg-type]
    sinks = [FakeSink() for _ in range(count)]
    r.seed_position(0)
    for s in sinks:
        r.join(s)
        r.activate(s, 0)
    return r, sinks


def test_the_adaptive_window_grows_with_the_room_up_to_its_cap() -> None:
    small, _ = live_room(100, coalesce_budget=200_000, coalesce_max=0.25)
    assert small.window() == 0.0  # 0.5 ms: under the floor, every push at once
    mid, _ = live_room(2_000, coalesce_budget=200_000, coalesce_max=0.25)
    assert mid.window() == 2_000 / 200_000
    big, _ = live_room(2_000, coalesce_budget=1_000, coalesce_max=0.25)
    assert big.window() == 0.25
    off, _ = live_room(2_000, coalesce_budget=None)
    assert off.window() == 0.0
    fixed, _ = live_room(3, coalesce=0.01, coalesce_budget=200_000)
    assert fixed.window() == 0.01


async def test_a_small_room_writes_every_push_at_once() -> None:
    r, sinks = live_room(10, coalesce_budget=200_000, coalesce_max=0.25)
    for seq in range(1, 4):
        r.publish(seq, str(seq).encode())
    assert all(s.frames == [frames(b"1"), frames(b"2"), frames(b"3")] for s in sinks)
    await r.close()


async def test_a_quiet_big_room_writes_at_once_and_a_busy_one_once_per_window() -> None:
    # 400 connections at 20,000 writes/s: a window of 20 ms.
    r, sinks = live_room(400, coalesce_budget=20_000, coalesce_max=0.25)
    assert r.window() == 0.02
    r.publish(1, b"1")
    assert sinks[0].frames == [frames(b"1")]  # a quiet room: no added delay
    await asyncio.sleep(0.04)  # the window ended with nothing gathered: closed
    r.publish(2, b"2")
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]
    r.publish(3, b"3")
    r.publish(4, b"4")
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]  # gathered in the open window
    await asyncio.sleep(0.03)
    assert sinks[0].frames[-1] == frames(b"3", b"4")  # at its end, in one write
    r.publish(5, b"5")  # the write at the window's end opened the next window
    assert sinks[0].frames[-1] == frames(b"3", b"4")
    await asyncio.sleep(0.03)
    assert sinks[0].frames[-1] == frames(b"5")
    assert all(s.frames == sinks[0].frames for s in sinks)
    await r.close()


async def test_a_targeted_publication_keeps_its_place_in_the_window() -> None:
    r, sinks = live_room(400, coalesce_budget=20_000, coalesce_max=0.25)
    author, other = sinks[0], sinks[1]
    r.publish(1, b"1")  # opens a window
    r.publish(2, b"2")
    r.publish(3, Targeted(lambda sink: b"3", [author]))  # left out for all but the author
    r.publish(4, b"4")
    assert author.frames == [frames(b"1")]
    await asyncio.sleep(0.03)
    assert author.frames == [frames(b"1"), frames(b"2", b"3", b"4")]
    assert other.frames == [frames(b"1"), frames(b"2", b"4")]
    assert other.frames[1] is sinks[2].frames[1]  # one shared write for the rest
    await asyncio.sleep(0.03)  # the window closes: a targeted one goes at once
    r.publish(5, Targeted(lambda sink: b"5" if sink is author else None, [author, other]))
    assert author.frames[-1] == frames(b"5") and other.frames[-1] == frames(b"2", b"4")
    await r.close()


def test_a_targeted_publication_asks_every_joining_connection() -> None:
    r, sinks = live_room(3)
    mentioned = FakeSink()
    r.join(mentioned)  # not live yet: the room asks payload_for for it
    asked: list[object] = []

    def payload_for(sink: object) -> bytes | None:
        asked.append(sink)
        return b"m" if sink in (sinks[0], mentioned) else None

    r.publish(1, Targeted(payload_for, [sinks[0]]))
    assert asked == [mentioned, sinks[0]]  # never the other live connections
    assert sinks[0].frames == [frames(b"m")] and sinks[1].frames == []
    r.activate(mentioned, covered_seq=0)
    assert mentioned.frames == [frames(b"m")]


def test_publications_before_the_position_is_known_are_held() -> None:
    r, _ = room()
    s = FakeSink()
    r.join(s)
    r.publish(4, b"4")  # subscribed, the store's position not read yet
    r.publish(5, b"5")
    assert s.frames == []
    r.seed_position(4)  # 4 is already covered by what the store said
    r.activate(s, covered_seq=4)
    assert s.frames == [encode_text_frame(b"5")]


async def test_catch_up_fetches_the_tail_that_never_arrived() -> None:
    async def fetch(room_id: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        return [(seq, str(seq).encode()) for seq in range(after + 1, upto + 1)]

    r, _ = room(gap_fetcher=fetch, gap_wait=0.0)
    s = FakeSink()
    r.seed_position(2)
    r.join(s)
    r.activate(s, 2)
    r.catch_up(2)  # nothing missing
    await asyncio.sleep(0.01)
    assert s.frames == []
    r.catch_up(4)  # the store has 3 and 4; no publication of them ever came
    await asyncio.sleep(0.02)
    assert s.frames == [encode_text_frame(b"3"), encode_text_frame(b"4")]
    assert r.last_seq == 4
    await r.close()


async def test_unfillable_gap_moves_on() -> None:
    async def fetch(room_id: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        return []

    r, _ = room(gap_fetcher=fetch, gap_wait=0.0)
    s = FakeSink()
    r.seed_position(1)
    r.join(s)
    r.activate(s, 1)
    r.publish(4, b"4")
    await asyncio.sleep(0.02)
    assert s.frames == [encode_text_frame(b"4")] and r.last_seq == 4
    await r.close()


async def test_a_tailored_publication_gives_each_connection_its_own_payload() -> None:
    r = Room("r", max_send_buffer=1000, on_slow=lambda s: None, coalesce=0.02)
    muter, author, other, joining = FakeSink(), FakeSink(), FakeSink(), FakeSink()
    r.seed_position(0)
    for s in (muter, author, other):
        r.join(s)
        r.activate(s, 0)
    r.publish(1, b"1")  # gathered for the window
    r.join(joining)
    payloads = {muter: b"skip", author: b"plain"}
    r.publish(2, Tailored(lambda sink: payloads.get(sink, b"marked")))
    # The window is written first, in order; then each connection's own payload.
    assert muter.frames == [encode_text_frame(b"1"), encode_text_frame(b"skip")]
    assert author.frames == [encode_text_frame(b"1"), encode_text_frame(b"plain")]
    assert other.frames == [encode_text_frame(b"1"), encode_text_frame(b"marked")]
    r.activate(joining, covered_seq=0)
    assert joining.frames == [encode_text_frame(b"marked")]  # joined after 1
    # None: nothing for that connection (pushes for some only).
    r.publish(None, Tailored(lambda sink: b"staff" if sink is other else None))
    assert other.frames[-1] == encode_text_frame(b"staff")
    assert muter.frames[-1] == encode_text_frame(b"skip")
    await r.close()


def test_a_tailored_publication_closes_a_slow_connection() -> None:
    r, slow = room()
    full, fine = FakeSink(buffered=5000), FakeSink()
    r.seed_position(0)
    for s in (full, fine):
        r.join(s)
        r.activate(s, 0)
    r.publish(1, Tailored(lambda sink: b"x"))
    assert slow == [full] and fine.frames == [encode_text_frame(b"x")]
    r.publish(2, b"y")
    assert len(full.frames) == 1 and len(fine.frames) == 2


def test_a_tailored_publication_with_a_common_payload_asks_only_for_the_others() -> None:
    r, _ = room()
    sinks = [FakeSink() for _ in range(4)]
    r.seed_position(0)
    for s in sinks:
        r.join(s)
        r.activate(s, 0)
    asked: list[FakeSink] = []

    def payload_for(sink: object) -> bytes:
        asked.append(sink)  # type: ignore[arg-type]
        return b"skip"

    r.publish(1, Tailored(payload_for, common=b"message", others={sinks[2]: None}))
    assert asked == [sinks[2]]
    assert [s.frames for s in sinks] == [
        [encode_text_frame(b"message")],
        [encode_text_frame(b"message")],
        [encode_text_frame(b"skip")],
        [encode_text_frame(b"message")],
    ]
    assert sinks[0].frames[0] is sinks[1].frames[0]


class SlowSink(FakeSink):
    """A connection whose write blocks the loop for ``seconds`` (a room's long write)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def write(self, data: bytes) -> None:
        time.sleep(self.seconds)
        super().write(data)


def slow_room(window_sinks: int, seconds: float) -> tuple[Room, list[FakeSink]]:
    """A room whose window is ``window_sinks`` ms (1,000 writes/s) and whose writes take
    ``seconds``."""
    r, sinks = live_room(window_sinks - 1, coalesce_budget=1_000, coalesce_max=0.25)
    slow = SlowSink(seconds)
    r.join(slow)
    r.activate(slow, 0)
    return r, sinks


async def test_a_window_counts_from_the_start_of_its_write() -> None:
    # A 40 ms window, a write of 15 ms: the window ends 25 ms after the write, so a push
    # 30 ms after it goes out at once (counted from the write's end, it would wait).
    r, sinks = slow_room(40, 0.015)
    assert r.window() == 0.04
    r.publish(1, b"1")
    await asyncio.sleep(0.03)
    r.publish(2, b"2")
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]
    await r.close()


async def test_a_window_outlasts_a_long_write_a_little() -> None:
    # A 20 ms window, a write of 30 ms: the window ends 2 ms after the write (a quarter of
    # it, at most 2 ms), so a push that queued up during the write is gathered, and one
    # 10 ms after it goes out at once (a longer rest made it wait with the loop idle).
    r, sinks = slow_room(20, 0.03)
    r.publish(1, b"1")
    r.publish(2, b"2")
    assert sinks[0].frames == [frames(b"1")]
    await asyncio.sleep(0.05)  # the window's end wrote 2 (30 ms), then a 2 ms window
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]
    await asyncio.sleep(0.01)
    r.publish(3, b"3")
    assert sinks[0].frames == [frames(b"1"), frames(b"2"), frames(b"3")]
    await r.close()


async def test_a_very_long_write_of_one_push_rests_a_twentieth_of_it() -> None:
    # A write of 400 ms (a big room on a core shared by workers): the window stays open
    # 20 ms after it, so a push that reaches the room 5 ms after the write is gathered
    # rather than written alone (2 ms made a big room write a push or two at a time).
    r, sinks = slow_room(20, 0.4)
    r.publish(1, b"1")
    await asyncio.sleep(0.005)
    r.publish(2, b"2")
    assert sinks[0].frames == [frames(b"1")]
    await asyncio.sleep(0.05)
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]
    await r.close()


async def test_a_room_that_is_behind_rests_a_quarter_of_a_long_write() -> None:
    # A room of 60 ms writes, behind: 2 and 3 queued up during the write of 1 and are
    # written together at the window's end; after a write of several pushes the window
    # stays open a quarter of it (15 ms, not 2), so a push 6 ms after it is gathered.
    r, sinks = slow_room(20, 0.06)
    r.publish(1, b"1")
    r.publish(2, b"2")
    r.publish(3, b"3")
    await asyncio.sleep(0.003)  # resumes after the window's end wrote 2 and 3
    assert sinks[0].frames == [frames(b"1"), frames(b"2", b"3")]
    await asyncio.sleep(0.006)
    r.publish(4, b"4")
    assert sinks[0].frames == [frames(b"1"), frames(b"2", b"3")]
    await asyncio.sleep(0.08)
    assert sinks[0].frames[-1] == frames(b"4")
    await r.close()


async def test_pushes_further_apart_than_a_long_write_go_out_at_once() -> None:
    # The same room: a push 20 ms after the 30 ms write (the window closed 7.5 ms after
    # it) is written at once. 20 messages/s to 5,000 is this case: a push every 50 ms, a
    # write of about 35 ms; a window as long again as the write made every push wait.
    r, sinks = slow_room(20, 0.03)
    r.publish(1, b"1")
    await asyncio.sleep(0.02)
    r.publish(2, b"2")
    assert sinks[0].frames == [frames(b"1"), frames(b"2")]
    await r.close()


async def test_a_room_busy_most_of_its_time_gathers_a_push_that_comes_just_after() -> None:
    # Writes of 60 ms, and each push reaches the room 6 ms after the write before it ended:
    # the room writes nearly all its time. After a few such writes a push that comes 6 ms
    # after one is gathered (the window stays open a quarter of the write, 15 ms, where a
    # room that is not busy rests a twentieth, 3 ms), not written alone at once. On a node
    # whose messages take a few ms from the client to the room (a PostgreSQL commit), the
    # short rest wrote every push of a busy room alone: on Redis and PostgreSQL at 40
    # messages/s to 5,000 it delivered 145,000 of 200,000 a second, p99 2 s, where the
    # quarter kept up (199,600, p99 67 ms).
    r, sinks = slow_room(20, 0.06)
    loop = asyncio.get_running_loop()
    at_once: list[bool] = []
    n = 8

    def arrive(seq: int) -> None:
        before = len(sinks[0].frames)
        r.publish(seq, str(seq).encode())
        at_once.append(len(sinks[0].frames) > before)
        if seq < n:
            loop.call_later(0.006, arrive, seq + 1)

    arrive(1)
    while len(at_once) < n:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert b"".join(sinks[0].frames) == frames(*(str(i).encode() for i in range(1, n + 1)))
    assert at_once[0] and not any(at_once[-3:]), at_once
    await r.close()
