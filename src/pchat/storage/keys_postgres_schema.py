"""The PostgreSQL key store's tables: their own migrations, apart from the message store's.

The keys tables (``api_keys``, ``signing_keys``, ``console_operators``) live in the same
schema as the message store's (``?schema=NAME`` of ``--store``), but are migrated by their own
list, recorded in ``keys_schema_migrations``: the key store opens without the message store
(the CLI's ``pchat keys``), and the two lists grow independently. ``MIGRATIONS[i]`` migrates
version ``i`` to ``i + 1``; a later change appends an entry, never edits one. :func:`migrate`
applies the missing ones in one transaction under the schema's migration lock — the message
store's too — so nodes starting at once migrate one after the other; a node refuses tables
newer than its code.
"""

from __future__ import annotations

import hashlib
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "lock_key", "migrate"]


def lock_key(schema: str, purpose: str) -> int:
    """An advisory lock of ``schema`` (a signed 64-bit int). ``migrate``: the message store's
    migration lock (:mod:`~pchat.storage.store_postgres_schema`), so that the two never
    create the schema at once (``CREATE SCHEMA IF NOT EXISTS`` races); ``first``: the first
    keys of an empty store."""
    name = f"pchat-migrate:{schema}" if purpose == "migrate" else f"pchat-keys-{purpose}:{schema}"
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(conn: PoolConnectionProxy[asyncpg.Record], schema: str) -> None:
    """Create ``schema`` if need be and bring the keys tables to :data:`SCHEMA_VERSION`;
    refuse newer ones. ``schema`` is a checked name (it is quoted, not bound)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(schema, "migrate"))
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS keys_schema_migrations ("
            " version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM keys_schema_migrations"
        )
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the keys tables of schema {schema!r} are at version {version},"
                f" newer than this pchat's ({SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO keys_schema_migrations (version) VALUES ($1)", number + 1
            )


MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 0 -> 1: the tables of keys.sqlite3, times in s since the epoch.
    (
        """CREATE TABLE api_keys (
            key text PRIMARY KEY,
            secret_hash text NOT NULL,
            created_at bigint NOT NULL,
            revoked_at bigint
        )""",
        """CREATE TABLE signing_keys (
            kid text PRIMARY KEY,
            secret bytea NOT NULL,
            created_at bigint NOT NULL
        )""",
        """CREATE TABLE console_operators (
            name text PRIMARY KEY,
            password_hash text NOT NULL,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL
        )""",
    ),
)

#: The version :func:`migrate` brings the keys tables to.
SCHEMA_VERSION: Final = len(MIGRATIONS)
