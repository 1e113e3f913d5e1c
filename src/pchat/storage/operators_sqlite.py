"""The console's operators, in the keys file: :class:`~pchat.storage.base.OperatorStore` on
SQLite.

An operator signs in to the admin console with a name and a password that ``pchat console
password`` set; only the password's slow hash is stored (:mod:`pchat.core.passwords`). The
table lives in ``keys.sqlite3`` beside the API keys. Like
:class:`~pchat.storage.keys_sqlite.SQLiteKeyStore`, every call opens a short-lived
connection in a thread, and the file is kept ``0600``. A cluster keeps its operators in
PostgreSQL (:class:`~pchat.storage.keys_postgres.PostgresKeyStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .base import OperatorRecord, OperatorStore
from .private_files import private_file, sqlite_files

__all__ = ["OperatorRecord", "OperatorStore", "SQLiteOperatorStore"]

_SCHEMA: Final = """CREATE TABLE IF NOT EXISTS console_operators (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
)"""

_COLUMNS: Final = "name, password_hash, created_at, updated_at"


class SQLiteOperatorStore:
    """:class:`OperatorStore` in the keys file (``<data-dir>/keys.sqlite3``)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        for file in sqlite_files(self._path):
            private_file(file, create=file == self._path)
        with self._transaction() as conn:
            conn.execute(_SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=5.0)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    async def set_operator(self, name: str, password_hash: str, ts: int) -> bool:
        def put() -> bool:
            with self._transaction() as conn:
                existed = conn.execute(
                    "SELECT 1 FROM console_operators WHERE name = ?", (name,)
                ).fetchone()
                conn.execute(
                    f"INSERT INTO console_operators ({_COLUMNS}) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash,"
                    " updated_at = excluded.updated_at",
                    (name, password_hash, ts, ts),
                )
            return existed is None

        return await asyncio.to_thread(put)

    async def get_operator(self, name: str) -> OperatorRecord | None:
        def get() -> OperatorRecord | None:
            with self._transaction() as conn:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM console_operators WHERE name = ?", (name,)
                ).fetchone()
            return None if row is None else OperatorRecord(*row)

        return await asyncio.to_thread(get)

    async def list_operators(self) -> list[OperatorRecord]:
        def listing() -> list[OperatorRecord]:
            with self._transaction() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM console_operators ORDER BY name"
                ).fetchall()
            return [OperatorRecord(*row) for row in rows]

        return await asyncio.to_thread(listing)

    async def remove_operator(self, name: str) -> bool:
        def remove() -> bool:
            with self._transaction() as conn:
                cursor = conn.execute("DELETE FROM console_operators WHERE name = ?", (name,))
                return cursor.rowcount > 0

        return await asyncio.to_thread(remove)
