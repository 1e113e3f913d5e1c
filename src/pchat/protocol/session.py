"""The per-connection state machine of the server, written as data.

::

    AWAITING_CONNECT --connect--> CONNECTING --ok--> CONNECTED --close--> CLOSED
            ^                         |
            +--------- failed --------+

Each state lists the request types it accepts; :meth:`SessionState.check` raises the
documented error for any other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .codes import ErrorCode
from .errors import request_error

__all__ = ["ALLOWED", "SessionMachine", "SessionState"]


class SessionState(StrEnum):
    AWAITING_CONNECT = "awaiting_connect"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


_ROOM_REQUESTS: Final = frozenset(
    {
        "send",
        "history",
        "delete",
        "react",
        "reactions_stats",
        "poll_create",
        "poll_vote",
        "poll_finish",
        "polls",
        "refresh",
        "ping",
        "ban",
        "unban",
        "bans",
        "room_mode",
        "pin",
        "unpin",
        "mod_log",
        "purge",
        "filter_add",
        "filter_remove",
        "filters",
        "review_queue",
        "review_approve",
        "review_reject",
        "mute",
        "unmute",
        "mutes",
        "report",
        "reports",
        "report_resolve",
    }
)

#: Request types accepted in each state.
ALLOWED: Final[dict[SessionState, frozenset[str]]] = {
    SessionState.AWAITING_CONNECT: frozenset({"connect", "ping"}),
    SessionState.CONNECTING: frozenset({"ping"}),
    SessionState.CONNECTED: _ROOM_REQUESTS,
    SessionState.CLOSED: frozenset(),
}

_TRANSITIONS: Final[dict[tuple[SessionState, str], SessionState]] = {
    (SessionState.AWAITING_CONNECT, "connect"): SessionState.CONNECTING,
    (SessionState.CONNECTING, "connected"): SessionState.CONNECTED,
    (SessionState.CONNECTING, "failed"): SessionState.AWAITING_CONNECT,
    (SessionState.AWAITING_CONNECT, "close"): SessionState.CLOSED,
    (SessionState.CONNECTING, "close"): SessionState.CLOSED,
    (SessionState.CONNECTED, "close"): SessionState.CLOSED,
    (SessionState.CLOSED, "close"): SessionState.CLOSED,
}


class SessionMachine:
    """Tracks one connection's state and checks each request against it."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = SessionState.AWAITING_CONNECT

    def check(self, request_type: str) -> None:
        """Raise the protocol's error if ``request_type`` is not allowed now."""
        if request_type in ALLOWED[self.state]:
            return
        if request_type == "connect":
            raise request_error(ErrorCode.ALREADY_CONNECTED, "this connection is already in a room")
        if self.state is SessionState.CLOSED:
            raise request_error(ErrorCode.NOT_CONNECTED, "connection is closed")
        raise request_error(ErrorCode.NOT_CONNECTED, f"{request_type} needs a connected session")

    def advance(self, event: str) -> SessionState:
        """Apply ``event`` (``connect``, ``connected``, ``failed``, ``close``)."""
        try:
            self.state = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"illegal transition {event!r} from {self.state.value}") from None
        return self.state
