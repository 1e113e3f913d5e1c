"""History retention: each room's old messages and their stream events removed, in batches.

What a room keeps: the messages of the last ``days`` days and at most the newest
``messages`` — the server's ``retention_days`` and ``retention_messages`` (0: no limit of
that kind; both 0, the default: keep forever), unless the operator gave the room its own
rule (the store's :class:`~pchat.storage.base.RetentionRule`, set over the server API or
``pchat retention``): a field of it that is set replaces the server's, 0 keeping forever.

Whatever the rule, the messages of the last ``retention_min_age`` seconds (a minute) stay,
with every event after the first of them: a node that lost a publication fills the gap from
the store, and a client that blinked recovers, within that time.

The job (:meth:`Retention.run`, every ``retention_interval`` seconds on every node) asks the
store which rooms may have something to remove and trims each a batch at a time: one short
transaction of at most ``retention_batch`` events, then the next, so that no write waits
long; a round does at most :data:`ROUND_BATCHES` of them and leaves the rest to the next.
Nodes trimming one room take turns (the store's room lock); the later finds less to do.

The store removes a prefix of the stream and remembers where the kept part starts (the
room's ``first_seq``): a client recovering from before it gets ``gap_too_large`` (see
:mod:`.connect`), history ends there.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Final

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.storage.base import RetentionRule, RetentionStore

from .clock import now_ms
from .settings import CoreSettings

__all__ = [
    "DAYS_MAX",
    "MESSAGES_MAX",
    "ROUND_BATCHES",
    "Effective",
    "Retention",
    "check_rule",
    "effective",
]

log = logging.getLogger(__name__)

#: The largest limits a rule may set (a century; a billion messages).
DAYS_MAX: Final = 36_500.0
MESSAGES_MAX: Final = 1_000_000_000
#: Batches one round trims at most (each of ``retention_batch`` events): the rest waits for
#: the next round, so that a first round over years of history spreads out.
ROUND_BATCHES: Final = 1000
_DAY_MS: Final = 86_400_000
#: Rooms asked for at once from the store.
_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class Effective:
    """The retention that applies to a room: ``days`` and ``messages``, 0 for no limit."""

    days: float
    messages: int

    @property
    def forever(self) -> bool:
        return not self.days and not self.messages

    def bounds(self, now: int) -> tuple[int | None, int | None]:
        """``(before_ts, keep)`` for :meth:`~pchat.storage.base.RetentionStore.trim_room`
        at ``now`` (ms); the settings' ``retention_min_age`` comes on top."""
        before_ts = now - math.ceil(self.days * _DAY_MS) if self.days else None
        return before_ts, self.messages or None

    def to_wire(self) -> dict[str, Any]:
        return {"days": self.days, "messages": self.messages}


def effective(rule: RetentionRule | None, settings: CoreSettings) -> Effective:
    """What applies to a room with ``rule`` (None: the server's settings)."""
    days, messages = settings.retention_days, settings.retention_messages
    if rule is not None:
        days = days if rule.days is None else rule.days
        messages = messages if rule.messages is None else rule.messages
    return Effective(float(days), int(messages))


def check_rule(days: Any, messages: Any) -> RetentionRule:
    """A room's rule from an operator's values (None: the server's; 0: keep forever), or
    ``invalid_field``: ``days`` a number from 0 to :data:`DAYS_MAX` (fractions allowed),
    ``messages`` an integer from 0 to :data:`MESSAGES_MAX`."""
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days):
            raise request_error(ErrorCode.INVALID_FIELD, "days must be a number")
        if not 0 <= days <= DAYS_MAX:
            raise request_error(ErrorCode.INVALID_FIELD, f"days must be from 0 to {DAYS_MAX:g}")
        days = float(days)
    if messages is not None:
        if isinstance(messages, bool) or not isinstance(messages, int):
            raise request_error(ErrorCode.INVALID_FIELD, "messages must be an integer")
        if not 0 <= messages <= MESSAGES_MAX:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"messages must be from 0 to {MESSAGES_MAX}"
            )
    return RetentionRule(days, messages)


class Retention:
    """The retention job of a node: see the module's docstring."""

    def __init__(self, settings: CoreSettings, *, store: RetentionStore) -> None:
        self._settings = settings
        self._store = store

    async def run(self) -> None:
        """One round of the job (see :meth:`round`), logged when it removed something."""
        removed, _finished = await self.round()
        if removed:
            log.info("retention removed %d messages", removed)

    async def round(self) -> tuple[int, bool]:
        """The rooms with their own rule, then (unless the server keeps forever) every other
        room the store names as a candidate, at most :data:`ROUND_BATCHES` batches in all:
        the messages removed, and whether everything was done (False: the budget ran out)."""
        now = now_ms()
        budget = ROUND_BATCHES
        rules = await self._store.retention_rules()
        removed = 0
        for room_id, rule in rules.items():
            done, budget = await self._trim(room_id, effective(rule, self._settings), now, budget)
            removed += done
            if budget <= 0:
                return removed, False
        server = effective(None, self._settings)
        if server.forever:
            return removed, True
        before_ts, keep = server.bounds(now)
        after = ""
        while True:
            page = await self._store.trim_candidates(
                after=after, limit=_PAGE, before_ts=before_ts, keep=keep
            )
            for room_id in page:
                if room_id not in rules:
                    done, budget = await self._trim(room_id, server, now, budget)
                    removed += done
                    if budget <= 0:
                        return removed, False
            if len(page) < _PAGE:
                return removed, True
            after = page[-1]

    async def _trim(self, room_id: str, rule: Effective, now: int, budget: int) -> tuple[int, int]:
        """Trim one room until done or out of ``budget`` batches; the messages removed
        and the budget left."""
        if rule.forever:
            return 0, budget
        before_ts, keep = rule.bounds(now)
        min_age_ms = math.ceil(self._settings.retention_min_age * 1000)
        keep_since_ts = now - min_age_ms if min_age_ms > 0 else None
        removed = 0
        while budget > 0:
            budget -= 1
            trimmed = await self._store.trim_room(
                room_id,
                before_ts=before_ts,
                keep=keep,
                limit=self._settings.retention_batch,
                keep_since_ts=keep_since_ts,
            )
            removed += trimmed.messages
            if trimmed.done:
                break
        return removed, budget
