"""The MessageStore as a whole, run against every store backend of
``conftest.STORE_FACTORIES``: its lifecycle and health (:class:`~pchat.storage.base.Backend`),
and durability across a restart of every interface it combines."""

from __future__ import annotations

import pytest

from pchat.storage.base import StoreUnavailable
from tests.storage.conformance import ALICE, MOD, T0, StoreMaker, make_poll, send


async def test_history_and_epoch_survive_a_restart(make_store: StoreMaker) -> None:
    store = await make_store()
    await send(store, "lobby", 5)
    await store.delete_message("lobby", "m2", by=MOD, ts=T0 + 9)
    await store.add_reactions("lobby", {"like": 3})
    await store.create_poll("lobby", make_poll("p1"))
    await store.vote("lobby", "p1", ALICE.id, 1)
    before = await store.room("lobby")
    history = await store.history("lobby")
    await store.close()

    reopened = await make_store()
    assert await reopened.room("lobby") == before
    assert await reopened.history("lobby") == history
    assert await reopened.reaction_stats("lobby") == {"like": 3}
    assert await reopened.user_votes("lobby", ALICE.id) == {"p1": 1}
    [after] = await send(reopened, "lobby", 1, prefix="n")
    assert after.seq == before.last_seq + 1


async def test_health_follows_the_store_and_a_closed_store_is_unavailable(
    make_store: StoreMaker,
) -> None:
    store = await make_store()
    assert store.healthy  # open
    await store.room("lobby")
    assert store.healthy
    await store.close()
    assert not store.healthy
    with pytest.raises(StoreUnavailable):
        await store.history("lobby")
