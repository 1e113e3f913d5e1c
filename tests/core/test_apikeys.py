"""API keys: creation, constant-time checks, revocation, the failure limiter."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re

import pytest

from pchat.core.apikeys import (
    ApiKeyAuthenticator,
    ApiKeyGate,
    FailureLimiter,
    Verdict,
    create_api_key,
    create_first_api_key,
    hash_secret,
)
from pchat.storage.base import ApiKeyRecord, StoreUnavailable
from tests.core.fakes import MemoryKeyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: MemoryKeyStore, clock: Clock) -> ApiKeyAuthenticator:
    return ApiKeyAuthenticator(store, clock=clock)


# Creation.


async def test_create_shapes(store: MemoryKeyStore) -> None:
    key, secret = await create_api_key(store)
    assert re.fullmatch(r"pk_[A-Za-z0-9_-]{24}", key)
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{43}", secret)
    assert list(store.api_keys) == [key]


async def test_create_is_random(store: MemoryKeyStore) -> None:
    pairs = {await create_api_key(store) for _ in range(50)}
    assert len({k for k, _ in pairs}) == len({s for _, s in pairs}) == 50


async def test_secret_stored_only_as_sha256(store: MemoryKeyStore) -> None:
    key, secret = await create_api_key(store)
    record = store.api_keys[key]
    assert record.secret_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert secret not in repr(record)
    assert secret[3:] not in repr(record)
    assert record.revoked_at is None
    assert record.created_at > 0


# Checking.


async def test_check_accepts_the_pair(auth: ApiKeyAuthenticator, store: MemoryKeyStore) -> None:
    key, secret = await create_api_key(store)
    assert await auth.check(key, secret) is True


@pytest.mark.parametrize(
    ("key", "secret"),
    [(None, "sk_x"), ("pk_x", None), ("", ""), (None, None)],
)
async def test_check_refuses_missing(
    auth: ApiKeyAuthenticator, key: str | None, secret: str | None
) -> None:
    assert await auth.check(key, secret) is False


async def test_check_refuses_wrong_secret(auth: ApiKeyAuthenticator, store: MemoryKeyStore) -> None:
    key, secret = await create_api_key(store)
    other_key, other_secret = await create_api_key(store)
    assert await auth.check(key, secret + "x") is False
    assert await auth.check(key, secret[:-1]) is False
    assert await auth.check(key, other_secret) is False
    assert await auth.check(other_key, secret) is False
    assert (
        await auth.check(key, record_hash := store.api_keys[key].secret_hash) is False
    )  # the hash
    assert record_hash
    assert await auth.check(key, "\udcff") is False  # lone surrogate from a header: no crash


async def test_check_refuses_unknown_key(auth: ApiKeyAuthenticator, store: MemoryKeyStore) -> None:
    _, secret = await create_api_key(store)
    assert await auth.check("pk_nope", secret) is False


async def test_constant_time_compare_used_for_every_outcome(
    auth: ApiKeyAuthenticator, store: MemoryKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # what apikeys calls
    key, secret = await create_api_key(store)
    revoked, revoked_secret = await create_api_key(store)
    await store.revoke_api_key(revoked, 1)

    assert await auth.check(key, secret) is True
    assert await auth.check(key, "sk_wrong") is False
    assert await auth.check("pk_unknown", secret) is False
    assert await auth.check(revoked, revoked_secret) is False
    assert len(calls) == 4
    # Unknown and revoked keys are compared against the same dummy hash, never skipped.
    assert calls[2][1] == calls[3][1] != store.api_keys[revoked].secret_hash
    assert all(len(a) == len(b) == 64 for a, b in calls)


async def test_revoke_takes_effect_within_the_cache_ttl(
    auth: ApiKeyAuthenticator, store: MemoryKeyStore, clock: Clock
) -> None:
    key, secret = await create_api_key(store)
    assert await auth.check(key, secret)
    await store.revoke_api_key(key, 5)
    clock.now += 2.0
    assert await auth.check(key, secret) is False


async def test_forget_takes_effect_at_once(
    auth: ApiKeyAuthenticator, store: MemoryKeyStore
) -> None:
    key, secret = await create_api_key(store)
    assert await auth.check(key, secret)
    await store.revoke_api_key(key, 5)
    assert await auth.check(key, secret)  # cached
    auth.forget(key)
    assert await auth.check(key, secret) is False
    other, other_secret = await create_api_key(store)
    assert not await auth.usable("pk_later")
    store.api_keys["pk_later"] = store.api_keys.pop(other)
    auth.forget_all()
    assert await auth.check("pk_later", other_secret)


async def test_a_read_overtaken_by_forget_is_not_cached(
    store: MemoryKeyStore, clock: Clock
) -> None:
    """A record read before a revocation, arriving after the node was told of it, must not
    stay cached for the TTL."""
    key, secret = await create_api_key(store)
    reading, release = asyncio.Event(), asyncio.Event()
    get = store.get_api_key

    async def slow_get(k: str) -> ApiKeyRecord | None:
        record = await get(k)
        reading.set()
        await release.wait()
        return record

    store.get_api_key = slow_get  # type: ignore[method-assign]
    auth = ApiKeyAuthenticator(store, clock=clock)
    check = asyncio.ensure_future(auth.check(key, secret))
    await reading.wait()
    await store.revoke_api_key(key, 5)
    auth.forget(key)  # the publication arrives while the read is under way
    release.set()
    assert await check  # it answered with what it read...
    store.get_api_key = get  # type: ignore[method-assign]
    assert await auth.check(key, secret) is False  # ...but did not cache it


async def test_store_down_uses_the_record_read_before(
    auth: ApiKeyAuthenticator, store: MemoryKeyStore, clock: Clock
) -> None:
    key, secret = await create_api_key(store)
    assert await auth.check(key, secret)
    store.down = True
    clock.now += 60.0
    assert await auth.check(key, secret)  # stale, but the backends keep working
    with pytest.raises(StoreUnavailable):
        await auth.check("pk_never_read", secret)


async def test_create_first_api_key(store: MemoryKeyStore) -> None:
    first = await create_first_api_key(store)
    assert first is not None and list(store.api_keys) == [first[0]]
    assert await create_first_api_key(store) is None
    assert list(store.api_keys) == [first[0]]


async def test_records_are_cached(
    auth: ApiKeyAuthenticator, store: MemoryKeyStore, clock: Clock
) -> None:
    key, secret = await create_api_key(store)
    for _ in range(10):
        assert await auth.check(key, secret)
        assert not await auth.check("pk_unknown", secret)
    assert store.lookups == 2
    clock.now += 2.5
    assert await auth.check(key, secret)
    assert store.lookups == 3


async def test_cache_is_bounded(store: MemoryKeyStore, clock: Clock) -> None:
    auth = ApiKeyAuthenticator(store, clock=clock, cache_size=8)
    for i in range(100):
        await auth.check(f"pk_{i}", "sk_x")
    assert len(auth._cache) == 8


# The failure limiter.


def test_limiter_blocks_after_max_failures() -> None:
    limiter = FailureLimiter(3, 60.0)
    for t in (0.0, 1.0, 2.0):
        assert limiter.blocked("1.2.3.4", t) is None
        limiter.record_failure("1.2.3.4", t)
    assert limiter.blocked("1.2.3.4", 2.0) == pytest.approx(58.0)
    assert limiter.blocked("5.6.7.8", 2.0) is None  # per address
    # The oldest failure leaves the window at t=60; the address may try once more.
    assert limiter.blocked("1.2.3.4", 59.9) == pytest.approx(0.1)
    assert limiter.blocked("1.2.3.4", 60.0) is None
    limiter.record_failure("1.2.3.4", 60.0)
    assert limiter.blocked("1.2.3.4", 60.0) == pytest.approx(1.0)


def test_limiter_disabled() -> None:
    limiter = FailureLimiter(None, 60.0)
    for t in range(100):
        limiter.record_failure("a", float(t))
    assert limiter.blocked("a", 100.0) is None
    assert len(limiter) == 0


def test_limiter_forgets_old_addresses() -> None:
    limiter = FailureLimiter(3, 10.0)
    for i in range(100):
        limiter.record_failure(f"10.0.0.{i}", 0.0)
    limiter.record_failure("late", 11.0)
    assert len(limiter) == 1


def test_limiter_memory_is_bounded() -> None:
    limiter = FailureLimiter(2, 60.0, max_subjects=50)
    for i in range(1000):
        limiter.record_failure(f"addr{i}", float(i) / 100)
    assert len(limiter) == 50
    limiter.record_failure("addr999", 10.0)
    assert limiter.blocked("addr999", 10.0) is not None  # the most recent one is kept


def test_limiter_validates() -> None:
    with pytest.raises(ValueError):
        FailureLimiter(0, 60.0)
    with pytest.raises(ValueError):
        FailureLimiter(3, 0.0)


def test_limiter_counts_an_attempt_once() -> None:
    limiter = FailureLimiter(3, 60.0)
    for t in range(10):
        limiter.record_failure("a", float(t), attempt="same")
    assert limiter.blocked("a", 10.0) is None
    limiter.record_failure("a", 10.0, attempt="other")
    limiter.record_failure("a", 11.0, attempt="third")
    assert limiter.blocked("a", 11.0) == pytest.approx(58.0)  # "same" was last at t=9


# The gate: who is throttled for whose failures.


@pytest.fixture
def gate(auth: ApiKeyAuthenticator) -> ApiKeyGate:
    return ApiKeyGate(auth, FailureLimiter(3, 60.0))


async def test_gate_accepts_and_refuses(gate: ApiKeyGate, store: MemoryKeyStore) -> None:
    key, secret = await create_api_key(store)
    assert await gate.check("a", key, secret, 0.0) == (Verdict.ACCEPTED, 0.0)
    assert await gate.check("a", key, "sk_wrong", 0.0) == (Verdict.REFUSED, 0.0)
    assert await gate.check("a", None, None, 0.0) == (Verdict.REFUSED, 0.0)


async def test_gate_unknown_keys_throttle_only_unknown_keys(
    gate: ApiKeyGate, store: MemoryKeyStore
) -> None:
    key, secret = await create_api_key(store)
    revoked, revoked_secret = await create_api_key(store)
    await store.revoke_api_key(revoked, 1)
    for _ in range(3):
        assert (await gate.check("a", "pk_unknown", "s", 1.0))[0] is Verdict.REFUSED
    assert await gate.check("a", "pk_other", "s", 2.0) == (Verdict.THROTTLED, pytest.approx(59.0))
    assert (await gate.check("a", revoked, revoked_secret, 2.0))[0] is Verdict.THROTTLED
    assert (await gate.check("a", None, None, 2.0))[0] is Verdict.THROTTLED
    assert (await gate.check("a", key, secret, 2.0))[
        0
    ] is Verdict.ACCEPTED  # a usable key is checked
    assert (await gate.check("b", "pk_unknown", "s", 2.0))[0] is Verdict.REFUSED  # per address
    assert (await gate.check("a", "pk_unknown", "s", 61.0))[0] is Verdict.REFUSED  # window passed


async def test_gate_guessing_a_secret_blocks_that_key_from_that_address(
    gate: ApiKeyGate, store: MemoryKeyStore
) -> None:
    key, secret = await create_api_key(store)
    other, other_secret = await create_api_key(store)
    for i in range(3):
        assert (await gate.check("a", key, f"sk_guess{i}", 1.0))[0] is Verdict.REFUSED
    # Blocked before checking, so the right secret is not confirmed to a guesser.
    assert (await gate.check("a", key, secret, 2.0))[0] is Verdict.THROTTLED
    assert (await gate.check("a", other, other_secret, 2.0))[0] is Verdict.ACCEPTED
    assert (await gate.check("b", key, secret, 2.0))[0] is Verdict.ACCEPTED
    assert (await gate.check("a", "pk_unknown", "s", 2.0))[0] is Verdict.REFUSED
    assert (await gate.check("a", key, secret, 61.0))[0] is Verdict.ACCEPTED


async def test_gate_one_stale_secret_retried_is_not_guessing(
    gate: ApiKeyGate, store: MemoryKeyStore
) -> None:
    key, secret = await create_api_key(store)
    for t in range(20):
        assert (await gate.check("a", key, "sk_stale", float(t)))[0] is Verdict.REFUSED
    assert (await gate.check("a", key, None, 20.0))[0] is Verdict.REFUSED
    assert (await gate.check("a", key, secret, 21.0))[0] is Verdict.ACCEPTED


async def test_gate_disabled(store: MemoryKeyStore, auth: ApiKeyAuthenticator) -> None:
    gate = ApiKeyGate(auth, FailureLimiter(None, 60.0))
    key, secret = await create_api_key(store)
    for i in range(50):
        await gate.check("a", key, f"sk_{i}", 0.0)
        await gate.check("a", "pk_x", "s", 0.0)
    assert (await gate.check("a", key, secret, 0.0))[0] is Verdict.ACCEPTED


async def test_usable(auth: ApiKeyAuthenticator, store: MemoryKeyStore) -> None:
    key, _ = await create_api_key(store)
    revoked, _ = await create_api_key(store)
    await store.revoke_api_key(revoked, 1)
    assert await auth.usable(key)
    assert (
        not await auth.usable(revoked)
        and not await auth.usable("pk_x")
        and not await auth.usable(None)
    )
