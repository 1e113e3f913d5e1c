"""The SDK's states, events and the payloads its events carry.

::

                    connect()                   reply
    DISCONNECTED ────────────▶ CONNECTING ────────────────▶ CONNECTED
     ▲  ▲  ▲                    │     ▲                      │   ▲  │
     │  │  └── refused, ────────┘     │     lost: transient  │   │  │ reconnected
     │  │     unreachable             │     close, no close  │   │  │ (CONNECT)
     │  │                             │     frame, ping      │   │  │
     │  │                             │     timeout, gap     │   │  │
     │  │                             │  connect() with      ▼   │  │
     │  │                             └────────────────RECONNECTING │  ↺ an attempt failed:
     │  │                                other arguments │          │    backoff, try again
     │  │                                                │          │
     │  └── refused for good (DISCONNECT, ERROR) ────────┘          │
     │                                                              │
     └── terminal close (DISCONNECT, ERROR) ────────────────────────┘

    disconnect(), from any other state: to DISCONNECTED (DISCONNECT)

Every state change goes through one setter in the client and fires
:attr:`Events.STATE_CHANGE` with a :class:`StateChangeEvent`. ``connect()`` while connecting
or reconnecting with the same arguments joins the attempt under way; docs/python-sdk.md
(Connection lifecycle) has what fires when and what each call does in each state.

Payload of each event:

==================== =============================================================
``ERROR``            a :class:`~pchat.protocol.errors.PChatError`
``CONNECT``          :class:`ConnectEvent`
``DISCONNECT``       :class:`DisconnectEvent`
``MESSAGE``          :class:`~pchat.protocol.models.Message` (once per message id)
``MESSAGE_DELETE``   the deleted :class:`~pchat.protocol.models.Message`
``REACTION``         :class:`ReactionEvent`
``REACTIONS_STATS``  ``dict[str, int]``
``POLL``             :class:`~pchat.protocol.models.Poll`
``HISTORY_LOAD``     ``list[Message]``: the page just loaded, oldest first
``ONLINE``           ``int``: the room's connection count
``STATE_CHANGE``     :class:`StateChangeEvent`
``ROOM_SETTINGS``    :class:`~pchat.protocol.moderation.RoomSettings`: the room's modes
``PIN``              :class:`~pchat.protocol.moderation.Pin`, or None when unpinned
``BANNED``           :class:`BannedEvent`: this user was banned or timed out here
``UNBANNED``         None: this user's ban was lifted, or their timeout ended
``PURGE``            :class:`PurgeEvent`: a moderator purged a user's messages (after the
                     ``MESSAGE_DELETE`` of each held one)
``MENTION``          the :class:`~pchat.protocol.models.Message` that mentions this user
                     (after its ``MESSAGE``; live or recovered, never from history)
``MESSAGE_HIDDEN``   the :class:`~pchat.protocol.models.Message` hidden by reports, marked
                     ``hidden``: a viewer's client drops it from ``messages``, a
                     moderator's keeps it marked
``MESSAGE_RESTORED`` the :class:`~pchat.protocol.models.Message` shown again at its place
                     (a moderator dismissed the reports)
``MUTED``            ``str``: the id of a user this user muted (their held messages are
                     dropped first)
``UNMUTED``          ``str``: the id of a user this user no longer mutes
``REPORT_ADDED``     :class:`~pchat.protocol.moderation.Report` (moderators): a message was
                     reported (again)
``REPORT_REMOVED``   :class:`ReportRemovedEvent` (moderators): a message's reports were
                     decided
``REVIEW_ADDED``     :class:`~pchat.protocol.moderation.Held` (moderators): a message waits
                     for review or for the chat delay
``REVIEW_REMOVED``   :class:`ReviewRemovedEvent` (moderators): it was approved, rejected
                     or released
``MESSAGE_REJECTED`` :class:`MessageRejectedEvent`: a held message of this user's was
                     rejected
``SAMPLED``          :class:`SampledEvent`: the room became too busy to read, and viewers
                     get a sample of its messages (``every`` > 1), or no longer (1)
==================== =============================================================

The payloads have the names and fields of the TypeScript SDK's (``ConnectEvent.roomId`` is
``room_id`` here). ``Reaction``, ``StateChange``, ``ConnectEvent.room`` and
``StateChange.new``/``.old`` are the older names, kept so that code written for them works.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pchat.protocol.errors import PChatError
from pchat.protocol.models import User
from pchat.protocol.moderation import ModAction

__all__ = [
    "BannedEvent",
    "ConnectEvent",
    "DisconnectEvent",
    "Events",
    "HandlerError",
    "InvalidArgumentError",
    "MessageRejectedEvent",
    "ModLogPage",
    "PurgeEvent",
    "PurgeResult",
    "Reaction",
    "ReactionEvent",
    "ReportRemovedEvent",
    "ReviewRemovedEvent",
    "SampledEvent",
    "StateChange",
    "StateChangeEvent",
    "States",
    "TokenRefreshError",
]


class Events(StrEnum):
    """The events an SDK client fires; see the module docstring for each payload."""

    ERROR = "error"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    MESSAGE = "message"
    MESSAGE_DELETE = "message_delete"
    REACTION = "reaction"
    REACTIONS_STATS = "reactions_stats"
    POLL = "poll"
    HISTORY_LOAD = "history_load"
    STATE_CHANGE = "state_change"
    ONLINE = "online"
    ROOM_SETTINGS = "room_settings"
    PIN = "pin"
    BANNED = "banned"
    UNBANNED = "unbanned"
    PURGE = "purge"
    MENTION = "mention"
    MESSAGE_HIDDEN = "message_hidden"
    MESSAGE_RESTORED = "message_restored"
    MUTED = "muted"
    UNMUTED = "unmuted"
    REPORT_ADDED = "report_added"
    REPORT_REMOVED = "report_removed"
    REVIEW_ADDED = "review_added"
    REVIEW_REMOVED = "review_removed"
    MESSAGE_REJECTED = "message_rejected"
    SAMPLED = "sampled"


class States(StrEnum):
    """The connection states of an SDK client."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class ConnectEvent:
    """Fired on every successful connect and reconnect.

    ``recovered`` is None on the first connect, True when a reconnect recovered every missed
    event, False when it could not (the messages are then reloaded from history and
    ``HISTORY_LOAD`` follows). On a reconnect, ``CONNECT`` fires first, then ``UNMUTED`` and
    ``MUTED`` for mutes changed elsewhere, then the ``MESSAGE``, ``MESSAGE_DELETE``,
    ``PURGE``, ``MESSAGE_HIDDEN`` and ``MESSAGE_RESTORED`` events of what was recovered,
    then live events.
    """

    user: User
    room_id: str
    epoch: str
    seq: int
    online: int
    recovered: bool | None

    @property
    def room(self) -> str:
        """The older name of :attr:`room_id`."""
        return self.room_id


@dataclass(frozen=True, slots=True)
class DisconnectEvent:
    """Fired when the connection is lost or closed.

    ``code`` is the WebSocket close code (None: no close frame, the network dropped, or a
    gap in the stream); ``reconnect`` says whether the SDK is reconnecting by itself (False:
    it will not; ``connect()`` comes back). A ``DISCONNECT`` with ``reconnect=True`` is
    followed by one with ``reconnect=False`` if the reconnection ends without success.
    """

    code: int | None
    reason: str
    reconnect: bool


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    """A reaction someone sent to the room; ``ts`` is the server time in ms."""

    reaction: str
    user: User
    ts: int


#: The older name of :class:`ReactionEvent`.
Reaction = ReactionEvent


@dataclass(frozen=True, slots=True)
class StateChangeEvent:
    """The payload of :attr:`Events.STATE_CHANGE`."""

    new_state: States
    old_state: States

    @property
    def new(self) -> States:
        """The older name of :attr:`new_state`."""
        return self.new_state

    @property
    def old(self) -> States:
        """The older name of :attr:`old_state`."""
        return self.old_state


#: The older name of :class:`StateChangeEvent`.
StateChange = StateChangeEvent


@dataclass(frozen=True, slots=True)
class BannedEvent:
    """The payload of :attr:`Events.BANNED`: this user may read the room but not write.

    ``until`` is when a timeout ends (ms since the epoch; None: banned until a moderator
    lifts it), ``reason`` the moderator's reason ("" if none). docs/moderation.md.
    """

    until: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class PurgeEvent:
    """The payload of :attr:`Events.PURGE`: every message of ``user_id`` sent at ``since``
    (ms since the epoch; 0: ever) or later was deleted by ``deleted_by`` at ``ts``.

    ``count`` is how many messages the server deleted, held here or not. Each held one
    was marked deleted first and fired ``MESSAGE_DELETE``. docs/moderation.md (Purge).
    """

    user_id: str
    since: int
    count: int
    deleted_by: User
    ts: int


@dataclass(frozen=True, slots=True)
class ReportRemovedEvent:
    """The payload of :attr:`Events.REPORT_REMOVED` (moderators): ``by`` decided the open
    reports of ``message_id``. ``outcome`` is ``dismissed`` (a hidden message is shown
    again: ``MESSAGE_RESTORED``) or ``deleted`` (``MESSAGE_DELETE``)."""

    message_id: str
    outcome: str
    by: User


@dataclass(frozen=True, slots=True)
class ReviewRemovedEvent:
    """The payload of :attr:`Events.REVIEW_REMOVED` (moderators): the held message ``id``
    left the review queue. ``outcome`` is ``approved`` or ``rejected`` (``by`` the
    moderator), or ``released`` (the chat delay ended; ``by`` None). Approved or released,
    it enters the stream with that id."""

    id: str
    outcome: str
    by: User | None


@dataclass(frozen=True, slots=True)
class MessageRejectedEvent:
    """The payload of :attr:`Events.MESSAGE_REJECTED`: a moderator rejected this user's
    held message ``id`` (the ``Held.id`` that ``send_message`` returned) with ``reason``
    ("" if none); it never enters the stream."""

    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SampledEvent:
    """The payload of :attr:`Events.SAMPLED`, and the client's ``sampled`` while it lasts:
    the room posts more messages per second than a person reads, and each viewer gets one
    of every ``every`` (and always their own, those that mention them and the staff's;
    moderators and admins get all). ``rate`` is the room's rate (messages/s) when it was
    measured. ``every`` 1: sampling ended; positions up to ``seq`` may have been left out
    (None: not told). Recovery and history still hold every message (docs/protocol.md §4).
    """

    every: int
    rate: float | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ModLogPage:
    """What ``get_mod_log`` returns: entries newest first, and whether older ones exist
    (page on with ``before=entries[-1].id``)."""

    entries: list[ModAction]
    has_more: bool


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What ``purge`` returns: the position of the ``message_purge`` event in the stream
    (None when the user had nothing to delete) and how many messages it deleted."""

    seq: int | None
    count: int


class HandlerError(PChatError):
    """An event handler raised; the original exception is ``__cause__``."""

    def __init__(self, event: str, error: BaseException) -> None:
        self.event = event
        self.error = error
        super().__init__(f"{event} handler raised {type(error).__name__}: {error}")
        self.__cause__ = error


class InvalidArgumentError(PChatError, ValueError):
    """An argument the SDK refused before sending anything (e.g. a timestamp it cannot read).

    Also a :class:`ValueError`, so that ``except ValueError`` keeps working."""


class TokenRefreshError(PChatError):
    """The ``token_refresher`` raised, or returned something that is not a token."""

    def __init__(self, error: BaseException | None, message: str = "") -> None:
        self.error = error
        super().__init__(message or f"token refresher raised {type(error).__name__}: {error}")
        self.__cause__ = error
