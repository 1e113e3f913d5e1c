"""The poll calls of :class:`~pchat.sdk.client.PChatSDK`: create (now or scheduled), vote,
finish, and page through the room's polls. Each is one protocol request (docs/protocol.md
§2); the poll it returns is applied to the client's room state, and ``POLL`` fires when it
changed.
"""

from __future__ import annotations

from typing import Any

from pchat.protocol.models import Poll

from .room_state import Outcome, RoomState
from .timestamps import Timestamp, timestamp_ms

__all__ = ["PollCalls"]


class PollCalls:
    """The poll methods; the client provides the request, its room state and events."""

    _room: RoomState

    async def _request(self, rtype: str, **args: Any) -> Any:
        raise NotImplementedError

    def _fire(self, outcome: Outcome) -> None:
        raise NotImplementedError

    async def create_poll(
        self,
        question: str,
        options: list[str],
        scheduled_date: Timestamp | None = None,
    ) -> Poll:
        """Create a poll, published now or at ``scheduled_date`` (a timestamp as
        :meth:`load_history` takes)."""
        publish_at = None if scheduled_date is None else timestamp_ms(scheduled_date, "date")
        result = await self._request(
            "poll_create", question=question, options=list(options), publish_at=publish_at
        )
        return self._apply_poll(result["poll"])

    async def vote(self, poll_id: str, option_index: int) -> Poll:
        """Vote for option ``option_index`` (from 0) of a poll; a vote cannot be changed."""
        result = await self._request("poll_vote", poll_id=poll_id, option=option_index)
        return self._apply_poll(result["poll"])

    async def finish_poll(self, poll_id: str) -> Poll:
        """Finish a poll (moderators and admins)."""
        result = await self._request("poll_finish", poll_id=poll_id)
        return self._apply_poll(result["poll"])

    async def get_polls(self, *, before: str | None = None, limit: int | None = None) -> list[Poll]:
        """A page of the room's polls, fetched anew, oldest first: the newest ``limit``
        (default and at most 50) created before the poll ``before`` (default: the newest).
        ``POLL`` fires for each that changed; :attr:`has_more_polls` tells if older exist."""
        result = await self._request("polls", before=before, limit=limit)
        polls, outcome = self._room.apply_polls(result)
        self._fire(outcome)
        return polls

    def _apply_poll(self, data: dict[str, Any]) -> Poll:
        poll, outcome = self._room.apply_poll(data)
        self._fire(outcome)
        return poll
