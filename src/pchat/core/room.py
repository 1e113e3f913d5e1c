"""A room's local fan-out hub: the connections of one room on this node.

Hot path: a push is encoded into one WebSocket frame once and the same bytes are written to
every connection's transport. No task, queue or encoding per recipient.

Coalescing (leading edge, trailing window). A push to a room that wrote nothing within its
current window is written at once, and opens a window; the pushes that follow within it are
gathered and written together when it ends (each connection gets them in one write), which
opens the next window. A quiet room thus adds no delay, and a busy one writes each
connection at most once per window. The window grows with the room's connections here, so
that the room's writes per second stay within a budget: ``len(connections) / budget``
seconds (``coalesce_budget`` writes/s), at most ``coalesce_max``, and none below 1 ms (a
room of a few hundred connections writes every push at once). It counts from the start of
the write that opened it, and lasts past a longer write's end: a quarter of the write's
time after a write of several gathered pushes (a room that is behind spends at most four
fifths of its time writing, and gathers what queued up meanwhile rather than fall further
behind), a twentieth of it, at least 2 ms, after a write of one push (enough for the
pushes that queued up during it, which reach the room 0–2 ms after its end in one process,
later where workers share a core) unless the room spends most of its time writing, when a
quarter again (on PostgreSQL a push comes a commit, a few ms, after it was sent). So a
room whose pushes come further apart than its writes last (20 a second to 5,000: a push
every 50 ms, a write of 35–50 ms) writes each at once: a quarter after every write (9–13
ms) made such pushes wait with the loop idle, p99 twice the raw ceiling's
(docs/benchmarks.md, second round). ``coalesce`` > 0 fixes the window's length instead.

A coalesced write to a room of more than ``_SLICE_FROM`` connections goes a slice per turn
of the loop: in between the node reads what came in — a send, a relay from another node or
worker, a join — instead of after a write that can take half a second at 50,000 viewers.
Pushes that arrive meanwhile are gathered for the next window, a connection that left is
skipped, and anything written out of turn (a join's buffered pushes, a tailored push, a
flush) first finishes the write, so each connection still gets every push once and in order.

Joining connections are *buffered*: a connection is added before the room's position is
read for its connect reply, and pushes that arrive meanwhile are kept (with their ``seq``)
and flushed after the reply, skipping those the reply already covers. This is what makes
"subscribe, then read" free of gaps and duplicates.

Stream order: publications carry the stream position ``seq``. The hub delivers them in
``seq`` order, drops duplicates, and holds a publication that arrives early until the
missing ones arrive or are fetched from the store (``gap_fetcher``) — publications from
several nodes may reach this node out of order.

Tailored publications: a publication that not every connection sees alike (a message of a
user some connections muted, a shadow-banned user's message, a push for the moderators
only) is a :class:`Tailored` instead of bytes: ``payload_for(sink)`` gives each connection
its own payload, or None for nothing. They are rare; the hot loop for plain bytes is
untouched, and a tailored one pays per recipient once. A :class:`Targeted` publication
reaches a few connections only (a message a sampled room leaves out of its sample still
goes to its author, the staff and the users it mentions): it costs per target, not per
connection of the room, and waits for the window's gathered pushes to keep the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Container, Iterable
from dataclasses import dataclass
from typing import Protocol

from pchat.protocol.wsframe import encode_text_frame

__all__ = ["Payload", "Room", "Sink", "Tailored", "Targeted"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a connection's bytes go: an ``asyncio.Transport`` fits as it is."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Tailored:
    """A publication each connection may see differently: ``payload_for(sink)`` is the
    payload for that connection, or None (it gets nothing; a stream publication should
    give a ``skip`` instead, so that the connection's positions stay without gaps).

    When all but a few connections get the same payload, ``common`` is that payload and
    ``payload_for`` is asked only for the connections in ``others`` (the hot loop then
    costs one dictionary lookup per connection, not a call)."""

    payload_for: Callable[[Sink], bytes | None]
    common: bytes | None = None
    others: Container[Sink] = ()


@dataclass(frozen=True, slots=True)
class Targeted:
    """A publication for a few connections only: the live connections in ``sinks`` get
    ``payload_for(sink)`` (None: nothing), every other live connection nothing, without
    being visited. Joining connections are each asked ``payload_for`` (it returns None for
    those it is not for), as they would be for a :class:`Tailored` one."""

    payload_for: Callable[[Sink], bytes | None]
    sinks: Collection[Sink]


Payload = bytes | Tailored | Targeted

#: After a write of several pushes longer than its window, the window stays open this
#: share of the write's time (the room then writes at most 1 / (1 + share) of the time).
_AFTER_WRITE = 0.25
#: After a write of one push, this (seconds) or this share of the write's time, whichever
#: is longer: long enough for the pushes that queued up during the write to reach the room
#: (read, stored, published: 0–2 ms measured in one process; where several workers share a
#: core, the worker may not even run for a few ms after a long write, and 2 ms gathered a
#: push or two per write of a 50,000-viewer room, which then wrote without pause and fell
#: seconds behind).
_GATHER = 0.002
_AFTER_ONE = 0.05
#: A room that spends more than this share of its time writing (each write's time over
#: the time since the write before it began, averaged over the last writes) is behind or
#: about to be: after a write of one push its window, too, stays open a quarter of the
#: write. The pushes of a node whose messages take a few ms from the client to the room
#: (a PostgreSQL commit) come just after 2 ms, and were each written alone.
_BUSY = 0.75
#: Below this window (seconds), a timer costs more than the writes it saves: none.
_MIN_WINDOW = 0.001
#: Connections written per slice of a coalesced write: between two slices the loop runs
#: (2–10 ms of writes), so what arrives during the write of a room of tens of thousands —
#: a send, a relay from another node or worker, a join — is read then, not a pass later.
_SLICE = 1024
#: Rooms up to this many connections here are written in one go (a write of 30-50 ms at
#: most, the loop's own turn; slices would cost a few % more CPU per delivery there).
_SLICE_FROM = 8 * _SLICE
#: What a write to a transport that closed raises (uvloop: "the handler is closed") while
#: its connection has not left the room yet (the leave runs in the disconnect's task).
_CLOSED = (RuntimeError, OSError)

GapFetcher = Callable[[str, int, int], Awaitable[list[tuple[int, Payload]]]]
"""``(room_id, after_seq, upto_seq)`` -> the missing publications ``(seq, payload)``."""


@dataclass(slots=True)
class _Pass:
    """A coalesced write under way in slices: the bytes, the connections of the room when
    it began, how many of them were written, the window it opens when done, and the
    room's count of connections that had left (:meth:`Room.leave`) when it began."""

    data: bytes
    own: dict[Sink, bytes] | None
    sinks: list[Sink]
    start: float
    window: float
    pushes: int
    left: int
    done: int = 0
    handle: asyncio.Handle | None = None


class _Frames:
    """Payloads encoded into WebSocket frames once each: the connections that get the same
    payload share one frame (None stays None: nothing for that connection)."""

    __slots__ = ("_frames",)

    def __init__(self) -> None:
        self._frames: dict[bytes, bytes] = {}

    def __call__(self, payload: bytes | None) -> bytes | None:
        if payload is None:
            return None
        frame = self._frames.get(payload)
        if frame is None:
            frame = self._frames[payload] = encode_text_frame(payload)
        return frame


class Room:
    """The connections of one room on this node and the ordered delivery to them."""

    def __init__(
        self,
        room_id: str,
        *,
        max_send_buffer: int | None,
        on_slow: Callable[[Sink], None],
        gap_fetcher: GapFetcher | None = None,
        gap_wait: float = 0.2,
        coalesce: float = 0.0,
        coalesce_budget: float | None = None,
        coalesce_max: float = 0.25,
    ) -> None:
        self.room_id = room_id
        # A dict keeps insertion order, iterates as fast as a list and removes in O(1).
        self._sinks: dict[Sink, None] = {}
        #: A fixed coalescing window in seconds (0: the adaptive one, or none).
        self._coalesce = coalesce
        #: Seconds of window per connection (1 / the writes-per-second budget; 0: none).
        self._per_sink = 1.0 / coalesce_budget if coalesce_budget else 0.0
        self._coalesce_max = coalesce_max
        #: Pushes gathered in the current window, for every live connection.
        self._pending: list[bytes] = []
        #: Frames for a few connections (Targeted), each at its place among ``_pending``.
        self._extra: dict[Sink, list[tuple[int, bytes]]] | None = None
        #: The end of the current window (None: no window open; the next push goes at once).
        self._flush_handle: asyncio.TimerHandle | None = None
        #: A coalesced write under way, a slice at a time (None: none).
        self._pass: _Pass | None = None
        #: Live connections that left, ever: a slice checks membership only when it grew.
        self._left = 0
        #: The start of the last write, and the room's share of its time spent writing.
        self._last_start: float | None = None
        self._busy = 0.0
        #: The sampling in force for this room's viewers (told in connect replies), or None.
        self.sampled: dict[str, int | float] | None = None
        self._joining: dict[Sink, list[tuple[int | None, bytes]]] = {}
        self._max_send_buffer = max_send_buffer
        self._on_slow = on_slow
        self._gap_fetcher = gap_fetcher
        self._gap_wait = gap_wait
        #: Highest stream position delivered; None until known.
        self.last_seq: int | None = None
        #: The stream's epoch, as the store said when the room was opened here.
        self.epoch: str | None = None
        self._early: dict[int, Payload] = {}
        self._catch_up_to = 0
        self._gap_task: asyncio.Task[None] | None = None

    # Membership -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._sinks) + len(self._joining)

    def join(self, sink: Sink) -> None:
        """Start buffering pushes for ``sink`` (before its connect reply is built)."""
        self._joining[sink] = []

    def activate(self, sink: Sink, covered_seq: int) -> None:
        """Flush what was buffered for ``sink`` past ``covered_seq``, then go live."""
        buffered = self._joining.pop(sink, None)
        if buffered is None:
            return
        # Pushes still gathered for a coalesced write are in ``buffered`` too: write them
        # to the live connections first, so that the newcomer does not get them twice.
        self.flush()
        data = b"".join(frame for seq, frame in buffered if seq is None or seq > covered_seq)
        if data:
            sink.write(data)
            limit = self._max_send_buffer
            if limit is not None and sink.get_write_buffer_size() > limit:
                self._on_slow(sink)
                return
        self._sinks[sink] = None

    def leave(self, sink: Sink) -> None:
        if self._joining.pop(sink, None) is not None:
            return
        if sink in self._sinks:
            del self._sinks[sink]
            self._left += 1

    def seed_position(self, seq: int) -> None:
        """Set the delivered position (at first subscription) and deliver what came since."""
        if self.last_seq is not None:
            return
        self.last_seq = seq
        if self._early:
            self._drain_early()
            if self._early:
                self._start_gap_fill()

    # Delivery ---------------------------------------------------------------------------

    def publish(self, seq: int | None, payload: Payload) -> None:
        """Deliver one publication (``seq`` None: not part of the stream)."""
        if seq is None:
            self._deliver(None, payload)
            return
        last = self.last_seq
        if last is None:
            # Subscribed, position not read yet: hold it until seed_position().
            self._early[seq] = payload
        elif seq == last + 1:
            self.last_seq = seq
            self._deliver(seq, payload)
            if self._early:
                self._drain_early()
        elif seq > last + 1:
            self._early[seq] = payload
            self._start_gap_fill()
        # seq <= last: a duplicate, already delivered.

    def catch_up(self, store_seq: int) -> None:
        """The store is at ``store_seq``: fetch what never arrived (a publisher that died
        between commit and publish, a publication lost by the broker)."""
        if self.last_seq is not None and store_seq > self.last_seq:
            self._catch_up_to = max(self._catch_up_to, store_seq)
            self._start_gap_fill()

    def _start_gap_fill(self) -> None:
        if self._gap_task is None and self._gap_fetcher is not None:
            self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    def _drain_early(self) -> None:
        early = self._early
        while self.last_seq is not None and (self.last_seq + 1) in early:
            seq = self.last_seq + 1
            self.last_seq = seq
            self._deliver(seq, early.pop(seq))
        if self.last_seq is not None:
            for stale in [s for s in early if s <= self.last_seq]:
                del early[stale]

    def _gap_target(self) -> int | None:
        """The last position that is missing, or None when nothing is."""
        last = self.last_seq
        if last is None:
            return None
        if self._early:
            return min(self._early) - 1
        return self._catch_up_to if self._catch_up_to > last else None

    async def _fill_gap(self) -> None:
        try:
            await asyncio.sleep(self._gap_wait)  # most gaps close by themselves
            while self._gap_fetcher is not None and self.last_seq is not None:
                self._drain_early()
                upto = self._gap_target()
                if upto is None:
                    break
                after = self.last_seq
                missing = await self._gap_fetcher(self.room_id, after, upto)
                for seq, payload in missing:
                    self.publish(seq, payload)
                if self.last_seq == after:  # nothing arrived: the store has no such events
                    log.warning(
                        "room %s: stream gap %s..%s not fillable", self.room_id, after, upto
                    )
                    self.last_seq = upto
                    self._catch_up_to = 0
        finally:
            self._gap_task = None

    def _deliver(self, seq: int | None, payload: Payload) -> None:
        if not isinstance(payload, bytes):
            if isinstance(payload, Targeted):
                self._deliver_targeted(seq, payload)
            else:
                self._deliver_tailored(seq, payload)
            return
        frame = encode_text_frame(payload)
        for buffered in self._joining.values():
            buffered.append((seq, frame))
        if self._flush_handle is not None or self._pass is not None:
            self._pending.append(frame)  # within a window or a write: gathered for its end
            return
        window = self.window()
        if not window:
            self._write_all(frame)
            return
        self._write_window(frame, None, window, 1)

    def window(self) -> float:
        """The coalescing window for this room now, in seconds (0: none)."""
        if self._coalesce:
            return self._coalesce
        window = len(self._sinks) * self._per_sink
        if window < _MIN_WINDOW:
            return 0.0
        return window if window < self._coalesce_max else self._coalesce_max

    def _open_window(self, window: float, start: float, pushes: int) -> None:
        """The window of a write of ``pushes`` that began at ``start``: it ends ``window``
        after that, or, when the write took longer, a quarter of the write's time after its
        end (a twentieth, at least ``_GATHER``, after a write of one push in a room that is
        not busy, ``_BUSY``): the pushes that queued up during a long write are gathered, a
        room that is behind writes at most four fifths of the time, and pushes that come
        evenly spaced, further apart than a write, go out at once."""
        took = time.monotonic() - start
        last, self._last_start = self._last_start, start
        if last is not None and start > last:
            self._busy = (self._busy + took / (start - last)) / 2
        rest = window - took
        if pushes > 1 or self._busy > _BUSY:
            least = took * _AFTER_WRITE
        else:
            least = took * _AFTER_ONE
            if least < _GATHER:
                least = _GATHER
        if rest < least:
            rest = least if least < self._coalesce_max else self._coalesce_max
        self._flush_handle = asyncio.get_running_loop().call_later(rest, self._window_end)

    def _window_end(self) -> None:
        """The window ended: write what it gathered, which opens the next one."""
        self._flush_handle = None
        if self._pending or self._extra:
            window = self.window()
            pushes = len(self._pending) or 1
            data, own = self._take_pending()
            if window:
                self._write_window(data, own, window, pushes)
            else:
                self._write_now(data, own)

    def _write_window(
        self, data: bytes, own: dict[Sink, bytes] | None, window: float, pushes: int
    ) -> None:
        """A coalesced write, then its window: a room of more than a slice of connections
        is written a slice per turn of the loop (:class:`_Pass`)."""
        start = time.monotonic()
        if len(self._sinks) <= _SLICE_FROM:
            self._write_now(data, own)
            self._open_window(window, start, pushes)
            return
        self._pass = _Pass(data, own, list(self._sinks), start, window, pushes, self._left)
        self._next_slice()

    def _next_slice(self) -> None:
        write = self._pass
        if write is None:
            return
        end = write.done + _SLICE
        self._write_slice(write, end)
        write.done = end
        if end < len(write.sinks):
            write.handle = asyncio.get_running_loop().call_soon(self._next_slice)
            return
        self._pass = None
        self._open_window(write.window, write.start, write.pushes)

    def _finish_pass(self) -> None:
        """Write the rest of a sliced write now (before anything written out of turn)."""
        write = self._pass
        if write is None:
            return
        if write.handle is not None:
            write.handle.cancel()
        self._pass = None
        self._write_slice(write, len(write.sinks))
        self._open_window(write.window, write.start, write.pushes)

    def _write_slice(self, write: _Pass, end: int) -> None:
        sinks = write.sinks[write.done : end]
        if write.own is None and write.left == self._left:  # nobody left since it began
            self._write_all(write.data, sinks)
        else:
            self._write_sinks(write.data, write.own, sinks, live=True)

    def _deliver_targeted(self, seq: int | None, targeted: Targeted) -> None:
        """A few connections get their payload: at once, or at their place in the window."""
        frames = _Frames()
        payload_for = targeted.payload_for

        def frame_for(sink: Sink) -> bytes | None:
            return frames(payload_for(sink))

        self._buffer_joining(seq, frame_for)
        live = self._sinks
        gathering = bool(self._pending) or self._pass is not None
        limit = self._max_send_buffer
        slow: list[Sink] = []
        for sink in targeted.sinks:
            if sink not in live:
                continue
            frame = frame_for(sink)
            if frame is None:
                continue
            if gathering:
                if self._extra is None:
                    self._extra = {}
                self._extra.setdefault(sink, []).append((len(self._pending), frame))
                continue
            try:
                sink.write(frame)
            except _CLOSED:
                self._drop([sink])
                continue
            if limit is not None and sink.get_write_buffer_size() > limit:
                slow.append(sink)
        for sink in slow:
            self.leave(sink)
            self._on_slow(sink)

    def _deliver_tailored(self, seq: int | None, tailored: Tailored) -> None:
        """Each connection its own payload (after what was gathered, to keep the order);
        connections that get the same payload share one encoded frame."""
        self.flush()
        frames = _Frames()
        common = tailored.common
        others = tailored.others

        def frame_for(sink: Sink) -> bytes | None:
            if common is not None and sink not in others:
                return frames(common)
            return frames(tailored.payload_for(sink))

        self._buffer_joining(seq, frame_for)
        limit = self._max_send_buffer
        slow: list[Sink] = []
        common_frame = None if common is None else frames(common)
        gone: list[Sink] = []
        for sink in self._sinks:
            own = common_frame
            if own is None or sink in others:
                own = frame_for(sink)
                if own is None:
                    continue
            try:
                sink.write(own)
            except _CLOSED:
                gone.append(sink)
                continue
            if limit is not None and sink.get_write_buffer_size() > limit:
                slow.append(sink)
        for sink in slow:
            self.leave(sink)
            self._on_slow(sink)
        self._drop(gone)

    def _buffer_joining(self, seq: int | None, frame_for: Callable[[Sink], bytes | None]) -> None:
        """Keep a publication for each joining connection that gets one (flushed after its
        connect reply, :meth:`activate`)."""
        for sink, buffered in self._joining.items():
            frame = frame_for(sink)
            if frame is not None:
                buffered.append((seq, frame))

    def flush(self) -> None:
        """Write a sliced write's rest and the gathered pushes now (the window goes on:
        later pushes gather)."""
        self._finish_pass()
        if self._pending or self._extra:
            self._write_now(*self._take_pending())

    def _write_now(self, data: bytes, own: dict[Sink, bytes] | None) -> None:
        """``data`` to every live connection (those in ``own``: their own bytes)."""
        if own is None:
            self._write_all(data)
        else:
            self._write_sinks(data, own, self._sinks)

    def _take_pending(self) -> tuple[bytes, dict[Sink, bytes] | None]:
        """The window's pushes as one write for every connection, and the whole write of
        each of the few connections with frames of their own (Targeted), in place."""
        pending, extra = self._pending, self._extra
        self._pending, self._extra = [], None
        data = b"".join(pending)
        if extra is None:
            return data, None
        own: dict[Sink, bytes] = {}
        for sink, frames in extra.items():
            parts: list[bytes] = []
            done = 0
            for at, frame in frames:
                parts.extend(pending[done:at])
                parts.append(frame)
                done = at
            parts.extend(pending[done:])
            own[sink] = b"".join(parts)
        return data, own

    def _write_sinks(
        self,
        data: bytes,
        own: dict[Sink, bytes] | None,
        sinks: Collection[Sink],
        live: bool = False,
    ) -> None:
        """``data`` (or a connection's own bytes) to each of ``sinks``; ``live``: only to
        those still in the room (a slice of a write: some may have left since it began)."""
        limit = self._max_send_buffer
        slow: list[Sink] = []
        gone: list[Sink] = []
        get = (own or {}).get
        members = self._sinks
        for sink in sinks:
            if live and sink not in members:
                continue
            try:
                sink.write(get(sink, data))
            except _CLOSED:
                gone.append(sink)
                continue
            if limit is not None and sink.get_write_buffer_size() > limit:
                slow.append(sink)
        for sink in slow:
            self.leave(sink)
            self._on_slow(sink)
        self._drop(gone)

    def _write_all(self, data: bytes, sinks: Iterable[Sink] | None = None) -> None:
        """The hot loop: the same bytes to every live connection's transport (or to
        ``sinks``, a slice of them)."""
        limit = self._max_send_buffer
        slow: list[Sink] | None = None
        gone: list[Sink] | None = None
        for sink in self._sinks if sinks is None else sinks:
            try:  # free unless raised (3.11's exceptions cost nothing until raised)
                sink.write(data)
            except _CLOSED:
                if gone is None:
                    gone = []
                gone.append(sink)
                continue
            if limit is not None and sink.get_write_buffer_size() > limit:
                if slow is None:
                    slow = []
                slow.append(sink)
        if slow:
            for sink in slow:
                self.leave(sink)
                self._on_slow(sink)
        if gone:
            self._drop(gone)

    def _drop(self, gone: list[Sink]) -> None:
        """Connections whose transport closed: out of the room now (their disconnect, a
        moment later, finds them gone), so that no later write meets them."""
        for sink in gone:
            self.leave(sink)

    async def close(self) -> None:
        self.flush()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._gap_task is not None:
            self._gap_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gap_task
