"""Token buckets and strike counters for per-user and per-connection limits.

Pure and clock-injected (``now`` in seconds), so tests need no sleeping.
"""

from __future__ import annotations

from collections import deque

__all__ = ["BucketMap", "StrikeCounter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token. Returns 0.0 on success, else the seconds until one is available."""
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate

    def full_at(self, now: float) -> bool:
        """True when the bucket would be full at ``now`` (it can be forgotten)."""
        return self._tokens + (now - self._stamp) * self.rate >= self.burst


class BucketMap:
    """Token buckets by key (user id), forgetting full ones so memory stays bounded.

    ``rate=None`` disables the limit.
    """

    def __init__(self, rate: float | None, burst: int, *, sweep_every: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_every = sweep_every
        self._ops = 0

    def take(self, key: str, now: float) -> float:
        """0.0 if allowed, else seconds to wait."""
        if self.rate is None:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        self._ops += 1
        if self._ops >= self._sweep_every:
            self._ops = 0
            self._sweep(now)
        return bucket.take(now)

    def _sweep(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full_at(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class StrikeCounter:
    """Counts events in a sliding window; ``limit=None`` never trips."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def strike(self, now: float) -> bool:
        """Record one strike; True when the limit is exceeded within the window."""
        if self.limit is None:
            return False
        times = self._times
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times) > self.limit
