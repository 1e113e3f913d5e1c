"""What an SDK client knows about its room, and how each server frame changes it. No I/O.

:class:`RoomState` applies connect replies (with their recovery), stream and state pushes,
history pages and request replies. Each ``apply_*`` method returns an :class:`Outcome`: the
events to fire, in order, and whether the client must reconnect (a gap in the stream) or
reload the latest history page (a reconnect that could not recover). The shared test
vectors (``tests/vectors/room_state.json``) drive this class directly.

Rules (``docs/protocol.md`` §4):

- ``messages`` is sorted by ``seq``, holds each message id once, and only messages with
  ``seq <= last_seq`` or ones confirmed by a ``send`` reply;
- the stream pushes are ``message``, ``message_delete``, ``message_purge``,
  ``message_hide``, ``message_restore`` and ``skip``; one is applied only when its ``seq``
  is ``last_seq + 1``; a smaller one is a duplicate and ignored; a larger one is a gap and
  is not applied; a ``skip`` (a position this connection does not see) only advances
  ``last_seq``;
- ``MESSAGE`` fires once per message id (the sender sees its message twice: as a push and
  as the ``send`` reply); ``MESSAGE_DELETE`` fires once, when a held message becomes
  deleted, or for a delete of a message not held;
- a ``message_purge`` deletes every held message of its ``user_id`` sent at ``since`` or
  later and placed before it in the stream (``seq`` below the purge's): ``MESSAGE_DELETE``
  for each that becomes deleted, then ``PURGE`` once;
- ``MENTION`` follows the ``MESSAGE`` of a message that a ``message`` push (live or
  replayed by a recovery) brings for the first time, whose ``mentions`` hold the user's id,
  and that is neither the user's own nor already deleted; history pages, ``send`` replies
  and messages already held fire none;
- a deleted copy of a message always wins over a non-deleted one (deletion is final);
- history messages newer than ``last_seq`` are not merged: the stream delivers them;
- moderation (docs/moderation.md): the room's settings and pin fire ``ROOM_SETTINGS`` and
  ``PIN`` when they change (a moderator's reply and the push that follows fire once);
  ``banned`` always fires ``BANNED`` (the push's whole ``ban`` is held); ``UNBANNED`` fires
  when a held ban goes away;
- a ``message_hide`` (reported enough times) of a held message that is not deleted fires
  ``MESSAGE_HIDDEN`` with it marked ``hidden``: a moderator's or admin's state keeps it so
  marked, a viewer's drops it from ``messages``. A ``message_restore`` fires
  ``MESSAGE_RESTORED`` and holds its message (not hidden) at its ``seq`` when the client
  holds it marked hidden, dropped it on its hide, or the message lies within the held
  window (``seq`` above the oldest held message's, or no older history left to load);
  a message older than the window is left to a history page. Both fire nothing otherwise;
- ``mutes`` lists the users this user muted (the connect reply's ``room.mutes``, the
  ``muted``/``unmuted`` pushes, the replies of ``mute``, ``unmute`` and ``mutes``):
  ``MUTED``/``UNMUTED`` fire when it changes, and muting a user drops their held messages
  first. The server withholds a muted user's messages (``skip``); a ``message`` push,
  ``message_restore`` or history message of a muted user that still comes (sent before the
  mute took effect) is treated as a ``skip``: never held, no event;
- the moderators' pushes (``review_add``, ``review_remove``, ``report_add``,
  ``report_remove``) and ``message_rejected`` change no state: they fire their events;
- sampling (a huge, busy room): ``sampled`` holds the sampling in force (the connect reply's
  ``room.sampled``, the ``sampled`` pushes; None: every message comes). While it is set, a
  stream push whose ``seq`` jumps ahead is applied (the positions between were left out on
  purpose); after a ``sampled`` push with ``every`` 1 and ``seq`` E, a jump is applied
  when every position it passes over is at most E. ``SAMPLED`` fires when ``every``
  changes (silently on a first connect).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from typing import Any

from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, Pin, Report, RoomSettings

from .events import (
    BannedEvent,
    Events,
    MessageRejectedEvent,
    PurgeEvent,
    ReactionEvent,
    ReportRemovedEvent,
    ReviewRemovedEvent,
    SampledEvent,
)

__all__ = ["Outcome", "RoomState", "unknown_message"]

_UNKNOWN_USER = User(id="", username="")

#: The push types that form the room's stream (docs/protocol.md §4): each has a ``seq``.
_STREAM_PUSHES = frozenset(
    {"message", "message_delete", "message_purge", "message_hide", "message_restore", "skip"}
)

#: The roles that see hidden and shadow-banned users' messages (marked).
_STAFF = frozenset({"moderator", "admin"})


@dataclass(slots=True)
class Outcome:
    """The effect of one frame: events to fire, in order, and what the client must do."""

    events: list[tuple[Events, Any]] = field(default_factory=list)
    #: A stream push skipped a position: reconnect with recovery.
    gap: bool = False
    #: The held messages were dropped (a reconnect that did not recover): load the latest page.
    reset: bool = False
    #: For a connect reply: None on the first connect, else whether the reconnect recovered.
    recovered: bool | None = None

    def add(self, event: Events, payload: Any) -> None:
        self.events.append((event, payload))

    def extend(self, other: Outcome) -> None:
        self.events.extend(other.events)
        self.gap = self.gap or other.gap


def unknown_message(message_id: str, seq: int, deleted_by: User, deleted_at: int) -> Message:
    """A deleted message the client never held, built from a ``message_delete`` push.

    Its ``ts`` (0) and ``user`` (empty id and name) are unknown.
    """
    return Message(
        id=message_id,
        seq=seq,
        ts=0,
        user=_UNKNOWN_USER,
        text="",
        deleted=True,
        deleted_by=deleted_by,
        deleted_at=deleted_at,
    )


def _seq_key(message: Message) -> int:
    return message.seq


class RoomState:
    """The client's view of one room: messages, stream position, polls, statistics."""

    def __init__(self) -> None:
        self.room_id: str | None = None
        self.user: User | None = None
        #: The room stream's epoch and the ``seq`` of the last stream event applied.
        self.epoch: str | None = None
        self.last_seq = 0
        #: Held messages, oldest to newest.
        self.messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self.polls: dict[str, Poll] = {}
        #: Whether the room has older polls than those held (finished ones are paged).
        self.more_polls = False
        self.stats: dict[str, int] = {}
        self.reaction_types: tuple[str, ...] = ()
        self.online = 0
        #: The token's expiry (seconds since the epoch) from the last connect reply.
        self.token_exp: int | None = None
        self.limits: dict[str, Any] = {}
        #: Whether older history exists (True until a page says otherwise).
        self.has_more = True
        self.joined = False
        #: The room's modes, its pin, and this user's own ban (docs/moderation.md).
        self.room_settings = RoomSettings()
        self.pin: Pin | None = None
        self.my_ban: Ban | None = None
        #: The ids of the users this user muted, in the order muted.
        self.mutes: list[str] = []
        # Held messages a viewer dropped on their hide: a restore puts them back.
        self._hidden: set[str] = set()
        #: The sampling in force in a huge, busy room (None: every message comes).
        self.sampled: SampledEvent | None = None
        # Positions up to this one may have been left out by a sampling that ended.
        self._sampled_to = 0

    # -- messages -----------------------------------------------------------------------

    def get(self, message_id: str) -> Message | None:
        """The held message with this id."""
        return self._by_id.get(message_id)

    def _put(self, message: Message) -> None:
        """Insert a message or replace the held copy (same id, same seq)."""
        held = self._by_id.get(message.id)
        self._by_id[message.id] = message
        if held is not None:
            j = bisect_left(self.messages, held.seq, key=_seq_key)
            if j < len(self.messages) and self.messages[j].id == message.id:
                if held.seq == message.seq:
                    self.messages[j] = message
                    return
                del self.messages[j]
        self.messages.insert(bisect_left(self.messages, message.seq, key=_seq_key), message)

    def _remove(self, message_id: str) -> None:
        """Drop a held message."""
        held = self._by_id.pop(message_id)
        j = bisect_left(self.messages, held.seq, key=_seq_key)
        while self.messages[j].id != message_id:  # same seq: a send reply's, in theory
            j += 1
        del self.messages[j]

    def _clear_messages(self) -> None:
        self.messages.clear()
        self._by_id.clear()
        self._hidden.clear()
        self.has_more = True

    def _add_message(self, message: Message, out: Outcome) -> Message:
        held = self._by_id.get(message.id)
        if held is None:
            self._put(message)
            out.add(Events.MESSAGE, message)
            return message
        if message.deleted and not held.deleted:
            self._put(message)
            out.add(Events.MESSAGE_DELETE, message)
            return message
        return held

    def _mentions_me(self, message: Message) -> bool:
        """Whether ``message`` mentions this client's user (not in their own, not deleted)."""
        me = self.user
        return (
            me is not None
            and me.id in message.mentions
            and message.user.id != me.id
            and not message.deleted
        )

    def _is_staff(self) -> bool:
        return self.user is not None and self.user.role in _STAFF

    def _is_muted(self, message: Message) -> bool:
        """Whether ``message`` is by a user this user muted (never their own)."""
        me = self.user
        return message.user.id in self.mutes and (me is None or message.user.id != me.id)

    def _hide(self, push: dict[str, Any], out: Outcome) -> None:
        """A message hidden by reports: staff keep it marked, viewers drop it."""
        held = self._by_id.get(str(push["message_id"]))
        if held is None or held.deleted or held.hidden:
            return
        hidden = replace(held, hidden=True)
        if self._is_staff():
            self._put(hidden)
        else:
            self._remove(held.id)
            self._hidden.add(held.id)
        out.add(Events.MESSAGE_HIDDEN, hidden)

    def _restore(self, message: Message, out: Outcome) -> None:
        """A hidden message shown again, at its place, if it belongs to what is held."""
        if self._is_muted(message) or message.deleted:
            return
        message = replace(message, hidden=False)
        held = self._by_id.get(message.id)
        if held is not None:
            if held.deleted or not held.hidden:
                return
        elif not (
            message.id in self._hidden
            or (self.messages and message.seq > self.messages[0].seq)
            or not self.has_more
        ):
            return  # older than the held window: a history page brings it
        self._hidden.discard(message.id)
        self._put(message)
        out.add(Events.MESSAGE_RESTORED, message)

    def _delete(self, push: dict[str, Any], out: Outcome) -> None:
        by = User.from_wire(push["deleted_by"])
        held = self._by_id.get(push["message_id"])
        if held is None:
            out.add(
                Events.MESSAGE_DELETE,
                unknown_message(push["message_id"], push["message_seq"], by, push["ts"]),
            )
        elif not held.deleted:
            deleted = held.as_deleted(by, push["ts"])
            self._put(deleted)
            out.add(Events.MESSAGE_DELETE, deleted)
        elif held.deleted_by is None:  # replayed deleted without details: fill them in
            self._put(replace(held, deleted_by=by, deleted_at=push["ts"]))

    def _purge(self, push: dict[str, Any], seq: int, out: Outcome) -> None:
        """Delete the held messages of the purged user sent at ``since`` or later; those
        after the purge in the stream (``seq`` above it, from a ``send`` reply) stay."""
        by = User.from_wire(push["deleted_by"])
        user_id, since, at = str(push["user_id"]), int(push["since"]), int(push["ts"])
        event = PurgeEvent(user_id, since, int(push.get("count", 0)), by, at)
        for held in list(self.messages):
            if held.seq >= seq:
                break
            if held.user.id != user_id or held.ts < since:
                continue
            if not held.deleted:
                deleted = held.as_deleted(by, at)
                self._put(deleted)
                out.add(Events.MESSAGE_DELETE, deleted)
            elif held.deleted_by is None:
                self._put(replace(held, deleted_by=by, deleted_at=at))
        out.add(Events.PURGE, event)

    # -- pushes -------------------------------------------------------------------------

    def apply_push(self, push: dict[str, Any]) -> Outcome:
        """Apply one server push (stream or state); unknown types are ignored."""
        out = Outcome()
        ptype = push.get("type")
        if ptype in _STREAM_PUSHES:
            seq = push["seq"]
            if seq <= self.last_seq:
                return out  # a duplicate
            if seq != self.last_seq + 1 and not self._left_out(seq):
                out.gap = True
                return out
            if ptype == "message":
                message = Message.from_wire(push["message"])  # parse before changing state
                self.last_seq = seq
                if self._is_muted(message):
                    return out  # sent before the mute took effect: as a skip
                fresh = message.id not in self._by_id
                self._add_message(message, out)
                if fresh and self._mentions_me(message):
                    out.add(Events.MENTION, message)
            elif ptype == "message_delete":
                self._delete(push, out)
                self.last_seq = seq
            elif ptype == "message_purge":
                self._purge(push, seq, out)
                self.last_seq = seq
            elif ptype == "message_hide":
                self._hide(push, out)
                self.last_seq = seq
            elif ptype == "message_restore":
                restored = Message.from_wire(push["message"])
                self.last_seq = seq
                self._restore(restored, out)
            else:  # skip: a position this connection does not see
                self.last_seq = seq
        elif ptype == "reaction":
            out.add(
                Events.REACTION,
                ReactionEvent(push["reaction"], User.from_wire(push["user"]), push["ts"]),
            )
        elif ptype == "reactions_stats":
            self.stats = dict(push["stats"])
            out.add(Events.REACTIONS_STATS, dict(self.stats))
        elif ptype == "poll":
            self._put_poll(Poll.from_wire(push["poll"]), out)
        elif ptype == "online" and push["online"] != self.online:
            self.online = push["online"]
            out.add(Events.ONLINE, self.online)
        elif ptype == "room_settings":
            out.extend(self.apply_room_settings(push["settings"]))
        elif ptype == "pin":
            out.extend(self.apply_pin(push["pin"]))
        elif ptype == "banned":
            self._set_ban(self._ban_from_push(push), out, always=True)
        elif ptype == "unbanned":
            self._set_ban(None, out)
        elif ptype in ("muted", "unmuted"):
            out.extend(self.apply_mute(str(push["user_id"]), muted=ptype == "muted"))
        elif ptype == "review_add":
            out.add(Events.REVIEW_ADDED, Held.from_wire(push["item"]))
        elif ptype == "review_remove":
            by = push.get("by")
            event = ReviewRemovedEvent(
                str(push["id"]), str(push["outcome"]), User.from_wire(by) if by else None
            )
            out.add(Events.REVIEW_REMOVED, event)
        elif ptype == "report_add":
            out.add(Events.REPORT_ADDED, Report.from_wire(push["report"]))
        elif ptype == "report_remove":
            removed = ReportRemovedEvent(
                str(push["message_id"]), str(push["outcome"]), User.from_wire(push["by"])
            )
            out.add(Events.REPORT_REMOVED, removed)
        elif ptype == "message_rejected":
            rejected = MessageRejectedEvent(str(push["id"]), str(push.get("reason") or ""))
            out.add(Events.MESSAGE_REJECTED, rejected)
        elif ptype == "sampled":
            self._set_sampled(push, out)
        return out

    # -- sampling -----------------------------------------------------------------------

    def _left_out(self, seq: int) -> bool:
        """Whether the positions before ``seq`` that never came were left out on purpose
        (the room is sampled, or was up to ``_sampled_to``)."""
        return self.sampled is not None or seq - 1 <= self._sampled_to

    def _set_sampled(self, data: dict[str, Any] | None, out: Outcome) -> None:
        """Apply a ``sampled`` push or a connect reply's ``room.sampled`` (None: none)."""
        every = int(data.get("every", 1)) if data else 1
        held = self.sampled
        if every > 1:
            rate = data.get("rate") if data else None
            self.sampled = SampledEvent(every, float(rate) if rate is not None else None)
            if held is None or held.every != every:
                out.add(Events.SAMPLED, self.sampled)
            return
        seq = data.get("seq") if data else None
        if isinstance(seq, int) and not isinstance(seq, bool):
            self._sampled_to = max(self._sampled_to, seq)
        self.sampled = None
        if held is not None:
            out.add(Events.SAMPLED, SampledEvent(1, None, seq if isinstance(seq, int) else None))

    # -- mutes --------------------------------------------------------------------------

    def apply_mute(self, user_id: str, *, muted: bool) -> Outcome:
        """Apply a mute or unmute (a push, or the reply of ``mute``/``unmute``); ``MUTED``
        or ``UNMUTED`` fires if it changed ``mutes``. Muting drops the user's held messages
        first."""
        out = Outcome()
        if muted and user_id not in self.mutes:
            self.mutes.append(user_id)
            self._drop_user(user_id)
            out.add(Events.MUTED, user_id)
        elif not muted and user_id in self.mutes:
            self.mutes.remove(user_id)
            out.add(Events.UNMUTED, user_id)
        return out

    def apply_mutes(self, user_ids: list[str]) -> Outcome:
        """Apply the whole list of mutes (the reply of ``mutes``, a connect reply's
        ``room.mutes``): ``UNMUTED`` for each id gone, then ``MUTED`` for each new one."""
        out = Outcome()
        wanted = [str(u) for u in user_ids]
        for user_id in [u for u in self.mutes if u not in wanted]:
            out.extend(self.apply_mute(user_id, muted=False))
        for user_id in wanted:
            out.extend(self.apply_mute(user_id, muted=True))
        self.mutes = list(dict.fromkeys(wanted))  # the server's order
        return out

    def _drop_user(self, user_id: str) -> None:
        """Drop the held messages of ``user_id`` (not this user's own)."""
        if self.user is not None and user_id == self.user.id:
            return
        for message in [m for m in self.messages if m.user.id == user_id]:
            self._remove(message.id)

    # -- moderation ---------------------------------------------------------------------

    def apply_room_settings(self, data: dict[str, Any]) -> Outcome:
        """Apply the room's settings (a push, a ``room_mode`` reply); ``ROOM_SETTINGS`` fires
        if they changed."""
        out = Outcome()
        settings = RoomSettings.from_wire(data)
        if settings != self.room_settings:
            self.room_settings = settings
            out.add(Events.ROOM_SETTINGS, settings)
        return out

    def apply_pin(self, data: dict[str, Any] | None) -> Outcome:
        """Apply the room's pin (a push, a ``pin`` reply; None: unpinned); ``PIN`` fires if it
        changed."""
        out = Outcome()
        pin = Pin.from_wire(data) if data else None
        if pin != self.pin:
            self.pin = pin
            out.add(Events.PIN, pin)
        return out

    def expire_ban(self, now_ms: int) -> Outcome:
        """A held timeout that ended by ``now_ms`` goes away: ``UNBANNED`` fires (the server
        pushes nothing when a timeout ends by itself)."""
        out = Outcome()
        ban = self.my_ban
        if ban is not None and ban.until is not None and ban.until <= now_ms:
            self._set_ban(None, out)
        return out

    def _ban_from_push(self, push: dict[str, Any]) -> Ban:
        """The ``banned`` push's whole ``ban``; from a server that sends only ``until`` and
        ``reason``, a ban whose ``by`` and ``created_at`` are unknown (an empty user, 0)."""
        if isinstance(push.get("ban"), dict):
            return Ban.from_wire(push["ban"])
        user_id = self.user.id if self.user is not None else ""
        until = push.get("until")
        if not isinstance(until, int) or isinstance(until, bool):
            until = None
        return Ban(user_id, _UNKNOWN_USER, 0, until, str(push.get("reason") or ""))

    def _set_ban(self, ban: Ban | None, out: Outcome, *, always: bool = False) -> None:
        held, self.my_ban = self.my_ban, ban
        if ban is None:
            if held is not None:
                out.add(Events.UNBANNED, None)
        elif always or held is None or (held.until, held.reason) != (ban.until, ban.reason):
            out.add(Events.BANNED, BannedEvent(ban.until, ban.reason))

    # -- connect and recovery -----------------------------------------------------------

    def _recovery_is_complete(self, events: list[dict[str, Any]], room_seq: int) -> bool:
        """Whether the replayed events continue the stream from ``last_seq`` to ``room_seq``."""
        seq = self.last_seq
        for push in events:
            if push.get("type") not in _STREAM_PUSHES:
                continue
            if push["seq"] <= seq:
                continue
            if push["seq"] != seq + 1:
                return False
            seq += 1
        return seq >= room_seq

    def apply_connect(self, result: dict[str, Any]) -> Outcome:
        """Apply a connect reply: the first one, or a reconnect's with its ``recovery``."""
        room = result["room"]
        rejoin = self.joined
        out = Outcome()
        self.user = User.from_wire(result["user"])
        # The mutes first: they decide what the replayed events may bring.
        mutes = self.apply_mutes(list(room.get("mutes") or []))
        if rejoin:
            out.extend(mutes)
        self._set_sampled(room.get("sampled"), out if rejoin else Outcome())
        recovery = result.get("recovery")
        if (
            rejoin
            and recovery is not None
            and recovery.get("recovered")
            and self._recovery_is_complete(recovery.get("events", []), room["seq"])
        ):
            self.epoch = room["epoch"]
            for push in recovery.get("events", []):
                out.extend(self.apply_push(push))
            out.recovered = True
        else:
            if rejoin:
                out.recovered = False
                out.reset = True
            self._clear_messages()
            self.epoch = room["epoch"]
            self.last_seq = room["seq"]
        self.room_id = room["id"]
        self.token_exp = result.get("token_exp")
        self.limits = dict(result.get("limits") or {})
        self._apply_room_state(room, out if rejoin else Outcome())
        self.joined = True
        return out

    def _apply_room_state(self, room: dict[str, Any], out: Outcome) -> None:
        """Online count, reaction statistics, polls and the moderation state; events only
        for what changed."""
        if room.get("online", self.online) != self.online:
            self.online = room["online"]
            out.add(Events.ONLINE, self.online)
        reactions = room.get("reactions") or {}
        self.reaction_types = tuple(reactions.get("types", self.reaction_types))
        stats = dict(reactions.get("stats", {}))
        if stats != self.stats:
            self.stats = stats
            out.add(Events.REACTIONS_STATS, dict(stats))
        for data in room.get("polls", []):
            self._put_poll(Poll.from_wire(data), out)
        self.more_polls = bool(room.get("polls_more", False))
        out.extend(self.apply_room_settings(room.get("settings") or {}))
        out.extend(self.apply_pin(room.get("pin")))
        ban = room.get("ban")
        self._set_ban(Ban.from_wire(ban) if ban else None, out)

    # -- history and replies ------------------------------------------------------------

    def apply_history(self, result: dict[str, Any]) -> Outcome:
        """Merge a history page; fires ``HISTORY_LOAD`` with the page as now held."""
        page: list[Message] = []
        for data in result.get("messages", []):
            message = Message.from_wire(data)
            if message.seq > self.last_seq or self._is_muted(message):
                continue  # the stream delivers it; a muted user's is not held
            held = self._by_id.get(message.id)
            if held is None or (message.deleted and not held.deleted):
                self._put(message)
                held = message
            page.append(held)
        self.has_more = bool(result.get("has_more", False))
        out = Outcome()
        out.add(Events.HISTORY_LOAD, page)
        return out

    def apply_sent(self, message: Message) -> tuple[Message, Outcome]:
        """Apply the message of a ``send`` reply; returns it as held."""
        out = Outcome()
        return self._add_message(message, out), out

    def apply_send_reply(self, result: dict[str, Any]) -> tuple[Message | Held, Outcome]:
        """Apply a ``send`` reply: its message as held, or the :class:`Held` it returns for
        a message held for review or by the chat delay (nothing held, no event: the
        message enters the stream later with the held one's id)."""
        if result.get("message") is None:
            return Held.from_wire(result["held"]), Outcome()
        return self.apply_sent(Message.from_wire(result["message"]))

    def _put_poll(self, poll: Poll, out: Outcome) -> Poll:
        held = self.polls.get(poll.id)
        if held is not None and poll.my_vote is None and held.my_vote is not None:
            poll = replace(poll, my_vote=held.my_vote)  # pushes go to everyone: no my_vote
        if held is None or held != poll or held.my_vote != poll.my_vote:
            self.polls[poll.id] = poll
            out.add(Events.POLL, poll)
        return poll

    def apply_poll(self, data: dict[str, Any]) -> tuple[Poll, Outcome]:
        """Apply a poll from a reply (create, vote, finish); ``POLL`` fires if it changed."""
        out = Outcome()
        return self._put_poll(Poll.from_wire(data), out), out

    def apply_polls(self, result: dict[str, Any]) -> tuple[list[Poll], Outcome]:
        """Apply a page of ``polls``; ``more_polls`` then says if older ones exist."""
        out = Outcome()
        self.more_polls = bool(result.get("has_more", False))
        return [self._put_poll(Poll.from_wire(p), out) for p in result.get("polls", [])], out

    def apply_stats(self, stats: dict[str, int]) -> Outcome:
        """Apply the reply of ``reactions_stats``; ``REACTIONS_STATS`` always fires."""
        self.stats = dict(stats)
        out = Outcome()
        out.add(Events.REACTIONS_STATS, dict(self.stats))
        return out
