"""Polls: create (now or scheduled), vote once, finish; ``poll`` pushes.

A scheduled poll is stored with its publish time; every node arms a timer for each
scheduled poll at start and on creation. When a timer fires the store's conditional
``publish_poll`` decides the one winner, which pushes the poll — exactly once, even after a
restart or with several nodes. Tally pushes are coalesced per poll over
``poll_tally_interval`` and carry the store's exact counts.

Each node keeps the room's open and finished polls for connect replies, and the latest
state of each poll it has seen (read or pushed). A poll's state only moves forward — status
``scheduled`` → ``open`` → ``finished``, votes only added — so a ``poll`` push older than a
state already seen (one queued during a broker outage and sent late) is not delivered.
After a broker outage :meth:`PollService.reconcile` re-reads the store and pushes, to this
node's connections, each poll whose state this node had not seen: pushes lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import push_frame
from pchat.protocol.models import Poll, PollOption, User
from pchat.protocol.validation import validate_poll, validate_publish_at
from pchat.storage.base import PollStore, StoreUnavailable

from .clock import now_ms
from .limits import Limiter
from .node import Node, Push
from .permissions import is_staff
from .ratelimit import BucketMap
from .session import Handler, OpenDoor, Session, WriteGuard
from .settings import CoreSettings
from .singleflight import SingleFlight

__all__ = ["PollService"]

log = logging.getLogger(__name__)

_VISIBLE = ("open", "finished")
_ALL = ("scheduled", "open", "finished")
_LIVE = ("scheduled", "open")
_STATUS_RANK = {status: rank for rank, status in enumerate(_ALL)}


def _progress(poll: Poll) -> tuple[int, int]:
    """How far a poll has come; it never goes back."""
    return _STATUS_RANK.get(poll.status, 0), poll.total_votes


class PollService:
    """Poll requests and the scheduler of one node."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        node: Node,
        store: PollStore,
        limiter: Limiter,
        guard: WriteGuard | None = None,
    ) -> None:
        self._settings = settings
        self._guard = guard or OpenDoor()
        self._node = node
        self._store = store
        self._limiter = limiter
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cache: dict[str, list[Poll]] = {}
        self._reads: SingleFlight[str, list[Poll]] = SingleFlight()
        self._versions: dict[str, int] = {}
        self._buckets = BucketMap(settings.rate_polls, settings.rate_polls_burst)
        #: The latest state of each poll seen here (read or pushed), per room.
        self._seen: dict[str, dict[str, Poll]] = {}
        node.filter(Push.POLL, self.observe)
        node.on_room_closed(self.forget)

    def handlers(self) -> dict[str, Handler]:
        return {
            "poll_create": self.create,
            "poll_vote": self.vote,
            "poll_finish": self.finish,
            "polls": self.list_polls,
        }

    async def room_state(self, room_id: str, user: User) -> dict[str, Any]:
        """This module's part of a connect reply's ``room``."""
        polls, more = await self.for_connect(room_id, user)
        return {"polls": polls, "polls_more": more}

    async def scan(self) -> None:
        """Arm a timer for every scheduled poll not armed here yet.

        At start this picks up polls scheduled before a restart; periodically, polls
        created on other nodes or workers, so that one of them publishes even when the
        creating node is gone.
        """
        for room_id, poll_id, publish_at in await self._store.scheduled_polls():
            if (room_id, poll_id) not in self._timers:
                self._arm(room_id, poll_id, publish_at)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Requests -----------------------------------------------------------------------------

    async def create(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = self._staff(session)
        question, options = validate_poll(args["question"], args["options"])
        now = now_ms()
        publish_at = validate_publish_at(args.get("publish_at"), now)
        scheduled = publish_at is not None and publish_at > now
        await self._limiter.take(session, self._buckets, f"poll:{user.id}")
        cap = self._settings.max_open_polls
        if cap is not None and len(await self._store.list_polls(room_id, _LIVE)) >= cap:
            raise request_error(
                ErrorCode.LIMIT_REACHED,
                f"this room has {cap} open or scheduled polls: finish one first",
            )
        poll = Poll(
            id=secrets.token_hex(8),
            question=question,
            options=tuple(PollOption(o) for o in options),
            status="scheduled" if scheduled else "open",
            created_by=user,
            created_at=now,
            publish_at=publish_at,
            published_at=None if scheduled else now,
        )
        poll = await self._store.create_poll(room_id, poll)
        if scheduled:
            assert publish_at is not None
            self._arm(room_id, poll.id, publish_at)
        else:
            await self._push(room_id, poll)
        return {"poll": poll.to_wire()}

    async def vote(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        user, room_id = session.member()
        option = args["option"]
        await self._guard.check_write(session, "vote")
        poll = await self._store.vote(room_id, args["poll_id"], user.id, option)
        self._mark_dirty(room_id, poll.id)
        wire = poll.to_wire()
        wire["my_vote"] = option
        return {"poll": wire}

    async def finish(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        _user, room_id = self._staff(session)
        poll = await self._store.finish_poll(room_id, args["poll_id"], now_ms())
        timer = self._timers.pop((room_id, poll.id), None)
        if timer is not None:
            timer.cancel()
        self._dirty.discard((room_id, poll.id))
        await self._push(room_id, poll)
        return {"poll": poll.to_wire()}

    async def list_polls(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """One page of the polls the user may see: the newest ``limit`` created before the
        poll ``before`` (default: the newest), oldest first."""
        user, room_id = session.member()
        settings = self._settings
        limit = args.get("limit", settings.polls_page_max)
        if limit > settings.polls_page_max:
            raise request_error(
                ErrorCode.INVALID_FIELD, f"limit must be 1-{settings.polls_page_max}"
            )
        polls = await self._polls_for(room_id, user)
        end = len(polls)
        before = args.get("before")
        if before is not None:
            end = next((i for i, p in enumerate(polls) if p.id == before), -1)
            if end < 0:
                raise request_error(ErrorCode.NOT_FOUND, "no such poll in this room")
        start = max(0, end - limit)
        page = await self._with_votes(room_id, user, polls[start:end])
        return {"polls": page, "has_more": start > 0}

    async def for_connect(self, room_id: str, user: User) -> tuple[list[dict[str, Any]], bool]:
        """The polls of a connect reply: every open (and, for staff, scheduled) poll and the
        newest finished ones, oldest first; True when older finished polls were left out."""
        polls = await self._polls_for(room_id, user)
        keep = self._settings.polls_in_connect
        finished = [i for i, p in enumerate(polls) if p.status == "finished"]
        dropped = set(finished[: max(0, len(finished) - keep)])
        shown = [p for i, p in enumerate(polls) if i not in dropped]
        return await self._with_votes(room_id, user, shown), bool(dropped)

    async def _polls_for(self, room_id: str, user: User) -> list[Poll]:
        """Every poll ``user`` may see, oldest first."""
        if is_staff(user):  # few, and they also see scheduled polls, which push nothing
            polls = await self._store.list_polls(room_id, _ALL)
            self._note(room_id, polls)
            return polls
        return await self._visible_polls(room_id)

    async def _with_votes(
        self, room_id: str, user: User, polls: list[Poll]
    ) -> list[dict[str, Any]]:
        """The polls on the wire, each with ``my_vote`` when the user voted."""
        votes = await self._store.user_votes(room_id, user.id) if polls else {}
        out = []
        for poll in polls:
            wire = poll.to_wire()
            if poll.id in votes:
                wire["my_vote"] = votes[poll.id]
            out.append(wire)
        return out

    async def _visible_polls(self, room_id: str) -> list[Poll]:
        """The room's open and finished polls, from a cache that every ``poll`` push through
        this node clears: each change of them anywhere in the cluster (publish, tally,
        finish) is pushed to every node with members."""
        cached = self._cache.get(room_id)
        if cached is not None:
            return cached
        return await self._reads.do(room_id, lambda: self._read_visible(room_id))

    async def _read_visible(self, room_id: str) -> list[Poll]:
        version = self._versions.get(room_id, 0)
        polls = await self._store.list_polls(room_id, _VISIBLE)
        if self._versions.get(room_id, 0) == version:  # no change while we read
            self._cache[room_id] = polls
        self._note(room_id, polls)
        return polls

    def changed(self, room_id: str) -> None:
        """A poll of the room changed: forget the cached list."""
        self._cache.pop(room_id, None)
        self._versions[room_id] = self._versions.get(room_id, 0) + 1

    def observe(self, room_id: str, payload: bytes) -> bool:
        """A ``poll`` push reached this node: forget the cached list. False if the push is
        older than a state of the poll seen here already (sent late after a broker
        outage): it must not be delivered."""
        try:
            poll = Poll.from_wire(orjson.loads(payload)["poll"])
        except (ValueError, KeyError, TypeError):
            log.warning("room %s: a poll push that does not parse", room_id)
            self.changed(room_id)
            return True
        held = self._seen.get(room_id, {}).get(poll.id)
        if held is not None and _progress(poll) < _progress(held):
            return False
        self._note(room_id, [poll])
        self.changed(room_id)
        return True

    def _note(self, room_id: str, polls: Iterable[Poll]) -> None:
        """Remember the latest state of each poll (a read may be older than a push)."""
        seen = self._seen.setdefault(room_id, {})
        for poll in polls:
            held = seen.get(poll.id)
            if held is None or _progress(held) <= _progress(poll):
                seen[poll.id] = poll

    async def reconcile(self, room_id: str) -> None:
        """After a broker outage (``poll`` pushes may have been lost): forget the cached
        list, re-read the room's open and finished polls, and push to this node's
        connections each one in a state not seen here."""
        seen = dict(self._seen.get(room_id, {}))
        self.changed(room_id)
        for poll in await self._visible_polls(room_id):
            held = seen.get(poll.id)
            if held is None or _progress(held) < _progress(poll):
                self._node.push_local(room_id, push_frame("poll", {"poll": poll.to_wire()}))

    async def reconcile_all(self) -> None:
        """:meth:`reconcile` every room open on this node."""
        for room_id in self._node.room_ids():
            await self.reconcile(room_id)

    async def forget(self, room_id: str) -> None:
        """The room closed on this node."""
        self._cache.pop(room_id, None)
        self._versions.pop(room_id, None)
        self._seen.pop(room_id, None)

    # Helpers ------------------------------------------------------------------------------

    def _staff(self, session: Session) -> tuple[User, str]:
        user, room_id = session.member()
        if not is_staff(user):
            raise request_error(ErrorCode.FORBIDDEN, "only moderators and admins manage polls")
        return user, room_id

    async def _push(self, room_id: str, poll: Poll) -> None:
        await self._node.publish(room_id, Push.POLL, push_frame("poll", {"poll": poll.to_wire()}))

    def _spawn(self, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        task = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Scheduling ---------------------------------------------------------------------------

    def _arm(self, room_id: str, poll_id: str, publish_at: int) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, publish_at / 1000 - time.time())
        old = self._timers.pop((room_id, poll_id), None)
        if old is not None:
            old.cancel()
        self._timers[(room_id, poll_id)] = loop.call_later(
            delay, self._spawn, self._publish, room_id, poll_id, publish_at
        )

    async def _publish(self, room_id: str, poll_id: str, publish_at: int) -> None:
        self._timers.pop((room_id, poll_id), None)
        now = now_ms()
        if now < publish_at:
            # Loop timers run on the monotonic clock and may fire a little before the wall
            # clock reaches the scheduled time: never publish early, wait for the rest.
            self._arm(room_id, poll_id, publish_at)
            return
        try:
            poll = await self._store.publish_poll(room_id, poll_id, now)
        except StoreUnavailable as exc:
            log.warning(
                "publishing poll %s in %s: store unavailable (%s); retrying in 1 s",
                poll_id,
                room_id,
                exc,
            )
            self._arm(room_id, poll_id, now_ms() + 1000)
            return
        except Exception:
            log.exception("publishing poll %s in %s failed; retrying in 1 s", poll_id, room_id)
            self._arm(room_id, poll_id, now_ms() + 1000)
            return
        if poll is not None:
            log.info("poll %s published in %s at %s", poll_id, room_id, datetime.now(UTC))
            await self._push(room_id, poll)

    # Tally coalescing ---------------------------------------------------------------------

    def _mark_dirty(self, room_id: str, poll_id: str) -> None:
        self._dirty.add((room_id, poll_id))
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(
                self._settings.poll_tally_interval, self._spawn, self._flush_tallies
            )

    async def _flush_tallies(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, set()
        for room_id, poll_id in dirty:
            poll = await self._store.get_poll(room_id, poll_id)
            if poll is not None:
                await self._push(room_id, poll)
