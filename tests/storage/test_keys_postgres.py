"""PostgresKeyStore beyond the conformance suite: its migrations and its faults."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from pchat.storage.base import StoreUnavailable
from pchat.storage.keys_postgres import PostgresKeyStore
from pchat.storage.keys_postgres_schema import SCHEMA_VERSION, lock_key
from tests.helpers import free_port
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name


async def test_tables_are_migrated_once_beside_the_message_store(tmp_path: Path) -> None:
    await require_postgres()
    schema = unique_name(tmp_path)
    try:
        for _ in range(2):  # the second open finds the tables at their version
            store = PostgresKeyStore(postgres_dsn(), schema=schema)
            await store.open()
            await store.close()
        conn = await asyncpg.connect(postgres_dsn())
        try:
            versions = await conn.fetch(f'SELECT version FROM "{schema}".keys_schema_migrations')
            assert [r[0] for r in versions] == list(range(1, SCHEMA_VERSION + 1))
            # Tables newer than this code are refused rather than misread.
            await conn.execute(
                f'INSERT INTO "{schema}".keys_schema_migrations (version) VALUES ($1)',
                SCHEMA_VERSION + 1,
            )
        finally:
            await conn.close()
        with pytest.raises(RuntimeError, match="newer"):
            await PostgresKeyStore(postgres_dsn(), schema=schema).open()
    finally:
        await drop_schema(schema)


async def test_an_unreachable_database_is_unavailable() -> None:
    store = PostgresKeyStore(f"postgresql://postgres@127.0.0.1:{free_port()}/none", timeout=1)
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):  # not open: every call says so
        await store.signing_keys()


def test_schema_names_are_checked() -> None:
    with pytest.raises(ValueError):
        PostgresKeyStore(postgres_dsn(), schema='x"; DROP TABLE api_keys; --')


def test_keys_and_messages_migrate_under_one_lock() -> None:
    """Both create the schema if need be: one lock, or two nodes' CREATE SCHEMA race."""
    from pchat.storage import store_postgres_schema

    for schema in ("public", "pchat_t_x"):
        assert lock_key(schema, "migrate") == store_postgres_schema._lock_key(schema)
        assert lock_key(schema, "first") != lock_key(schema, "migrate")
