"""The RevocationStore contract — a user's time only moves later, the recent ones are read —
run against every store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio

from pchat.storage.base import MessageStore
from tests.storage.conftest import StoreMaker

T0 = 1_700_000_000


async def test_a_revocation_is_stored_and_only_moves_later(store: MessageStore) -> None:
    assert await store.revocations(0) == {}
    assert await store.revoke_tokens("alice", T0) == T0
    assert await store.revoke_tokens("alice", T0 - 10) == T0  # an earlier one: kept
    assert await store.revoke_tokens("bob", T0 + 5) == T0 + 5
    assert await store.revoke_tokens("alice", T0 + 7) == T0 + 7
    assert await store.revocations(0) == {"alice": T0 + 7, "bob": T0 + 5}


async def test_only_the_revocations_since_a_time_are_read(store: MessageStore) -> None:
    await store.revoke_tokens("old", T0 - 3600)
    await store.revoke_tokens("edge", T0)
    await store.revoke_tokens("new", T0 + 1)
    assert await store.revocations(T0) == {"edge": T0, "new": T0 + 1}
    assert await store.revocations(T0 + 2) == {}


async def test_concurrent_revocations_keep_the_latest(store: MessageStore) -> None:
    times = [T0 + i for i in range(20)]
    await asyncio.gather(*(store.revoke_tokens("alice", t) for t in reversed(times)))
    assert await store.revocations(0) == {"alice": T0 + 19}


async def test_revocations_outlive_a_reopen(make_store: StoreMaker) -> None:
    first = await make_store()
    await first.revoke_tokens("alice", T0)
    await first.close()
    second = await make_store()
    assert await second.revocations(0) == {"alice": T0}
