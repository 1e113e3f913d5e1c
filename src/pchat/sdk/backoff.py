"""Reconnect delays: full-jitter exponential backoff, and a quick return after a restart.

The delay before reconnect attempt ``n`` (counting from 0) is drawn uniformly from
``[0, min(max_delay, base * 2**n)]`` ("full jitter"): clients that lost their connection
at the same moment spread their retries instead of returning together.

A server that stops on purpose closes with ``4000`` (shutdown) or ``1012`` (restart): it is
expected back soon. Its close reason may carry a reconnect hint, ``reconnect_after_ms=N``
(``docs/protocol.md`` §8), a delay it drew at random for this connection so that its
clients return spread out. After such a close the first attempt waits the hint (without one,
a short jittered delay); each later attempt within :data:`RESTART_WINDOW` of the close waits
``uniform(0, min(RESTART_RETRY_MAX, max_delay))``; after that the exponential backoff goes on.

Why these numbers. The exponential ceiling a client has reached when a server comes back
is the tail of its return: with a 20 s cap a 5 s outage left clients at 8–16 s ceilings and
the last came back 19 s after the server was ready. The cap is also the spread of the
return wave (N clients arrive at about N/cap per second) and sets the idle retry rate
(one attempt per cap/2 s per client, each a cheap refused TCP connect while a node is
down). A 5 s cap, as socket.io and Phoenix use, bounds an unplanned outage's tail by
about 5 s and keeps a thousand waiting clients at about 400 refused connects a second.
After a deliberate stop the return is the point: retrying at most 2 s apart brings every
client back within about 2 s of the server being ready, and the window bounds the
faster retries to the length of a restart.

The TypeScript SDK (``sdk/js/src/backoff.ts``) uses the same rules and numbers (there in
ms); ``tests/vectors/reconnect.json`` holds both.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from pchat.protocol.codes import CloseCode

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_MAX_DELAY",
    "MAX_HINT",
    "RESTART_CODES",
    "RESTART_RETRY_MAX",
    "RESTART_WINDOW",
    "Backoff",
    "backoff_delay",
    "reconnect_hint",
]

#: Upper bound of the first delay, in seconds.
DEFAULT_BASE = 0.5
#: Upper bound of any delay, in seconds.
DEFAULT_MAX_DELAY = 5.0
#: Upper bound of the delays after a restart close (but for the hint), in seconds.
RESTART_RETRY_MAX = 2.0
#: How long after a restart close the short delays apply, in seconds.
RESTART_WINDOW = 60.0
#: A longer hint is cut to this, in seconds.
MAX_HINT = 60.0
#: Close codes of a server that stops on purpose and is expected back.
RESTART_CODES = frozenset({CloseCode.SHUTDOWN, CloseCode.RESTART})

# 2**64 is far beyond any max_delay; capping the exponent avoids float overflow.
_MAX_EXPONENT = 64
_HINT = re.compile(r"[0-9]{1,9}")


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


def reconnect_hint(reason: str) -> float | None:
    """The ``reconnect_after_ms`` of a close reason, in seconds (at most :data:`MAX_HINT`).

    The reason is ``;``-separated parts, e.g. ``server shutting down; reconnect_after_ms=1250``;
    the first part that is ``reconnect_after_ms=<1 to 9 ASCII digits>`` (spaces and tabs
    around it ignored) is the hint. None when there is none.
    """
    for part in reason.split(";"):
        key, sep, value = part.strip(" \t").partition("=")
        if sep and key == "reconnect_after_ms" and _HINT.fullmatch(value):
            return min(int(value) / 1000, MAX_HINT)
    return None


class Backoff:
    """Counts attempts and yields the next delay; :meth:`reset` after success.

    :meth:`closed` tells it why the connection closed, which selects the restart delays.
    """

    __slots__ = ("_hint", "_restart_until", "attempt", "base", "clock", "max_delay", "rng")

    def __init__(
        self,
        *,
        base: float = DEFAULT_BASE,
        max_delay: float = DEFAULT_MAX_DELAY,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.max_delay = max_delay
        self.rng = rng
        self.clock = clock
        self.attempt = 0
        self._hint: float | None = None
        self._restart_until: float | None = None

    @property
    def restarting(self) -> bool:
        """Whether the short delays after a restart close apply to the next attempt."""
        return self._restart_until is not None and self.clock() < self._restart_until

    def closed(self, code: int | None, reason: str) -> None:
        """The connection closed with ``code`` and ``reason``; a restart close (with or
        without a hint) selects the restart delays for :data:`RESTART_WINDOW`."""
        if code not in RESTART_CODES:
            return
        self._hint = reconnect_hint(reason)
        self._restart_until = self.clock() + RESTART_WINDOW

    def next_delay(self) -> float:
        """The delay before the next attempt; advances the attempt counter."""
        if self._hint is not None:
            delay, self._hint = self._hint, None
        elif self.restarting:
            delay = (self.rng or random).uniform(0.0, min(RESTART_RETRY_MAX, self.max_delay))
        else:
            self._restart_until = None
            delay = backoff_delay(
                self.attempt, base=self.base, max_delay=self.max_delay, rng=self.rng
            )
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the first attempt (after a successful connect)."""
        self.attempt = 0
        self._hint = None
        self._restart_until = None
