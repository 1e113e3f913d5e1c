"""SQLiteKeyStore: API keys and signing keys in a private file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pchat.storage.base import ApiKeyRecord, SigningKey
from pchat.storage.keys_sqlite import SQLiteKeyStore


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    SQLiteKeyStore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_api_keys(tmp_path: Path) -> None:
    keys = SQLiteKeyStore(tmp_path / "keys.db")
    assert keys.list_api_keys() == []
    assert keys.get_api_key("k1") is None
    second = ApiKeyRecord("k2", "hash-2", created_at=200)
    first = ApiKeyRecord("k1", "hash-1", created_at=100)
    keys.add_api_key(second)
    keys.add_api_key(first)
    assert keys.get_api_key("k1") == first
    assert keys.list_api_keys() == [first, second]
    with pytest.raises(ValueError, match="exists"):
        keys.add_api_key(ApiKeyRecord("k1", "other", created_at=300))
    assert keys.get_api_key("k1") == first

    assert keys.revoke_api_key("k1", 500)
    assert keys.get_api_key("k1") == ApiKeyRecord("k1", "hash-1", 100, revoked_at=500)
    assert not keys.revoke_api_key("k1", 600)  # revoked already: the first time stays
    assert keys.get_api_key("k1") == ApiKeyRecord("k1", "hash-1", 100, revoked_at=500)
    assert not keys.revoke_api_key("nope", 600)


def test_signing_keys(tmp_path: Path) -> None:
    keys = SQLiteKeyStore(tmp_path / "keys.db")
    assert keys.signing_keys() == []
    new = SigningKey("kid-2", b"\x00\xffsecret-2", created_at=20)
    old = SigningKey("kid-1", b"secret-1", created_at=10)
    keys.add_signing_key(new)
    keys.add_signing_key(old)
    assert keys.signing_keys() == [old, new]
    with pytest.raises(ValueError, match="exists"):
        keys.add_signing_key(SigningKey("kid-1", b"x", created_at=30))


def test_keys_persist(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    SQLiteKeyStore(path).add_api_key(ApiKeyRecord("k", "h", created_at=1))
    SQLiteKeyStore(path).add_signing_key(SigningKey("kid", b"s", created_at=1))
    reopened = SQLiteKeyStore(path)
    assert reopened.list_api_keys() == [ApiKeyRecord("k", "h", created_at=1)]
    assert reopened.signing_keys() == [SigningKey("kid", b"s", created_at=1)]
