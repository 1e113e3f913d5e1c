"""One client connection as the chat core sees it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pchat.protocol.codes import CloseCode
from pchat.protocol.errors import PChatError, RequestError
from pchat.protocol.models import User
from pchat.protocol.session import SessionMachine
from pchat.protocol.wsframe import encode_text_frame

from .ratelimit import StrikeCounter, TokenBucket
from .room import Sink

__all__ = [
    "CloseRequested",
    "Handler",
    "OpenDoor",
    "Session",
    "Verdict",
    "WriteGuard",
    "new_id",
]


#: Random 64-bit ids from a generator seeded once from the system: a session id names a
#: connection (in its connect reply and the logs) and grants nothing, so it needs to be
#: unique, not unguessable, and ``secrets`` costs a system call per id (about 10 µs here,
#: a measurable part of a join).
_ids = random.Random()


def new_id() -> str:
    """16 hex digits, unique for all practical purposes."""
    return f"{_ids.getrandbits(64):016x}"


class CloseRequested(PChatError):
    """Raised in the chat core to close the connection with ``code``.

    ``error``, when given, is sent first as the error reply to the request at hand.
    """

    def __init__(self, code: CloseCode, reason: str, *, error: RequestError | None = None) -> None:
        super().__init__(f"close {int(code)}: {reason}")
        self.code = code
        self.reason = reason
        self.error = error


@dataclass(eq=False, slots=True)
class Session:
    """A connection: its sink, state machine, user and room once connected, and limits."""

    sink: Sink
    #: Schedules the close of the connection with a code and reason (set by the server).
    closer: Callable[[CloseCode, str], None]
    frames: TokenBucket
    strikes: StrikeCounter
    remote: str = ""
    id: str = field(default_factory=lambda: new_id())
    machine: SessionMachine = field(default_factory=SessionMachine)
    user: User | None = None
    room_id: str | None = None
    token_exp: float | None = None
    #: When the token of the connect (or of the last refresh) was issued (its ``iat``).
    token_iat: int | None = None
    #: The client asked for a sampled stream in huge rooms (``connect``'s ``sampling``);
    #: else it gets every message (core/sampling.py).
    sampling: bool = False
    bad_frames: int = 0
    expiry_timer: asyncio.TimerHandle | None = None
    #: Set by a handler: what to do once its reply is written (a connect goes live).
    after_reply: Callable[[], None] | None = None
    #: Unsent output (bytes) past which the connection is closed as a slow consumer.
    max_send_buffer: int | None = None
    #: Set once a close was asked for: nothing more is written to the connection.
    closing: bool = False
    #: True while one of its requests is being handled (set by the transport).
    busy: bool = False
    #: A close that waits for the reply to the request being handled (:meth:`close_when_idle`).
    close_after_reply: tuple[CloseCode, str] | None = None

    def member(self) -> tuple[User, str]:
        """The user and room of a connected session (the state machine checked it is)."""
        assert self.user is not None and self.room_id is not None
        return self.user, self.room_id

    def send(self, payload: bytes) -> None:
        """Write one frame to this connection (replies go the same way as pushes).

        Replies are bounded like pushes: a connection whose unsent output passes
        ``max_send_buffer`` is closed as a slow consumer, and a closing connection takes no
        more output, so no client can make the server hold more than that for it.
        """
        if self.closing:
            return
        try:
            self.sink.write(encode_text_frame(payload))
        except (RuntimeError, OSError):  # the transport closed (uvloop raises): it is going
            self.closing = True
            return
        limit = self.max_send_buffer
        if limit is not None and self.sink.get_write_buffer_size() > limit:
            self.close(CloseCode.SLOW_CONSUMER, "send queue full")

    def close(self, code: CloseCode, reason: str) -> None:
        self.closing = True
        self.closer(code, reason)

    def close_when_idle(self, code: CloseCode, reason: str) -> None:
        """Close now, or, while a request is being handled, right after its reply is
        written (a server that drains lets the requests in flight finish)."""
        if self.busy:
            self.close_after_reply = (code, reason)
        else:
            self.close(code, reason)

    def cancel_timers(self) -> None:
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None


Handler = Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any]]]
"""A request handler: the session and the request's fields -> the reply's ``result``."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A write the guard allows, and how.

    ``text`` is what to store of a ``send`` (masked where the word filter says so; None for
    other writes). ``hold`` is None when the message goes into the stream at once, else why
    it waits outside it: ``filter`` or ``hold`` (for a moderator's review), or ``delay``
    (the room's chat delay: ``delay`` seconds)."""

    text: str | None = None
    hold: str | None = None
    delay: int = 0


class WriteGuard(Protocol):
    """Decides whether a session may write now (bans, room modes); features that write
    ask it first. ``what`` is ``send`` (with its ``text``), ``react`` or ``vote``."""

    async def check_write(self, session: Session, what: str, text: str | None = None) -> Verdict:
        """The :class:`Verdict` on a write that is allowed; else raise the protocol's
        refusal."""

    def shadowed(self, session: Session) -> bool:
        """Whether the session's user is shadow-banned in its room (their messages are
        stored as ``shadow``)."""


class OpenDoor:
    """The guard of a node without moderation: every write is allowed."""

    async def check_write(self, session: Session, what: str, text: str | None = None) -> Verdict:
        return Verdict(text)

    def shadowed(self, session: Session) -> bool:
        return False
