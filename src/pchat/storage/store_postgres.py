"""The cluster :class:`~pchat.storage.base.MessageStore`: PostgreSQL through asyncpg.

Every node of a cluster opens the same database (and schema); the store keeps the promises
of the SQLite store across nodes:

- **Gap-free positions without sequences.** A PostgreSQL sequence hands out numbers that
  commit out of order and leave holes on rollback, so positions come from the room's row:
  a write (an append, a delete, a purge) locks ``rooms`` (``SELECT … FOR UPDATE``), numbers
  its events from ``last_seq`` and stores the new ``last_seq`` in the same transaction.
  Writers of one room — on any node — take turns on that row lock; writers of different
  rooms never wait for each other.
- **Group commit per room.** Appends to one room queued on this node are written by one
  transaction (one lock, one multi-row insert, one commit) and answered in ``seq`` order.
- **Idempotent sends.** The ``cid`` lookup runs after the room lock is taken, so two sends
  with one ``cid`` (on one node or two) store one message.
- **Exactly once.** ``publish_poll`` is a conditional ``UPDATE``: one caller wins. Votes lock
  their poll's row, so the tallies a vote returns are exact.
- **Time never goes backwards in a room**, as in SQLite: ``ts`` grows with ``seq``, so paging
  by time becomes paging by position (one index seek on ``(room_id, ts, seq)``).

Schema: the tables live in ``schema`` (default ``public``; one schema per test, or per
tenant); its migrations are in :mod:`~pchat.storage.store_postgres_schema`. The statements
are module functions beside this one, a module per part of the store, each taking the
connection it runs on: :mod:`~pchat.storage.store_postgres_stream`,
:mod:`~pchat.storage.store_postgres_polls`, :mod:`~pchat.storage.store_postgres_moderation`,
:mod:`~pchat.storage.store_postgres_review`, :mod:`~pchat.storage.store_postgres_reports`,
:mod:`~pchat.storage.store_postgres_webhooks` and
:mod:`~pchat.storage.store_postgres_retention`.

Faults. Every operation runs within the store's time budget (``timeout``), waiting for a
pooled connection included, so a stalled database never leaves requests — or a queue of
them — waiting longer than that. Running over it, and every connection-level failure (a
lost, refused or restarting server, a connection in an unknown state), raise
:class:`~pchat.storage.base.StoreUnavailable`, which clients get as ``unavailable``
(temporary). A connection whose operation was cut short is dropped, not returned to the
pool: its state is unknown and cleaning it up would wait for the stalled server.
:attr:`PostgresStore.healthy` follows the operations, and a ``SELECT 1`` while idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import asyncpg

from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import (
    store_postgres_moderation,
    store_postgres_polls,
    store_postgres_reports,
    store_postgres_retention,
    store_postgres_review,
    store_postgres_stream,
    store_postgres_webhooks,
)
from .base import (
    AppendResult,
    DeleteResult,
    HoldResult,
    Purge,
    ReportsResolved,
    RetentionRule,
    RoomInfo,
    StoreUnavailable,
    StreamEvent,
    Trimmed,
    View,
    WebhookBacklog,
    WebhookDelivery,
    WebhookEndpoint,
)
from .store_health import StoreHealth
from .store_postgres_schema import migrate

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# What a lost, refused, restarting or stalled connection looks like: the operation may
# succeed later. InternalClientError is asyncpg's "cannot switch to state …" on a connection
# left mid-operation by a failure; OperatorInterventionError covers a server shutting down
# (AdminShutdown, CrashShutdown, CannotConnectNow) and a cancelled statement.
_UNAVAILABLE: Final = (
    OSError,  # refused, reset; TimeoutError (over the budget) is one too
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
#: Seconds a health probe may take; shorter than the budget, so health notices sooner.
_PROBE_TIMEOUT: Final = 1.0


# -- group commit of appends --------------------------------------------------------------------


@dataclass(slots=True)
class _Append:
    """A queued append: the message to store (its ``seq`` and ``ts`` are set in the batch)."""

    draft: Message
    future: asyncio.Future[AppendResult]


class PostgresStore:
    """The cluster message store on PostgreSQL; every node opens the same ``dsn``/``schema``.

    ``pool_size`` caps this node's connections; ``batch_max`` caps the appends of one room
    written by one transaction. ``timeout`` is the time budget of one operation (None: no
    budget); ``command_timeout`` bounds each statement of the migrations and, as a
    backstop, every other one.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        pool_size: int = 10,
        batch_max: int = 256,
        timeout: float | None = 3.0,
        command_timeout: float = 10.0,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")
        if batch_max < 1 or pool_size < 1:
            raise ValueError("batch_max and pool_size must be at least 1")
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._batch_max = batch_max
        self._timeout = timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._health = StoreHealth(f"postgres store ({schema})", self._probe)
        self._appends: dict[str, list[_Append]] = {}
        self._append_tasks: dict[str, asyncio.Task[None]] = {}
        #: The webhook types some endpoint subscribes to: the writes that make events check
        #: it (store_postgres_webhooks).
        self._hook_types: frozenset[str] = frozenset()

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, then create or migrate the schema."""
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self._pool_size,
            command_timeout=self._command_timeout,
            server_settings={"search_path": self.schema, "application_name": "pchat"},
        )
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._health.start()

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    async def _probe(self) -> None:
        budget = _PROBE_TIMEOUT if self._timeout is None else min(_PROBE_TIMEOUT, self._timeout)
        await self._run(lambda c: c.fetchval("SELECT 1"), timeout=budget)

    async def close(self) -> None:
        """Finish the queued appends, then close the connections (at once if the server
        does not answer)."""
        await self._health.stop()
        tasks = list(self._append_tasks.values())
        if tasks:
            await asyncio.wait(tasks)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _conn(self, timeout: float | None = None) -> AsyncIterator[_Conn]:
        """A pooled connection for one operation within the budget (``timeout`` or the
        store's), waiting for the connection included; see Faults above."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                conn = await pool.acquire()
                try:
                    yield conn
                except BaseException as exc:
                    if isinstance(exc, (asyncio.CancelledError, *_UNAVAILABLE)):
                        # Cut short or broken: never reuse it (a lost one is gone already).
                        with contextlib.suppress(asyncpg.InterfaceError):
                            conn.terminate()
                    raise
                finally:
                    await pool.release(conn)
        except _UNAVAILABLE as exc:
            self._health.failed(exc)
            raise StoreUnavailable(f"the database is unavailable ({type(exc).__name__})") from exc
        self._health.ok()

    async def _run(
        self, fn: Callable[[_Conn], Awaitable[_T]], *, timeout: float | None = None
    ) -> _T:
        async with self._conn(timeout) as conn:
            return await fn(conn)

    async def _tx(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        async with self._conn() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                result = await fn(conn)
            except Exception as exc:
                # A broken connection is dropped by _conn (the server rolls back); rolling
                # back on it would only fail again, or wait for a stalled server.
                if not isinstance(exc, _UNAVAILABLE):
                    await tx.rollback()
                raise
            await tx.commit()
            return result

    # -- the stream (store_postgres_stream) ---------------------------------------------------

    async def room(self, room_id: str) -> RoomInfo:
        return await self._run(lambda c: store_postgres_stream.ensure_room(c, room_id))

    async def find_room(self, room_id: str) -> RoomInfo | None:
        return await self._run(lambda c: store_postgres_stream.room_info(c, room_id))

    async def messages_since(self, room_id: str, ts: int) -> int:
        return await self._run(lambda c: store_postgres_stream.messages_since(c, room_id, ts))

    async def append_message(
        self,
        room_id: str,
        *,
        message_id: str,
        user: User,
        text: str,
        cid: str | None,
        ts: int,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        shadow: bool = False,
    ) -> AppendResult:
        # seq 0: store_postgres_stream.append gives the position.
        draft = Message(
            message_id, 0, ts, user, text, cid, reply_to=reply_to, mentions=mentions, shadow=shadow
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._appends.setdefault(room_id, []).append(_Append(draft, future))
        if room_id not in self._append_tasks:
            self._append_tasks[room_id] = loop.create_task(self._drain_appends(room_id))
        try:
            # Over the budget, the append is cancelled: one not yet in a transaction is never
            # written; one in a transaction may commit, and a retry with its cid finds it.
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError as exc:
            self._health.failed(exc)
            raise StoreUnavailable("the database did not answer in time") from exc

    async def _drain_appends(self, room_id: str) -> None:
        """Write the room's queued appends, a batch per transaction, until none is left."""
        try:
            while pending := self._appends.get(room_id):
                batch = [a for a in pending[: self._batch_max] if not a.future.done()]
                del pending[: self._batch_max]
                if not batch:
                    continue
                drafts = [a.draft for a in batch]
                try:
                    results = await self._tx(
                        partial(
                            store_postgres_stream.append,
                            room_id=room_id,
                            drafts=drafts,
                            types=self._hook_types,
                        )
                    )
                except Exception as exc:  # the transaction failed: no append of it holds
                    for append in batch:
                        if not append.future.done():
                            append.future.set_exception(exc)
                    continue
                for append, result in zip(batch, results, strict=True):
                    if not append.future.done():
                        append.future.set_result(result)
        finally:
            # No await since the loop ended: no append can have been queued meanwhile.
            del self._append_tasks[room_id]
            if not self._appends.get(room_id):
                self._appends.pop(room_id, None)

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        return await self._run(lambda c: store_postgres_stream.get_message(c, room_id, message_id))

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        return await self._tx(
            lambda c: store_postgres_stream.delete(c, room_id, message_id, by, ts, self._hook_types)
        )

    async def purge_user(
        self, room_id: str, user_id: str, *, since: int, by: User, ts: int
    ) -> tuple[int, Purge] | None:
        args = (room_id, user_id, since, by, ts)
        return await self._tx(lambda c: store_postgres_stream.purge(c, *args, self._hook_types))

    async def history(
        self,
        room_id: str,
        *,
        before_seq: int | None = None,
        before_ts: int | None = None,
        limit: int = 50,
        view: View | None = None,
    ) -> list[Message]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: store_postgres_stream.history(c, room_id, before_seq, before_ts, limit, view)
        )

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_stream.events(c, room_id, after_seq, limit))

    # -- reactions -------------------------------------------------------------------------

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        if not counts:
            return
        # Sorted: concurrent increments lock the rows in one order and cannot deadlock.
        names = sorted(counts)
        await self._run(
            lambda c: c.execute(
                "INSERT INTO reactions (room_id, reaction, count)"
                " SELECT $1, * FROM unnest($2::text[], $3::bigint[])"
                " ON CONFLICT (room_id, reaction)"
                " DO UPDATE SET count = reactions.count + excluded.count",
                room_id,
                names,
                [counts[n] for n in names],
            )
        )

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        rows = await self._run(
            lambda c: c.fetch(
                "SELECT reaction, count FROM reactions WHERE room_id = $1 ORDER BY reaction",
                room_id,
            )
        )
        return {row[0]: row[1] for row in rows}

    # -- polls (store_postgres_polls) ---------------------------------------------------------

    async def create_poll(self, room_id: str, poll: Poll) -> Poll:
        types = self._hook_types if poll.status == "open" else frozenset()
        run = partial(store_postgres_polls.create_poll, room_id=room_id, poll=poll, types=types)
        return await (self._tx(run) if types else self._run(run))

    async def get_poll(self, room_id: str, poll_id: str) -> Poll | None:
        return await self._run(lambda c: store_postgres_polls.get_poll(c, room_id, poll_id))

    async def list_polls(self, room_id: str, statuses: Iterable[str]) -> list[Poll]:
        wanted = sorted(set(statuses))
        if not wanted:
            return []
        return await self._run(lambda c: store_postgres_polls.list_polls(c, room_id, wanted))

    async def scheduled_polls(self) -> list[tuple[str, str, int]]:
        return await self._run(store_postgres_polls.scheduled_polls)

    async def publish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll | None:
        return await self._tx(
            lambda c: store_postgres_polls.publish_poll(c, room_id, poll_id, ts, self._hook_types)
        )

    async def vote(self, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
        return await self._tx(
            lambda c: store_postgres_polls.vote(c, room_id, poll_id, user_id, option)
        )

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        return await self._tx(
            lambda c: store_postgres_polls.finish_poll(c, room_id, poll_id, ts, self._hook_types)
        )

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        return await self._run(lambda c: store_postgres_polls.user_votes(c, room_id, user_id))

    # -- moderation (store_postgres_moderation) -----------------------------------------------

    async def put_mute(self, user_id: str, muted_id: str, ts: int) -> bool:
        return await self._run(
            lambda c: store_postgres_moderation.put_mute(c, user_id, muted_id, ts)
        )

    async def remove_mute(self, user_id: str, muted_id: str) -> bool:
        return await self._run(
            lambda c: store_postgres_moderation.remove_mute(c, user_id, muted_id)
        )

    async def mutes(self, user_id: str) -> list[str]:
        return (await self.mutes_of([user_id])).get(user_id, [])

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        if not user_ids:
            return {}
        return await self._run(lambda c: store_postgres_moderation.mutes_of(c, user_ids))

    async def revoke_tokens(self, user_id: str, before: int) -> int:
        return await self._run(
            lambda c: store_postgres_moderation.revoke_tokens(c, user_id, before)
        )

    async def revocations(self, since: int) -> dict[str, int]:
        return await self._run(lambda c: store_postgres_moderation.revocations(c, since))

    async def put_ban(self, room_id: str, ban: Ban) -> None:
        types = self._hook_types
        run = partial(store_postgres_moderation.put_ban, room_id=room_id, ban=ban, types=types)
        await (self._tx(run) if types else self._run(run))

    async def remove_ban(self, room_id: str, user_id: str) -> bool:
        types = self._hook_types
        run = partial(
            store_postgres_moderation.remove_ban, room_id=room_id, user_id=user_id, types=types
        )
        return await (self._tx(run) if types else self._run(run))

    async def bans(self, room_id: str, now_ms: int) -> list[Ban]:
        return await self._run(lambda c: store_postgres_moderation.bans(c, room_id, now_ms))

    async def forget_expired_bans(self, now_ms: int) -> int:
        return await self._run(lambda c: store_postgres_moderation.forget_expired_bans(c, now_ms))

    async def room_settings(self, room_id: str) -> RoomSettings:
        return await self._run(lambda c: store_postgres_moderation.room_settings(c, room_id))

    async def put_room_settings(self, room_id: str, settings: RoomSettings) -> None:
        await self._run(lambda c: store_postgres_moderation.put_room_settings(c, room_id, settings))

    async def pin(self, room_id: str) -> Pin | None:
        return await self._run(lambda c: store_postgres_moderation.pin(c, room_id))

    async def put_pin(self, room_id: str, pin: Pin | None) -> None:
        await self._run(lambda c: store_postgres_moderation.put_pin(c, room_id, pin))

    async def log_action(self, room_id: str, action: ModAction) -> ModAction:
        return await self._run(lambda c: store_postgres_moderation.log_action(c, room_id, action))

    async def mod_log(self, room_id: str, *, before_id: int | None, limit: int) -> list[ModAction]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: store_postgres_moderation.mod_log(c, room_id, before_id, limit)
        )

    async def recent_texts(self, room_id: str, user_id: str, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: store_postgres_moderation.recent_texts(c, room_id, user_id, limit)
        )

    async def filter_entries(self, room_id: str) -> list[FilterEntry]:
        return await self._run(lambda c: store_postgres_moderation.filter_entries(c, room_id))

    async def put_filter_entry(self, room_id: str, entry: FilterEntry) -> None:
        await self._run(lambda c: store_postgres_moderation.put_filter_entry(c, room_id, entry))

    async def remove_filter_entry(self, room_id: str, pattern: str) -> bool:
        return await self._run(
            lambda c: store_postgres_moderation.remove_filter_entry(c, room_id, pattern)
        )

    # -- the review queue (store_postgres_review) --------------------------------------------

    async def hold_message(self, room_id: str, held: Held) -> HoldResult:
        return await self._tx(lambda c: store_postgres_review.hold(c, room_id, held))

    async def held_messages(self, room_id: str, limit: int) -> list[Held]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_review.listing(c, room_id, limit))

    async def get_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._run(lambda c: store_postgres_review.get(c, room_id, held_id))

    async def release_held(self, room_id: str, held_id: str, ts: int) -> AppendResult | None:
        async def run(conn: _Conn) -> AppendResult | None:
            held = await store_postgres_review.take(conn, room_id, held_id)
            if held is None:
                return None
            drafts = [held.as_message(0, ts)]
            [result] = await store_postgres_stream.append(conn, room_id, drafts, self._hook_types)
            return result

        return await self._tx(run)

    async def reject_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._run(lambda c: store_postgres_review.take(c, room_id, held_id))

    async def due_held(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        return await self._run(lambda c: store_postgres_review.due(c, now_ms, limit))

    # -- reports (store_postgres_reports) ----------------------------------------------------

    async def add_report(
        self, room_id: str, message_id: str, user_id: str, reason: str, ts: int
    ) -> int | None:
        row = (room_id, message_id, user_id, reason, ts)
        return await self._tx(lambda c: store_postgres_reports.add(c, *row))

    async def report(self, room_id: str, message_id: str) -> Report | None:
        return await self._run(lambda c: store_postgres_reports.one(c, room_id, message_id))

    async def open_reports(self, room_id: str, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_reports.listing(c, room_id, limit))

    async def hide_message(
        self, room_id: str, message_id: str, ts: int, *, min_reports: int = 1
    ) -> tuple[int, Message] | None:
        return await self._tx(
            lambda c: store_postgres_reports.hide(c, room_id, message_id, ts, min_reports)
        )

    async def resolve_reports(
        self, room_id: str, message_id: str, *, restore_ts: int | None = None
    ) -> ReportsResolved | None:
        return await self._tx(
            lambda c: store_postgres_reports.resolve(c, room_id, message_id, restore_ts)
        )

    # -- webhooks (store_postgres_webhooks) ---------------------------------------------------

    @property
    def webhook_types(self) -> frozenset[str]:
        return self._hook_types

    async def reload_webhook_types(self) -> frozenset[str]:
        self._hook_types = await self._run(store_postgres_webhooks.subscribed_types)
        return self._hook_types

    async def _endpoints_changed(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Change endpoints, then read this store's ``webhook_types`` again at once."""

        async def run(conn: _Conn) -> tuple[_T, frozenset[str]]:
            return await fn(conn), await store_postgres_webhooks.subscribed_types(conn)

        result, self._hook_types = await self._tx(run)
        return result

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        await self._endpoints_changed(lambda c: store_postgres_webhooks.add(c, endpoint))

    async def webhooks(self) -> list[WebhookEndpoint]:
        return await self._run(store_postgres_webhooks.listing)

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self._run(lambda c: store_postgres_webhooks.get(c, endpoint_id))

    async def update_webhook(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        secret: str | None = None,
        types: tuple[str, ...] | None = None,
        active: bool | None = None,
        description: str | None = None,
    ) -> WebhookEndpoint | None:
        given = {
            "url": url,
            "secret": secret,
            "types": types,
            "active": active,
            "description": description,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        return await self._endpoints_changed(
            lambda c: store_postgres_webhooks.update(c, endpoint_id, changes)
        )

    async def remove_webhook(self, endpoint_id: str) -> bool:
        return await self._endpoints_changed(
            lambda c: store_postgres_webhooks.remove(c, endpoint_id)
        )

    async def webhook_backlog(self, endpoint_id: str) -> WebhookBacklog:
        return await self._run(lambda c: store_postgres_webhooks.backlog(c, endpoint_id))

    async def set_room_live(self, room_id: str, live: bool, ts: int, online: int) -> bool:
        types = self._hook_types
        return await self._tx(
            lambda c: store_postgres_webhooks.set_room_live(c, types, room_id, live, ts, online)
        )

    async def claim_webhooks(self, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        return await self._run(lambda c: store_postgres_webhooks.claim(c, now_ms, lease_ms, limit))

    async def webhook_delivered(self, delivery_id: int, claim: str) -> bool:
        return await self._run(lambda c: store_postgres_webhooks.delivered(c, delivery_id, claim))

    async def webhook_failed(
        self, delivery_id: int, claim: str, *, error: str, retry_at: int | None, now_ms: int
    ) -> bool:
        return await self._run(
            lambda c: store_postgres_webhooks.failed(c, delivery_id, claim, error, retry_at, now_ms)
        )

    async def retry_dead_webhooks(self, endpoint_id: str, now_ms: int) -> int:
        return await self._run(lambda c: store_postgres_webhooks.retry_dead(c, endpoint_id, now_ms))

    async def forget_dead_webhooks(self, before_ms: int) -> int:
        return await self._run(lambda c: store_postgres_webhooks.forget_dead(c, before_ms))

    # -- retention (store_postgres_retention) -------------------------------------------------

    async def room_retention(self, room_id: str) -> RetentionRule | None:
        return await self._run(lambda c: store_postgres_retention.room_rule(c, room_id))

    async def set_room_retention(self, room_id: str, rule: RetentionRule | None) -> None:
        await self._run(lambda c: store_postgres_retention.set_rule(c, room_id, rule))

    async def retention_rules(self) -> dict[str, RetentionRule]:
        return await self._run(store_postgres_retention.rules)

    async def trim_candidates(
        self, *, after: str, limit: int, before_ts: int | None, keep: int | None
    ) -> list[str]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: store_postgres_retention.candidates(c, after, limit, before_ts, keep)
        )

    async def trim_room(
        self,
        room_id: str,
        *,
        before_ts: int | None,
        keep: int | None,
        limit: int,
        keep_since_ts: int | None = None,
    ) -> Trimmed:
        if limit < 1 or (keep is not None and keep < 1):
            raise ValueError("limit and keep must be at least 1")
        bounds = (before_ts, keep, limit, keep_since_ts)
        return await self._tx(lambda c: store_postgres_retention.trim(c, room_id, *bounds))
