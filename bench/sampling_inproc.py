"""In-process cost of one message to a sampled room: ``Sampling.select`` + ``Room.publish``.

A real :class:`~pchat.core.room.Room` of N sinks that only count bytes (no coalescing), a
:class:`~pchat.core.sampling.Sampling` on a clock the script moves so that the room is
sampled (``every`` > 1); every connection a plain viewer that opted in, unless
``--opted-out K`` makes K of them clients that did not. Prints the median time per
message over the repeats, for the messages in the sample (one shared frame) and those
left out (a Targeted publication), in µs.

    .venv/bin/python bench/sampling_inproc.py --sinks 5000
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from pchat.core.room import Room
from pchat.core.sampling import Sampling
from pchat.core.settings import CoreSettings
from pchat.core.stream import message_push
from pchat.protocol.models import Message, User

ROOM = "big"


class CountingSink:
    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass(eq=False)
class Viewer:
    sink: CountingSink
    user: User
    sampling: bool = True


@dataclass
class Node:
    settings: CoreSettings
    rooms: dict[str, Room] = field(default_factory=dict)

    def room(self, room_id: str) -> Room | None:
        return self.rooms.get(room_id)

    def on_room_closed(self, hook: Any) -> None:
        pass

    def push_local(self, room_id: str, frame: Any) -> None:
        self.rooms[room_id].publish(None, frame)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sinks", type=int, default=5000)
    parser.add_argument("--opted-out", type=int, default=0)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    a = parser.parse_args()
    clock = Clock()
    node = Node(CoreSettings(viewer_max_rate=10.0, sample_min_members=100))
    room = Room(ROOM, max_send_buffer=None, on_slow=lambda s: None)
    room.seed_position(0)
    node.rooms[ROOM] = room
    members: dict[str, dict[str, dict[Any, None]]] = {ROOM: {}}
    unsampled: dict[str, dict[Any, None]] = {}
    by_sink: dict[Any, Viewer] = {}
    for i in range(a.sinks):
        viewer = Viewer(CountingSink(), User(f"u{i}", f"u{i}", "viewer"), i >= a.opted_out)
        by_sink[viewer.sink] = viewer
        room.join(viewer.sink)
        room.activate(viewer.sink, 0)
        members[ROOM][viewer.user.id] = {viewer: None}
        if not viewer.sampling:
            unsampled.setdefault(ROOM, {})[viewer.sink] = None
    kwargs: dict[str, Any] = {}
    if "unsampled" in inspect.signature(Sampling).parameters:
        kwargs["unsampled"] = unsampled
    sampling = Sampling(
        node=node,  # type: ignore[arg-type]
        members=members,
        staff={},
        session_at=by_sink.get,  # type: ignore[arg-type]
        clock=clock,
        **kwargs,
    )
    seq = 0

    def message(author: str) -> tuple[int, bytes]:
        nonlocal seq
        seq += 1
        frame = message_push(seq, Message(f"m{seq}", seq, 0, User(author, author, "viewer"), "hi"))
        return seq, frame

    for _ in range(3000):  # 100 messages/s for 30 s: sampled, ``every`` settled
        clock.now += 0.01
        s, frame = message("u1")
        room.publish(s, sampling.select(ROOM, s, frame, frame))
    every = sampling.every(ROOM)
    assert every > 1, every
    kept: list[float] = []
    left: list[float] = []
    for _ in range(a.repeats):
        frames = [message("u1") for _ in range(a.messages)]
        times = {True: 0.0, False: 0.0}
        counts = {True: 0, False: 0}
        for s, frame in frames:
            clock.now += 0.01
            start = time.perf_counter()
            room.publish(s, sampling.select(ROOM, s, frame, frame))
            took = time.perf_counter() - start
            times[s % every == 0] += took
            counts[s % every == 0] += 1
        assert sampling.every(ROOM) == every
        kept.append(times[True] / counts[True] * 1e6)
        left.append(times[False] / counts[False] * 1e6)
    print(
        f"sinks={a.sinks} opted_out={a.opted_out} every={every}: "
        f"in the sample {statistics.median(kept):.1f} µs/message, "
        f"left out {statistics.median(left):.1f} µs/message (median of {a.repeats})"
    )


if __name__ == "__main__":
    asyncio.run(main())
