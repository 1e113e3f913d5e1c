"""The audience's reads of users' mutes: one store read for the connects of a loop turn."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from pchat.core.audience import Audience
from pchat.core.settings import CoreSettings
from pchat.protocol.models import User
from pchat.storage.base import StoreUnavailable


class _Mutes:
    """A MuteStore that counts its reads."""

    def __init__(self, mutes: dict[str, list[str]], *, fail: bool = False) -> None:
        self.data = mutes
        self.reads: list[list[str]] = []
        self.fail = fail

    async def mutes_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        self.reads.append(list(user_ids))
        await asyncio.sleep(0)
        if self.fail:
            raise StoreUnavailable("down")
        return {u: self.data[u] for u in user_ids if u in self.data}


class _Node:
    settings = CoreSettings()

    def tailor(self, *args: Any) -> None: ...

    def consume(self, *args: Any) -> None: ...

    def on_room_closed(self, *args: Any) -> None: ...


class _Connections:
    def __init__(self) -> None:
        self.unsampled: dict[str, dict[Any, None]] = {}

    def on_members(self, *args: Any) -> None: ...

    def replay_with(self, *args: Any) -> None: ...

    def session_at(self, *args: Any) -> None: ...


def _audience(store: _Mutes) -> Audience:
    return Audience(node=_Node(), store=store, connections=_Connections())  # type: ignore[arg-type]


async def test_the_connects_of_a_loop_turn_share_one_read() -> None:
    store = _Mutes({"ann": ["bob"], "cat": ["ann", "bob"]})
    audience = _audience(store)
    users = [User(name, name, "viewer") for name in ("ann", "bob", "cat", "ann")]
    states = await asyncio.gather(*(audience.room_state("r", u) for u in users))
    assert [s["mutes"] for s in states] == [["bob"], [], ["ann", "bob"], ["bob"]]
    assert store.reads == [["ann", "bob", "cat"]]
    assert audience.view_of(users[2]).muted == ("ann", "bob")
    await audience.room_state("r", users[1])
    assert len(store.reads) == 2  # a later turn reads again


async def test_a_failed_read_fails_every_connect_waiting_for_it() -> None:
    audience = _audience(_Mutes({}, fail=True))
    results = await asyncio.gather(
        audience.room_state("r", User("a", "a", "viewer")),
        audience.room_state("r", User("b", "b", "viewer")),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    with pytest.raises(StoreUnavailable):
        await audience.room_state("r", User("c", "c", "viewer"))
