"""The personal mutes of :class:`~pchat.sdk.client.PChatSDK`: any user mutes another for
themselves (docs/protocol.md §2, docs/moderation.md).

The server keeps the mutes (they follow the user to every device and room) and withholds
a muted user's messages: live, replayed by a recovery and in history. The client holds the
list in :attr:`~pchat.sdk.client.PChatSDK.mutes` (from the connect reply, the replies below
and the ``muted``/``unmuted`` pushes to this user's other connections) and fires ``MUTED``
and ``UNMUTED`` when it changes; muting a user also drops their messages held until then.
"""

from __future__ import annotations

from typing import Any

from .room_state import Outcome, RoomState

__all__ = ["MuteCalls"]


class MuteCalls:
    """The mute methods; the client provides the request, its room state and events."""

    _room: RoomState

    async def _request(self, rtype: str, **args: Any) -> Any:
        raise NotImplementedError

    def _fire(self, outcome: Outcome) -> None:
        raise NotImplementedError

    async def mute(self, user_id: str) -> None:
        """Stop receiving ``user_id``'s messages, on every device (not yourself:
        InvalidRequestError; at most 1000 mutes: ``limit_reached``). Their held messages
        are dropped from :attr:`messages`, then ``MUTED`` fires (once, also when the push
        that follows arrives)."""
        result = await self._request("mute", user_id=user_id)
        self._fire(self._room.apply_mute(str(result["user_id"]), muted=True))

    async def unmute(self, user_id: str) -> None:
        """Receive ``user_id``'s messages again (NotFoundError if not muted); ``UNMUTED``
        fires. Their earlier messages come back only with history loaded anew."""
        result = await self._request("unmute", user_id=user_id)
        self._fire(self._room.apply_mute(str(result["user_id"]), muted=False))

    async def get_mutes(self) -> list[str]:
        """The ids of the users this user muted, fetched anew; ``MUTED`` and ``UNMUTED``
        fire for what changed since :attr:`mutes` was last known."""
        result = await self._request("mutes")
        self._fire(self._room.apply_mutes(list(result["user_ids"])))
        return list(self._room.mutes)
