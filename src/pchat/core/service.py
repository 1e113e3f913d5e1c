"""The chat service: the node and the features of the chat core, wired together.

Transport-agnostic: the server layer creates a :class:`Session` per connection with
:meth:`ChatService.new_session`, hands it each decoded :class:`Request` and writes the
:class:`Reply`, then runs the reply's ``then`` (a connect goes live only after its reply
was written). A request that fails raises :class:`RequestError` (or
:class:`CloseRequested`); the server turns it into an error frame or a close code.

::

    ChatService ── handlers by request type ──> Connections   connect, refresh, ping
         │                                      Messages      send, history, delete
         │                                      Reactions     react, reactions_stats
         │                                      PollService   poll_create, poll_vote, …
         │                                      Moderation    ban, room_mode, pin, purge, …
         │                                      Audience      mute; who sees what
         │                                      Reports       report, reports, report_resolve
         │                                      Review        review_queue, review_approve, …
         ├── jobs (named, periodic)             LiveState     reaction totals, online counts
         │                                      Webhooks      delivering the store's outbox
         │                                      Retention     removing old history
         └── Node: rooms, publishing, delivery  <── every feature uses it, none another's

Durable state goes through the store's interfaces, fan-out between nodes through the
broker's; both are injected. Adding a request type means a handler in one feature module,
the protocol's tables and the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import REQUEST_FIELDS, Request
from pchat.storage.base import Broker, MessageStore, StoreUnavailable

from .audience import Audience
from .connect import Connections, Verifier
from .jobs import Jobs
from .limits import Limiter
from .live import LiveState
from .messages import Messages
from .moderation import Moderation
from .node import Node
from .polls import PollService
from .presend import Presend, PresendHook
from .reactions import Reactions
from .reports import Reports
from .retention import Retention
from .review import Review
from .revocations import RELOAD_INTERVAL, Revocations
from .room import Sink
from .session import CloseRequested, Handler, Session
from .settings import CoreSettings
from .tokens import RevokedTokens
from .webhooks import TYPES_RELOAD, Poster, Webhooks

__all__ = ["ChatService", "CloseRequested", "Reply", "Session"]

#: Every so many stats periods each open room's position is compared with the store's.
_CATCH_UP_PERIODS = 5
#: Seconds between reads of the server-wide blocklist (changes made on other nodes).
_BLOCKLIST_RELOAD = 5.0
#: Seconds between removals of ended timeouts from the store (they no longer act anyway).
_BANS_CLEANUP = 600.0
#: Seconds between releases of delayed messages whose time came, by any node (a message
#: accepted here is released by its own timer on time; this catches those of a node gone).
_HELD_RELEASE = 1.0
#: Seconds between removals of webhook deliveries given up long ago.
_WEBHOOK_CLEANUP = 3600.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A request's ``result``, and what to do once the reply is written (or None)."""

    result: dict[str, Any]
    then: Callable[[], None] | None = None


class ChatService:
    """The rooms of this node and every request a connected client can make."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        store: MessageStore,
        broker: Broker,
        verifier: Verifier,
        presend_hook: PresendHook | None = None,
        revoked: RevokedTokens | None = None,
        webhook_poster: Poster | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        #: True from start() until shutdown begins (close_sessions): what /readyz reports.
        self.serving = False
        self.node = Node(settings, store=store, pubsub=broker)
        limiter = Limiter(broker)
        self._limiter = limiter
        #: Events to the operator's endpoints (recorded by the store; delivered by every
        #: node given a ``webhook_poster``).
        self.webhooks = Webhooks(settings, store=store, poster=webhook_poster)
        self.live = LiveState(
            settings,
            node=self.node,
            store=store,
            presence=broker,
            on_online=self.webhooks.observe_online,
        )
        self.connections = Connections(
            settings,
            node=self.node,
            store=store,
            verifier=verifier,
            room_state=[],
            on_count=self.live.touch,
        )
        #: Revoked tokens: ``revoked`` is what the verifier consults (kept current here).
        self.revocations = Revocations(
            node=self.node,
            store=store,
            revoked=RevokedTokens() if revoked is None else revoked,
            sessions=self.sessions,
        )
        #: Who sees what: mutes, shadow and hidden messages, pushes for the staff or a user.
        self.audience = Audience(node=self.node, store=store, connections=self.connections)
        self.moderation = Moderation(
            settings,
            node=self.node,
            store=store,
            messages=store,
            limiter=limiter,
            sessions_of=self.connections.sessions_of,
        )
        guard = self.moderation
        self.reports = Reports(
            settings,
            node=self.node,
            store=store,
            messages=store,
            log=store,
            limiter=limiter,
            to_staff=self.audience.to_staff,
            on_deleted=self.moderation.message_deleted,
        )
        self.polls = PollService(
            settings, node=self.node, store=store, limiter=limiter, guard=guard
        )
        self.connections.add_room_state(self.live, self.polls, self.moderation, self.audience)
        messages = Messages(
            settings,
            node=self.node,
            store=store,
            limiter=limiter,
            guard=guard,
            on_deleted=self.reports.message_deleted,  # then the pin's
            present=self.connections.user_named,
            view_of=self.audience.view_of,
            # The review queue publishes through Messages, which holds through it.
            hold=lambda room_id, held: self.review.hold(room_id, held),
            presend=None
            if presend_hook is None
            else Presend(
                presend_hook,
                timeout_ms=settings.presend_hook_timeout_ms,
                on_failure=settings.presend_hook_on_failure,
                max_chars=settings.max_message_chars,
            ),
        )
        self.review = Review(store=store, log_store=store, node=self.node, publish=messages.publish)
        reactions = Reactions(
            settings, node=self.node, live=self.live, limiter=limiter, guard=guard
        )
        self._handlers: dict[str, Handler] = {}
        features = (
            self.connections,
            messages,
            reactions,
            self.polls,
            self.moderation,
            self.audience,
            self.review,
            self.reports,
        )
        for feature in features:
            self._handlers.update(feature.handlers())
        missing = set(REQUEST_FIELDS) - set(self._handlers)
        if missing:
            raise RuntimeError(f"request types without a handler: {sorted(missing)}")
        self._reconcile_due = False
        self.jobs = Jobs()
        period = settings.stats_interval
        self.jobs.add("reconcile-after-broker-outage", period, self._reconcile_if_due)
        self.jobs.add("reaction-stats", period, self.live.push_reaction_stats)
        self.jobs.add("presence", period, self.live.report_presence)
        self.jobs.add("stream-catch-up", period * _CATCH_UP_PERIODS, self.node.catch_up)
        self.jobs.add("scheduled-polls-scan", settings.poll_scan_interval, self.polls.scan)
        self.jobs.add(
            "server-blocklist-reload", _BLOCKLIST_RELOAD, self.moderation.reload_server_words
        )
        self.jobs.add("expired-bans-cleanup", _BANS_CLEANUP, self.moderation.forget_expired_bans)
        self.jobs.add("held-release", _HELD_RELEASE, self.review.release_due)
        self.jobs.add("revocations-reload", RELOAD_INTERVAL, self.revocations.reload)
        self.jobs.add("webhook-types-reload", TYPES_RELOAD, self.webhooks.reload_types)
        self.jobs.add("webhook-delivery", settings.webhook_poll_interval, self.webhooks.deliver_due)
        self.jobs.add("webhook-dead-cleanup", _WEBHOOK_CLEANUP, self.webhooks.forget_dead)
        #: Old history removed, room by room (the server's settings, each room's own rule).
        self.retention = Retention(settings, store=store)
        self.jobs.add("history-retention", settings.retention_interval, self.retention.run)

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.polls.scan()  # polls scheduled before a restart
        await self.moderation.reload_server_words()
        await self.revocations.start()  # before serving: a revoked token is refused at once
        await self.webhooks.reload_types()  # before serving: the first change records events
        self.jobs.start()
        self.serving = True
        # After a broker outage, what is not in the stream is re-read at the next period.
        self.broker.on_reconnect(self._reconcile_soon)

    def close_sessions(self) -> None:
        """Tell every client to reconnect elsewhere or later (server shutting down), each
        with its own jittered ``reconnect_after_ms`` hint."""
        self.serving = False
        self.connections.close_all(
            CloseCode.SHUTDOWN, "server shutting down", self.settings.reconnect_hint_max
        )

    async def stop(self) -> None:
        self.close_sessions()
        await self.jobs.stop()
        await self.webhooks.stop()
        await self.review.stop()
        await self.polls.stop()
        await self.live.stop()
        await self.node.close()

    def _reconcile_soon(self) -> None:
        self._reconcile_due = True

    async def _reconcile_if_due(self) -> None:
        """After a broker outage (other nodes' pushes may have been lost): bring what this
        node serves in line with the store — each room's stream position, its polls, its
        reaction totals and online count."""
        if not self._reconcile_due:
            return
        self._reconcile_due = False
        try:
            await self.node.catch_up()
            await self.polls.reconcile_all()
            await self.moderation.reconcile_all()
            await self.live.reconcile()
        except BaseException:
            self._reconcile_due = True  # again at the next period
            raise

    # Sessions and requests ----------------------------------------------------------------

    def new_session(
        self, sink: Sink, closer: Callable[[CloseCode, str], None], remote: str = ""
    ) -> Session:
        """A new connection (closed unless it connects in time)."""
        return self.connections.new_session(sink, closer, remote)

    async def handle(self, session: Session, request: Request) -> Reply:
        """Run one request; rate limits apply to every frame."""
        if self.settings.rate_frames is not None:
            self._limiter.frame(session)
        session.machine.check(request.type)
        try:
            result = await self._handlers[request.type](session, request.args)
        except StoreUnavailable as exc:
            # Temporary, and the connection stays open: the client retries (a connect too).
            raise request_error(ErrorCode.UNAVAILABLE, "the store is unavailable") from exc
        then, session.after_reply = session.after_reply, None
        return Reply(result, then)

    async def disconnect(self, session: Session) -> None:
        """Forget a connection that closed."""
        await self.connections.disconnect(session)

    def room_sizes(self) -> dict[str, int]:
        """The connection count of each room open on this node."""
        return self.node.sizes()

    def sessions(self) -> list[Session]:
        return list(self.connections.sessions)
