"""The moderation calls of :class:`~pchat.sdk.client.PChatSDK` (moderators and admins).

Each is one protocol request (docs/protocol.md §2, docs/moderation.md); what a moderator's
action changes in the room reaches every client as a push (``ROOM_SETTINGS``, ``PIN``,
``MESSAGE_DELETE`` and ``PURGE`` for a purge, and ``BANNED``/``UNBANNED`` to the banned user's
own clients). Durations are the wire's whole
seconds, given as a number or a ``timedelta``. Reports and the review queue are in
:mod:`pchat.sdk.reviews`, personal mutes in :mod:`pchat.sdk.mutes`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pchat.protocol.moderation import Ban, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from .events import InvalidArgumentError, ModLogPage, PurgeResult
from .room_state import Outcome, RoomState

__all__ = ["Duration", "ModerationCalls"]

#: A duration of moderation: whole seconds (``int``, or a ``float`` without a fraction) or a
#: ``timedelta`` of whole seconds.
Duration = int | float | timedelta


def _seconds(value: Duration, name: str) -> int:
    """``value`` as the wire's whole seconds; InvalidArgumentError if it is not one."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise InvalidArgumentError(f"{name} must be seconds or a timedelta, not {value!r}")
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds % 1:
        raise InvalidArgumentError(f"{name} must be whole seconds, not {value!r}")
    return int(seconds)


class ModerationCalls:
    """The moderation methods; the client provides the request, its room state and events."""

    _room: RoomState

    async def _request(self, rtype: str, **args: Any) -> Any:
        raise NotImplementedError

    def _fire(self, outcome: Outcome) -> None:
        raise NotImplementedError

    async def _wait_seq(self, seq: int) -> None:
        raise NotImplementedError

    async def ban(
        self,
        user_id: str,
        duration: Duration | None = None,
        *,
        reason: str | None = None,
        kick: bool = False,
        shadow: bool = False,
    ) -> Ban:
        """Ban ``user_id`` from writing in the room: for ``duration`` (seconds or a
        ``timedelta``: a timeout) or, without one, until :meth:`unban`. ``kick`` also closes
        the user's connections here (close ``4506``, no reconnect). Only a user of a lower
        role can be banned. The user's clients fire ``BANNED``.

        ``shadow``: a shadow ban instead — the user writes as before and sees no
        difference, but their new messages reach only their own connections and the staff
        (marked ``shadow``); everyone else gets a ``skip`` in their place."""
        seconds = None if duration is None else _seconds(duration, "duration")
        result = await self._request(
            "ban",
            user_id=user_id,
            duration=seconds,
            reason=reason,
            kick=kick or None,
            shadow=shadow or None,
        )
        return Ban.from_wire(result["ban"])

    async def unban(self, user_id: str) -> None:
        """Lift ``user_id``'s ban or timeout; NotFoundError if there is none. The user's
        clients fire ``UNBANNED``."""
        await self._request("unban", user_id=user_id)

    async def get_bans(self) -> list[Ban]:
        """The bans and timeouts in force in the room."""
        result = await self._request("bans")
        return [Ban.from_wire(b) for b in result["bans"]]

    async def set_room_mode(
        self,
        *,
        slow_mode: Duration | None = None,
        unique_chat: bool | None = None,
        max_message_chars: int | None = None,
        mode: str | None = None,
        hold: bool | None = None,
        delay: Duration | None = None,
    ) -> RoomSettings:
        """Change any of the room's settings (those not given stay): ``slow_mode`` (seconds
        or a ``timedelta`` between two messages of a viewer, 0: off), ``unique_chat``,
        ``max_message_chars`` (0: the server's), ``mode`` (``open``, ``moderators_only``,
        ``reactions_only``), ``hold`` (every viewer message waits in the review queue) and
        ``delay`` (the chat delay, 0-60 seconds or a ``timedelta``, 0: off: viewers'
        messages reach other viewers that late). Returns the settings; ``ROOM_SETTINGS``
        fires on every client of the room."""
        seconds = None if slow_mode is None else _seconds(slow_mode, "slow_mode")
        result = await self._request(
            "room_mode",
            slow_mode=seconds,
            unique_chat=unique_chat,
            max_message_chars=max_message_chars,
            mode=mode,
            hold=hold,
            delay=None if delay is None else _seconds(delay, "delay"),
        )
        self._fire(self._room.apply_room_settings(result["settings"]))
        return RoomSettings.from_wire(result["settings"])

    async def pin_message(self, message_id: str) -> Pin:
        """Pin a message of the room (replacing any pin); ``PIN`` fires on every client."""
        return await self._pin(message_id=message_id)

    async def pin_announcement(self, text: str) -> Pin:
        """Pin a moderator's announcement (replacing any pin); ``PIN`` fires on every client."""
        return await self._pin(text=text)

    async def _pin(self, **args: str) -> Pin:
        result = await self._request("pin", **args)
        self._fire(self._room.apply_pin(result["pin"]))
        return Pin.from_wire(result["pin"])

    async def unpin(self) -> None:
        """Remove the room's pin; ``PIN`` fires with None on every client."""
        await self._request("unpin")
        self._fire(self._room.apply_pin(None))

    async def get_mod_log(
        self, *, before: int | None = None, limit: int | None = None
    ) -> ModLogPage:
        """A page of the room's moderation log, newest first: ``limit`` (1-100, default 50)
        entries older than the entry ``before`` (default: the newest)."""
        result = await self._request("mod_log", before=before, limit=limit)
        entries = [ModAction.from_wire(e) for e in result["entries"]]
        return ModLogPage(entries, bool(result.get("has_more", False)))

    async def purge(self, user_id: str, within: Duration | None = None) -> PurgeResult:
        """Delete every message ``user_id`` posted in the room, or only those of the last
        ``within`` (seconds or a ``timedelta``), through one stream event: each client
        marks the user's held messages deleted (``MESSAGE_DELETE`` for each) and fires
        ``PURGE`` once. Waits (up to ``request_timeout``) until this client has applied
        that event; ``seq`` is None and ``count`` 0 when there was nothing to delete."""
        seconds = None if within is None else _seconds(within, "within")
        result = await self._request("purge", user_id=user_id, within=seconds)
        seq = result.get("seq")
        if seq is not None:
            await self._wait_seq(int(seq))
        return PurgeResult(seq, int(result.get("count", 0)))

    async def add_filter_entry(
        self, pattern: str, action: str = "block", *, server: bool = False
    ) -> FilterEntry:
        """Add a word (or a pattern with ``*`` at its start and/or end) to the room's
        blocklist, or with ``server`` the server-wide one (admins). ``action`` is ``block``
        (a matching message is refused, ``125``), ``mask`` (the match is replaced by
        ``*``) or ``hold`` (a matching message waits in the review queue); adding a listed
        pattern again changes its action."""
        result = await self._request(
            "filter_add", pattern=pattern, action=action, scope="server" if server else None
        )
        entry = result["entry"]
        return FilterEntry(entry["pattern"], entry["action"])

    async def remove_filter_entry(self, pattern: str, *, server: bool = False) -> None:
        """Remove a pattern from the room's (or the server's) blocklist; NotFoundError if
        it is not listed."""
        await self._request("filter_remove", pattern=pattern, scope="server" if server else None)

    async def get_filter_entries(self, *, server: bool = False) -> list[FilterEntry]:
        """The room's (or the server's) blocklist, oldest entry first (admins)."""
        result = await self._request("filters", scope="server" if server else None)
        return [FilterEntry(e["pattern"], e["action"]) for e in result["entries"]]
