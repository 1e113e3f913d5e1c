"""The ReactionStore contract, run against every store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import asyncio

from pchat.storage.base import ReactionStore


async def test_reactions_accumulate(store: ReactionStore) -> None:
    assert await store.reaction_stats("lobby") == {}
    await store.add_reactions("lobby", {"like": 2, "love": 1})
    await store.add_reactions("lobby", {"like": 3})
    await store.add_reactions("lobby", {})
    await asyncio.gather(*(store.add_reactions("lobby", {"fire": 1}) for _ in range(50)))
    assert await store.reaction_stats("lobby") == {"like": 5, "love": 1, "fire": 50}
    assert await store.reaction_stats("other") == {}
