"""SQLiteKeyStore: a private file that keeps its keys (the rest: test_key_store_conformance)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pchat.storage.base import ApiKeyRecord, SigningKey
from pchat.storage.keys_sqlite import SQLiteKeyStore


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    SQLiteKeyStore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_keys_persist(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    await SQLiteKeyStore(path).add_api_key(ApiKeyRecord("k", "h", created_at=1))
    await SQLiteKeyStore(path).add_signing_key(SigningKey("kid", b"s", created_at=1))
    reopened = SQLiteKeyStore(path)
    assert await reopened.list_api_keys() == [ApiKeyRecord("k", "h", created_at=1)]
    assert await reopened.signing_keys() == [SigningKey("kid", b"s", created_at=1)]
