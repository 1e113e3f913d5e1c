"""The operator's keys and the console's operators in PostgreSQL, for a cluster.

:class:`PostgresKeyStore` is a :class:`~pchat.storage.base.KeyStore` and an
:class:`~pchat.storage.base.OperatorStore` in the database (and schema) of the cluster's
message store (``--store postgresql://…[?schema=NAME]``): every node reads the same API
keys, signing keys and operators, so there is no ``keys.sqlite3`` to copy between them. The
tables are migrated by their own list (:mod:`~pchat.storage.keys_postgres_schema`).

How a node learns of a change is not the store's business (:mod:`pchat.core.keyring`: a
publication to every node, and a periodic reload); the store only keeps these promises:

- Of nodes starting at once on an empty store, exactly one stores the first signing key
  (and the first API key): :meth:`~PostgresKeyStore.add_signing_key_if_none` and
  :meth:`~PostgresKeyStore.add_api_key_if_none` check and insert under an advisory lock of
  the schema, held to the end of their transaction.
- Every operation runs within the time budget (``timeout``), waiting for a connection
  included; over it, or on any connection-level failure, it raises
  :class:`~pchat.storage.base.StoreUnavailable`, as the message store does. A connection
  whose operation was cut short is dropped, never reused.

Keys are read rarely (the server caches them), so the pool is small (``pool_size``, 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import asyncpg

from .base import ApiKeyRecord, OperatorRecord, SigningKey, StoreUnavailable
from .keys_postgres_schema import lock_key, migrate

__all__ = ["PostgresKeyStore"]

_T = TypeVar("_T")
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# What a lost, refused, restarting or stalled connection looks like (as in store_postgres).
_UNAVAILABLE: Final = (
    OSError,  # refused, reset; TimeoutError (over the budget) is one too
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)

_API_KEY_COLUMNS: Final = "key, secret_hash, created_at, revoked_at"
_OPERATOR_COLUMNS: Final = "name, password_hash, created_at, updated_at"
_SQL_ADD_API_KEY: Final = f"INSERT INTO api_keys ({_API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4)"
_SQL_ADD_SIGNING_KEY: Final = (
    "INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)"
)
_SQL_SET_OPERATOR: Final = f"""
    INSERT INTO console_operators ({_OPERATOR_COLUMNS}) VALUES ($1, $2, $3, $3)
    ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash,
        updated_at = excluded.updated_at
    RETURNING (xmax = 0) AS created"""


class PostgresKeyStore:
    """API keys, signing keys and console operators in PostgreSQL (``dsn``, ``schema``)."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        pool_size: int = 2,
        timeout: float | None = 3.0,
        command_timeout: float = 10.0,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._timeout = timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, then create or migrate the keys tables; :class:`StoreUnavailable` if the
        database cannot be reached."""
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._command_timeout,
                server_settings={"search_path": self.schema, "application_name": "pchat-keys"},
            )
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the database is unavailable ({exc})") from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        """Close the connections (at once if the server does not answer)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[_Conn]:
        """A pooled connection for one operation within the budget; see the module docs."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the key store is not open")
        try:
            async with asyncio.timeout(self._timeout):
                conn = await pool.acquire()
                try:
                    yield conn
                except BaseException as exc:
                    if isinstance(exc, (asyncio.CancelledError, *_UNAVAILABLE)):
                        with contextlib.suppress(asyncpg.InterfaceError):
                            conn.terminate()
                    raise
                finally:
                    await pool.release(conn)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the database is unavailable ({type(exc).__name__})") from exc

    async def _run(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        async with self._conn() as conn:
            return await fn(conn)

    async def _first(self, table: str, insert: Callable[[_Conn], Awaitable[object]]) -> bool:
        """Run ``insert`` if ``table`` is empty, under the schema's "first keys" lock."""

        async def run(conn: _Conn) -> bool:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1)", lock_key(self.schema, "first")
                )
                if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    return False
                await insert(conn)
                return True

        return await self._run(run)

    # -- API keys ---------------------------------------------------------------------------

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new API key; ``ValueError`` if the key exists."""
        try:
            await self._run(lambda c: c.execute(_SQL_ADD_API_KEY, *_api_key_row(record)))
        except asyncpg.UniqueViolationError:
            raise ValueError(f"API key {record.key!r} exists") from None

    async def add_api_key_if_none(self, record: ApiKeyRecord) -> bool:
        return await self._first(
            "api_keys", lambda c: c.execute(_SQL_ADD_API_KEY, *_api_key_row(record))
        )

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        row = await self._run(
            lambda c: c.fetchrow(f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key = $1", key)
        )
        return None if row is None else ApiKeyRecord(*row)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every API key, revoked ones included, oldest first."""
        rows = await self._run(
            lambda c: c.fetch(
                f'SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key COLLATE "C"'
            )
        )
        return [ApiKeyRecord(*row) for row in rows]

    async def revoke_api_key(self, key: str, ts: int) -> bool:
        """Mark the key revoked at ``ts``; False if there is no such key or it was revoked."""
        status = await self._run(
            lambda c: c.execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE key = $2 AND revoked_at IS NULL",
                ts,
                key,
            )
        )
        return status != "UPDATE 0"

    # -- signing keys -----------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKey]:
        """Every signing key, oldest first (the last one signs)."""
        rows = await self._run(
            lambda c: c.fetch(
                "SELECT kid, secret, created_at FROM signing_keys"
                ' ORDER BY created_at, kid COLLATE "C"'
            )
        )
        return [SigningKey(row[0], bytes(row[1]), row[2]) for row in rows]

    async def add_signing_key(self, key: SigningKey) -> None:
        """Store a new signing key; ``ValueError`` if the kid exists."""
        try:
            await self._run(
                lambda c: c.execute(_SQL_ADD_SIGNING_KEY, key.kid, key.secret, key.created_at)
            )
        except asyncpg.UniqueViolationError:
            raise ValueError(f"signing key {key.kid!r} exists") from None

    async def add_signing_key_if_none(self, key: SigningKey) -> bool:
        return await self._first(
            "signing_keys",
            lambda c: c.execute(_SQL_ADD_SIGNING_KEY, key.kid, key.secret, key.created_at),
        )

    async def remove_signing_key(self, kid: str) -> bool:
        """Delete a signing key (retired: its tokens no longer verify); False if none."""
        status = await self._run(
            lambda c: c.execute("DELETE FROM signing_keys WHERE kid = $1", kid)
        )
        return status != "DELETE 0"

    # -- console operators ------------------------------------------------------------------

    async def set_operator(self, name: str, password_hash: str, ts: int) -> bool:
        """Set the operator's password (creating the operator); True if it is new."""
        created = await self._run(lambda c: c.fetchval(_SQL_SET_OPERATOR, name, password_hash, ts))
        return bool(created)

    async def get_operator(self, name: str) -> OperatorRecord | None:
        row = await self._run(
            lambda c: c.fetchrow(
                f"SELECT {_OPERATOR_COLUMNS} FROM console_operators WHERE name = $1", name
            )
        )
        return None if row is None else OperatorRecord(*row)

    async def list_operators(self) -> list[OperatorRecord]:
        rows = await self._run(
            lambda c: c.fetch(
                f'SELECT {_OPERATOR_COLUMNS} FROM console_operators ORDER BY name COLLATE "C"'
            )
        )
        return [OperatorRecord(*row) for row in rows]

    async def remove_operator(self, name: str) -> bool:
        status = await self._run(
            lambda c: c.execute("DELETE FROM console_operators WHERE name = $1", name)
        )
        return status != "DELETE 0"


def _api_key_row(record: ApiKeyRecord) -> tuple[str, str, int, int | None]:
    return record.key, record.secret_hash, record.created_at, record.revoked_at
