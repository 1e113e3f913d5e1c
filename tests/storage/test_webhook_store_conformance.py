"""The WebhookStore contract, run against every store backend of ``conftest.STORE_FACTORIES``:
endpoints, the events each change writes to the outbox in its own transaction (only for
subscribed types), claims with a lease — never one row to two claimers, whichever store
(node) they use — retries, dead letters, and the rooms' live/empty alternation."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from pchat.protocol import webhooks as hooks
from pchat.protocol.moderation import Ban, Held
from pchat.storage.base import (
    MessageStore,
    WebhookBacklog,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStore,
)
from tests.storage.conformance import ALICE, BOB, MOD, T0, StoreMaker, make_poll, send

NOW = T0 + 10_000
LATER = 10**13  # after every clock of the test run
LEASE = 30_000


def endpoint(
    endpoint_id: str, *types: str, active: bool = True, created_at: int = T0
) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id,
        f"https://example.com/hooks/{endpoint_id}",
        f"secret-{endpoint_id}",
        types or (hooks.ALL_TYPES,),
        created_at,
        active,
        f"endpoint {endpoint_id}",
    )


def parsed(delivery: WebhookDelivery) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(delivery.body)
    assert body["id"] == delivery.event_id
    assert body["type"] == delivery.event_type
    assert body["room_id"] == delivery.room_id
    assert body["ts"] == delivery.created_at
    return body


async def claim_all(store: WebhookStore, now: int = NOW) -> list[WebhookDelivery]:
    return await store.claim_webhooks(now, LEASE, 1000)


# -- endpoints ----------------------------------------------------------------------------------


async def test_endpoints_are_added_listed_changed_and_removed(store: WebhookStore) -> None:
    assert await store.webhooks() == []
    assert store.webhook_types == frozenset()
    first = endpoint("w1", hooks.MESSAGE_POSTED, hooks.USER_BANNED)
    second = endpoint("w2", created_at=T0 + 1)
    await store.add_webhook(first)
    await store.add_webhook(second)
    assert await store.webhooks() == [first, second]
    assert await store.get_webhook("w1") == first
    assert await store.get_webhook("nope") is None
    with pytest.raises(ValueError):
        await store.add_webhook(endpoint("w1"))

    changed = await store.update_webhook(
        "w1", url="http://other.example/x", types=(hooks.POLL_FINISHED,), description="d"
    )
    assert changed is not None
    assert (changed.url, changed.types, changed.description) == (
        "http://other.example/x",
        (hooks.POLL_FINISHED,),
        "d",
    )
    assert changed.secret == first.secret and changed.active
    assert await store.update_webhook("w1", active=False, secret="new") == WebhookEndpoint(
        "w1", "http://other.example/x", "new", (hooks.POLL_FINISHED,), T0, False, "d"
    )
    assert await store.update_webhook("nope", active=False) is None
    assert await store.update_webhook("w2") == second  # nothing to change

    assert await store.remove_webhook("w1") is True
    assert await store.remove_webhook("w1") is False
    assert await store.webhooks() == [second]


async def test_webhook_types_are_the_active_endpoints_types(store: WebhookStore) -> None:
    await store.add_webhook(endpoint("w1", hooks.MESSAGE_POSTED))
    await store.add_webhook(endpoint("w2", hooks.POLL_FINISHED, hooks.MESSAGE_POSTED))
    await store.add_webhook(endpoint("w3", hooks.ROOM_LIVE, active=False))
    assert store.webhook_types == {hooks.MESSAGE_POSTED, hooks.POLL_FINISHED}
    await store.update_webhook("w3", active=True)
    assert store.webhook_types == {hooks.MESSAGE_POSTED, hooks.POLL_FINISHED, hooks.ROOM_LIVE}
    await store.remove_webhook("w2")
    assert await store.reload_webhook_types() == {hooks.MESSAGE_POSTED, hooks.ROOM_LIVE}


async def test_another_node_sees_new_endpoints_when_it_reloads(make_store: StoreMaker) -> None:
    here, there = await make_store(), await make_store()
    await here.add_webhook(endpoint("w1", hooks.MESSAGE_POSTED))
    assert there.webhook_types == frozenset()
    await send(there, "lobby", 1)  # not subscribed as far as ``there`` knows: no event
    assert await claim_all(here) == []
    assert await there.reload_webhook_types() == {hooks.MESSAGE_POSTED}
    await send(there, "lobby", 1, prefix="n")
    [delivery] = await claim_all(here)
    assert parsed(delivery)["data"]["message"]["id"] == "n0"


async def test_a_store_reopened_reads_its_endpoints(make_store: StoreMaker) -> None:
    first = await make_store()
    await first.add_webhook(endpoint("w1", hooks.USER_BANNED))
    await first.close()
    again = await make_store()
    assert again.webhook_types == frozenset()  # until read: the chat core reads at start
    assert await again.reload_webhook_types() == {hooks.USER_BANNED}


# -- what writes events -------------------------------------------------------------------------


async def test_without_endpoints_nothing_is_written(store: MessageStore) -> None:
    await send(store, "lobby", 3)
    await store.put_ban("lobby", Ban(ALICE.id, MOD, T0))
    await store.create_poll("lobby", make_poll("p1"))
    assert await claim_all(store) == []


async def test_a_new_message_is_an_event_for_each_subscriber(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1", hooks.MESSAGE_POSTED))
    await store.add_webhook(endpoint("w2", hooks.ALL_TYPES))
    await store.add_webhook(endpoint("w3", hooks.USER_BANNED))
    await store.add_webhook(endpoint("w4", hooks.MESSAGE_POSTED, active=False))
    result = await store.append_message(
        "lobby", message_id="m1", user=ALICE, text="hello", cid="c1", ts=T0, mentions=("u-bob",)
    )
    again = await store.append_message(
        "lobby", message_id="m2", user=ALICE, text="hello", cid="c1", ts=T0 + 1
    )
    assert not again.created  # the same send: no second event
    deliveries = await claim_all(store)
    assert sorted(d.endpoint_id for d in deliveries) == ["w1", "w2"]
    assert len({d.event_id for d in deliveries}) == 1  # one event, one id
    for d in deliveries:
        body = parsed(d)
        assert (d.event_type, d.room_id, d.created_at) == (hooks.MESSAGE_POSTED, "lobby", T0)
        assert body["data"] == {"message": result.message.to_wire()}
        assert d.attempts == 1
        assert d.url == f"https://example.com/hooks/{d.endpoint_id}"
        assert d.secret == f"secret-{d.endpoint_id}"
        assert d.event_id.startswith("evt_")


async def test_every_change_that_makes_an_event_writes_it(store: MessageStore) -> None:
    await store.add_webhook(endpoint("all"))
    [m0, m1, _m2] = await send(store, "lobby", 3)
    deleted = await store.delete_message("lobby", m0.id, by=MOD, ts=T0 + 10)
    assert deleted is not None
    purge = await store.purge_user("lobby", ALICE.id, since=0, by=MOD, ts=T0 + 11)
    assert purge is not None
    ban = Ban(BOB.id, MOD, T0 + 12, T0 + 60_000, "spam", shadow=True)
    await store.put_ban("lobby", ban)
    assert await store.remove_ban("lobby", BOB.id) is True
    assert await store.remove_ban("lobby", BOB.id) is False  # nothing lifted: no event
    opened = await store.create_poll("lobby", make_poll("p1", created_at=T0 + 13))
    await store.create_poll("lobby", make_poll("p2", status="scheduled", publish_at=T0 + 20))
    published = await store.publish_poll("lobby", "p2", T0 + 14)
    assert await store.publish_poll("lobby", "p2", T0 + 15) is None  # published once
    assert published is not None
    await store.vote("lobby", "p1", BOB.id, 1)  # votes are no events
    finished = await store.finish_poll("lobby", "p1", T0 + 16)
    held = Held("h1", T0 + 17, BOB, "held text", "hold")
    await store.hold_message("lobby", held)
    released = await store.release_held("lobby", "h1", T0 + 18)
    assert released is not None

    # A lift is dated by the store's clock (the ban holds no time of it): due by now.
    bodies = [parsed(d) for d in await claim_all(store, LATER)]
    assert [(b["type"], b["ts"]) for b in bodies[:3]] == [
        (hooks.MESSAGE_POSTED, T0),
        (hooks.MESSAGE_POSTED, T0 + 1),
        (hooks.MESSAGE_POSTED, T0 + 2),
    ]
    assert [b["data"]["message"]["id"] for b in bodies[:3]] == ["m0", "m1", "m2"]
    rest = [(b["type"], b["ts"], b["data"]) for b in bodies[3:]]
    assert rest[0] == (
        hooks.MESSAGE_DELETED,
        T0 + 10,
        {"message": deleted.message.to_wire(), "seq": deleted.seq},
    )
    assert rest[0][2]["message"]["text"] == ""  # deleted text never leaves the store
    seq, _ = purge
    assert rest[1] == (
        hooks.MESSAGES_PURGED,
        T0 + 11,
        {
            "user_id": ALICE.id,
            "since": 0,
            "by": MOD.to_wire(),
            "deleted_at": T0 + 11,
            "count": 2,
            "seq": seq,
        },
    )
    assert rest[2] == (hooks.USER_BANNED, T0 + 12, {"ban": ban.to_wire()})
    assert rest[3][0] == hooks.USER_UNBANNED
    assert rest[3][2] == {"user_id": BOB.id, "ban": ban.to_wire()}
    assert rest[4] == (hooks.POLL_PUBLISHED, T0 + 13, {"poll": opened.to_wire()})
    assert rest[5] == (hooks.POLL_PUBLISHED, T0 + 14, {"poll": published.to_wire()})
    assert rest[6] == (hooks.POLL_FINISHED, T0 + 16, {"poll": finished.to_wire()})
    assert rest[6][2]["poll"]["total_votes"] == 1
    assert rest[7][0] == hooks.MESSAGE_POSTED
    assert rest[7][2] == {"message": released.message.to_wire()}
    assert released.message.id == "h1"
    assert len(rest) == 8
    assert m1.id == "m1"


async def test_only_the_subscribed_types_are_written(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1", hooks.USER_BANNED))
    await send(store, "lobby", 2)
    await store.put_ban("lobby", Ban(ALICE.id, MOD, T0))
    [delivery] = await claim_all(store)
    assert delivery.event_type == hooks.USER_BANNED


# -- claims -------------------------------------------------------------------------------------


async def test_a_claim_holds_rows_until_its_lease_ends(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1"))
    await send(store, "lobby", 3)
    first = await store.claim_webhooks(NOW, LEASE, 2)
    assert [parsed(d)["data"]["message"]["id"] for d in first] == ["m0", "m1"]  # oldest first
    [third] = await store.claim_webhooks(NOW, LEASE, 2)
    assert parsed(third)["data"]["message"]["id"] == "m2"
    assert await store.claim_webhooks(NOW + LEASE - 1, LEASE, 10) == []
    assert await store.claim_webhooks(NOW, LEASE, 0) == []

    # The claimer of m0 and m1 died: when the lease ends another claims them, attempt 2.
    again = await store.claim_webhooks(NOW + LEASE, LEASE, 10)
    assert [d.id for d in again] == [d.id for d in first] + [third.id]
    assert {d.attempts for d in again} == {2}
    assert {d.event_id for d in again} == {d.event_id for d in [*first, third]}
    assert again[0].claim != first[0].claim
    # The late claimer's outcome no longer counts; the new claimer's does.
    assert await store.webhook_delivered(first[0].id, first[0].claim) is False
    assert (
        await store.webhook_failed(
            first[1].id, first[1].claim, error="late", retry_at=NOW, now_ms=NOW
        )
        is False
    )
    assert await store.webhook_delivered(again[0].id, again[0].claim) is True
    assert await store.webhook_delivered(again[0].id, again[0].claim) is False
    assert await store.webhook_backlog("w1") == WebhookBacklog(pending=2)


async def test_a_failed_delivery_is_due_again_at_its_retry(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1"))
    await send(store, "lobby", 1)
    [d] = await claim_all(store)
    assert await store.webhook_failed(
        d.id, d.claim, error="HTTP 500", retry_at=NOW + 5000, now_ms=NOW
    )
    assert await store.claim_webhooks(NOW + 4999, LEASE, 10) == []
    [again] = await store.claim_webhooks(NOW + 5000, LEASE, 10)
    assert (again.id, again.event_id, again.attempts) == (d.id, d.event_id, 2)
    assert again.body == d.body
    assert await store.webhook_backlog("w1") == WebhookBacklog(1, 0, "HTTP 500")


async def test_a_delivery_given_up_is_dead_until_retried(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1"))
    await store.add_webhook(endpoint("w2"))
    await send(store, "lobby", 2)
    for d in await claim_all(store):
        await store.webhook_failed(d.id, d.claim, error="timeout", retry_at=None, now_ms=NOW)
    assert await claim_all(store, NOW + 10**9) == []
    assert await store.webhook_backlog("w1") == WebhookBacklog(0, 2, "timeout")
    assert await store.webhook_backlog("nope") == WebhookBacklog()

    assert await store.retry_dead_webhooks("w1", NOW + 1) == 2
    assert await store.retry_dead_webhooks("w1", NOW + 1) == 0
    retried = await claim_all(store, NOW + 1)
    assert [(d.endpoint_id, d.attempts) for d in retried] == [("w1", 1), ("w1", 1)]

    # Dead letters are kept until forgotten (w2's died at NOW).
    assert await store.forget_dead_webhooks(NOW) == 0
    assert await store.forget_dead_webhooks(NOW + 1) == 2
    assert await store.webhook_backlog("w2") == WebhookBacklog(0, 0, None)


async def test_an_inactive_endpoint_keeps_its_deliveries_waiting(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1"))
    await send(store, "lobby", 1)
    await store.update_webhook("w1", active=False)
    await send(store, "lobby", 1, prefix="n")  # not recorded: no active subscriber
    assert await claim_all(store) == []
    await store.update_webhook("w1", active=True, url="https://new.example/")
    [d] = await claim_all(store)
    assert parsed(d)["data"]["message"]["id"] == "m0"
    assert d.url == "https://new.example/"


async def test_removing_an_endpoint_drops_its_deliveries(store: MessageStore) -> None:
    await store.add_webhook(endpoint("w1"))
    await store.add_webhook(endpoint("w2"))
    await send(store, "lobby", 2)
    [claimed, *_] = await store.claim_webhooks(NOW, LEASE, 1)
    assert claimed.endpoint_id == "w1"
    assert await store.remove_webhook("w1")
    assert await store.webhook_delivered(claimed.id, claimed.claim) is False
    assert {d.endpoint_id for d in await claim_all(store)} == {"w2"}
    assert await store.webhook_backlog("w1") == WebhookBacklog()


async def test_two_claimers_never_get_the_same_row(make_store: StoreMaker) -> None:
    """Two stores on the same data — two nodes — claim concurrently in small batches until
    nothing is due: every row is claimed exactly once."""
    one, two = await make_store(), await make_store()
    await one.add_webhook(endpoint("w1"))
    await one.add_webhook(endpoint("w2"))
    await two.reload_webhook_types()
    await asyncio.gather(
        send(one, "a", 60, prefix="a"),
        send(two, "b", 60, prefix="b"),
    )
    claimed: list[list[WebhookDelivery]] = [[], [], [], []]

    async def claimer(store: WebhookStore, into: list[WebhookDelivery]) -> None:
        while batch := await store.claim_webhooks(NOW, LEASE, 7):
            into.extend(batch)
            await asyncio.sleep(0)

    await asyncio.gather(
        *(claimer(s, c) for s, c in zip([one, two, one, two], claimed, strict=True))
    )
    ids = [d.id for batch in claimed for d in batch]
    assert len(ids) == 240
    assert len(set(ids)) == 240
    events = {(d.event_id, d.endpoint_id) for batch in claimed for d in batch}
    assert len(events) == 240


# -- rooms live and empty -----------------------------------------------------------------------


async def test_live_and_empty_alternate_whoever_reports(make_store: StoreMaker) -> None:
    one, two = await make_store(), await make_store()
    assert await one.set_room_live("lobby", False, T0, 0) is False  # never live: no event
    await one.add_webhook(endpoint("w1", hooks.ROOM_LIVE, hooks.ROOM_EMPTY))
    await two.reload_webhook_types()
    assert await one.set_room_live("lobby", True, T0 + 1, 1) is True
    assert await two.set_room_live("lobby", True, T0 + 2, 2) is False  # another node: no event
    assert await two.set_room_live("lobby", False, T0 + 3, 0) is True
    assert await one.set_room_live("lobby", False, T0 + 4, 0) is False
    assert await one.set_room_live("other", True, T0 + 5, 3) is True
    bodies = [parsed(d) for d in await claim_all(one)]
    assert [(b["type"], b["room_id"], b["ts"], b["data"]) for b in bodies] == [
        (hooks.ROOM_LIVE, "lobby", T0 + 1, {"online": 1}),
        (hooks.ROOM_EMPTY, "lobby", T0 + 3, {"online": 0}),
        (hooks.ROOM_LIVE, "other", T0 + 5, {"online": 3}),
    ]


async def test_liveness_is_recorded_even_without_room_subscribers(store: MessageStore) -> None:
    """The state flips whatever the types (the caller asks only when someone subscribes);
    the event is written only for subscribers."""
    await store.add_webhook(endpoint("w1", hooks.MESSAGE_POSTED))
    assert await store.set_room_live("lobby", True, T0, 1) is True
    assert await store.set_room_live("lobby", True, T0, 1) is False
    assert await claim_all(store) == []
