"""The operator's keys in a SQLite file: :class:`~pchat.storage.base.KeyStore`.

Used by the CLI and, rarely, by the server (which caches what it reads), so every call opens
a short-lived connection, in a thread (:func:`asyncio.to_thread`): no thread affinity,
nothing to close, and the event loop never waits on the file. The file is created with mode
``0600`` (and made so if it was not): it holds the token signing secrets.

A cluster keeps its keys in PostgreSQL instead (:mod:`pchat.storage.keys_postgres`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .base import ApiKeyRecord, SigningKey
from .private_files import private_file, sqlite_files

__all__ = ["SQLiteKeyStore"]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        key TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS signing_keys (
        kid TEXT PRIMARY KEY,
        secret BLOB NOT NULL,
        created_at INTEGER NOT NULL
    )""",
    "PRAGMA user_version = 1",
)

_API_KEY_COLUMNS: Final = "key, secret_hash, created_at, revoked_at"


class SQLiteKeyStore:
    """API keys (secret hashes only) and HS256 signing keys in one SQLite file.

    The file and its tables are created by the constructor; :meth:`open` and :meth:`close`
    have nothing to do.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        # Create the file ourselves so that it is never readable by others, not even briefly
        # (SQLite gives its journal the file's mode).
        for file in sqlite_files(self._path):
            private_file(file, create=file == self._path)
        with self._transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @property
    def path(self) -> Path:
        return self._path

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=5.0)
        try:
            with conn:  # commits, or rolls back on an exception
                if immediate:  # the write lock first: a check-then-insert is atomic
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
        finally:
            conn.close()

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new API key; ``ValueError`` if the key exists."""

        def add() -> None:
            try:
                with self._transaction() as conn:
                    _insert_api_key(conn, record)
            except sqlite3.IntegrityError:
                raise ValueError(f"API key {record.key!r} exists") from None

        await asyncio.to_thread(add)

    async def add_api_key_if_none(self, record: ApiKeyRecord) -> bool:
        def add() -> bool:
            with self._transaction(immediate=True) as conn:
                if conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None:
                    return False
                _insert_api_key(conn, record)
                return True

        return await asyncio.to_thread(add)

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        def get() -> ApiKeyRecord | None:
            with self._transaction() as conn:
                row = conn.execute(
                    f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key = ?", (key,)
                ).fetchone()
            return None if row is None else ApiKeyRecord(*row)

        return await asyncio.to_thread(get)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every API key, revoked ones included, oldest first."""

        def listing() -> list[ApiKeyRecord]:
            with self._transaction() as conn:
                rows = conn.execute(
                    f"SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key"
                ).fetchall()
            return [ApiKeyRecord(*row) for row in rows]

        return await asyncio.to_thread(listing)

    async def revoke_api_key(self, key: str, ts: int) -> bool:
        """Mark the key revoked at ``ts``; False if there is no such key or it was revoked."""

        def revoke() -> bool:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL",
                    (ts, key),
                )
                return cursor.rowcount > 0

        return await asyncio.to_thread(revoke)

    async def signing_keys(self) -> list[SigningKey]:
        """Every signing key, oldest first (the last one signs)."""

        def listing() -> list[SigningKey]:
            with self._transaction() as conn:
                rows = conn.execute(
                    "SELECT kid, secret, created_at FROM signing_keys ORDER BY created_at, kid"
                ).fetchall()
            return [SigningKey(kid, bytes(secret), created_at) for kid, secret, created_at in rows]

        return await asyncio.to_thread(listing)

    async def add_signing_key(self, key: SigningKey) -> None:
        """Store a new signing key; ``ValueError`` if the kid exists."""

        def add() -> None:
            try:
                with self._transaction() as conn:
                    _insert_signing_key(conn, key)
            except sqlite3.IntegrityError:
                raise ValueError(f"signing key {key.kid!r} exists") from None

        await asyncio.to_thread(add)

    async def add_signing_key_if_none(self, key: SigningKey) -> bool:
        def add() -> bool:
            with self._transaction(immediate=True) as conn:
                if conn.execute("SELECT 1 FROM signing_keys LIMIT 1").fetchone() is not None:
                    return False
                _insert_signing_key(conn, key)
                return True

        return await asyncio.to_thread(add)

    async def remove_signing_key(self, kid: str) -> bool:
        """Delete a signing key (retired: its tokens no longer verify); False if none."""

        def remove() -> bool:
            with self._transaction() as conn:
                cursor = conn.execute("DELETE FROM signing_keys WHERE kid = ?", (kid,))
                return cursor.rowcount > 0

        return await asyncio.to_thread(remove)


def _insert_api_key(conn: sqlite3.Connection, record: ApiKeyRecord) -> None:
    conn.execute(
        f"INSERT INTO api_keys ({_API_KEY_COLUMNS}) VALUES (?, ?, ?, ?)",
        (record.key, record.secret_hash, record.created_at, record.revoked_at),
    )


def _insert_signing_key(conn: sqlite3.Connection, key: SigningKey) -> None:
    conn.execute(
        "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
        (key.kid, key.secret, key.created_at),
    )
