"""The audience's reads of users' mutes: one store read for the connects of a loop turn."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from pchat.core import audience as audience_module
from pchat.core.audience import Audience, skip_push
from pchat.core.node import split_message_body
from pchat.core.settings import CoreSettings
from pchat.core.stream import event_push
from pchat.protocol.models import Message, User
from pchat.storage.base import StoreUnavailable, StreamEvent


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
    split_message = staticmethod(split_message_body)

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


class _Recovering:
    def __init__(self, user: User) -> None:
        self.user = user


def test_a_replayed_event_is_encoded_once_for_all_the_sessions_and_mutes_still_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[int] = []
    real = event_push

    def counting(event: StreamEvent) -> bytes:
        encoded.append(event.seq)
        return real(event)

    monkeypatch.setattr(audience_module, "event_push", counting)
    audience = _audience(_Mutes({}))
    ann = User("ann", "ann", "viewer")
    event = StreamEvent(7, "message", Message("m1", 7, 1000, ann, "hi"))
    audience._mutes["bob"] = {"ann"}
    frames = [
        audience.replay(_Recovering(User(u, u, "viewer")), event)  # type: ignore[arg-type]
        for u in ("cat", "dan", "bob", "eve")
    ]
    assert encoded == [7]
    assert frames[0] == frames[1] == frames[3] == real(event)
    assert frames[2] == skip_push(7)  # bob muted ann
    again = StreamEvent(7, "message", Message("m1", 7, 1000, ann, "hi"))  # another read's
    audience.replay(_Recovering(User("cat", "cat", "viewer")), again)  # type: ignore[arg-type]
    assert encoded == [7, 7]
