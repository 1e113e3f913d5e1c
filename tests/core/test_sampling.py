"""Sampling of huge rooms: which messages each connection gets, and the ``sampled`` pushes.

A real :class:`Room` with fake sinks, and a clock the test moves: the rate is measured
from the messages the test publishes at known times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from pchat.core.room import Room
from pchat.core.sampling import Sampling
from pchat.core.settings import CoreSettings
from pchat.core.stream import delete_push, message_push
from pchat.protocol.models import Message, User
from pchat.protocol.wsframe import encode_text_frame

ROOM = "big"


class Sink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def get_write_buffer_size(self) -> int:
        return 0

    def pushes(self) -> list[dict[str, Any]]:
        """The frames written so far, decoded (small unmasked text frames only)."""
        out, data = [], self.data
        while data:
            assert data[0] == 0x81
            length = data[1]
            if length == 126:
                length = int.from_bytes(data[2:4], "big")
                start = 4
            else:
                start = 2
            out.append(orjson.loads(data[start : start + length]))
            data = data[start + length :]
        self.data = b""
        return out


@dataclass(eq=False)
class FakeSession:
    sink: Sink
    user: User
    sampling: bool = True


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeNode:
    settings: CoreSettings
    rooms: dict[str, Room] = field(default_factory=dict)

    def room(self, room_id: str) -> Room | None:
        return self.rooms.get(room_id)

    def on_room_closed(self, hook: Any) -> None:
        pass

    def push_local(self, room_id: str, frame: bytes) -> None:
        self.rooms[room_id].publish(None, frame)


class World:
    """A room of viewers ``v0…``, a moderator ``mod`` and a user ``ann``, sampled above
    10 messages/s from 5 connections on."""

    def __init__(self, viewers: int = 4, *, opted_in: bool = True, **settings: Any) -> None:
        self.clock = Clock()
        self.node = FakeNode(
            CoreSettings(**{"viewer_max_rate": 10.0, "sample_min_members": 5, **settings})
        )
        self.room = Room(ROOM, max_send_buffer=None, on_slow=lambda s: None)
        self.room.seed_position(0)
        self.node.rooms[ROOM] = self.room
        self.members: dict[str, dict[str, dict[Any, None]]] = {ROOM: {}}
        self.staff: dict[str, dict[Any, None]] = {ROOM: {}}
        self.by_sink: dict[Sink, FakeSession] = {}
        #: The connections that did not opt in to sampling (as Connections keeps them).
        self.unsampled: dict[str, dict[Any, None]] = {}
        self.sampling = Sampling(
            node=self.node,  # type: ignore[arg-type]
            members=self.members,
            staff=self.staff,
            unsampled=self.unsampled,
            session_at=self.by_sink.get,  # type: ignore[arg-type]
            clock=self.clock,
        )
        self.sinks = {
            f"v{i}": self.connect(User(f"v{i}", f"v{i}", "viewer"), sampling=opted_in)
            for i in range(viewers)
        }
        self.sinks["ann"] = self.connect(User("ann", "Ann", "viewer"), sampling=opted_in)
        self.sinks["mod"] = self.connect(User("mod", "Mod", "moderator"), sampling=opted_in)
        self.seq = 0

    def connect(self, user: User, *, live: bool = True, sampling: bool = True) -> Sink:
        sink = Sink(user.id)
        session = FakeSession(sink, user, sampling)
        self.by_sink[sink] = session
        if not sampling:
            self.unsampled.setdefault(ROOM, {})[sink] = None
        self.room.join(sink)
        if live:
            self.go_live(session)
        return sink

    def go_live(self, session: FakeSession, covered: int | None = None) -> None:
        self.room.activate(session.sink, self.room.last_seq or 0 if covered is None else covered)
        self.members[ROOM].setdefault(session.user.id, {})[session] = None
        if session.user.role != "viewer":
            self.staff[ROOM][session] = None

    def send(self, author: str = "v0", role: str = "viewer", mentions: tuple[str, ...] = ()) -> int:
        self.seq += 1
        message = Message(
            f"m{self.seq}", self.seq, 0, User(author, author, role), "hi", mentions=mentions
        )
        frame = message_push(self.seq, message)
        self.room.publish(self.seq, self.sampling.select(ROOM, self.seq, frame, frame))
        return self.seq

    def flood(self, seconds: float, rate: float) -> None:
        """Messages by v0 at ``rate`` per second for ``seconds``."""
        for _ in range(int(seconds * rate)):
            self.clock.now += 1 / rate
            self.send()

    def got(self, name: str) -> list[dict[str, Any]]:
        return self.sinks[name].pushes()


def seqs(pushes: list[dict[str, Any]]) -> list[int]:
    return [p["seq"] for p in pushes if p["type"] == "message"]


def sampled(pushes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pushes if p["type"] == "sampled"]


async def test_a_busy_room_is_sampled_and_says_so() -> None:
    w = World()
    w.flood(3.0, 50)
    every = w.sampling.every(ROOM)
    assert every >= 3
    pushes = w.got("v1")
    told = sampled(pushes)
    assert told and told[-1]["every"] == every and told[-1]["rate"] > 10
    assert w.room.sampled == {"every": every, "rate": told[-1]["rate"]}
    for name in ("v1", "v2", "ann"):
        w.got(name)
    w.got("mod")
    w.got("v0")
    sent = [w.send() for _ in range(12)]
    kept = [s for s in sent if s % every == 0]
    assert seqs(w.got("v1")) == kept  # the sample: positions that are multiples of every
    assert seqs(w.got("v0")) == sent  # its author gets all of its own
    assert seqs(w.got("mod")) == sent  # the staff get everything


async def test_a_sampled_viewer_always_gets_mentions_and_the_staffs_messages() -> None:
    w = World()
    w.flood(3.0, 50)
    every = w.sampling.every(ROOM)
    while (w.seq + 1) % every == 0 or (w.seq + 2) % every == 0:
        w.send()
    for name in w.sinks:
        w.got(name)
    mention = w.send(author="v2", mentions=("ann",))
    staff = w.send(author="mod", role="moderator")
    assert mention % every and staff % every  # neither in the sample
    assert seqs(w.got("ann")) == [mention, staff]
    assert seqs(w.got("v1")) == [staff]
    assert seqs(w.got("v2")) == [mention, staff]  # its own, and the staff's


async def test_a_deletion_is_never_left_out() -> None:
    w = World()
    w.flood(3.0, 50)
    assert w.sampling.every(ROOM) > 1
    w.got("v1")
    w.seq += 1
    message = Message("m1", 1, 0, User("v0", "v0", "viewer"), "", deleted=True)
    frame = delete_push(w.seq, message)
    w.room.publish(w.seq, w.sampling.select(ROOM, w.seq, frame, frame))
    assert [p["type"] for p in w.got("v1")] == ["message_delete"]


async def test_sampling_ends_with_the_last_position_that_may_be_missing() -> None:
    w = World()
    w.flood(3.0, 50)
    assert w.sampling.every(ROOM) > 1
    last = w.seq
    w.flood(6.0, 2)  # a quiet room again: the rate decays under the limit
    assert w.sampling.every(ROOM) == 1 and w.room.sampled is None
    pushes = w.got("v1")
    end = sampled(pushes)[-1]
    assert end["every"] == 1 and last <= end["seq"] < w.seq
    after = [p["seq"] for p in pushes[pushes.index(end) + 1 :]]
    assert after == list(range(end["seq"] + 1, w.seq + 1))  # every message after it


async def test_near_the_limit_the_sample_does_not_flap() -> None:
    w = World()
    w.flood(6.0, 25)  # every 3 (a rate of 24)
    every = w.sampling.every(ROOM)
    w.got("v1")
    w.flood(6.0, 19)  # 2 would do, but not with 20% to spare: no change
    assert w.sampling.every(ROOM) == every
    assert sampled(w.got("v1")) == []


async def test_a_small_room_is_never_sampled() -> None:
    w = World(viewers=2)  # 4 connections: under the 5 it takes
    w.flood(3.0, 100)
    assert w.sampling.every(ROOM) == 1
    assert seqs(w.got("v1")) == list(range(1, w.seq + 1))


async def test_off_when_the_limit_is_none() -> None:
    w = World(viewer_max_rate=None)
    w.flood(3.0, 100)
    assert w.sampling.every(ROOM) == 1 and sampled(w.got("v1")) == []


async def test_a_joining_connection_gets_what_it_is_owed() -> None:
    w = World()
    w.flood(3.0, 50)
    every = w.sampling.every(ROOM)
    while (w.seq + 1) % every == 0:
        w.send()
    bob = User("bob", "Bob", "viewer")
    sink = w.connect(bob, live=False)  # joined, its connect reply not written yet
    covered = w.seq
    mention = w.send(author="v2", mentions=("bob",))
    other = w.send(author="v2")
    w.go_live(w.by_sink[sink], covered)
    got = seqs(sink.pushes())
    assert mention in got and (other in got) == (other % every == 0)


async def test_one_shared_frame_for_the_sample() -> None:
    w = World()
    w.flood(3.0, 50)
    every = w.sampling.every(ROOM)
    for name in w.sinks:
        w.got(name)
    while (w.seq + 1) % every:
        w.send()
    for name in w.sinks:
        w.got(name)
    seq = w.send()
    frame = encode_text_frame(
        message_push(seq, Message(f"m{seq}", seq, 0, User("v0", "v0", "viewer"), "hi"))
    )
    assert all(w.sinks[n].data == frame for n in w.sinks)


async def test_a_connection_that_did_not_opt_in_gets_every_message() -> None:
    w = World()
    old = w.connect(User("old", "Old", "viewer"), sampling=False)
    w.flood(3.0, 50)
    every = w.sampling.every(ROOM)
    assert every >= 3
    assert sampled(w.got("v1")) and sampled(old.pushes()) == []
    joining = w.connect(User("new", "New", "viewer"), live=False, sampling=False)
    covered = w.seq
    sent = [w.send() for _ in range(2 * every)]
    w.go_live(w.by_sink[joining], covered)
    assert seqs(w.got("v1")) == [s for s in sent if s % every == 0]  # the sample
    assert seqs(old.pushes()) == sent  # everything, as if the room were not sampled
    assert seqs(joining.pushes()) == sent
    w.flood(6.0, 2)  # the end of sampling is not told to them either
    assert w.sampling.every(ROOM) == 1 and sampled(w.got("v1"))
    assert sampled(old.pushes()) == [] and sampled(joining.pushes()) == []


async def test_where_nobody_opted_in_everyone_gets_every_message() -> None:
    w = World(opted_in=False)
    w.flood(3.0, 50)
    assert w.sampling.every(ROOM) >= 3  # measured all the same
    for name in w.sinks:
        assert sampled(w.got(name)) == []
    while (w.seq + 1) % w.sampling.every(ROOM) == 0:
        w.send()
    for name in w.sinks:
        w.got(name)
    seq = w.send(author="v1")
    assert seq % w.sampling.every(ROOM)  # out of the sample, were anyone sampled
    frame = encode_text_frame(
        message_push(seq, Message(f"m{seq}", seq, 0, User("v1", "v1", "viewer"), "hi"))
    )
    assert all(w.sinks[n].data == frame for n in w.sinks)
