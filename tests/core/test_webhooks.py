"""The chat core's webhooks without a network: registration checks, the backoff, delivery
from the outbox of a real SQLite store through a fake poster (success, retries, giving up,
concurrency, a lease too short to send), and rooms going live and empty."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pchat.core import webhooks
from pchat.core.clock import now_ms
from pchat.core.settings import CoreSettings
from pchat.core.webhooks import Backoff, PostFailed, Webhooks, register
from pchat.protocol import webhooks as events
from pchat.protocol.errors import RequestError
from pchat.protocol.models import User
from pchat.protocol.moderation import Ban
from pchat.protocol.signing import verify
from pchat.storage.base import WebhookBacklog, WebhookDelivery
from pchat.storage.store_sqlite import SQLiteStore

ALICE = User("u-alice", "alice")
MOD = User("u-mod", "mod", "moderator")
FAST = CoreSettings(
    webhook_timeout=1.0,
    webhook_retry_base=0.01,
    webhook_retry_max=0.04,
    webhook_max_attempts=3,
    webhook_concurrency=4,
)


@dataclass
class Call:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float


class FakePoster:
    """Answers with the statuses queued (then 200), or raises what is queued."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[Call] = []
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.calls.append(Call(url, body, dict(headers), timeout))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            answer = self.answers.pop(0) if self.answers else 200
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.in_flight -= 1


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "pchat.db")
    await s.open()
    yield s
    await s.close()


async def send(store: SQLiteStore, n: int, room: str = "lobby") -> None:
    for i in range(n):
        await store.append_message(
            room, message_id=f"m{i}", user=ALICE, text=f"text {i}", cid=None, ts=1000 + i
        )


async def drain(hooks: Webhooks, poster: FakePoster, calls: int, timeout: float = 5.0) -> None:
    """Run delivery rounds until ``calls`` POSTs were made and none is in flight."""
    async with asyncio.timeout(timeout):
        while len(poster.calls) < calls or hooks._tasks:
            await hooks.deliver_due()
            await asyncio.sleep(0.005)


# -- registration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/x",
        "example.com/hook",
        "http://",
        "https://user:pw@example.com/",
        "https://example.com/#frag",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "https://example.com/" + "x" * webhooks.MAX_URL_CHARS,
        42,
    ],
)
def test_only_http_and_https_urls_are_accepted(url: object) -> None:
    with pytest.raises(RequestError):
        webhooks.validate_url(url)


def test_good_urls_pass() -> None:
    for url in ["http://127.0.0.1:8000/hook", "https://example.com/a?b=c", "http://[::1]/x"]:
        assert webhooks.validate_url(url) == url


def test_types_are_known_and_deduplicated() -> None:
    assert webhooks.validate_types(["message.posted", "*", "message.posted"]) == (
        "message.posted",
        "*",
    )
    for bad in [[], "message.posted", ["message.edited"], [1]]:
        with pytest.raises(RequestError):
            webhooks.validate_types(bad)


async def test_register_makes_a_secret_unless_given(store: SQLiteStore) -> None:
    made = await register(store, "https://example.com/a")
    assert made.secret.startswith("whsec_") and len(made.secret) > 30
    assert made.types == ("*",) and made.active and made.id.startswith("wh_")
    given = await register(
        store, "https://example.com/b", ["user.banned"], secret="s" * 16, description="mine"
    )
    assert (given.secret, given.description) == ("s" * 16, "mine")
    assert {e.id: e for e in await store.webhooks()} == {made.id: made, given.id: given}
    assert store.webhook_types == {"*", "user.banned"}
    with pytest.raises(RequestError):
        await register(store, "https://example.com/c", secret="short")
    with pytest.raises(RequestError):
        await register(store, "https://example.com/c", description="d" * 201)


# -- backoff ------------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap_then_gives_up() -> None:
    backoff = Backoff(base=5.0, cap=3600.0, max_attempts=18)
    rng = random.Random(7)
    for attempts in range(1, 18):
        full = min(3600.0, 5.0 * 2 ** (attempts - 1))
        for _ in range(20):
            delay = backoff.delay(attempts, rng)
            assert delay is not None and full / 2 <= delay <= full
    assert backoff.delay(18, rng) is None
    schedule = backoff.schedule()
    assert schedule[:4] == [5.0, 10.0, 20.0, 40.0]
    assert schedule[-1] == 3600.0 and len(schedule) == 17


# -- delivery -----------------------------------------------------------------------------------


async def test_a_due_event_is_posted_signed_and_removed(store: SQLiteStore) -> None:
    endpoint = await register(store, "https://example.com/hook", ["message.posted"])
    poster = FakePoster()
    hooks = Webhooks(FAST, store=store, poster=poster)
    await send(store, 2)
    await drain(hooks, poster, 2)
    first, second = poster.calls
    for call in (first, second):
        assert call.url == endpoint.url
        assert verify(endpoint.secret, call.headers["pchat-signature"], call.body)
        body = orjson.loads(call.body)
        assert call.headers["pchat-event-id"] == body["id"]
        assert call.headers["pchat-event-type"] == "message.posted"
        assert call.headers["pchat-delivery-attempt"] == "1"
        assert call.headers["content-type"] == "application/json"
        assert call.timeout == pytest.approx(FAST.webhook_timeout)
    assert [orjson.loads(c.body)["data"]["message"]["id"] for c in poster.calls] == ["m0", "m1"]
    assert await store.claim_webhooks(10**13, 1000, 10) == []  # delivered: gone


async def test_failures_are_retried_with_backoff_until_success(store: SQLiteStore) -> None:
    endpoint = await register(store, "https://example.com/hook")
    poster = FakePoster(500, PostFailed("connection refused"), 503)
    hooks = Webhooks(FAST, store=store, poster=poster)
    await send(store, 1)
    await drain(hooks, poster, 3)
    assert (await store.webhook_backlog(endpoint.id)).last_error == "HTTP 503"
    # Attempt 3 failed, but 3 is the most: given up.
    assert await store.webhook_backlog(endpoint.id) == WebhookBacklog(0, 1, "HTTP 503")
    ids = {c.headers["pchat-event-id"] for c in poster.calls}
    assert len(ids) == 1  # one event, three attempts
    assert [c.headers["pchat-delivery-attempt"] for c in poster.calls] == ["1", "2", "3"]
    assert all(c.body == poster.calls[0].body for c in poster.calls)

    # Retried by hand, it is delivered.
    assert await store.retry_dead_webhooks(endpoint.id, 0) == 1
    await drain(hooks, poster, 4)
    assert await store.webhook_backlog(endpoint.id) == WebhookBacklog(0, 0, None)


async def test_a_timeout_is_a_failure(store: SQLiteStore) -> None:
    await register(store, "https://example.com/hook")
    poster = FakePoster(TimeoutError(), 204)
    hooks = Webhooks(FAST, store=store, poster=poster)
    await send(store, 1)
    await drain(hooks, poster, 2)
    assert await store.claim_webhooks(10**13, 1000, 10) == []


async def test_at_most_concurrency_deliveries_are_in_flight(store: SQLiteStore) -> None:
    await register(store, "https://example.com/hook")
    poster = FakePoster()
    poster.gate = asyncio.Event()
    hooks = Webhooks(FAST, store=store, poster=poster)
    await send(store, 10)
    round_ = asyncio.create_task(hooks.deliver_due())
    async with asyncio.timeout(5):
        while poster.in_flight < FAST.webhook_concurrency:
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    assert poster.in_flight == FAST.webhook_concurrency  # the round waits for a free slot
    poster.gate.set()
    await asyncio.wait_for(round_, 5)
    await drain(hooks, poster, 10)
    assert poster.most_in_flight == FAST.webhook_concurrency
    assert len({c.headers["pchat-event-id"] for c in poster.calls}) == 10


async def test_nothing_is_claimed_without_endpoints_or_a_poster(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: list[int] = []
    claim = store.claim_webhooks

    async def counted(now_ms: int, lease_ms: int, limit: int) -> list[WebhookDelivery]:
        claims.append(limit)
        return await claim(now_ms, lease_ms, limit)

    monkeypatch.setattr(store, "claim_webhooks", counted)
    await Webhooks(FAST, store=store, poster=FakePoster()).deliver_due()
    assert claims == []  # no endpoint: the outbox is not even looked at
    await register(store, "https://example.com/hook")
    await send(store, 1)
    await Webhooks(FAST, store=store, poster=None).deliver_due()
    assert claims == []  # this node does not deliver
    await Webhooks(FAST, store=store, poster=FakePoster()).deliver_due()
    assert claims == [FAST.webhook_concurrency]


async def test_stop_cancels_deliveries_in_flight_which_another_claims_later(
    store: SQLiteStore,
) -> None:
    await register(store, "https://example.com/hook")
    poster = FakePoster()
    poster.gate = asyncio.Event()
    hooks = Webhooks(FAST, store=store, poster=poster)
    await send(store, 1)
    await hooks.deliver_due()
    async with asyncio.timeout(5):
        while not poster.in_flight:
            await asyncio.sleep(0.005)
    await hooks.stop()
    now = now_ms()
    assert await store.claim_webhooks(now, 1000, 10) == []  # still leased to the stopped node
    lease_ms = int((2 * FAST.webhook_timeout + 5) * 1000)
    [again] = await store.claim_webhooks(now + lease_ms, 1000, 10)  # then due again
    assert again.attempts == 2


async def test_send_test_posts_once_outside_the_outbox(store: SQLiteStore) -> None:
    endpoint = await register(store, "https://example.com/hook", ["user.banned"])
    poster = FakePoster(204, 500, PostFailed("refused"))
    hooks = Webhooks(FAST, store=store, poster=poster)
    ok = await hooks.send_test(endpoint)
    assert (ok.ok, ok.status, ok.error) == (True, 204, None)
    body = orjson.loads(poster.calls[0].body)
    assert body["type"] == "webhook.test" and body["room_id"] is None
    assert body["data"] == {"webhook_id": endpoint.id} and body["id"] == ok.event_id
    failed = await hooks.send_test(endpoint)
    assert (failed.ok, failed.status) == (False, 500)
    refused = await hooks.send_test(endpoint)
    assert (refused.ok, refused.status, refused.error) == (False, None, "refused")
    assert await store.claim_webhooks(10**13, 1000, 10) == []
    with pytest.raises(RequestError):
        await Webhooks(FAST, store=store, poster=None).send_test(endpoint)


# -- rooms live and empty -----------------------------------------------------------------------


async def test_rooms_going_live_and_empty_are_reported_once(store: SQLiteStore) -> None:
    hooks = Webhooks(FAST, store=store, poster=None)
    await hooks.observe_online("lobby", 3)  # nobody subscribes: nothing recorded
    await register(store, "https://example.com/hook", ["room.live", "room.empty"])
    await hooks.observe_online("lobby", 3)
    await hooks.observe_online("lobby", 5)  # still live: nothing
    await hooks.observe_online("lobby", 0)
    await hooks.observe_online("lobby", 0)
    await hooks.observe_online("other", 2)
    await hooks.observe_online("other", 1, closed=True)  # others still there: not empty
    await hooks.observe_online("other", 0, closed=True)  # the last node closed it
    deliveries = await store.claim_webhooks(10**13, 1000, 10)
    got = [(d.event_type, d.room_id, orjson.loads(d.body)["data"]) for d in deliveries]
    assert got == [
        ("room.live", "lobby", {"online": 3}),
        ("room.empty", "lobby", {"online": 0}),
        ("room.live", "other", {"online": 2}),
        ("room.empty", "other", {"online": 0}),
    ]


async def test_a_store_change_records_only_subscribed_events(store: SQLiteStore) -> None:
    await register(store, "https://example.com/hook", [events.USER_BANNED])
    await send(store, 1)
    await store.put_ban("lobby", Ban(ALICE.id, MOD, 1000))
    [delivery] = await store.claim_webhooks(10**13, 1000, 10)
    assert delivery.event_type == events.USER_BANNED
