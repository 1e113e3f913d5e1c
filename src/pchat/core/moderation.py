"""Moderation: bans and timeouts, room modes, the pin, and the moderation log.

Every action is stored first (it survives restarts), logged, then published: room-visible
state (``room_settings``, ``pin``) as pushes to the room, and bans between nodes as
:attr:`Push.MODERATION` publications that each node consumes — it updates what it holds
and tells the banned user's own connections (``banned``/``unbanned``), closing them with
``4506`` on a kick. Each node holds the moderation state of its open rooms in memory, read
from the store when a room's first client connects, so that checking a write costs no I/O.

Rules: only moderators and admins moderate; a ban acts only on sessions whose role is below
the banning user's (nobody bans an equal or higher role, wherever they are connected);
moderators are exempt from room modes. See docs/moderation.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import push_frame
from pchat.protocol.models import User
from pchat.protocol.moderation import MODES, Ban, ModAction, Pin, RoomSettings
from pchat.protocol.validation import ROLE_RANK, validate_text, validate_user_id
from pchat.protocol.wordfilter import ACTIONS, FilterEntry, WordFilter, fold_word, mask
from pchat.storage.base import ModerationStore, StoreUnavailable, StreamStore

from .clock import now_ms
from .limits import Limiter
from .node import Node, Push
from .permissions import is_staff
from .ratelimit import BucketMap
from .session import Handler, Session, Verdict
from .settings import CoreSettings
from .singleflight import SingleFlight
from .stream import purge_push

__all__ = ["Moderation", "SessionsOf"]

log = logging.getLogger(__name__)

#: The longest timeout a moderator can give, in seconds (a year); longer: ban until lifted.
MAX_BAN_SECONDS = 366 * 24 * 3600
MAX_REASON_CHARS = 200
MAX_SLOW_MODE = 3600
#: The longest chat delay, in seconds.
MAX_DELAY = 60
#: Unique-chat mode compares a message with the user's newest so many.
UNIQUE_CHAT_WINDOW = 5
_LOG_PAGE_MAX = 100
#: The store's room id of the server-wide blocklist.
SERVER_SCOPE = "*"
MAX_PATTERN_CHARS = 64


@dataclass
class _RoomState:
    settings: RoomSettings
    pin: Pin | None
    bans: dict[str, Ban] = field(default_factory=dict)
    words: WordFilter = field(default_factory=lambda: WordFilter([]))


SessionsOf = Callable[[str, str], list[Session]]
"""``(room_id, user_id)`` -> this node's sessions of the user in the room."""


class Moderation:
    """The moderation requests of one node, and the guard of every write."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: ModerationStore,
        messages: StreamStore,
        limiter: Limiter,
        sessions_of: SessionsOf,
    ) -> None:
        self._settings = settings
        self._node = node
        self._store = store
        self._messages = messages
        self._limiter = limiter
        self._sessions_of = sessions_of
        self._rooms: dict[str, _RoomState] = {}
        self._reads: SingleFlight[str, _RoomState] = SingleFlight()
        #: The server-wide blocklist (room id ``*`` in the store), re-read periodically.
        self._server_words = WordFilter([])
        self._slow: dict[int, BucketMap] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        node.consume(Push.MODERATION, self._on_moderation)
        node.filter(Push.ROOM_SETTINGS, self._on_settings)
        node.filter(Push.PIN, self._on_pin)
        node.on_room_closed(self.forget)

    def handlers(self) -> dict[str, Handler]:
        return {
            "ban": self.ban,
            "unban": self.unban,
            "bans": self.list_bans,
            "room_mode": self.room_mode,
            "pin": self.pin,
            "unpin": self.unpin,
            "mod_log": self.mod_log,
            "purge": self.purge,
            "filter_add": self.filter_add,
            "filter_remove": self.filter_remove,
            "filters": self.list_filters,
        }

    # State of the rooms open here ---------------------------------------------------------

    async def _state(self, room_id: str) -> _RoomState:
        state = self._rooms.get(room_id)
        if state is None:
            # A join storm into a room not open here yet: one read for all its connects.
            state = await self._reads.do(room_id, lambda: self._read(room_id))
            self._rooms.setdefault(room_id, state)
        return self._rooms[room_id]

    async def _read(self, room_id: str) -> _RoomState:
        bans = await self._store.bans(room_id, now_ms())
        return _RoomState(
            settings=await self._store.room_settings(room_id),
            pin=await self._store.pin(room_id),
            bans={b.user_id: b for b in bans},
            words=WordFilter(await self._store.filter_entries(room_id)),
        )

    async def room_state(self, room_id: str, user: User) -> dict[str, Any]:
        """This module's part of a connect reply's ``room``: settings, pin, and the user's
        own ban if one acts on them."""
        state = await self._state(room_id)
        ban = _acting(state.bans.get(user.id), user, now_ms())
        if ban is not None and ban.shadow:
            ban = None  # a shadow-banned user sees no difference
        return {
            "settings": state.settings.to_wire(),
            "pin": state.pin.to_wire() if state.pin else None,
            "ban": ban.to_wire() if ban else None,
        }

    async def forget_expired_bans(self) -> None:
        """Remove ended timeouts from the store (a job: they no longer act, this only keeps
        the table from growing with every timeout ever given)."""
        removed = await self._store.forget_expired_bans(now_ms())
        if removed:
            log.info("forgot %d ended timeouts", removed)

    async def reload_server_words(self) -> None:
        """Read the server-wide blocklist (a job; changes on other nodes arrive so)."""
        self._server_words = WordFilter(await self._store.filter_entries(SERVER_SCOPE))

    async def reconcile_all(self) -> None:
        """After a broker outage: read the state of every room held here anew."""
        for room_id in list(self._rooms):
            self._rooms[room_id] = await self._read(room_id)

    async def forget(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)

    # The guard ----------------------------------------------------------------------------

    async def check_write(self, session: Session, what: str, text: str | None = None) -> Verdict:
        """Raise ``banned`` (122), ``room_mode`` (123), ``message_too_long`` (109),
        ``rate_limited`` (slow mode), ``blocked_word`` (125) or ``duplicate_message``
        (124) — or return the text to store (masked where the word filter says so) and
        whether a viewer's message waits: held by the word filter or the room's hold mode,
        or delayed by its chat delay. The staff's messages never wait, nor a shadow-banned
        user's (nobody else sees those anyway)."""
        user, room_id = session.member()
        state = await self._state(room_id)
        ban = _acting(state.bans.get(user.id), user, now_ms())
        if ban is not None and not ban.shadow:
            raise _banned(ban)
        held = False
        if text is not None:
            text, held = self._filter_text(state, text)
        if is_staff(user):
            return Verdict(text)
        s = state.settings
        if s.mode == "moderators_only" or (s.mode == "reactions_only" and what != "react"):
            raise request_error(ErrorCode.ROOM_MODE, f"the room is {s.mode.replace('_', '-')} now")
        if what != "send" or text is None:
            return Verdict(text)
        if s.max_message_chars and len(text) > s.max_message_chars:
            raise request_error(
                ErrorCode.MESSAGE_TOO_LONG,
                f"this room takes messages of at most {s.max_message_chars} characters",
            )
        if s.slow_mode:
            buckets = self._slow.get(s.slow_mode)
            if buckets is None:
                buckets = self._slow[s.slow_mode] = BucketMap(1 / s.slow_mode, 1)
            await self._limiter.take(session, buckets, f"slow:{room_id}:{user.id}")
        if s.unique_chat:
            recent = await self._store.recent_texts(room_id, user.id, UNIQUE_CHAT_WINDOW)
            key = _same_text_key(text)
            if any(_same_text_key(t) == key for t in recent):
                raise request_error(
                    ErrorCode.DUPLICATE_MESSAGE, "unique-chat mode: you said that already"
                )
        if ban is not None:  # a shadow ban
            return Verdict(text)
        if held or s.hold:
            return Verdict(text, hold="filter" if held else "hold")
        if s.delay:
            return Verdict(text, hold="delay", delay=s.delay)
        return Verdict(text)

    def shadowed(self, session: Session) -> bool:
        """Whether a shadow ban acts on the session's user in its room (the room's state is
        held here: its first connection read it)."""
        user, room_id = session.member()
        state = self._rooms.get(room_id)
        ban = None if state is None else _acting(state.bans.get(user.id), user, now_ms())
        return ban is not None and ban.shadow

    def _filter_text(self, state: _RoomState, text: str) -> tuple[str, bool]:
        """The room's and the server's blocklists: refuse (``block``), or the text with the
        ``mask`` entries' matches masked and whether a ``hold`` entry matched."""
        matches = state.words.find(text) + self._server_words.find(text)
        if not matches:
            return text, False
        actions = {m.entry.action for m in matches}
        if "block" in actions:
            raise request_error(
                ErrorCode.BLOCKED_WORD, "the message contains a word this room does not allow"
            )
        masked = [m for m in matches if m.entry.action == "mask"]
        return (mask(text, masked) if masked else text), "hold" in actions

    # Bans ---------------------------------------------------------------------------------

    async def ban(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _staff(session)
        target = validate_user_id(args["user_id"])
        if target == user.id:
            raise request_error(ErrorCode.INVALID_FIELD, "you cannot ban yourself")
        for other in self._sessions_of(room_id, target):
            if other.user is not None and ROLE_RANK[other.user.role] >= ROLE_RANK[user.role]:
                raise request_error(
                    ErrorCode.FORBIDDEN, "nobody can ban a user of an equal or higher role"
                )
        duration = args.get("duration")
        if duration is not None and duration > MAX_BAN_SECONDS:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"duration must be 1-{MAX_BAN_SECONDS} seconds"
            )
        reason = _reason(args.get("reason"))
        kick = bool(args.get("kick", False))
        shadow = bool(args.get("shadow", False))
        if shadow and kick:
            raise request_error(ErrorCode.INVALID_FIELD, "a shadow ban cannot kick")
        ts = now_ms()
        until = None if duration is None else ts + duration * 1000
        ban = Ban(user_id=target, by=user, created_at=ts, until=until, reason=reason, shadow=shadow)
        await self._store.put_ban(room_id, ban)
        name = "shadow_ban" if shadow else "timeout" if until is not None else "ban"
        await self._log(
            room_id,
            ModAction(
                action=name,
                by=user,
                ts=ts,
                target_user_id=target,
                reason=reason,
                details={"until": until, "kick": kick},
            ),
        )
        body = {"op": "ban", "ban": ban.to_wire(), "kick": kick}
        await self._node.publish(room_id, Push.MODERATION, orjson.dumps(body))
        return {"ban": ban.to_wire()}

    async def unban(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _staff(session)
        target = validate_user_id(args["user_id"])
        in_force = {b.user_id: b for b in await self._store.bans(room_id, now_ms())}
        lifted = in_force.get(target)
        if lifted is None or not await self._store.remove_ban(room_id, target):
            raise request_error(ErrorCode.NOT_FOUND, "this user is not banned in this room")
        await self._log(
            room_id, ModAction(action="unban", by=user, ts=now_ms(), target_user_id=target)
        )
        body = {"op": "unban", "user_id": target, "shadow": lifted.shadow}
        await self._node.publish(room_id, Push.MODERATION, orjson.dumps(body))
        return {"user_id": target}

    async def list_bans(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = _staff(session)
        bans = await self._store.bans(room_id, now_ms())
        return {"bans": [b.to_wire() for b in bans]}

    def _on_moderation(self, room_id: str, frame: bytes) -> None:
        """A ban or unban made on any node (this one included) reaches this node."""
        try:
            body = orjson.loads(frame)
            op = body["op"]
        except (ValueError, KeyError, TypeError):
            return
        state = self._rooms.get(room_id)
        if op == "ban":
            ban = Ban.from_wire(body["ban"])
            if state is not None:
                state.bans[ban.user_id] = ban
            self._tell_banned(room_id, ban, kick=bool(body.get("kick")))
        elif op == "filter":
            if state is not None:
                self._reload_soon(room_id)
        elif op == "unban":
            user_id = str(body["user_id"])
            if state is not None:
                state.bans.pop(user_id, None)
            if body.get("shadow"):
                return  # the user was never told
            for session in self._sessions_of(room_id, user_id):
                session.send(push_frame("unbanned", {}))

    def _tell_banned(self, room_id: str, ban: Ban, *, kick: bool) -> None:
        if ban.shadow:
            return  # a shadow-banned user is told nothing
        now = now_ms()
        for session in self._sessions_of(room_id, ban.user_id):
            if session.user is None or _acting(ban, session.user, now) is None:
                continue
            body = {"until": ban.until, "reason": ban.reason, "ban": ban.to_wire()}
            session.send(push_frame("banned", body))
            if kick:
                session.close(CloseCode.KICKED, "banned from the room")

    # The word filter ----------------------------------------------------------------------

    async def filter_add(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _admin(session)
        scope = _scope(args.get("scope"), room_id)
        pattern = args["pattern"].strip()
        if not 1 <= len(pattern.strip("*")) <= MAX_PATTERN_CHARS or not fold_word(
            pattern.strip("*")
        ):
            raise request_error(
                ErrorCode.INVALID_FIELD, f"pattern must have 1-{MAX_PATTERN_CHARS} letters"
            )
        action = args.get("action", "block")
        if action not in ACTIONS:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"action must be one of {', '.join(ACTIONS)}"
            )
        entry = FilterEntry(pattern, action)
        await self._store.put_filter_entry(scope, entry)
        await self._filters_changed(room_id, scope, user, "filter_add", entry)
        return {
            "entry": {"pattern": entry.pattern, "action": entry.action},
            "scope": args.get("scope", "room"),
        }

    async def filter_remove(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _admin(session)
        scope = _scope(args.get("scope"), room_id)
        pattern = args["pattern"].strip()
        if not await self._store.remove_filter_entry(scope, pattern):
            raise request_error(ErrorCode.NOT_FOUND, "no such entry")
        await self._filters_changed(
            room_id, scope, user, "filter_remove", FilterEntry(pattern, "block")
        )
        return {}

    async def list_filters(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = _admin(session)
        scope = _scope(args.get("scope"), room_id)
        entries = await self._store.filter_entries(scope)
        return {"entries": [{"pattern": e.pattern, "action": e.action} for e in entries]}

    async def _filters_changed(
        self, room_id: str, scope: str, user: User, action: str, entry: FilterEntry
    ) -> None:
        details = {"pattern": entry.pattern, "scope": "server" if scope == SERVER_SCOPE else "room"}
        if action == "filter_add":
            details["action"] = entry.action
        await self._log(room_id, ModAction(action=action, by=user, ts=now_ms(), details=details))
        if scope == SERVER_SCOPE:
            await self.reload_server_words()  # other nodes: within the reload period
        else:
            body = {"op": "filter"}
            await self._node.publish(room_id, Push.MODERATION, orjson.dumps(body))

    def _reload_soon(self, room_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_words(room_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_words(self, room_id: str) -> None:
        try:
            entries = await self._store.filter_entries(room_id)
        except StoreUnavailable:
            return  # the reconcile after an outage reads it again
        state = self._rooms.get(room_id)
        if state is not None:
            state.words = WordFilter(entries)

    # Purge --------------------------------------------------------------------------------

    async def purge(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Soft-delete every message of a user in the room (or those of the last ``within``
        seconds) through one stream event."""
        user, room_id = _staff(session)
        target = validate_user_id(args["user_id"])
        within = args.get("within")
        if within is not None and within > MAX_BAN_SECONDS:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"within must be 1-{MAX_BAN_SECONDS} seconds"
            )
        ts = now_ms()
        since = 0 if within is None else ts - within * 1000
        result = await self._messages.purge_user(room_id, target, since=since, by=user, ts=ts)
        count = 0 if result is None else result[1].count
        await self._log(
            room_id,
            ModAction(
                action="purge",
                by=user,
                ts=ts,
                target_user_id=target,
                details={"since": since, "count": count},
            ),
        )
        if result is None:
            return {"seq": None, "count": 0}
        seq, purge = result
        await self._node.publish(room_id, Push.STREAM, purge_push(seq, purge), seq=seq)
        state = self._rooms.get(room_id)
        pinned = state.pin.message if state is not None and state.pin is not None else None
        if pinned is not None and pinned.user.id == target and pinned.ts >= since:
            await self.message_deleted(room_id, pinned.id, user)
        return {"seq": seq, "count": purge.count}

    # Room modes and the pin ---------------------------------------------------------------

    async def room_mode(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _staff(session)
        changes = _mode_changes(args, self._settings.max_message_chars)
        if not changes:
            raise request_error(ErrorCode.MISSING_FIELD, "room_mode needs a setting to change")
        state = await self._state(room_id)
        settings = state.settings.updated(changes)
        await self._store.put_room_settings(room_id, settings)
        await self._log(
            room_id, ModAction(action="room_mode", by=user, ts=now_ms(), details=changes)
        )
        frame = push_frame("room_settings", {"settings": settings.to_wire()})
        await self._node.publish(room_id, Push.ROOM_SETTINGS, frame)
        return {"settings": settings.to_wire()}

    def _on_settings(self, room_id: str, frame: bytes) -> bool:
        state = self._rooms.get(room_id)
        if state is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                state.settings = RoomSettings.from_wire(orjson.loads(frame)["settings"])
        return True

    async def pin(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _staff(session)
        message_id, text = args.get("message_id"), args.get("text")
        if (message_id is None) == (text is None):
            raise request_error(ErrorCode.INVALID_FIELD, "pin takes message_id or text")
        message = None
        if message_id is not None:
            message = await self._messages.get_message(room_id, message_id)
            if message is None or message.deleted:
                raise request_error(ErrorCode.NOT_FOUND, "no such message in this room")
        else:
            text = validate_text(text, self._settings.max_message_chars)
        pin = Pin(by=user, ts=now_ms(), message=message, text=text)
        await self._store.put_pin(room_id, pin)
        await self._log(
            room_id,
            ModAction(
                action="pin",
                by=user,
                ts=pin.ts,
                message_id=message_id,
                details={"text": text} if text else {},
            ),
        )
        await self._publish_pin(room_id, pin)
        return {"pin": pin.to_wire()}

    async def unpin(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = _staff(session)
        await self._store.put_pin(room_id, None)
        await self._log(room_id, ModAction(action="unpin", by=user, ts=now_ms()))
        await self._publish_pin(room_id, None)
        return {}

    async def message_deleted(self, room_id: str, message_id: str, by: User) -> None:
        """A message was deleted: if it is the pinned one, the pin goes with it."""
        state = await self._state(room_id)
        pin = state.pin
        if pin is None or pin.message is None or pin.message.id != message_id:
            return
        await self._store.put_pin(room_id, None)
        await self._log(
            room_id,
            ModAction(
                action="unpin",
                by=by,
                ts=now_ms(),
                message_id=message_id,
                reason="the pinned message was deleted",
            ),
        )
        await self._publish_pin(room_id, None)

    async def _publish_pin(self, room_id: str, pin: Pin | None) -> None:
        frame = push_frame("pin", {"pin": pin.to_wire() if pin else None})
        await self._node.publish(room_id, Push.PIN, frame)

    def _on_pin(self, room_id: str, frame: bytes) -> bool:
        state = self._rooms.get(room_id)
        if state is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                data = orjson.loads(frame)["pin"]
                state.pin = Pin.from_wire(data) if data else None
        return True

    # The log ------------------------------------------------------------------------------

    async def mod_log(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = _staff(session)
        limit = args.get("limit", 50)
        if limit > _LOG_PAGE_MAX:
            raise request_error(ErrorCode.INVALID_FIELD, f"limit must be 1-{_LOG_PAGE_MAX}")
        entries = await self._store.mod_log(room_id, before_id=args.get("before"), limit=limit + 1)
        has_more = len(entries) > limit
        return {"entries": [e.to_wire() for e in entries[:limit]], "has_more": has_more}

    async def _log(self, room_id: str, action: ModAction) -> ModAction:
        return await self._store.log_action(room_id, action)


def _admin(session: Session) -> tuple[User, str]:
    user, room_id = session.member()
    if user.role != "admin":
        raise request_error(ErrorCode.FORBIDDEN, "only admins manage the word filter")
    return user, room_id


def _scope(value: Any, room_id: str) -> str:
    if value in (None, "room"):
        return room_id
    if value == "server":
        return SERVER_SCOPE
    raise request_error(ErrorCode.INVALID_FIELD, "scope must be room or server")


def _staff(session: Session) -> tuple[User, str]:
    user, room_id = session.member()
    if not is_staff(user):
        raise request_error(ErrorCode.FORBIDDEN, "only moderators and admins moderate")
    return user, room_id


def _acting(ban: Ban | None, user: User, now: int) -> Ban | None:
    """``ban`` if it is in force and acts on ``user`` (a role below the banning one's)."""
    if ban is None or not ban.active(now):
        return None
    if ROLE_RANK.get(user.role, 0) >= ROLE_RANK.get(ban.by.role, 0):
        return None
    return ban


def _banned(ban: Ban) -> Exception:
    if ban.until is None:
        return request_error(ErrorCode.BANNED, "you are banned from writing in this room")
    wait = max(1, ban.until - int(time.time() * 1000))
    return request_error(
        ErrorCode.BANNED,
        "you are timed out in this room",
        retry_after_ms=wait,
        until=ban.until,
    )


def _reason(value: Any) -> str:
    if value is None:
        return ""
    text = " ".join(str(value).split())
    if len(text) > MAX_REASON_CHARS:
        raise request_error(
            ErrorCode.INVALID_FIELD, f"reason must be at most {MAX_REASON_CHARS} characters"
        )
    return text


def _mode_changes(args: dict[str, Any], server_max: int) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "slow_mode" in args:
        if args["slow_mode"] > MAX_SLOW_MODE:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"slow_mode must be 0-{MAX_SLOW_MODE} seconds"
            )
        changes["slow_mode"] = args["slow_mode"]
    if "unique_chat" in args:
        changes["unique_chat"] = args["unique_chat"]
    if "max_message_chars" in args:
        if args["max_message_chars"] > server_max:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"max_message_chars must be 0-{server_max}"
            )
        changes["max_message_chars"] = args["max_message_chars"]
    if "mode" in args:
        if args["mode"] not in MODES:
            raise request_error(ErrorCode.INVALID_FIELD, f"mode must be one of {', '.join(MODES)}")
        changes["mode"] = args["mode"]
    if "hold" in args:
        changes["hold"] = args["hold"]
    if "delay" in args:
        if args["delay"] > MAX_DELAY:
            raise request_error(ErrorCode.INVALID_FIELD, f"delay must be 0-{MAX_DELAY} seconds")
        changes["delay"] = args["delay"]
    return changes


def _same_text_key(text: str) -> str:
    """What unique-chat mode compares: case, compatibility forms and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
