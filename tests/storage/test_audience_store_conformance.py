"""What each viewer sees of the stored history — shadow, hidden and muted messages — and the
MuteStore contract, run against every store backend of ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

from pchat.protocol.models import User
from pchat.storage.base import MessageStore, View
from tests.storage.conformance import ALICE, BOB, T0

CAROL = User("u-carol", "carol", "viewer")


async def _post(store: MessageStore, user: User, i: int, *, shadow: bool = False) -> str:
    result = await store.append_message(
        "lobby", message_id=f"m{i}", user=user, text=f"text {i}", cid=None, ts=T0 + i, shadow=shadow
    )
    assert result.message.shadow is shadow
    return result.message.id


async def _ids(store: MessageStore, view: View | None, **kw: int) -> list[str]:
    return [m.id for m in await store.history("lobby", view=view, **kw)]


async def test_shadow_messages_are_seen_by_their_author_and_the_staff_only(
    store: MessageStore,
) -> None:
    await _post(store, ALICE, 1)
    await _post(store, BOB, 2, shadow=True)
    await _post(store, ALICE, 3)
    assert await _ids(store, None) == ["m1", "m2", "m3"]
    assert await _ids(store, View(CAROL.id)) == ["m1", "m3"]
    assert await _ids(store, View(BOB.id)) == ["m1", "m2", "m3"]
    assert await _ids(store, View("u-mod", staff=True)) == ["m1", "m2", "m3"]
    (kept,) = [m for m in await store.history("lobby", view=View(BOB.id)) if m.id == "m2"]
    assert kept.shadow  # the store keeps the mark; what a client sees is the core's business
    assert (await store.events_since("lobby", 0, 10))[1].message.shadow  # type: ignore[union-attr]


async def test_a_limit_counts_the_messages_the_viewer_sees(store: MessageStore) -> None:
    for i in range(1, 7):
        await _post(store, BOB if i % 2 else ALICE, i)
    muted = View(CAROL.id, muted=(BOB.id,))
    assert await _ids(store, muted, limit=2) == ["m4", "m6"]
    assert await _ids(store, muted, limit=2, before_seq=4) == ["m2"]
    assert await _ids(store, muted, limit=5, before_ts=T0 + 6) == ["m2", "m4"]
    assert await _ids(store, View(CAROL.id, muted=(BOB.id, ALICE.id))) == []
    assert await _ids(store, View(CAROL.id, staff=True, muted=(ALICE.id,))) == ["m1", "m3", "m5"]


async def test_mutes_are_put_listed_and_lifted(store: MessageStore) -> None:
    assert await store.mutes(CAROL.id) == []
    assert await store.put_mute(CAROL.id, BOB.id, T0) is True
    assert await store.put_mute(CAROL.id, ALICE.id, T0 + 1) is True
    assert await store.put_mute(CAROL.id, BOB.id, T0 + 2) is False  # already
    assert await store.mutes(CAROL.id) == [BOB.id, ALICE.id]
    assert await store.mutes(BOB.id) == []  # a mute is one user's own
    assert await store.remove_mute(CAROL.id, BOB.id) is True
    assert await store.remove_mute(CAROL.id, BOB.id) is False
    assert await store.mutes(CAROL.id) == [ALICE.id]


async def test_the_mutes_of_many_users_come_in_one_read(store: MessageStore) -> None:
    assert await store.mutes_of([]) == {}
    await store.put_mute(CAROL.id, BOB.id, T0)
    await store.put_mute(CAROL.id, ALICE.id, T0 + 1)
    await store.put_mute(ALICE.id, BOB.id, T0 + 2)
    found = await store.mutes_of([CAROL.id, ALICE.id, BOB.id, "u-nobody"])
    assert found == {CAROL.id: [BOB.id, ALICE.id], ALICE.id: [BOB.id]}
