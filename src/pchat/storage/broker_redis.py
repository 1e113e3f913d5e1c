"""The cluster :class:`~pchat.storage.base.Broker`: Redis pub/sub and presence (redis-py).

Fan-out. Each room is one channel (``{prefix}room:{room_id}``); a node subscribes only to the
rooms it has members in. A publication is ``header + payload`` where the header holds the
publishing node's id and the stream position (``seq``, -1 for none). The publishing node
delivers to its own room at once — its clients keep chatting while Redis is away — and
ignores its own publications when they come back through Redis.

Publishing never blocks the chat core: publications go to an outbox that one sender task
writes to Redis in pipelined batches, in order. While Redis is unreachable the outbox keeps
up to ``max_backlog`` publications (the oldest are dropped beyond that) and sends them when
Redis is back, so other nodes receive them late rather than never.

After an outage. Pub/sub delivers only to connections subscribed at the moment of the
PUBLISH, and every node's subscriber connection comes back on its own schedule. So after
any failure the sender *settles* before it sends again: it waits until commands answer
(PING), until this node's listener has resubscribed every room, and until each room it has
publications for has at least as many subscribers (``PUBSUB NUMSUB``) as the heartbeat last
saw before the outage — the other nodes' listeners are back — or ``settle`` seconds passed
(a node that died or left the room never comes back). A batch that timed out may still be
executed by Redis later (a paused server reads it when it resumes) and is sent again: each
publication carries its node's outbox index and a receiver drops an index it already had
from that node, so a publication reaches each node once. When the backlog queued before the
settling is sent the broker calls its ``on_reconnect`` callback: the chat core re-reads
from the store what is not in the stream (polls, reaction totals, online counts), since
another node's publications may still have been lost (its outbox overflowed, or it died).

Nothing of the stream is lost for good when a publication is: the room hub of the chat
core delivers in ``seq`` order and fetches what it missed from the store as soon as it sees a
later position. To give it that later position even when no new message follows, a stream
publication also records itself as the room's *last* publication (``{prefix}last:{room}``,
kept only if its ``seq`` is higher); after a resubscription and on every heartbeat the
broker hands each subscribed room's last publication to its handler when it is newer than
every position the handler got — a publication pub/sub lost — and the hub fetches whatever
else is missing from the store.

Presence. Each node writes its connection count for a room into the hash
``{prefix}presence:{room_id}`` (field: node id, value: ``count:deadline``) and re-writes it
every ``heartbeat``; a count whose deadline (``presence_ttl``, Redis' clock) passed — a dead
node's — is removed and not counted. ``set_presence`` returns the sum over live nodes. The
set ``{prefix}presence-rooms:`` names the rooms whose sum was above 0 when last computed;
``rooms_online`` sums each of them again (dropping those at 0).

Health. :attr:`RedisBroker.healthy` is False while the subscriber connection is down or
silent (checked by PING every ``heartbeat``) or the last command failed; the listener
reconnects with backoff and resubscribes every room on its own.

Options may also be given in the URL's query (``redis://host/0?heartbeat=1&timeout=0.5``):
``presence_ttl``, ``heartbeat``, ``timeout`` and ``settle`` in seconds, ``max_backlog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .base import BrokerHandler, deliver

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

# node id, seq (-1: not part of the stream), the publication's index in its node's outbox
_HEADER: Final = struct.Struct(">8sqq")
_NO_SEQ: Final = -1
_BATCH_MAX: Final = 512
#: The longest wait of the listener between two attempts to reconnect.
_RECONNECT_DELAY_MAX: Final = 1.0
_OPTIONS: Final = ("presence_ttl", "heartbeat", "timeout", "settle", "max_backlog")


def split_options(url: str) -> tuple[str, dict[str, float]]:
    """``url`` without the broker's own query parameters, and their values."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {k: float(v) for k, v in query if k in _OPTIONS}
    rest = urlencode([(k, v) for k, v in query if k not in _OPTIONS])
    return urlunsplit(parts._replace(query=rest)), options


_LAST_TTL_MS: Final = 24 * 3600 * 1000

# KEYS: channel, last-key; ARGV: seq, data, ttl ms. Publishes; keeps the highest seq's data.
_PUBLISH_STREAM: Final = """
local cur = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if tonumber(ARGV[1]) > cur then
    redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'data', ARGV[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return redis.call('PUBLISH', KEYS[1], ARGV[2])
"""

# KEYS: presence hash, rooms set; ARGV: node, count, ttl ms, room. Returns the sum of the
# live counts (a count of 0 only sums).
# A token bucket per key, on the Redis server's clock (nodes' clocks may differ): the
# tokens and the time they were counted at; returns the milliseconds to wait (0: allowed).
_TOKEN: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(v[1])
local stamp = tonumber(v[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""

_PRESENCE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + ttl))
elseif ARGV[1] ~= '' then
    redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
    local count, deadline = string.match(all[i + 1], '(%d+):(%d+)')
    if count == nil or tonumber(deadline) < now then
        redis.call('HDEL', KEYS[1], all[i])
    else
        total = total + tonumber(count)
    end
end
if #all > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
if total > 0 then
    redis.call('SADD', KEYS[2], ARGV[4])
else
    redis.call('SREM', KEYS[2], ARGV[4])
end
return total
"""


class RedisBroker:
    """Fan-out between nodes and room-wide presence over one Redis server.

    ``prefix`` namespaces every key and channel (one cluster per prefix). ``presence_ttl``
    is how long a node's count outlives its last report; ``heartbeat`` (default a third of
    it) how often the node reports, checks the connection and re-delivers last publications.
    ``timeout`` bounds each Redis call; ``settle`` (default ``timeout`` + 1.5 s) how long
    the sender waits, after an outage, for the other nodes to resubscribe. Arguments given
    here win over the URL's options.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pchat:",
        presence_ttl: float | None = None,
        heartbeat: float | None = None,
        timeout: float | None = None,
        settle: float | None = None,
        max_backlog: int | None = None,
    ) -> None:
        self.url, options = split_options(url)
        self.prefix = prefix
        self.node_id = secrets.token_bytes(8)
        self._node_field = self.node_id.hex()
        ttl = presence_ttl if presence_ttl is not None else options.get("presence_ttl", 15.0)
        self._ttl_ms = max(1, int(ttl * 1000))
        self._heartbeat = heartbeat if heartbeat is not None else options.get("heartbeat", ttl / 3)
        self._timeout = timeout if timeout is not None else options.get("timeout", 2.0)
        default_settle = self._timeout + _RECONNECT_DELAY_MAX + 0.5
        self._settle_time = settle if settle is not None else options.get("settle", default_settle)
        backlog = max_backlog if max_backlog is not None else options.get("max_backlog", 1e5)
        self._max_backlog = int(backlog)
        self._redis: Redis | None = None
        self._sub_client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._handlers: dict[str, BrokerHandler] = {}
        self._confirmed: dict[bytes, asyncio.Event] = {}
        self._outbox: deque[tuple[int, str, int, bytes]] = deque()
        self._outbox_next = 1
        self._outbox_ready = asyncio.Event()
        self._dropped = 0
        #: Since a command or the subscriber connection failed, until the sender settled.
        self._outage = False
        self._outage_count = 0
        #: Each room's subscriber count as the heartbeat last saw it outside an outage.
        self._subscribers: dict[str, int] = {}
        #: The highest outbox index received from each other node (to drop repeats).
        self._received: dict[bytes, int] = {}
        self._on_reconnect: Callable[[], None] | None = None
        self._presence: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._cmd_ok = False
        self._sub_ok = False
        self._resubscribe = False
        self._closing = False
        #: The highest stream position handed to each room's handler (to skip repeats).
        self._delivered: dict[str, int] = {}

    # -- lifecycle and health -----------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Whether Redis answered the last command and the subscriber connection is live."""
        return self._cmd_ok and self._sub_ok

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each outage, once the broker resubscribed and sent the
        publications it had queued: publications of other nodes may have been lost."""
        self._on_reconnect = callback

    def _mark_outage(self) -> None:
        """A command or the subscriber connection failed: settle before sending again."""
        if self._closing:
            return
        self._outage = True
        self._outage_count += 1
        self._outbox_ready.set()  # the sender settles even with nothing to send

    async def open(self) -> None:
        """Connect (raises if Redis is unreachable now), then start the background tasks."""
        if self._redis is not None:
            return
        self._closing = False
        options: dict[str, Any] = {
            "socket_timeout": self._timeout,
            "socket_connect_timeout": self._timeout,
            "retry": Retry(NoBackoff(), 0),  # the broker retries (and reports) by itself
        }
        self._redis = Redis.from_url(self.url, **options)
        self._sub_client = Redis.from_url(self.url, **options)
        try:
            await self._redis.ping()
        except BaseException:
            await self.close()
            raise
        self._cmd_ok = True
        self._outage = False
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="pchat-redis-listen"),
            loop.create_task(self._send(), name="pchat-redis-send"),
            loop.create_task(self._beat(), name="pchat-redis-heartbeat"),
        ]
        with contextlib.suppress(TimeoutError):  # else the listener goes on trying
            async with asyncio.timeout(self._timeout):
                while not self._sub_ok:
                    await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Send what the outbox holds (within ``timeout``), withdraw presence, disconnect."""
        send = self._tasks[1] if len(self._tasks) > 1 else None
        if send is not None and self._outbox:
            deadline = time.monotonic() + self._timeout
            while self._outbox and self._cmd_ok and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        self._closing = True
        tasks = self._tasks + list(self._background)
        for task in tasks:
            task.cancel()
        # redis-py may absorb a cancellation inside a read: the loops also stop on _closing.
        if tasks:
            await asyncio.wait(tasks, timeout=self._timeout + 2.0)
        self._tasks = []
        redis, self._redis = self._redis, None
        if redis is not None:
            if self._presence and self._cmd_ok:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timeout):
                        pipe = redis.pipeline(transaction=False)
                        for room_id in self._presence:
                            pipe.hdel(self._key("presence", room_id), self._node_field)
                        await pipe.execute()
            await redis.aclose()
        sub, self._sub_client = self._sub_client, None
        if sub is not None:
            await sub.aclose()
        self._handlers.clear()
        self._presence.clear()
        self._cmd_ok = self._sub_ok = False

    def _key(self, kind: str, room_id: str) -> str:
        return f"{self.prefix}{kind}:{room_id}"

    def _channel(self, room_id: str) -> bytes:
        return self._key("room", room_id).encode()

    def _set_cmd_ok(self, ok: bool, error: BaseException | None = None) -> None:
        if ok != self._cmd_ok:
            if ok:
                log.info("redis broker: commands work again")
            else:
                log.warning("redis broker: commands fail (%r); degraded", error)
        self._cmd_ok = ok
        if not ok:
            self._mark_outage()

    # -- publish ------------------------------------------------------------------------

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        """Deliver to this node's room now and queue the publication for the other nodes."""
        handler = self._handlers.get(room_id)
        if handler is not None:
            self._call(handler, room_id, seq, payload)
        if self._redis is None:
            return
        index = self._outbox_next
        self._outbox_next += 1
        data = _HEADER.pack(self.node_id, _NO_SEQ if seq is None else seq, index) + payload
        self._outbox.append((index, room_id, _NO_SEQ if seq is None else seq, data))
        if len(self._outbox) > self._max_backlog:
            self._outbox.popleft()
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.warning("redis broker: outbox full, %d publications dropped", self._dropped)
        self._outbox_ready.set()

    async def _send(self) -> None:
        """Write the outbox to Redis in pipelined batches; after a failure, settle first
        (see the module's docstring), send the batch again, and once what was queued
        before the settling is sent, call ``on_reconnect``."""
        backlog_end: int | None = None  # after an outage: the first index queued since
        while not self._closing:
            if self._outage:
                await self._settle()
                backlog_end = self._outbox_next
                continue
            if backlog_end is not None and (not self._outbox or self._outbox[0][0] >= backlog_end):
                backlog_end = None
                self._reconnected()
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            batch = [self._outbox[i] for i in range(min(len(self._outbox), _BATCH_MAX))]
            try:
                await self._publish_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_cmd_ok(False, exc)
                continue
            self._set_cmd_ok(True)
            last = batch[-1][0]
            while self._outbox and self._outbox[0][0] <= last:
                self._outbox.popleft()

    async def _settle(self) -> None:
        """Return when the outage is over: commands answer, this node's listener has
        resubscribed, and the other nodes' listeners are back (or ``settle`` passed)."""
        delay = 0.05
        while self._outage and not self._closing:
            outages = self._outage_count
            if not await self._ping():
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            deadline = time.monotonic() + self._settle_time
            while not self._listening() and not self._closing:
                if outages != self._outage_count:
                    break
                if self._sub_ok and time.monotonic() > deadline:
                    log.warning("redis broker: not resubscribed in %.1f s", self._settle_time)
                    break
                await asyncio.sleep(0.01)
            if outages != self._outage_count:
                continue
            await self._await_subscribers(deadline)
            if outages == self._outage_count:
                self._outage = False
                log.info("redis broker: resubscribed; sending %d queued", len(self._outbox))

    async def _ping(self) -> bool:
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._set_cmd_ok(False, exc)
            return False
        self._set_cmd_ok(True)
        return True

    def _listening(self) -> bool:
        """Whether this node's listener is subscribed to every room it serves."""
        if not self._sub_ok or self._pubsub is None:
            return False
        for room_id in self._handlers:
            event = self._confirmed.get(self._channel(room_id))
            if event is None or not event.is_set():
                return False
        return True

    async def _await_subscribers(self, deadline: float) -> None:
        """Until each room with queued publications has as many subscribers as before the
        outage, or ``deadline``."""
        assert self._redis is not None
        rooms = {room_id for _, room_id, _, _ in self._outbox} & set(self._subscribers)
        while rooms and not self._closing and time.monotonic() < deadline:
            ordered = sorted(rooms)
            try:
                async with asyncio.timeout(self._timeout):
                    counts = await self._redis.pubsub_numsub(*map(self._channel, ordered))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_cmd_ok(False, exc)
                return
            for room_id, (_channel, count) in zip(ordered, counts, strict=True):
                if int(count) >= self._subscribers[room_id]:
                    rooms.discard(room_id)
            if rooms:
                await asyncio.sleep(0.05)

    def _reconnected(self) -> None:
        callback = self._on_reconnect
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("redis broker: the reconnect callback failed")

    async def _publish_batch(self, batch: list[tuple[int, str, int, bytes]]) -> None:
        assert self._redis is not None
        async with asyncio.timeout(self._timeout):
            pipe = self._redis.pipeline(transaction=False)
            for _, room_id, seq, data in batch:
                channel = self._channel(room_id)
                if seq == _NO_SEQ:
                    pipe.publish(channel, data)
                else:
                    last = self._key("last", room_id)
                    pipe.eval(_PUBLISH_STREAM, 2, channel, last, seq, data, _LAST_TTL_MS)
            await pipe.execute()

    # -- subscribe ----------------------------------------------------------------------

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        """Deliver the room's publications to ``handler``; waits (at most ``timeout``) until
        Redis confirmed the subscription. Subscribing again replaces the handler."""
        known = room_id in self._handlers
        self._handlers[room_id] = handler
        if known:
            return
        channel = self._channel(room_id)
        confirmed = self._confirmed.setdefault(channel, asyncio.Event())
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.subscribe(channel)
                    await confirmed.wait()
            except Exception as exc:
                log.warning("redis broker: subscribing to %r failed (%r)", room_id, exc)
                self._resubscribe = True
        # What was published before is the store's to tell (the core reads it next): only
        # later publications are handed over if pub/sub loses them.
        await self._resync([room_id], deliver=False)

    async def unsubscribe(self, room_id: str) -> None:
        """Stop delivering the room's publications here."""
        if self._handlers.pop(room_id, None) is None:
            return
        self._delivered.pop(room_id, None)
        channel = self._channel(room_id)
        self._confirmed.pop(channel, None)
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.unsubscribe(channel)
            except Exception:  # the next connection subscribes only to the rooms left
                self._resubscribe = True

    async def _listen(self) -> None:
        """Keep one subscriber connection: (re)subscribe every room, read, check liveness."""
        delay = 0.1
        control = f"{self.prefix}node:{self._node_field}".encode()
        while not self._closing:
            assert self._sub_client is not None
            pubsub = self._sub_client.pubsub()
            try:
                async with asyncio.timeout(self._timeout):
                    channels = {self._channel(r) for r in self._handlers}
                    await pubsub.subscribe(control, *channels)
                    self._pubsub = pubsub
                    self._resubscribe = False
                    # Rooms subscribed to while this connection was being set up.
                    added = {self._channel(r) for r in self._handlers} - channels
                    if added:
                        await pubsub.subscribe(*added)
                delay = 0.1
                await self._read(pubsub, control)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("redis broker: subscriber failed", exc_info=True)
                if self._sub_ok:
                    log.warning("redis broker: subscriber connection lost (%r); degraded", exc)
                self._sub_ok = False
            finally:
                self._pubsub = None
                for event in self._confirmed.values():
                    event.clear()
                self._mark_outage()  # publications may have passed by meanwhile
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), self._timeout)  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_DELAY_MAX)

    async def _read(self, pubsub: PubSub, control: bytes) -> None:
        """Read until the connection fails, falls silent or must be rebuilt."""
        heard = pinged = time.monotonic()
        silent_after = 2 * self._heartbeat + self._timeout
        while not self._resubscribe and not self._closing:
            message = await pubsub.get_message(timeout=min(1.0, self._heartbeat))
            now = time.monotonic()
            if message is not None:
                heard = now
                kind = message["type"]
                if kind == "message":
                    self._on_message(message["channel"], message["data"])
                elif kind == "subscribe":
                    if message["channel"] == control:
                        if not self._sub_ok:
                            log.info("redis broker: subscribed; healthy")
                        self._sub_ok = True
                        self._spawn(self._resync(list(self._handlers)))
                    else:
                        self._confirmed.setdefault(message["channel"], asyncio.Event()).set()
            if now - heard > silent_after:
                raise ConnectionError(f"no answer from Redis for {now - heard:.1f} s")
            if now - pinged >= self._heartbeat:
                pinged = now
                async with asyncio.timeout(self._timeout):
                    await pubsub.ping()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_message(self, channel: bytes, data: bytes) -> None:
        room_id = channel.decode()[len(self.prefix) + len("room:") :]
        handler = self._handlers.get(room_id)
        if handler is None or len(data) < _HEADER.size:
            return
        node, seq, index = _HEADER.unpack_from(data)
        if node == self.node_id:
            return  # delivered when it was published
        if index <= self._received.get(node, 0):
            return  # sent again after a batch that timed out but was executed
        self._received[node] = index
        self._call(handler, room_id, None if seq == _NO_SEQ else seq, data[_HEADER.size :])

    def _call(self, handler: BrokerHandler, room_id: str, seq: int | None, payload: bytes) -> None:
        if seq is not None and seq > self._delivered.get(room_id, 0):
            self._delivered[room_id] = seq
        deliver(handler, room_id, seq, payload)

    async def _resync(self, rooms: list[str], *, deliver: bool = True) -> None:
        """Hand each room's last stream publication to its handler if it was not handed
        over yet (pub/sub lost it); with ``deliver`` False only note its position."""
        if not rooms or self._redis is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                pipe = self._redis.pipeline(transaction=False)
                for room_id in rooms:
                    pipe.hget(self._key("last", room_id), "data")
                found = await pipe.execute()
        except Exception as exc:
            self._set_cmd_ok(False, exc)
            return
        for room_id, data in zip(rooms, found, strict=True):
            handler = self._handlers.get(room_id)
            if handler is not None and data is not None and len(data) >= _HEADER.size:
                _node, seq, _index = _HEADER.unpack_from(data)
                if seq <= self._delivered.get(room_id, 0):
                    continue
                if deliver:
                    self._call(handler, room_id, seq, data[_HEADER.size :])
                else:
                    self._delivered[room_id] = seq

    # -- presence and heartbeat ---------------------------------------------------------

    async def set_presence(self, room_id: str, node_count: int) -> int:
        """Report this node's count for the room; the sum over live nodes.

        While Redis is unreachable this answers at once with the last known total, adjusted
        by this node's change; the heartbeat reports the count when Redis is back.
        """
        before = self._presence.get(room_id, 0)
        if node_count > 0:
            self._presence[room_id] = node_count
        else:
            self._presence.pop(room_id, None)
        estimate = max(node_count, self._totals.get(room_id, before) - before + node_count)
        if self._redis is None or not self._cmd_ok:
            self._totals[room_id] = estimate
            return estimate
        try:
            async with asyncio.timeout(self._timeout):
                total = await self._report(room_id, node_count)
        except Exception as exc:
            self._set_cmd_ok(False, exc)
            self._totals[room_id] = estimate
            return estimate
        if node_count == 0:
            self._totals.pop(room_id, None)
        else:
            self._totals[room_id] = total
        return total

    async def take_token(self, key: str, rate: float, burst: int) -> float | None:
        """A cluster-wide token bucket (rate limits per user across nodes).

        None while Redis is unhealthy or does not answer in time: the node's own buckets
        apply meanwhile, so an outage neither blocks nor unleashes senders.
        """
        if self._redis is None or not self._cmd_ok:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                wait_ms = await self._redis.eval(_TOKEN, 1, self._key("rate", key), rate, burst)
        except Exception as exc:
            self._set_cmd_ok(False, exc)
            return None
        return int(wait_ms) / 1000

    async def _report(self, room_id: str, node_count: int) -> int:
        assert self._redis is not None
        key, rooms = self._key("presence", room_id), self._key("presence-rooms", "")
        result = self._redis.eval(
            _PRESENCE, 2, key, rooms, self._node_field, node_count, self._ttl_ms, room_id
        )
        return int(await result)

    async def rooms_online(self) -> dict[str, int]:
        """Each room of the set of live rooms summed again (see the module docstring)."""
        known = {room_id: total for room_id, total in self._totals.items() if total > 0}
        if self._redis is None or not self._cmd_ok:
            return known
        rooms_key = self._key("presence-rooms", "")
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._redis.smembers(rooms_key)
                members = sorted(m.decode() if isinstance(m, bytes) else m for m in raw)
                pipe = self._redis.pipeline(transaction=False)
                for room_id in members:
                    key = self._key("presence", room_id)
                    pipe.eval(_PRESENCE, 2, key, rooms_key, "", 0, self._ttl_ms, room_id)
                totals = await pipe.execute()
        except Exception as exc:
            self._set_cmd_ok(False, exc)
            return known
        found = zip(members, totals, strict=True)
        return {room_id: int(total) for room_id, total in found if int(total) > 0}

    async def _beat(self) -> None:
        """Every ``heartbeat``: re-report presence (or PING) and re-deliver last publications."""
        while not self._closing:
            await asyncio.sleep(self._heartbeat)
            assert self._redis is not None
            try:
                async with asyncio.timeout(self._timeout):
                    rooms = list(self._presence.items())
                    served = sorted(self._handlers)
                    pipe = self._redis.pipeline(transaction=False)
                    rooms_key = self._key("presence-rooms", "")
                    for room_id, count in rooms:
                        key = self._key("presence", room_id)
                        pipe.eval(
                            _PRESENCE,
                            2,
                            key,
                            rooms_key,
                            self._node_field,
                            count,
                            self._ttl_ms,
                            room_id,
                        )
                    if served:
                        pipe.pubsub_numsub(*map(self._channel, served))
                    else:
                        pipe.ping()
                    was_outage = self._outage
                    replies = await pipe.execute()
                    for (room_id, _), total in zip(rooms, replies, strict=False):
                        if room_id in self._presence:
                            self._totals[room_id] = int(total)
                    if served and not was_outage and not self._outage:
                        # What the sender waits for after an outage (see _settle).
                        counts = replies[-1]
                        self._subscribers = {
                            room_id: int(count)
                            for room_id, (_channel, count) in zip(served, counts, strict=True)
                        }
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_cmd_ok(False, exc)
                continue
            self._set_cmd_ok(True)
            if self._sub_ok:
                await self._resync(list(self._handlers))
