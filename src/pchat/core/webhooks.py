"""Webhooks: room events POSTed to the operator's endpoints, signed, at least once.

Theory of operation::

    a change (send, delete, purge, ban, unban, poll)        LiveState (online counts)
        │ the store writes the event in the change's              │ observe_online
        │ transaction, one outbox row per subscriber               ▼
        ▼                                                  store.set_room_live (same way)
    ┌──────────── webhook_outbox (the store: durable, shared by the nodes) ────────────┐
    └──────────────────────────────────────────────────────────────────────────────────┘
        │ claim_webhooks: due rows, each to one claimer, under a lease
        ▼
    Webhooks.deliver_due (every node, job "webhook-delivery") ── Poster.post (server/)
        │ 2xx: webhook_delivered (row gone)
        │ else: webhook_failed — due again after the backoff, or dead after the last attempt

- **Nothing lost.** An event is in the outbox once its change committed (same transaction),
  and leaves it only when an endpoint answered ``2xx`` or after the last attempt. A node
  that dies mid-delivery leaves its claim to expire: the lease (twice the attempt's timeout
  plus 5 s) ends and any node claims the row again.
- **No two nodes deliver one event** while they live: a claim hands each row to exactly
  one claimer, and a node sends only while its lease has the whole attempt's timeout left.
  The receiver sees one event twice only when a node died (or stalled past its lease) after
  the POST and before recording the answer: deduplicate by the ``pchat-event-id`` header.
- **Zero cost without subscribers.** The store writes an event only when its type is in
  :attr:`~pchat.storage.base.WebhookStore.webhook_types` (a frozenset the store keeps; this
  module reloads it every few seconds, so an endpoint added on another node gets events from
  every node within :data:`TYPES_RELOAD` seconds). No endpoint: the delivery job does not
  even look at the outbox.
- **Order** is best effort: rows are claimed oldest first, but deliveries run concurrently
  and a failed one is retried later, after younger ones.
- ``room.live`` / ``room.empty`` come from the online counts each node observes (a room's
  count going above 0, or to 0 when the last node closes it): they alternate whichever
  nodes report, but a room whose last node dies gets its ``room.empty`` only when a node
  opens and closes it again.

Retries: attempt ``n`` (from 1) failed → the next after ``min(cap, base·2^(n-1))`` seconds
times a random factor in [0.5, 1] ("equal jitter"), until :attr:`Backoff.max_attempts`;
then the delivery is *dead*: kept :data:`DEAD_KEPT_S` seconds for ``retry_dead_webhooks``.

The HTTP client is not here (the core does no I/O of its own): the server injects a
:class:`Poster`. Signatures: :mod:`pchat.protocol.signing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from pchat.protocol import webhooks as events
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from pchat.storage.base import StoreUnavailable, WebhookDelivery, WebhookEndpoint, WebhookStore

from .clock import now_ms
from .settings import CoreSettings

__all__ = [
    "ATTEMPT_HEADER",
    "DEAD_KEPT_S",
    "MAX_URL_CHARS",
    "TYPES_RELOAD",
    "Backoff",
    "PostFailed",
    "Poster",
    "TestResult",
    "Webhooks",
    "new_secret",
    "register",
    "signed_headers",
    "validate_description",
    "validate_secret",
    "validate_types",
    "validate_url",
]

log = logging.getLogger(__name__)

#: The attempt's number (1 for the first), a header of every delivery.
ATTEMPT_HEADER: Final = "pchat-delivery-attempt"
#: Seconds between reloads of the subscribed types (endpoints changed on other nodes).
TYPES_RELOAD: Final = 2.0
#: Seconds a dead delivery is kept for a retry, then forgotten (7 days).
DEAD_KEPT_S: Final = 7 * 24 * 3600
#: The longest endpoint URL accepted.
MAX_URL_CHARS: Final = 2048
_MIN_SECRET_CHARS: Final = 16
_MAX_SECRET_CHARS: Final = 256
_MAX_DESCRIPTION_CHARS: Final = 200
#: Seconds of a lease kept free after an attempt's timeout (to record its outcome).
_LEASE_MARGIN: Final = 5.0


class PostFailed(Exception):
    """A POST got no HTTP answer: refused, reset, a name that does not resolve, …"""


class Poster(Protocol):
    """Sends one webhook request (the server's HTTP client implements it)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        """POST ``body`` with ``headers`` to ``url`` (redirects not followed) within
        ``timeout`` seconds, connecting included; the status. Raise :class:`PostFailed`
        without an answer, :class:`TimeoutError` when the time ran out."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failed delivery is tried again, and when it is given up."""

    base: float
    cap: float
    max_attempts: int

    def delay(self, attempts: int, rng: random.Random) -> float | None:
        """Seconds until the next attempt after ``attempts`` failed ones; None: give up."""
        if attempts >= self.max_attempts:
            return None
        full = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return full * (0.5 + 0.5 * rng.random())

    def schedule(self) -> list[float]:
        """The longest wait after each failed attempt but the last (for the docs)."""
        return [min(self.cap, self.base * 2.0**n) for n in range(self.max_attempts - 1)]


@dataclass(frozen=True, slots=True)
class TestResult:
    """What one test delivery got: the status, or the error without an answer."""

    event_id: str
    status: int | None
    error: str | None
    ms: int

    @property
    def ok(self) -> bool:
        return _ok(self.status)


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def signed_headers(
    secret: str, body: bytes, event_id: str, event_type: str, attempt: int
) -> dict[str, str]:
    """The headers of one delivery, its signature made now."""
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, body),
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        ATTEMPT_HEADER: str(attempt),
    }


# -- registration -------------------------------------------------------------------------------


def validate_url(url: object) -> str:
    """An absolute ``http``/``https`` URL with a host, without credentials or a fragment."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise request_error(ErrorCode.INVALID_FIELD, f"url must be 1-{MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise request_error(ErrorCode.INVALID_FIELD, "url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise request_error(ErrorCode.INVALID_FIELD, "url must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise request_error(ErrorCode.INVALID_FIELD, "url must have no credentials or fragment")
    if any(c.isspace() for c in url) or port == 0:
        raise request_error(ErrorCode.INVALID_FIELD, "url is not a valid URL")
    return url


def validate_types(types: object) -> tuple[str, ...]:
    """Event types, each known (or ``*``), at least one; duplicates dropped, order kept."""
    if not isinstance(types, (list, tuple)) or not types:
        raise request_error(ErrorCode.INVALID_FIELD, "types must be a non-empty list")
    known = (*events.EVENT_TYPES, events.ALL_TYPES)
    for kind in types:
        if kind not in known:
            raise request_error(
                ErrorCode.INVALID_FIELD,
                f"unknown event type {kind!r} (known: {', '.join(known)})",
            )
    return tuple(dict.fromkeys(types))


def validate_secret(secret: object) -> str:
    if (
        not isinstance(secret, str)
        or not _MIN_SECRET_CHARS <= len(secret) <= _MAX_SECRET_CHARS
        or not secret.isprintable()
    ):
        raise request_error(
            ErrorCode.INVALID_FIELD,
            f"secret must be {_MIN_SECRET_CHARS}-{_MAX_SECRET_CHARS} printable characters",
        )
    return secret


def validate_description(description: object) -> str:
    if not isinstance(description, str) or len(description) > _MAX_DESCRIPTION_CHARS:
        raise request_error(
            ErrorCode.INVALID_FIELD, f"description must be at most {_MAX_DESCRIPTION_CHARS} chars"
        )
    return description


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and 32 URL-safe characters."""
    return "whsec_" + secrets.token_urlsafe(24)


async def register(
    store: WebhookStore,
    url: object,
    types: object = (events.ALL_TYPES,),
    *,
    secret: object = None,
    description: object = "",
) -> WebhookEndpoint:
    """Validate and store a new endpoint (a secret made here unless given); it gets events
    from this node at once, from the others within :data:`TYPES_RELOAD` seconds."""
    endpoint = WebhookEndpoint(
        id="wh_" + secrets.token_hex(8),
        url=validate_url(url),
        secret=new_secret() if secret is None else validate_secret(secret),
        types=validate_types(types),
        created_at=now_ms(),
        description=validate_description(description),
    )
    await store.add_webhook(endpoint)
    return endpoint


# -- the node's part ----------------------------------------------------------------------------


class Webhooks:
    """This node's webhook work: rooms going live or empty, and delivering due events.

    Without a ``poster`` the node records events but delivers none (another node does).
    """

    def __init__(
        self,
        settings: CoreSettings,
        *,
        store: WebhookStore,
        poster: Poster | None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._poster = poster
        self._rng = rng or random.Random()
        self._timeout = settings.webhook_timeout
        self._lease_s = 2 * settings.webhook_timeout + _LEASE_MARGIN
        self._concurrency = settings.webhook_concurrency
        self.backoff = Backoff(
            settings.webhook_retry_base, settings.webhook_retry_max, settings.webhook_max_attempts
        )
        #: Rooms this node reported live (it reports each change once).
        self._live: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished = asyncio.Event()

    async def reload_types(self) -> None:
        """The job of every few seconds: endpoints may have changed on another node."""
        await self._store.reload_webhook_types()

    async def forget_dead(self) -> None:
        """The hourly job: dead deliveries older than :data:`DEAD_KEPT_S` go."""
        await self._store.forget_dead_webhooks(now_ms() - DEAD_KEPT_S * 1000)

    # Rooms live and empty ---------------------------------------------------------------------

    async def observe_online(self, room_id: str, online: int, closed: bool = False) -> None:
        """A room-wide online count seen here (``closed``: as the room closed on this
        node). Reports a room becoming live or empty to the store, which alternates them.
        Never raises: a report the store refused is made again at the next count."""
        types = self._store.webhook_types
        watched = events.subscribed(types, events.ROOM_LIVE) or events.subscribed(
            types, events.ROOM_EMPTY
        )
        if not watched or closed:
            self._live.discard(room_id)
            if not watched or online > 0:
                return
        live = online > 0
        if not closed and live == (room_id in self._live):
            return
        try:
            await self._store.set_room_live(room_id, live, now_ms(), online)
        except StoreUnavailable as exc:
            log.warning("room %r: its %s state not recorded (%s)", room_id, live, exc)
            return
        if live:
            self._live.add(room_id)
        else:
            self._live.discard(room_id)

    # Delivery ---------------------------------------------------------------------------------

    async def deliver_due(self) -> None:
        """The job of every ``webhook_poll_interval``: claim due deliveries for the free
        slots (``webhook_concurrency`` in flight at most) and start them; while whole
        batches come back, claim again as slots free up."""
        if self._poster is None or not self._store.webhook_types:
            return
        while True:
            free = self._concurrency - len(self._tasks)
            if free > 0:
                # The lease runs from the claim's time: measured before asking for it.
                deadline = time.monotonic() + self._lease_s
                lease_ms = int(self._lease_s * 1000)
                claimed = await self._store.claim_webhooks(now_ms(), lease_ms, free)
                for delivery in claimed:
                    task = asyncio.get_running_loop().create_task(self._deliver(delivery, deadline))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
                if len(claimed) < free:
                    return
            # Every slot is taken and more may be due: wait for one to free up.
            self._finished.clear()
            if len(self._tasks) >= self._concurrency:
                await self._finished.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._finished.set()

    async def stop(self) -> None:
        """Cancel the deliveries in flight: their leases end and a node delivers them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, delivery: WebhookDelivery, deadline: float) -> None:
        try:
            await self._attempt(delivery, deadline)
        except Exception:
            # The store failed to record the outcome: the lease ends, the row is due again.
            log.exception("webhook delivery %s (%s) failed", delivery.event_id, delivery.url)

    async def _attempt(self, d: WebhookDelivery, deadline: float) -> None:
        # The whole attempt must fit in the lease: past it, another node may claim the row.
        timeout = min(self._timeout, deadline - time.monotonic() - _LEASE_MARGIN)
        if timeout <= 0:
            log.warning("webhook %s not sent: its lease ran out before a start", d.event_id)
            return
        status, error = await self._post(
            d.url, d.secret, d.body, d.event_id, d.event_type, d.attempts, timeout
        )
        if _ok(status):
            await self._store.webhook_delivered(d.id, d.claim)
            return
        error = error or f"HTTP {status}"
        delay = self.backoff.delay(d.attempts, self._rng)
        now = now_ms()
        retry_at = None if delay is None else now + int(delay * 1000)
        await self._store.webhook_failed(d.id, d.claim, error=error, retry_at=retry_at, now_ms=now)
        if retry_at is None:
            log.warning(
                "webhook %s (%s) to %s given up after %d attempts: %s",
                d.event_id,
                d.event_type,
                d.url,
                d.attempts,
                error,
            )

    async def _post(
        self,
        url: str,
        secret: str,
        body: bytes,
        event_id: str,
        event_type: str,
        attempt: int,
        timeout: float,
    ) -> tuple[int | None, str | None]:
        """POST once: the answer's status, or None and what went wrong."""
        assert self._poster is not None
        headers = signed_headers(secret, body, event_id, event_type, attempt)
        try:
            # A poster that overran its timeout must not overrun the lease.
            async with asyncio.timeout(timeout + 1.0):
                return await self._poster.post(url, body, headers, timeout), None
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except PostFailed as exc:
            return None, str(exc) or type(exc).__name__

    async def send_test(self, endpoint: WebhookEndpoint) -> TestResult:
        """POST one ``webhook.test`` event to the endpoint now, outside the outbox (no
        retry), whatever its types and even if inactive; what it answered."""
        if self._poster is None:
            raise request_error(ErrorCode.UNAVAILABLE, "this node delivers no webhooks")
        event_id = events.new_event_id()
        ts = now_ms()
        body = events.body(event_id, events.TEST, None, ts, {"webhook_id": endpoint.id})
        started = time.monotonic()
        status, error = await self._post(
            endpoint.url, endpoint.secret, body, event_id, events.TEST, 1, self._timeout
        )
        ms = int((time.monotonic() - started) * 1000)
        return TestResult(event_id, status, error, ms)
