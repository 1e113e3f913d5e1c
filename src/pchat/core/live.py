"""Live room state that is pushed periodically: reaction statistics and online counts.

Reactions are counted in memory and written to the store in one increment per room per
period; while reactions flow, the room gets a ``reactions_stats`` push with the store's
totals (room-wide when nodes share a store). Online counts are reported to the broker and
pushed to this node's connections when they changed.

After a broker outage (:meth:`LiveState.reconcile_soon`, called by the broker's
``on_reconnect``) the next period brings the node back in line with the store: the chat
service re-reads the stream position and polls of every room, this module pushes each
room's reaction totals to the node's connections and reports every online count again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

import orjson

from pchat.protocol.frames import push_frame
from pchat.storage.base import StoreUnavailable

if TYPE_CHECKING:
    from .service import ChatService

__all__ = ["LiveState"]

log = logging.getLogger(__name__)

# Presence is re-reported at least this often even when unchanged here, so that counts
# of other nodes (cluster) reach this node's clients.
_PRESENCE_REFRESH_TICKS = 5
# Every so many periods each room's position is compared with the store's (tail recovery).
_CATCH_UP_TICKS = 5


class LiveState:
    """Per-room reaction counters and online counts of one node."""

    def __init__(self, service: ChatService) -> None:
        self._service = service
        self._pending: dict[str, Counter[str]] = {}
        self._online_dirty: set[str] = set()
        self._online_sent: dict[str, int] = {}
        self._stats: dict[str, tuple[float, dict[str, int]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0
        self._reconcile = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for room_id in list(self._pending):
            await self.flush_reactions(room_id)

    # Reactions ----------------------------------------------------------------------------

    def count_reaction(self, room_id: str, reaction: str) -> None:
        self._pending.setdefault(room_id, Counter())[reaction] += 1

    async def flush_reactions(self, room_id: str) -> bool:
        """Write the room's pending counts; True if there were any."""
        counts = self._pending.pop(room_id, None)
        if not counts:
            return False
        await self._service.store.add_reactions(room_id, dict(counts))
        return True

    # Online -------------------------------------------------------------------------------

    def touch(self, room_id: str) -> None:
        """The room's local connection count changed."""
        self._online_dirty.add(room_id)

    async def online_now(self, room_id: str) -> int:
        """The room's online count for a connect reply: the last room-wide count known here
        (at most a period old), at least this node's own count; asked of the broker only
        when none is known yet."""
        local = self._service.room_sizes().get(room_id, 0)
        known = self._online_sent.get(room_id)
        if known is not None:
            return max(known, local)
        return await self._service.broker.set_presence(room_id, local)

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        """The room's reaction totals, read from the store at most once per period."""
        now = time.monotonic()
        cached = self._stats.get(room_id)
        if cached is not None and now - cached[0] < self._service.settings.stats_interval:
            return dict(cached[1])
        stats = await self._service.store.reaction_stats(room_id)
        self._stats[room_id] = (now, stats)
        return dict(stats)

    def reconcile_soon(self) -> None:
        """Reconcile with the store at the next period (the broker was away)."""
        self._reconcile = True

    async def reconcile(self) -> None:
        """Push each room's reaction totals to this node's connections (other nodes'
        ``reactions_stats`` pushes may have been lost) and report every room's online
        count again at this period."""
        service = self._service
        for room_id in service.room_sizes():
            await self.flush_reactions(room_id)
            stats = await service.store.reaction_stats(room_id)
            self._stats[room_id] = (time.monotonic(), stats)
            service.local_push(room_id, push_frame("reactions_stats", {"stats": stats}))
            self._online_dirty.add(room_id)

    def observe_stats(self, room_id: str, payload: bytes) -> bool:
        """A ``reactions_stats`` push reached this node. Totals only grow, so a push with a
        total below one known here was read before it and sent late (queued during a
        broker outage): False, it must not be delivered. Else it is the newest known."""
        try:
            stats = orjson.loads(payload)["stats"]
            fresh = {str(k): int(v) for k, v in stats.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return True
        cached = self._stats.get(room_id)
        if cached is not None and any(fresh.get(k, 0) < v for k, v in cached[1].items()):
            return False
        self._stats[room_id] = (time.monotonic(), fresh)
        return True

    async def forget(self, room_id: str) -> None:
        await self.flush_reactions(room_id)
        await self._service.broker.set_presence(room_id, 0)
        self._online_sent.pop(room_id, None)
        self._online_dirty.discard(room_id)
        self._stats.pop(room_id, None)

    # The periodic pass --------------------------------------------------------------------

    async def _run(self) -> None:
        interval = self._service.settings.stats_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except StoreUnavailable as exc:  # expected while the store is away: one line
                log.warning("live state tick skipped: store unavailable (%s)", exc)
            except Exception:
                log.exception("live state tick failed")

    async def tick(self) -> None:
        """One period: flush reactions and push stats; push changed online counts."""
        service = self._service
        if self._reconcile:
            self._reconcile = False
            try:
                await service.reconcile()
            except BaseException:
                self._reconcile = True  # again at the next period
                raise
        for room_id in list(self._pending):
            if await self.flush_reactions(room_id):
                stats = await service.store.reaction_stats(room_id)
                self._stats[room_id] = (time.monotonic(), stats)
                await service.publish(
                    room_id, None, push_frame("reactions_stats", {"stats": stats})
                )
        self._ticks += 1
        if self._ticks % _CATCH_UP_TICKS == 0:
            await service.catch_up()
        sizes = service.room_sizes()
        rooms = set(sizes) if self._ticks % _PRESENCE_REFRESH_TICKS == 0 else self._online_dirty
        self._online_dirty = set()
        for room_id in rooms:
            if room_id not in sizes:
                continue
            online = await service.broker.set_presence(room_id, sizes[room_id])
            if self._online_sent.get(room_id) != online:
                self._online_sent[room_id] = online
                service.local_push(room_id, push_frame("online", {"online": online}))
