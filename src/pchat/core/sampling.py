"""Sampling: what the viewers of a huge room get when it posts faster than anyone reads.

Theory of operation. For each room with at least ``sample_min_members`` connections on
this node, the node measures the rate of new messages (``message`` stream events per
second, a rate decayed with a 2 s time constant, updated by each message). When it is
above ``viewer_max_rate``, the room is *sampled* on this node: its viewers get one message
in ``every`` = ``ceil(rate / viewer_max_rate)`` — those whose stream position ``seq`` is a
multiple of ``every``, so the sample is the same on every node and stays one shared frame
written to all by the room's hot loop — and, of the other messages, only

- those they wrote themselves,
- those that mention them (the message's ``mentions``), and
- every message of a moderator or admin (it is in everyone's sample).

The staff (moderators, admins) get every message. A message left out of the sample is a
:class:`~pchat.core.room.Targeted` publication: it costs per recipient, not per connection
of the room. Other stream events (deletes, purges, hides, restores) are never left out.

Sampling is for the clients that ask for it (``connect``'s ``"sampling": true``: they know
the ``sampled`` push and take a jump in ``seq`` for what it is). A client that did not —
an older SDK, a third-party client — would take every jump for a lost event and recover
again and again: it gets every message, as if the room were not sampled, and is told
nothing. Those connections are the exception (the index ``unsampled``, kept by the
connections from before they join the room): a left-out message's targets include them,
so the sample stays one shared frame for everyone else. Each costs a few times a plain
write then; when no connection here asked, the message goes to all as one shared frame.

Every connection that asked is told with a ``sampled`` push when sampling starts or
``every`` changes (``{"type": "sampled", "every": k, "rate": R}``) and when it ends
(``{"type": "sampled", "every": 1, "seq": E}``: positions up to ``E`` may have been left
out, none after); the connect reply's ``room.sampled`` says so to a client that joins
meanwhile. The clients then take a jump in ``seq`` for what it is, not for a lost event.
Recovery and ``history`` are not sampled: a client that reconnects gets every event it
missed.

Decisions are made at most once a second per room, with hysteresis (``every`` goes down
only when the rate is 20% under what it needs), so a rate near the limit does not flap;
while sampled, a timer checks the room each second, so that sampling ends when messages
stop coming.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from pchat.protocol.frames import push_frame
from pchat.protocol.validation import ROLE_RANK

from .node import Node
from .room import Payload, Sink, Tailored, Targeted
from .session import Session

__all__ = ["Sampling", "sampled_push"]

#: Seconds: the time constant of the measured rate.
RATE_TAU: Final = 2.0
#: Seconds between two decisions of one room.
DECIDE_EVERY: Final = 1.0
#: ``every`` goes down only when the rate times this still needs fewer.
HYSTERESIS: Final = 1.2

#: Half the measured rate's step for one message.
_HALF: Final = 0.5 / RATE_TAU
_MESSAGE_PREFIX: Final = b'{"type":"message",'
_STAFF_RANK: Final = ROLE_RANK["moderator"]


def sampled_push(every: int, *, rate: float | None = None, seq: int | None = None) -> bytes:
    """The ``sampled`` push: ``every`` > 1 with the room's ``rate``; 1 (ended) with ``seq``,
    the last position that may have been left out."""
    body: dict[str, int | float] = {"every": every}
    if rate is not None:
        body["rate"] = round(rate, 1)
    if seq is not None:
        body["seq"] = seq
    return push_frame("sampled", body)


@dataclass(slots=True)
class _Rate:
    """One room's measured message rate and its sampling."""

    at: float
    rate: float = 0.0
    every: int = 1
    next_decision: float = 0.0
    #: The highest position seen while sampled (the end's ``seq``).
    upto: int = 0
    timer: asyncio.TimerHandle | None = None


class Sampling:
    """The sampling of this node's huge rooms (one per node, used by the audience)."""

    def __init__(
        self,
        *,
        node: Node,
        members: Mapping[str, Mapping[str, Mapping[Session, None]]],
        staff: Mapping[str, Mapping[Session, None]],
        unsampled: Mapping[str, Mapping[Sink, None]],
        session_at: Callable[[Sink], Session | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        s = node.settings
        self._clock = clock
        self._node = node
        self._max_rate = s.viewer_max_rate or None
        self._min_members = s.sample_min_members
        #: Room -> user id -> that user's live sessions here (the audience's).
        self._members = members
        #: Room -> the live sessions of moderators and admins here (the audience's).
        self._staff = staff
        #: Room -> the connections here, joining or live, that did not ask for sampling.
        self._unsampled = unsampled
        self._session_at = session_at
        self._rates: dict[str, _Rate] = {}
        node.on_room_closed(self._forget)

    def every(self, room_id: str) -> int:
        """1 in how many messages the room's viewers get here (1: all)."""
        state = self._rates.get(room_id)
        return 1 if state is None else state.every

    def select(self, room_id: str, seq: int | None, frame: bytes, payload: Payload) -> Payload:
        """What the room's connections get of the stream event ``frame`` at ``seq``, which
        they would get as ``payload`` unsampled."""
        if self._max_rate is None or seq is None or not frame.startswith(_MESSAGE_PREFIX):
            return payload
        state = self._rates.get(room_id)
        now = self._clock()
        if state is None:
            room = self._node.room(room_id)
            if room is None or len(room) < self._min_members:
                return payload
            state = self._rates[room_id] = _Rate(at=now)
        # Decided on half this message: the decayed sum of the messages so far is a rate
        # estimate that is low just before a message and high just after it.
        state.rate = state.rate * math.exp((state.at - now) / RATE_TAU) + _HALF
        state.at = now
        if now >= state.next_decision:
            self._decide(room_id, state, now)
        state.rate += _HALF
        every = state.every
        if every == 1:
            return payload
        if seq > state.upto:
            state.upto = seq
        if seq % every == 0:
            return payload
        return self._left_out(room_id, frame, payload)

    def _left_out(self, room_id: str, frame: bytes, payload: Payload) -> Payload:
        """A message out of the sample: for its author, the users it mentions, the staff
        and the connections that did not ask for sampling; a staff member's message for
        everyone."""
        try:
            message = orjson.loads(frame)["message"]
            author = str(message["user"]["id"])
            if ROLE_RANK.get(message["user"]["role"], 0) >= _STAFF_RANK:
                return payload
            wanted = {author, *(str(m) for m in message.get("mentions") or ())}
        except (ValueError, KeyError, TypeError):
            return payload
        unsampled = self._unsampled.get(room_id) or {}
        room = self._node.room(room_id)
        if unsampled and (room is None or len(unsampled) >= len(room)):
            return payload  # nobody here asked for a sample: the plain fan-out, as unsampled
        keep: dict[Sink, None] = {}
        members = self._members.get(room_id, {})
        for user_id in wanted:
            for session in members.get(user_id, ()):
                if session.sink not in unsampled:
                    keep[session.sink] = None
        for session in self._staff.get(room_id, ()):
            if session.sink not in unsampled:
                keep[session.sink] = None
        base = _payload_for(payload)
        session_at = self._session_at

        def payload_for(sink: Sink) -> bytes | None:
            if sink not in keep and sink not in unsampled:  # a joining one: is it for it?
                session = session_at(sink)
                user = None if session is None else session.user
                if user is None or not (user.id in wanted or ROLE_RANK[user.role] >= _STAFF_RANK):
                    return None
            return base(sink)

        return Targeted(payload_for, _Both(keep, unsampled) if unsampled else keep)

    # Decisions --------------------------------------------------------------------------

    def _decide(self, room_id: str, state: _Rate, now: float) -> None:
        state.next_decision = now + DECIDE_EVERY
        room = self._node.room(room_id)
        limit = self._max_rate
        if room is None or limit is None:
            return
        every = state.every
        if len(room) < self._min_members:
            wanted = 1
        else:
            up = math.ceil(state.rate / limit)
            down = math.ceil(state.rate * HYSTERESIS / limit)
            wanted = up if up > every else min(every, max(down, 1))
        if wanted == every:
            return
        state.every = wanted
        if wanted > 1:
            room.sampled = {"every": wanted, "rate": round(state.rate, 1)}
            frame = sampled_push(wanted, rate=state.rate)
            if state.timer is None:
                self._arm(room_id, state)
        else:
            room.sampled = None
            frame = sampled_push(1, seq=state.upto)
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
        unsampled = self._unsampled.get(room_id)
        if unsampled:  # told only to those that asked; the others are not sampled
            room.publish(None, Tailored(_nothing, common=frame, others=unsampled))
        else:
            self._node.push_local(room_id, frame)

    def _arm(self, room_id: str, state: _Rate) -> None:
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(DECIDE_EVERY, self._tick, room_id, state)

    def _tick(self, room_id: str, state: _Rate) -> None:
        """A sampled room's periodic look: the rate decays while no message comes."""
        state.timer = None
        if self._rates.get(room_id) is not state:
            return
        now = self._clock()
        state.rate *= math.exp((state.at - now) / RATE_TAU)
        state.at = now
        if now >= state.next_decision:
            self._decide(room_id, state, now)
        if state.every > 1 and state.timer is None:
            self._arm(room_id, state)

    async def _forget(self, room_id: str) -> None:
        state = self._rates.pop(room_id, None)
        if state is not None and state.timer is not None:
            state.timer.cancel()


class _Both(Collection[Sink]):
    """Two disjoint collections of connections as one (without copying either)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Collection[Sink], second: Collection[Sink]) -> None:
        self._first = first
        self._second = second

    def __contains__(self, sink: object) -> bool:
        return sink in self._first or sink in self._second

    def __iter__(self) -> Iterator[Sink]:
        yield from self._first
        yield from self._second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)


def _nothing(sink: Sink) -> None:
    return None


def _payload_for(payload: Payload) -> Callable[[Sink], bytes | None]:
    """``payload`` as a function of the connection."""
    if isinstance(payload, bytes):
        return lambda sink: payload
    if isinstance(payload, Targeted):
        return payload.payload_for
    tailored: Tailored = payload
    common, others, ask = tailored.common, tailored.others, tailored.payload_for

    def payload_for(sink: Sink) -> bytes | None:
        if common is not None and sink not in others:
            return common
        return ask(sink)

    return payload_for
