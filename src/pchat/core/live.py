"""Live room state that is pushed periodically: reaction statistics and online counts.

Reactions are counted in memory and written to the store in one increment per room per
period; while reactions flow, the room gets a ``reactions_stats`` push with the store's
totals (room-wide when nodes share a store). Online counts are reported to the broker and
pushed to this node's connections when they changed. Two jobs do this each period:
:meth:`LiveState.push_reaction_stats` and :meth:`LiveState.report_presence`.

After a broker outage :meth:`LiveState.reconcile` pushes each room's reaction totals to the
node's connections (other nodes' pushes may have been lost) and reports every online count
again. Totals only grow, so a ``reactions_stats`` push older than the totals known here
(sent late after an outage) is not delivered (:meth:`LiveState.current_stats`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from pchat.protocol.frames import push_frame
from pchat.protocol.models import User
from pchat.storage.base import Presence, ReactionStore

from .node import Node, Push
from .settings import CoreSettings
from .singleflight import SingleFlight

__all__ = ["LiveState"]

# Presence is re-reported at least this often even when unchanged here, so that counts
# of other nodes (cluster) reach this node's clients.
_PRESENCE_REFRESH_ROUNDS = 5


class LiveState:
    """Per-room reaction counters and online counts of one node."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: ReactionStore,
        presence: Presence,
        on_online: Callable[[str, int, bool], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        #: Told each room-wide count reported ``(room_id, online, closed)``; ``closed``: the
        #: room closed on this node (the webhooks' room.live / room.empty).
        self._on_online = on_online
        self._node = node
        self._store = store
        self._presence = presence
        self._pending: dict[str, Counter[str]] = {}
        self._online_dirty: set[str] = set()
        self._online_sent: dict[str, int] = {}
        self._stats: dict[str, tuple[float, dict[str, int]]] = {}
        self._stats_reads: SingleFlight[str, dict[str, int]] = SingleFlight()
        self._presence_reads: SingleFlight[str, int] = SingleFlight()
        #: The room-wide count a connect read when none was pushed yet, and when.
        self._online_read: dict[str, tuple[float, int]] = {}
        #: When each room's count was last pushed here (or first reported: a room that is
        #: big from the start had the count in its members' connect replies).
        self._online_pushed: dict[str, float] = {}
        self._rounds = 0
        node.filter(Push.REACTIONS_STATS, self.current_stats)
        node.on_room_closed(self.forget)

    async def stop(self) -> None:
        for room_id in list(self._pending):
            await self.flush_reactions(room_id)

    async def room_state(self, room_id: str, user: User) -> dict[str, Any]:
        """This module's part of a connect reply's ``room``."""
        return {
            "online": await self.online_now(room_id),
            "reactions": {
                "types": list(self._settings.reactions),
                "stats": await self.reaction_stats(room_id),
            },
        }

    # Reactions ----------------------------------------------------------------------------

    def count_reaction(self, room_id: str, reaction: str) -> None:
        self._pending.setdefault(room_id, Counter())[reaction] += 1

    async def flush_reactions(self, room_id: str) -> bool:
        """Write the room's pending counts; True if there were any."""
        counts = self._pending.pop(room_id, None)
        if not counts:
            return False
        await self._store.add_reactions(room_id, dict(counts))
        return True

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        """The room's reaction totals, read from the store at most once per period."""
        now = time.monotonic()
        cached = self._stats.get(room_id)
        if cached is not None and now - cached[0] < self._settings.stats_interval:
            return dict(cached[1])
        # Every connect of a storm finds the totals stale at once: one read for them all.
        stats = await self._stats_reads.do(room_id, lambda: self._store.reaction_stats(room_id))
        self._stats[room_id] = (now, stats)
        return dict(stats)

    async def totals(self, room_id: str) -> dict[str, int]:
        """The room's totals as the store has them now (pending counts written first)."""
        await self.flush_reactions(room_id)
        return await self._store.reaction_stats(room_id)

    def current_stats(self, room_id: str, frame: bytes) -> bool:
        """A ``reactions_stats`` push reached this node. Totals only grow, so a push with a
        total below one known here was read before it and sent late (queued during a
        broker outage): False, it must not be delivered. Else it is the newest known."""
        try:
            stats = orjson.loads(frame)["stats"]
            fresh = {str(k): int(v) for k, v in stats.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return True
        cached = self._stats.get(room_id)
        if cached is not None and any(fresh.get(k, 0) < v for k, v in cached[1].items()):
            return False
        self._stats[room_id] = (time.monotonic(), fresh)
        return True

    async def push_reaction_stats(self) -> None:
        """The job of each period: write pending counts and push the rooms' new totals."""
        for room_id in list(self._pending):
            if await self.flush_reactions(room_id):
                stats = await self._store.reaction_stats(room_id)
                self._stats[room_id] = (time.monotonic(), stats)
                frame = push_frame("reactions_stats", {"stats": stats})
                await self._node.publish(room_id, Push.REACTIONS_STATS, frame)

    # Online -------------------------------------------------------------------------------

    def touch(self, room_id: str) -> None:
        """The room's local connection count changed."""
        self._online_dirty.add(room_id)

    async def online_now(self, room_id: str) -> int:
        """The room's online count for a connect reply: the last room-wide count known here
        (at most a period old), at least this node's own count; asked of the broker only
        when none is known yet."""
        local = self._node.size(room_id)
        known = self._online_sent.get(room_id)
        if known is not None:
            return max(known, local)
        now = time.monotonic()
        read = self._online_read.get(room_id)
        if read is not None and now - read[0] < self._settings.stats_interval:
            return max(read[1], local)  # a join storm before the first period: one read
        counted = await self._presence_reads.do(
            room_id, lambda: self._presence.set_presence(room_id, local)
        )
        self._online_read[room_id] = (now, counted)
        return max(counted, local)

    async def report_presence(self) -> None:
        """The job of each period: report changed counts (every count every few periods)
        and push the room-wide counts that changed to this node's connections."""
        self._rounds += 1
        sizes = self._node.sizes()
        refresh = self._rounds % _PRESENCE_REFRESH_ROUNDS == 0
        rooms = set(sizes) if refresh else self._online_dirty
        self._online_dirty = set()
        now = time.monotonic()
        for room_id in rooms:
            if room_id not in sizes:
                continue
            online = await self._presence.set_presence(room_id, sizes[room_id])
            if self._on_online is not None:
                await self._on_online(room_id, online, False)
            if self._online_sent.get(room_id) == online:
                continue
            wait = self._push_wait(sizes[room_id])
            last = self._online_pushed.setdefault(room_id, now)
            if wait and now - last < wait:
                self._online_dirty.add(room_id)  # pushed when its time comes, the newest
                continue
            self._online_pushed[room_id] = now
            self._online_sent[room_id] = online
            self._node.push_local(room_id, push_frame("online", {"online": online}))

    def _push_wait(self, connections: int) -> float:
        """Seconds between two online pushes to a room with this many connections here:
        0 (every period) while they cost less than the budget's writes per second."""
        s = self._settings
        if not s.online_push_budget:
            return 0.0
        wait = connections / s.online_push_budget
        return 0.0 if wait <= s.stats_interval else min(wait, s.online_push_max_interval)

    # After an outage, and when a room closes ----------------------------------------------

    async def reconcile(self) -> None:
        """Push each room's reaction totals to this node's connections (other nodes'
        ``reactions_stats`` pushes may have been lost) and report every room's online
        count again at the next period."""
        for room_id in self._node.room_ids():
            await self.flush_reactions(room_id)
            stats = await self._store.reaction_stats(room_id)
            self._stats[room_id] = (time.monotonic(), stats)
            self._node.push_local(room_id, push_frame("reactions_stats", {"stats": stats}))
            self._online_dirty.add(room_id)

    async def forget(self, room_id: str) -> None:
        """The room closed on this node."""
        await self.flush_reactions(room_id)
        online = await self._presence.set_presence(room_id, 0)
        if self._on_online is not None:
            await self._on_online(room_id, online, True)
        self._online_sent.pop(room_id, None)
        self._online_read.pop(room_id, None)
        self._online_pushed.pop(room_id, None)
        self._online_dirty.discard(room_id)
        self._stats.pop(room_id, None)
