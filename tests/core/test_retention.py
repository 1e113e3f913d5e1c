"""The retention job (core/retention.py) on a real SQLite store: which rule applies to a
room, the recent messages it always keeps, the budget of a round, and the checks of an
operator's rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.core import retention
from pchat.core.clock import now_ms
from pchat.core.retention import Effective, Retention, check_rule, effective
from pchat.core.settings import CoreSettings
from pchat.protocol.errors import RequestError
from pchat.protocol.models import User
from pchat.storage.base import RetentionRule
from pchat.storage.store_sqlite import SQLiteStore

ALICE = User("u-alice", "alice", "viewer")
DAY_MS = 86_400_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "pchat.sqlite3")
    await store.open()
    yield store
    await store.close()


async def fill(store: SQLiteStore, room: str, ts: list[int]) -> None:
    for i, at in enumerate(ts):
        await store.append_message(
            room, message_id=f"{room}-{i}", user=ALICE, text="x", cid=None, ts=at
        )


async def kept(store: SQLiteStore, room: str) -> list[str]:
    return [m.id for m in await store.history(room, limit=1000)]


def test_the_rooms_rule_over_the_servers() -> None:
    settings = CoreSettings(retention_days=30, retention_messages=1000)
    assert effective(None, settings) == Effective(30.0, 1000)
    assert effective(RetentionRule(days=None, messages=5), settings) == Effective(30.0, 5)
    assert effective(RetentionRule(days=0, messages=None), settings) == Effective(0.0, 1000)
    assert effective(RetentionRule(days=0, messages=0), settings).forever
    assert effective(None, CoreSettings()).forever
    now = 100 * DAY_MS
    assert Effective(1.5, 0).bounds(now) == (now - 129_600_000, None)
    assert Effective(0, 7).bounds(now) == (None, 7)


@pytest.mark.parametrize(
    ("days", "messages", "rule"),
    [
        (None, None, RetentionRule()),
        (0.25, 0, RetentionRule(0.25, 0)),
        (30, None, RetentionRule(30.0, None)),
        (None, 1_000_000_000, RetentionRule(None, 1_000_000_000)),
    ],
)
def test_rules_that_pass(days: object, messages: object, rule: RetentionRule) -> None:
    assert check_rule(days, messages) == rule


@pytest.mark.parametrize(
    ("days", "messages"),
    [(-1, None), (36_501, None), (float("inf"), None), ("7", None), (True, None)],
)
def test_days_that_do_not(days: object, messages: object) -> None:
    with pytest.raises(RequestError, match="days"):
        check_rule(days, messages)


@pytest.mark.parametrize("messages", [-1, 1_000_000_001, 2.0, "10", False])
def test_counts_that_do_not(messages: object) -> None:
    with pytest.raises(RequestError, match="messages"):
        check_rule(None, messages)


async def test_a_round_applies_each_rooms_rule_and_spares_the_recent(store: SQLiteStore) -> None:
    now = now_ms()
    old = [now - 10 * DAY_MS + i for i in range(5)]
    await fill(store, "old", old)
    await fill(store, "fresh", [now - 1000 + i for i in range(5)])  # within the minute
    await fill(store, "own", old)
    await fill(store, "forever", old)
    await store.set_room_retention("own", RetentionRule(days=None, messages=1))
    await store.set_room_retention("forever", RetentionRule(days=None, messages=0))
    job = Retention(CoreSettings(retention_messages=2), store=store)
    assert await job.round() == (3 + 4, True)
    assert await kept(store, "old") == ["old-3", "old-4"]
    assert len(await kept(store, "fresh")) == 5  # younger than retention_min_age
    assert await kept(store, "own") == ["own-4"]
    assert len(await kept(store, "forever")) == 5
    assert await job.round() == (0, True)
    # Without the minimum age, the fresh room follows the count too.
    job = Retention(CoreSettings(retention_messages=2, retention_min_age=0), store=store)
    assert await job.round() == (3, True)
    assert await kept(store, "fresh") == ["fresh-3", "fresh-4"]


async def test_a_round_stops_at_its_budget(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(store, "lobby", list(range(1, 11)))
    monkeypatch.setattr(retention, "ROUND_BATCHES", 3)
    job = Retention(CoreSettings(retention_messages=1, retention_batch=2), store=store)
    assert await job.round() == (6, False)
    assert await job.round() == (3, True)
    assert await kept(store, "lobby") == ["lobby-9"]
