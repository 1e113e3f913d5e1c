"""Rate limits as the requests meet them: per connection (every frame) and per user (sends,
reactions, polls), shared by every node in a cluster.

A per-user bucket lives in the broker (:class:`~pchat.storage.base.RateLimits`) so that a
user connected to several nodes has one budget; while the broker cannot answer, each node
limits with its own :class:`~pchat.core.ratelimit.BucketMap`. A refused request answers
``rate_limited`` with ``retry_after_ms``; too many refusals within a window close the
connection (``flood``).
"""

from __future__ import annotations

import time

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.storage.base import RateLimits

from .ratelimit import BucketMap
from .session import CloseRequested, Session

__all__ = ["Limiter"]


class Limiter:
    """Takes tokens for requests; raises the protocol's refusal when there are none."""

    def __init__(self, shared: RateLimits) -> None:
        self._shared = shared

    async def take(self, session: Session, buckets: BucketMap, key: str) -> None:
        """Take one token from ``key``'s bucket or raise ``rate_limited`` (or close: flood).

        In a cluster the bucket is the broker's, shared by every node the user is on;
        otherwise (or while the broker cannot answer) this node's.
        """
        if buckets.rate is None:
            return
        wait = await self._shared.take_token(key, buckets.rate, buckets.burst)
        now = time.monotonic()
        if wait is None:
            wait = buckets.take(key, now)
        if wait:
            raise refusal(session, now, wait)

    @staticmethod
    def frame(session: Session) -> None:
        """One frame of the connection's own budget (every request counts)."""
        now = time.monotonic()
        wait = session.frames.take(now)
        if wait:
            raise refusal(session, now, wait)


def refusal(session: Session, now: float, wait: float) -> RequestError:
    """The ``rate_limited`` error to raise, after counting a strike; close when too many."""
    if session.strikes.strike(now):
        raise CloseRequested(CloseCode.FLOOD, "too many rate-limited requests")
    return request_error(
        ErrorCode.RATE_LIMITED, "slow down", retry_after_ms=max(1, int(wait * 1000))
    )
