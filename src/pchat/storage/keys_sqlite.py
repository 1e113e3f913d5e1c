"""The operator's keys in a SQLite file: :class:`~pchat.storage.base.KeyStore`.

Used by the CLI and, rarely, by the server (which caches what it reads), so every call opens
a short-lived connection: no thread affinity, nothing to close. The file is created with
mode ``0600`` (and made so if it was not): it holds the token signing secrets.
"""

from __future__ import annotations

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
    """API keys (secret hashes only) and HS256 signing keys in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        # Create the file ourselves so that it is never readable by others, not even briefly
        # (SQLite gives its journal the file's mode).
        for file in sqlite_files(self._path):
            private_file(file, create=file == self._path)
        with self._transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=5.0)
        try:
            with conn:  # commits, or rolls back on an exception
                yield conn
        finally:
            conn.close()

    def add_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new API key; ``ValueError`` if the key exists."""
        try:
            with self._transaction() as conn:
                conn.execute(
                    f"INSERT INTO api_keys ({_API_KEY_COLUMNS}) VALUES (?, ?, ?, ?)",
                    (record.key, record.secret_hash, record.created_at, record.revoked_at),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"API key {record.key!r} exists") from None

    def get_api_key(self, key: str) -> ApiKeyRecord | None:
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else ApiKeyRecord(*row)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every API key, revoked ones included, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key"
            ).fetchall()
        return [ApiKeyRecord(*row) for row in rows]

    def revoke_api_key(self, key: str, ts: int) -> bool:
        """Mark the key revoked at ``ts``; False if there is no such key or it was revoked."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL",
                (ts, key),
            )
            return cursor.rowcount > 0

    def signing_keys(self) -> list[SigningKey]:
        """Every signing key, oldest first (the last one signs)."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT kid, secret, created_at FROM signing_keys ORDER BY created_at, kid"
            ).fetchall()
        return [SigningKey(kid, bytes(secret), created_at) for kid, secret, created_at in rows]

    def add_signing_key(self, key: SigningKey) -> None:
        """Store a new signing key; ``ValueError`` if the kid exists."""
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
                    (key.kid, key.secret, key.created_at),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"signing key {key.kid!r} exists") from None

    def remove_signing_key(self, kid: str) -> bool:
        """Delete a signing key (retired: its tokens no longer verify); False if none."""
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM signing_keys WHERE kid = ?", (kid,))
            return cursor.rowcount > 0
