"""What only the PostgreSQL store promises: order across nodes, migrations, plans, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import ConflictError
from pchat.protocol.models import Poll, PollOption, User
from pchat.storage.base import StoreUnavailable
from pchat.storage.store_postgres import PostgresStore
from pchat.storage.store_postgres_schema import SCHEMA_VERSION
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name

ALICE = User("u-alice", "alice")
MOD = User("u-mod", "mod", "moderator")
T0 = 1_700_000_000_000
MakeNode = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def make_node(tmp_path: Path) -> AsyncIterator[MakeNode]:
    """Stores on this test's schema, each with its own pool: the nodes of one cluster."""
    await require_postgres()
    schema = unique_name(tmp_path)
    stores: list[PostgresStore] = []

    async def make(**options: int) -> PostgresStore:
        store = PostgresStore(postgres_dsn(), schema=schema, **options)
        await store.open()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    await drop_schema(schema)


async def test_writers_on_several_nodes_share_one_gap_free_order(make_node: MakeNode) -> None:
    nodes = await asyncio.gather(*(make_node(pool_size=4) for _ in range(3)))
    await nodes[0].append_message(
        "lobby", message_id="first", user=ALICE, text="0", cid=None, ts=T0
    )

    async def write(node: PostgresStore, n: int) -> list[int]:
        seqs = []
        for i in range(60):
            if i % 15 == 14:  # deletes take positions too
                deleted = await node.delete_message("lobby", f"{n}-{i - 1}", by=MOD, ts=T0)
                assert deleted is not None
                seqs.append(deleted.seq)
                continue
            result = await node.append_message(
                "lobby", message_id=f"{n}-{i}", user=ALICE, text=str(i), cid=f"c{n}-{i}", ts=T0
            )
            seqs.append(result.message.seq)
        return seqs

    # Several concurrent writers per node, three nodes: contention on one room's row.
    results = await asyncio.gather(*(write(nodes[n % 3], n) for n in range(9)))
    positions = sorted(s for seqs in results for s in seqs)
    assert positions == list(range(2, 2 + 9 * 60))
    for seqs in results:
        assert seqs == sorted(seqs)  # each writer's own writes in its order
    events = await nodes[1].events_since("lobby", 0, 10_000)
    assert [e.seq for e in events] == list(range(1, 2 + 9 * 60))
    assert (await nodes[2].room("lobby")).last_seq == 9 * 60 + 1
    # ``ts`` never goes backwards with the position.
    stamps = [m.ts for m in await nodes[0].history("lobby", limit=1000)]
    assert stamps == sorted(stamps)


async def test_one_cid_on_several_nodes_stores_one_message(make_node: MakeNode) -> None:
    nodes = await asyncio.gather(*(make_node() for _ in range(3)))
    results = await asyncio.gather(
        *(
            nodes[i % 3].append_message(
                "lobby", message_id=f"m{i}", user=ALICE, text="once", cid="same", ts=T0 + i
            )
            for i in range(12)
        )
    )
    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert (await nodes[0].room("lobby")).last_seq == 1


async def test_publish_and_votes_across_nodes(make_node: MakeNode) -> None:
    nodes = await asyncio.gather(*(make_node() for _ in range(3)))
    poll = Poll("p", "?", (PollOption("a"), PollOption("b")), "scheduled", MOD, T0, T0 + 5)
    await nodes[0].create_poll("lobby", poll)
    published = await asyncio.gather(
        *(nodes[i % 3].publish_poll("lobby", "p", T0 + 5 + i) for i in range(9))
    )
    assert len([p for p in published if p is not None]) == 1
    votes = await asyncio.gather(
        *(nodes[i % 3].vote("lobby", "p", f"u{i}", i % 2) for i in range(90)),
        *(nodes[i % 3].vote("lobby", "p", "u0", 1) for i in range(3)),
        return_exceptions=True,
    )
    refused = [v for v in votes if isinstance(v, ConflictError)]
    assert len(refused) == 3 and all(e.code is ErrorCode.ALREADY_VOTED for e in refused)
    counted = [v for v in votes if isinstance(v, Poll)]
    # Each vote's tallies include every vote before it: the totals are 1..90, each once.
    assert sorted(v.total_votes for v in counted) == list(range(1, 91))
    stored = await nodes[2].get_poll("lobby", "p")
    assert stored is not None and [o.votes for o in stored.options] == [45, 45]


async def test_migrations_are_recorded_and_run_once(make_node: MakeNode, tmp_path: Path) -> None:
    # Several nodes starting at once on a new schema: one migrates, the others wait.
    await asyncio.gather(*(make_node() for _ in range(4)))
    conn = await asyncpg.connect(postgres_dsn())
    try:
        rows = await conn.fetch(
            f'SELECT version FROM "{unique_name(tmp_path)}".schema_migrations ORDER BY version'
        )
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        await conn.execute(
            f'INSERT INTO "{unique_name(tmp_path)}".schema_migrations (version) VALUES ($1)',
            SCHEMA_VERSION + 1,
        )
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer than this pchat"):
        await make_node()


async def test_history_and_replay_use_the_indexes(make_node: MakeNode, tmp_path: Path) -> None:
    store = await make_node()
    for room in ("big", "other"):
        await asyncio.gather(
            *(
                store.append_message(
                    room, message_id=f"{room}{i}", user=ALICE, text="x", cid=None, ts=T0 + i
                )
                for i in range(3000)
            )
        )
    for room in ("big", "other"):
        await store.purge_user(room, ALICE.id, since=T0 + 2990, by=MOD, ts=T0 + 5000)
    conn = await asyncpg.connect(
        postgres_dsn(), server_settings={"search_path": unique_name(tmp_path)}
    )
    try:
        # The purges of many other rooms: a table of a few pages is rightly read whole, so
        # the plans are judged at a size where that would matter (only the count does here).
        await conn.execute(
            "INSERT INTO purges (room_id, seq, user_id, since, by_id, by_name, by_role, ts, count)"
            " SELECT 'room' || g / 10, g, 'u', 0, 'm', 'm', 'moderator', 0, 1"
            " FROM generate_series(1, 20000) AS g"
        )
        # And the blocklists of many rooms.
        await conn.execute(
            "INSERT INTO filter_entries (room_id, pattern, action)"
            " SELECT 'room' || g / 10, 'w' || g, 'block' FROM generate_series(1, 20000) AS g"
        )
        # And reports: of many rooms, and a few of the big room's messages.
        await conn.execute(
            "INSERT INTO reports (room_id, message_id, user_id, reason, ts)"
            " SELECT 'room' || g / 10, 'm' || g, 'u', '', 0 FROM generate_series(1, 20000) AS g"
            " UNION ALL SELECT 'big', 'big' || g, 'u' || g, 'why', g"
            " FROM generate_series(1, 3) AS g"
        )
        await conn.execute("ANALYZE")
        from pchat.storage import store_postgres_moderation as moderation
        from pchat.storage import store_postgres_reports as reports
        from pchat.storage import store_postgres_stream as stream

        for sql, args in (
            (stream._SQL_HISTORY.format(view=""), ("big", 2500, 50)),
            (stream._SQL_HISTORY_TS.format(view=""), ("big", 2**62, 50, T0 + 1500)),
            (stream._SQL_EVENTS, ("big", 1200, 100)),
            (moderation._SQL_RECENT_TEXTS, ("big", MOD.id, 10)),
            (stream._SQL_PURGE, ("big", MOD.id, T0 + 1000, "m", "m", "m", T0, 3002, 2**62)),
            (moderation._SQL_FILTER_ENTRIES, ("room7",)),
            (reports._SQL_LIST, ("big", 50)),
            (reports._SQL_ONE, ("big", "big7")),
        ):
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
            # The purge bumps the position in ``rooms``: two rows here, read whole.
            assert "Seq Scan" not in plan.replace("Seq Scan on rooms", ""), plan
            assert "Index" in plan, plan
            if sql in (moderation._SQL_RECENT_TEXTS, stream._SQL_PURGE):  # a user among many
                assert "messages_user" in plan, plan
    finally:
        await conn.close()


async def test_an_unreachable_database_is_unavailable(make_node: MakeNode) -> None:
    with pytest.raises(OSError):
        await PostgresStore("postgresql://postgres@127.0.0.1:1/test").open()

    class Refusing:
        """A pool whose server went away: every connection attempt is refused."""

        def acquire(self, timeout: float | None = None) -> None:
            raise ConnectionRefusedError(111, "Connection refused")

    store = await make_node()
    assert store.healthy
    pool, store._pool = store._pool, Refusing()  # type: ignore[assignment]
    try:
        for call in (store.room("lobby"), store.history("lobby"), store.reaction_stats("x")):
            with pytest.raises(StoreUnavailable):
                await call
        assert not store.healthy
    finally:
        store._pool = pool
    await store.room("lobby")
    assert store.healthy
