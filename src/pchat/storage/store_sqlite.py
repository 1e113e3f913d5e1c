"""The embedded default :class:`~pchat.storage.base.MessageStore`: one SQLite file.

How it is fast without giving up durability or order:

- **WAL journal, ``synchronous=NORMAL``.** A commit appends to the write-ahead log without
  an fsync; a power cut may lose the last commits but never corrupts the file.
- **One writer thread, group commit.** The writer thread owns the only connection that
  writes. Every write is a *job*; the writer takes every job queued (up to ``batch_max``)
  and runs them in one transaction, each inside its own ``SAVEPOINT`` so that a job that
  raises (``already_voted``, …) fails alone. Futures are resolved after the commit, in
  submission order: appends to one room come back in ``seq`` order.
- **One reader thread.** Reads run on their own connection (WAL lets them run while the
  writer writes), a batch of reads in one read transaction. A read submitted after a write's
  future resolved sees that write: the write was committed before its future resolved.
- **Gap-free positions.** ``rooms.last_seq`` is bumped inside the writer by every appended
  message, every delete and every purge; the ``events`` table is the stream.
- **Time never goes backwards in a room.** A message whose ``ts`` is older than the room's
  last message (the clock stepped back) is stored with the last message's ``ts``. So ``ts``
  grows with ``seq``, and paging by time becomes paging by position: one index seek on
  ``(room_id, ts)`` finds the position, the primary key does the rest.

The schema and its migrations are in :mod:`~pchat.storage.store_sqlite_schema`. The jobs
are module functions beside this one, a module per part of the store:
:mod:`~pchat.storage.store_sqlite_stream`, :mod:`~pchat.storage.store_sqlite_polls`,
:mod:`~pchat.storage.store_sqlite_moderation`, :mod:`~pchat.storage.store_sqlite_review`,
:mod:`~pchat.storage.store_sqlite_reports`, :mod:`~pchat.storage.store_sqlite_webhooks` and
:mod:`~pchat.storage.store_sqlite_retention`; the store runs them on its threads.

Faults: an operation over the time budget (``timeout``), or one that finds the file locked
(another process writing past ``busy_timeout``) or the disk full, raises
:class:`~pchat.storage.base.StoreUnavailable` (``unavailable`` to clients). A write over
the budget may still commit later: a retry with the same ``cid`` finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from . import (
    store_sqlite_moderation,
    store_sqlite_polls,
    store_sqlite_reports,
    store_sqlite_retention,
    store_sqlite_review,
    store_sqlite_stream,
    store_sqlite_webhooks,
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
from .private_files import private_file, sqlite_files
from .store_health import StoreHealth
from .store_sqlite_schema import migrate

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")

# -- the worker threads -----------------------------------------------------------------------


class _Job:
    """One unit of work for a worker; ``fn`` None asks the worker to stop."""

    __slots__ = ("fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any] | None,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


_Outcome = tuple[_Job, Any, BaseException | None]


def _resolve(outcomes: list[_Outcome]) -> None:
    """Settle futures on their event loop, in order; a cancelled caller is skipped."""
    for job, value, exc in outcomes:
        if job.future.done():
            continue
        if exc is None:
            job.future.set_result(value)
        else:
            job.future.set_exception(exc)


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand ``outcomes`` to their loops: one wake-up per loop and batch, order kept."""
    for loop, group in itertools.groupby(outcomes, key=lambda o: o[0].loop):
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, list(group))


class _Worker:
    """A thread owning one connection; runs queued jobs in batches, one transaction each.

    A writer wraps each job in a savepoint so that a failing job is undone alone; if the
    transaction itself fails, every job of the batch fails with it.
    """

    def __init__(self, name: str, conn: sqlite3.Connection, *, batch_max: int, write: bool) -> None:
        self._conn = conn
        self._write = write
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` on the worker thread and return its result."""
        if self._stopping:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    async def stop(self) -> None:
        """Finish every job queued so far, close the connection and end the thread."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Job(None, done, loop))
        await done
        self._thread.join()

    def _main(self) -> None:
        stop: _Job | None = None
        try:
            while stop is None:
                batch: list[_Job] = []
                job = self._queue.get()
                while True:
                    if job.fn is None:
                        stop = job
                        break
                    batch.append(job)
                    if len(batch) >= self._batch_max:
                        break
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    _settle(self._run_batch(batch))
        finally:
            if self._write:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")
            self._conn.close()
            if stop is not None:
                _settle([(stop, None, None)])

    def _run_batch(self, batch: list[_Job]) -> list[_Outcome]:
        conn = self._conn
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
            for job in batch:
                outcomes.append(self._run_job(job))
            conn.execute("COMMIT")
        except Exception as exc:  # the transaction failed: no write of the batch holds
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            kept = [] if self._write else outcomes
            return kept + [(job, None, exc) for job in batch[len(kept) :]]
        return outcomes

    def _run_job(self, job: _Job) -> _Outcome:
        assert job.fn is not None
        conn = self._conn
        if not self._write:
            try:
                return (job, job.fn(conn), None)
            except Exception as exc:
                return (job, None, exc)
        conn.execute("SAVEPOINT job")
        try:
            value = job.fn(conn)
        except Exception as exc:
            # If SQLite already rolled back the whole transaction, this raises and the
            # batch fails as a whole (see _run_batch).
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return (job, None, exc)
        conn.execute("RELEASE job")
        return (job, value, None)


def _is_transient(exc: sqlite3.OperationalError) -> bool:
    """Locked by another writer, or the disk is full: the same write may succeed later."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL)


def _connect(path: Path, *, write: bool) -> sqlite3.Connection:
    if write:
        # Private from the first byte (mode 0600); SQLite gives the -wal and -shm files the
        # database's mode.
        for file in sqlite_files(path):
            private_file(file, create=file == path)
    # isolation_level=None: no implicit transactions, the worker issues BEGIN/COMMIT itself.
    # check_same_thread=False: opened here, then used by exactly one worker thread.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB
        if write:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        else:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


# -- reactions: jobs run by a worker ----------------------------------------------------------


def _add_reactions(conn: sqlite3.Connection, room_id: str, counts: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO reactions (room_id, reaction, count) VALUES (?, ?, ?)"
        " ON CONFLICT (room_id, reaction) DO UPDATE SET count = count + excluded.count",
        [(room_id, reaction, n) for reaction, n in counts.items()],
    )


def _reaction_stats(conn: sqlite3.Connection, room_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reaction, count FROM reactions WHERE room_id = ? ORDER BY reaction", (room_id,)
    )
    return dict(rows)


# -- the store ----------------------------------------------------------------------------------


class SQLiteStore:
    """The embedded message store: one SQLite file, one writer and one reader thread.

    ``path`` must be a file (not ``:memory:``): the writer and the reader open it twice.
    ``batch_max`` caps the number of writes committed together.
    """

    def __init__(
        self, path: str | Path, *, batch_max: int = 512, timeout: float | None = 3.0
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._path = Path(path)
        self._batch_max = batch_max
        self._timeout = timeout
        self._writer: _Worker | None = None
        self._reader: _Worker | None = None
        #: The webhook types some endpoint subscribes to: the writes that make events check
        #: it (store_sqlite_webhooks).
        self._hook_types: frozenset[str] = frozenset()
        # The probe is an empty write: it waits for the file's write lock like any write.
        self._health = StoreHealth(f"sqlite store ({self._path.name})", self._probe)

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    async def _probe(self) -> None:
        await self._write(lambda c: None)

    async def open(self) -> None:
        """Create or migrate the schema and start the writer and reader threads."""
        if self._writer is not None:
            return
        conn = await asyncio.to_thread(_connect, self._path, write=True)
        self._writer = _Worker("pchat-sqlite-writer", conn, batch_max=self._batch_max, write=True)
        try:
            await self._write(lambda c: migrate(c, self._path))
            conn = await asyncio.to_thread(_connect, self._path, write=False)
        except BaseException:
            await self.close()
            raise
        self._reader = _Worker("pchat-sqlite-reader", conn, batch_max=self._batch_max, write=False)
        self._health.start()

    async def close(self) -> None:
        """Commit every write submitted so far, then close both connections."""
        await self._health.stop()
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if writer is not None:
            await writer.stop()
        if reader is not None:
            await reader.stop()

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._call(self._writer, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._call(self._reader, fn)

    async def _call(self, worker: _Worker | None, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` on ``worker`` within the budget; see Faults above."""
        if worker is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with asyncio.timeout(self._timeout):
                result = await worker.run(fn)
        except (TimeoutError, sqlite3.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _is_transient(exc):
                raise
            self._health.failed(exc)
            raise StoreUnavailable(f"the database is unavailable ({exc})") from exc
        self._health.ok()
        return result

    # -- the stream (store_sqlite_stream) -----------------------------------------------------

    async def room(self, room_id: str) -> RoomInfo:
        info = await self._read(lambda c: store_sqlite_stream.room_info(c, room_id))
        if info is None:
            info = await self._write(lambda c: store_sqlite_stream.ensure_room(c, room_id))
        return info

    async def find_room(self, room_id: str) -> RoomInfo | None:
        return await self._read(lambda c: store_sqlite_stream.room_info(c, room_id))

    async def messages_since(self, room_id: str, ts: int) -> int:
        return await self._read(lambda c: store_sqlite_stream.messages_since(c, room_id, ts))

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
        # seq 0: store_sqlite_stream.append gives the position.
        draft = Message(
            message_id, 0, ts, user, text, cid, reply_to=reply_to, mentions=mentions, shadow=shadow
        )
        return await self._write(
            lambda c: store_sqlite_stream.append(c, room_id, draft, self._hook_types)
        )

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        return await self._read(lambda c: store_sqlite_stream.get_message(c, room_id, message_id))

    async def delete_message(
        self, room_id: str, message_id: str, *, by: User, ts: int
    ) -> DeleteResult | None:
        return await self._write(
            lambda c: store_sqlite_stream.delete(c, room_id, message_id, by, ts, self._hook_types)
        )

    async def purge_user(
        self, room_id: str, user_id: str, *, since: int, by: User, ts: int
    ) -> tuple[int, Purge] | None:
        args = (room_id, user_id, since, by, ts)
        return await self._write(lambda c: store_sqlite_stream.purge(c, *args, self._hook_types))

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
        return await self._read(
            lambda c: store_sqlite_stream.history(c, room_id, before_seq, before_ts, limit, view)
        )

    async def events_since(self, room_id: str, after_seq: int, limit: int) -> list[StreamEvent]:
        if limit <= 0:
            return []
        return await self._read(lambda c: store_sqlite_stream.events(c, room_id, after_seq, limit))

    # -- reactions ----------------------------------------------------------------------------

    async def add_reactions(self, room_id: str, counts: dict[str, int]) -> None:
        if counts:
            counts = dict(counts)  # the caller may reuse its dict before the writer runs
            await self._write(lambda c: _add_reactions(c, room_id, counts))

    async def reaction_stats(self, room_id: str) -> dict[str, int]:
        return await self._read(lambda c: _reaction_stats(c, room_id))

    # -- polls (store_sqlite_polls) -----------------------------------------------------------

    async def create_poll(self, room_id: str, poll: Poll) -> Poll:
        return await self._write(
            lambda c: store_sqlite_polls.create_poll(c, room_id, poll, self._hook_types)
        )

    async def get_poll(self, room_id: str, poll_id: str) -> Poll | None:
        return await self._read(lambda c: store_sqlite_polls.get_poll(c, room_id, poll_id))

    async def list_polls(self, room_id: str, statuses: Iterable[str]) -> list[Poll]:
        wanted = sorted(set(statuses))
        if not wanted:
            return []
        return await self._read(lambda c: store_sqlite_polls.list_polls(c, room_id, wanted))

    async def scheduled_polls(self) -> list[tuple[str, str, int]]:
        return await self._read(store_sqlite_polls.scheduled_polls)

    async def publish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll | None:
        return await self._write(
            lambda c: store_sqlite_polls.publish_poll(c, room_id, poll_id, ts, self._hook_types)
        )

    async def vote(self, room_id: str, poll_id: str, user_id: str, option: int) -> Poll:
        return await self._write(
            lambda c: store_sqlite_polls.vote(c, room_id, poll_id, user_id, option)
        )

    async def finish_poll(self, room_id: str, poll_id: str, ts: int) -> Poll:
        return await self._write(
            lambda c: store_sqlite_polls.finish_poll(c, room_id, poll_id, ts, self._hook_types)
        )

    async def user_votes(self, room_id: str, user_id: str) -> dict[str, int]:
        return await self._read(lambda c: store_sqlite_polls.user_votes(c, room_id, user_id))

    # -- moderation (store_sqlite_moderation) -------------------------------------------------

    async def put_mute(self, user_id: str, muted_id: str, ts: int) -> bool:
        return await self._write(
            lambda c: store_sqlite_moderation.put_mute(c, user_id, muted_id, ts)
        )

    async def remove_mute(self, user_id: str, muted_id: str) -> bool:
        return await self._write(
            lambda c: store_sqlite_moderation.remove_mute(c, user_id, muted_id)
        )

    async def mutes(self, user_id: str) -> list[str]:
        return (await self.mutes_of([user_id])).get(user_id, [])

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        if not user_ids:
            return {}
        ids = list(user_ids)  # the caller may reuse its sequence before the reader runs
        return await self._read(lambda c: store_sqlite_moderation.mutes_of(c, ids))

    async def revoke_tokens(self, user_id: str, before: int) -> int:
        return await self._write(
            lambda c: store_sqlite_moderation.revoke_tokens(c, user_id, before)
        )

    async def revocations(self, since: int) -> dict[str, int]:
        return await self._read(lambda c: store_sqlite_moderation.revocations(c, since))

    async def put_ban(self, room_id: str, ban: Ban) -> None:
        await self._write(
            lambda c: store_sqlite_moderation.put_ban(c, room_id, ban, self._hook_types)
        )

    async def remove_ban(self, room_id: str, user_id: str) -> bool:
        return await self._write(
            lambda c: store_sqlite_moderation.remove_ban(c, room_id, user_id, self._hook_types)
        )

    async def bans(self, room_id: str, now_ms: int) -> list[Ban]:
        return await self._read(lambda c: store_sqlite_moderation.bans(c, room_id, now_ms))

    async def forget_expired_bans(self, now_ms: int) -> int:
        return await self._write(lambda c: store_sqlite_moderation.forget_expired_bans(c, now_ms))

    async def room_settings(self, room_id: str) -> RoomSettings:
        return await self._read(lambda c: store_sqlite_moderation.room_settings(c, room_id))

    async def put_room_settings(self, room_id: str, settings: RoomSettings) -> None:
        await self._write(lambda c: store_sqlite_moderation.put_room_settings(c, room_id, settings))

    async def pin(self, room_id: str) -> Pin | None:
        return await self._read(lambda c: store_sqlite_moderation.pin(c, room_id))

    async def put_pin(self, room_id: str, pin: Pin | None) -> None:
        await self._write(lambda c: store_sqlite_moderation.put_pin(c, room_id, pin))

    async def log_action(self, room_id: str, action: ModAction) -> ModAction:
        return await self._write(lambda c: store_sqlite_moderation.log_action(c, room_id, action))

    async def mod_log(self, room_id: str, *, before_id: int | None, limit: int) -> list[ModAction]:
        if limit <= 0:
            return []
        return await self._read(
            lambda c: store_sqlite_moderation.mod_log(c, room_id, before_id, limit)
        )

    async def recent_texts(self, room_id: str, user_id: str, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return await self._read(
            lambda c: store_sqlite_moderation.recent_texts(c, room_id, user_id, limit)
        )

    async def filter_entries(self, room_id: str) -> list[FilterEntry]:
        return await self._read(lambda c: store_sqlite_moderation.filter_entries(c, room_id))

    async def put_filter_entry(self, room_id: str, entry: FilterEntry) -> None:
        await self._write(lambda c: store_sqlite_moderation.put_filter_entry(c, room_id, entry))

    async def remove_filter_entry(self, room_id: str, pattern: str) -> bool:
        return await self._write(
            lambda c: store_sqlite_moderation.remove_filter_entry(c, room_id, pattern)
        )

    # -- the review queue (store_sqlite_review) -----------------------------------------------

    async def hold_message(self, room_id: str, held: Held) -> HoldResult:
        return await self._write(lambda c: store_sqlite_review.hold(c, room_id, held))

    async def held_messages(self, room_id: str, limit: int) -> list[Held]:
        if limit <= 0:
            return []
        return await self._read(lambda c: store_sqlite_review.listing(c, room_id, limit))

    async def get_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._read(lambda c: store_sqlite_review.get(c, room_id, held_id))

    async def release_held(self, room_id: str, held_id: str, ts: int) -> AppendResult | None:
        def run(conn: sqlite3.Connection) -> AppendResult | None:
            # Out of the queue and into the stream in one job.
            held = store_sqlite_review.take(conn, room_id, held_id)
            if held is None:
                return None
            draft = held.as_message(0, ts)
            return store_sqlite_stream.append(conn, room_id, draft, self._hook_types)

        return await self._write(run)

    async def reject_held(self, room_id: str, held_id: str) -> Held | None:
        return await self._write(lambda c: store_sqlite_review.take(c, room_id, held_id))

    async def due_held(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        return await self._read(lambda c: store_sqlite_review.due(c, now_ms, limit))

    # -- reports (store_sqlite_reports) -------------------------------------------------------

    async def add_report(
        self, room_id: str, message_id: str, user_id: str, reason: str, ts: int
    ) -> int | None:
        row = (room_id, message_id, user_id, reason, ts)
        return await self._write(lambda c: store_sqlite_reports.add(c, *row))

    async def report(self, room_id: str, message_id: str) -> Report | None:
        return await self._read(lambda c: store_sqlite_reports.one(c, room_id, message_id))

    async def open_reports(self, room_id: str, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        return await self._read(lambda c: store_sqlite_reports.listing(c, room_id, limit))

    async def hide_message(
        self, room_id: str, message_id: str, ts: int, *, min_reports: int = 1
    ) -> tuple[int, Message] | None:
        return await self._write(
            lambda c: store_sqlite_reports.hide(c, room_id, message_id, ts, min_reports)
        )

    async def resolve_reports(
        self, room_id: str, message_id: str, *, restore_ts: int | None = None
    ) -> ReportsResolved | None:
        return await self._write(
            lambda c: store_sqlite_reports.resolve(c, room_id, message_id, restore_ts)
        )

    # -- webhooks (store_sqlite_webhooks) -----------------------------------------------------

    @property
    def webhook_types(self) -> frozenset[str]:
        return self._hook_types

    async def reload_webhook_types(self) -> frozenset[str]:
        self._hook_types = await self._read(store_sqlite_webhooks.subscribed_types)
        return self._hook_types

    async def _endpoints_changed(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Change endpoints, then read this store's ``webhook_types`` again at once."""

        def run(conn: sqlite3.Connection) -> tuple[_T, frozenset[str]]:
            return fn(conn), store_sqlite_webhooks.subscribed_types(conn)

        result, self._hook_types = await self._write(run)
        return result

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        await self._endpoints_changed(lambda c: store_sqlite_webhooks.add(c, endpoint))

    async def webhooks(self) -> list[WebhookEndpoint]:
        return await self._read(store_sqlite_webhooks.listing)

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self._read(lambda c: store_sqlite_webhooks.get(c, endpoint_id))

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
            lambda c: store_sqlite_webhooks.update(c, endpoint_id, changes)
        )

    async def remove_webhook(self, endpoint_id: str) -> bool:
        return await self._endpoints_changed(lambda c: store_sqlite_webhooks.remove(c, endpoint_id))

    async def webhook_backlog(self, endpoint_id: str) -> WebhookBacklog:
        return await self._read(lambda c: store_sqlite_webhooks.backlog(c, endpoint_id))

    async def set_room_live(self, room_id: str, live: bool, ts: int, online: int) -> bool:
        return await self._write(
            lambda c: store_sqlite_webhooks.set_room_live(
                c, self._hook_types, room_id, live, ts, online
            )
        )

    async def claim_webhooks(self, now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        return await self._write(lambda c: store_sqlite_webhooks.claim(c, now_ms, lease_ms, limit))

    async def webhook_delivered(self, delivery_id: int, claim: str) -> bool:
        return await self._write(lambda c: store_sqlite_webhooks.delivered(c, delivery_id, claim))

    async def webhook_failed(
        self, delivery_id: int, claim: str, *, error: str, retry_at: int | None, now_ms: int
    ) -> bool:
        return await self._write(
            lambda c: store_sqlite_webhooks.failed(c, delivery_id, claim, error, retry_at, now_ms)
        )

    async def retry_dead_webhooks(self, endpoint_id: str, now_ms: int) -> int:
        return await self._write(lambda c: store_sqlite_webhooks.retry_dead(c, endpoint_id, now_ms))

    async def forget_dead_webhooks(self, before_ms: int) -> int:
        return await self._write(lambda c: store_sqlite_webhooks.forget_dead(c, before_ms))

    # -- retention (store_sqlite_retention) ---------------------------------------------------

    async def room_retention(self, room_id: str) -> RetentionRule | None:
        return await self._read(lambda c: store_sqlite_retention.room_rule(c, room_id))

    async def set_room_retention(self, room_id: str, rule: RetentionRule | None) -> None:
        await self._write(lambda c: store_sqlite_retention.set_rule(c, room_id, rule))

    async def retention_rules(self) -> dict[str, RetentionRule]:
        return await self._read(store_sqlite_retention.rules)

    async def trim_candidates(
        self, *, after: str, limit: int, before_ts: int | None, keep: int | None
    ) -> list[str]:
        if limit <= 0:
            return []
        return await self._read(
            lambda c: store_sqlite_retention.candidates(c, after, limit, before_ts, keep)
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
        return await self._write(lambda c: store_sqlite_retention.trim(c, room_id, *bounds))
