"""Reactions: the ``react`` and ``reactions_stats`` requests.

A reaction is a burst, not a message: it goes to the room as a ``reaction`` push and is
counted into the room's durable totals by :class:`~pchat.core.live.LiveState`.
"""

from __future__ import annotations

from typing import Any

from pchat.protocol.frames import push_frame
from pchat.protocol.validation import validate_reaction

from .clock import now_ms
from .limits import Limiter
from .live import LiveState
from .node import Node, Push
from .ratelimit import BucketMap
from .session import Handler, OpenDoor, Session, WriteGuard
from .settings import CoreSettings

__all__ = ["Reactions"]


class Reactions:
    """The reaction requests of one node."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        live: LiveState,
        limiter: Limiter,
        guard: WriteGuard | None = None,
    ) -> None:
        self._node = node
        self._guard = guard or OpenDoor()
        self._live = live
        self._limiter = limiter
        self._types = frozenset(settings.reactions)
        self._buckets = BucketMap(settings.rate_reactions, settings.rate_reactions_burst)

    def handlers(self) -> dict[str, Handler]:
        return {"react": self.react, "reactions_stats": self.stats}

    async def react(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        reaction = validate_reaction(args["reaction"], self._types)
        await self._guard.check_write(session, "react")
        await self._limiter.take(session, self._buckets, f"react:{user.id}")
        self._live.count_reaction(room_id, reaction)
        frame = push_frame(
            "reaction", {"reaction": reaction, "user": user.to_wire(), "ts": now_ms()}
        )
        await self._node.publish(room_id, Push.REACTION, frame)
        return {}

    async def stats(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = session.member()
        await self._live.flush_reactions(room_id)
        return {"stats": await self._live.totals(room_id)}
