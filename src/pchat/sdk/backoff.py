"""Full-jitter exponential backoff for reconnects.

The delay before reconnect attempt ``n`` (counting from 0) is drawn uniformly from
``[0, min(max_delay, base * 2**n)]`` ("full jitter"): clients that lost their connection
at the same moment spread their retries instead of returning together. The TypeScript
SDK (``sdk/js``) uses the same formula and defaults.
"""

from __future__ import annotations

import random

__all__ = ["DEFAULT_BASE", "DEFAULT_MAX_DELAY", "Backoff", "backoff_delay"]

#: Upper bound of the first delay, in seconds.
DEFAULT_BASE = 0.5
#: Upper bound of any delay, in seconds.
DEFAULT_MAX_DELAY = 20.0

# 2**64 is far beyond any max_delay; capping the exponent avoids float overflow.
_MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    *,
    base: float = DEFAULT_BASE,
    max_delay: float = DEFAULT_MAX_DELAY,
    rng: random.Random | None = None,
) -> float:
    """The delay in seconds before reconnect attempt ``attempt`` (0 for the first)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(max_delay, base * 2 ** min(attempt, _MAX_EXPONENT))
    return (rng or random).uniform(0.0, ceiling)


class Backoff:
    """Counts attempts and yields the next full-jitter delay; :meth:`reset` after success."""

    __slots__ = ("attempt", "base", "max_delay", "rng")

    def __init__(
        self,
        *,
        base: float = DEFAULT_BASE,
        max_delay: float = DEFAULT_MAX_DELAY,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.max_delay = max_delay
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; advances the attempt counter."""
        delay = backoff_delay(self.attempt, base=self.base, max_delay=self.max_delay, rng=self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the first attempt (after a successful connect)."""
        self.attempt = 0
