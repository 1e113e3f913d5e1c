"""A connection whose transport closed but that has not left its room yet (the leave runs
a moment later, in the disconnect's task) must not cost the others their frame: uvloop
raises on a write to a closed transport, and that used to end the room's write loop."""

from __future__ import annotations

import asyncio

from pchat.core.room import Room, Tailored, Targeted
from tests.core.test_room import FakeSink, frames


class ClosedSink(FakeSink):
    def write(self, data: bytes) -> None:
        raise RuntimeError(
            "unable to perform operation on <TCPTransport closed=True>; the handler is closed"
        )


def _room(**kw: object) -> tuple[Room, list[FakeSink], ClosedSink]:
    r = Room("r", max_send_buffer=None, on_slow=lambda s: None, **kw)  # type: ignore[arg-type]
    r.seed_position(0)
    first, closed, last = FakeSink(), ClosedSink(), FakeSink()
    for sink in (first, closed, last):
        r.join(sink)
        r.activate(sink, 0)
    return r, [first, last], closed


async def test_a_closed_transport_does_not_stop_the_write_to_the_others() -> None:
    r, live, _ = _room()
    r.publish(1, b"1")
    assert all(s.frames == [frames(b"1")] for s in live)
    assert len(r) == 2  # the closed one left the room
    r.publish(2, b"2")
    assert all(s.frames == [frames(b"1"), frames(b"2")] for s in live)
    await r.close()


async def test_the_same_for_tailored_targeted_and_coalesced_writes() -> None:
    r, live, _ = _room()
    r.publish(None, Tailored(lambda sink: b"t"))
    assert all(s.frames == [frames(b"t")] for s in live) and len(r) == 2
    r, live, closed = _room()
    r.publish(None, Targeted(lambda sink: b"x", sinks=(closed, live[1])))
    assert live[1].frames == [frames(b"x")] and len(r) == 2
    r, live, _ = _room(coalesce=0.01)
    r.publish(1, b"1")  # the closed sink is met (and dropped) by the leading edge
    r.publish(2, b"2")
    r.publish(3, b"3")
    await asyncio.sleep(0.03)
    assert all(s.frames == [frames(b"1"), frames(b"2", b"3")] for s in live)
    await r.close()


def test_a_reply_to_a_closed_transport_is_dropped_and_the_session_marked_closing() -> None:
    from pchat.core.ratelimit import StrikeCounter, TokenBucket
    from pchat.core.session import Session

    session = Session(
        ClosedSink(), lambda code, reason: None, TokenBucket(1.0, 1, 0.0), StrikeCounter(3, 10.0)
    )
    session.send(b'{"type":"reply"}')  # raised before
    assert session.closing
