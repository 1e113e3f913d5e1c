"""KeyStore and OperatorStore conformance: every backend, through one factory.

SQLite (``keys.sqlite3``) and PostgreSQL (the test's own schema on the shared server) keep
the same promises: API keys with their revocation, signing keys ordered oldest first, the
console's operators, and — what a cluster's first start needs — exactly one first key of
each kind however many stores race for it. :func:`~pchat.storage.keys_copy.copy_keys`
(``pchat keys import``) is checked from ``keys.sqlite3`` into each backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pchat.core.tokens import load_or_create_signing_keys, new_signing_key
from pchat.storage.base import (
    ApiKeyRecord,
    KeyStore,
    OperatorRecord,
    OperatorStore,
    SigningKey,
)
from pchat.storage.keys_copy import KeysCopied, copy_keys
from pchat.storage.keys_sqlite import SQLiteKeyStore
from pchat.storage.operators_sqlite import SQLiteOperatorStore
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name

Stores = tuple[KeyStore, OperatorStore]
KeysMaker = Callable[[], Awaitable[Stores]]


async def _sqlite(tmp_path: Path) -> Stores:
    path = tmp_path / "keys.sqlite3"
    return SQLiteKeyStore(path), SQLiteOperatorStore(path)


async def _postgres(tmp_path: Path) -> Stores:
    from pchat.storage.keys_postgres import PostgresKeyStore

    await require_postgres()
    store = PostgresKeyStore(postgres_dsn(), schema=unique_name(tmp_path))
    return store, store


KEY_STORE_FACTORIES: dict[str, Callable[[Path], Awaitable[Stores]]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(KEY_STORE_FACTORIES))
async def make_keys(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeysMaker]:
    """Open a new key store of the backend on this test's data (twice: two nodes)."""
    factory = KEY_STORE_FACTORIES[request.param]
    opened: list[KeyStore] = []

    async def make() -> Stores:
        keys, operators = await factory(tmp_path)
        await keys.open()
        opened.append(keys)
        return keys, operators

    yield make
    for keys in opened:
        await keys.close()
    if request.param == "postgres" and opened:
        await drop_schema(unique_name(tmp_path))


@pytest.fixture
async def keys(make_keys: KeysMaker) -> KeyStore:
    return (await make_keys())[0]


@pytest.fixture
async def operators(make_keys: KeysMaker) -> OperatorStore:
    return (await make_keys())[1]


# API keys ---------------------------------------------------------------------------------


async def test_api_keys(keys: KeyStore) -> None:
    assert await keys.list_api_keys() == []
    assert await keys.get_api_key("k1") is None
    second = ApiKeyRecord("k2", "hash-2", created_at=200)
    first = ApiKeyRecord("k1", "hash-1", created_at=100)
    also_first = ApiKeyRecord("K0", "hash-0", created_at=100)
    await keys.add_api_key(second)
    await keys.add_api_key(first)
    await keys.add_api_key(also_first)
    assert await keys.get_api_key("k1") == first
    # Oldest first; on a tie by key, bytewise (uppercase first), on every backend.
    assert await keys.list_api_keys() == [also_first, first, second]
    with pytest.raises(ValueError, match="exists"):
        await keys.add_api_key(ApiKeyRecord("k1", "other", created_at=300))
    assert await keys.get_api_key("k1") == first


async def test_revoking_an_api_key(keys: KeyStore) -> None:
    await keys.add_api_key(ApiKeyRecord("k1", "hash-1", created_at=100))
    assert await keys.revoke_api_key("k1", 500)
    assert await keys.get_api_key("k1") == ApiKeyRecord("k1", "hash-1", 100, revoked_at=500)
    assert not await keys.revoke_api_key("k1", 600)  # revoked already: the first time stays
    assert await keys.get_api_key("k1") == ApiKeyRecord("k1", "hash-1", 100, revoked_at=500)
    assert not await keys.revoke_api_key("nope", 600)
    revoked = ApiKeyRecord("k2", "hash-2", 100, revoked_at=150)  # imported revoked
    await keys.add_api_key(revoked)
    assert await keys.get_api_key("k2") == revoked


async def test_the_first_api_key_is_added_only_to_an_empty_store(keys: KeyStore) -> None:
    first = ApiKeyRecord("k1", "h", created_at=1)
    assert await keys.add_api_key_if_none(first)
    assert not await keys.add_api_key_if_none(ApiKeyRecord("k2", "h", created_at=2))
    assert await keys.list_api_keys() == [first]


# Signing keys -----------------------------------------------------------------------------


async def test_signing_keys(keys: KeyStore) -> None:
    assert await keys.signing_keys() == []
    new = SigningKey("kid-2", b"\x00\xffsecret-2", created_at=20)
    old = SigningKey("kid-1", b"secret-1", created_at=10)
    same_second = SigningKey("kid-0", b"secret-0", created_at=20)
    for key in (new, old, same_second):
        await keys.add_signing_key(key)
    assert await keys.signing_keys() == [old, same_second, new]  # the last one signs
    with pytest.raises(ValueError, match="exists"):
        await keys.add_signing_key(SigningKey("kid-1", b"x", created_at=30))
    assert await keys.remove_signing_key("kid-1")
    assert not await keys.remove_signing_key("kid-1")
    assert await keys.signing_keys() == [same_second, new]


async def test_the_first_signing_key_is_added_only_to_an_empty_store(keys: KeyStore) -> None:
    first = SigningKey("kid-1", b"s" * 32, created_at=1)
    assert await keys.add_signing_key_if_none(first)
    assert not await keys.add_signing_key_if_none(SigningKey("kid-2", b"t" * 32, created_at=2))
    assert await keys.signing_keys() == [first]


async def test_nodes_starting_at_once_create_one_signing_key(make_keys: KeysMaker) -> None:
    """Three nodes (three stores, three connections) on an empty store: one key, which all
    three load."""
    stores = [(await make_keys())[0] for _ in range(3)]
    for _ in range(3):  # a few rounds: the race is won differently each time
        for store in stores:
            for key in await store.signing_keys():
                await store.remove_signing_key(key.kid)
        loaded = await asyncio.gather(*(load_or_create_signing_keys(s) for s in stores))
        assert len(loaded[0]) == 1
        assert loaded[0] == loaded[1] == loaded[2]
        assert await stores[0].signing_keys() == loaded[0]


async def test_nodes_starting_at_once_create_one_api_key(make_keys: KeysMaker) -> None:
    stores = [(await make_keys())[0] for _ in range(3)]
    records = [ApiKeyRecord(f"k{i}", "h", created_at=1) for i in range(3)]
    added = await asyncio.gather(
        *(s.add_api_key_if_none(r) for s, r in zip(stores, records, strict=True))
    )
    assert sorted(added) == [False, False, True]
    assert len(await stores[0].list_api_keys()) == 1


async def test_what_one_node_writes_another_reads(make_keys: KeysMaker) -> None:
    (one, one_ops), (other, other_ops) = await make_keys(), await make_keys()
    await one.add_api_key(ApiKeyRecord("k", "h", created_at=1))
    await one.add_signing_key(SigningKey("kid", b"s" * 32, created_at=1))
    await one_ops.set_operator("admin", "hash", 5)
    assert await other.list_api_keys() == [ApiKeyRecord("k", "h", created_at=1)]
    assert await other.signing_keys() == [SigningKey("kid", b"s" * 32, created_at=1)]
    assert await other_ops.get_operator("admin") == OperatorRecord("admin", "hash", 5, 5)
    await other.revoke_api_key("k", 9)
    assert (await one.get_api_key("k")) == ApiKeyRecord("k", "h", 1, revoked_at=9)


# Console operators ------------------------------------------------------------------------


async def test_operators(operators: OperatorStore) -> None:
    assert await operators.list_operators() == []
    assert await operators.get_operator("admin") is None
    assert await operators.set_operator("admin", "hash-1", 100)  # new
    assert not await operators.set_operator("admin", "hash-2", 200)  # changed
    assert await operators.get_operator("admin") == OperatorRecord("admin", "hash-2", 100, 200)
    assert await operators.set_operator("Bob", "hash-b", 300)
    assert await operators.set_operator("alice", "hash-a", 300)
    names = [r.name for r in await operators.list_operators()]
    assert names == ["Bob", "admin", "alice"]  # bytewise, on every backend
    assert await operators.remove_operator("admin")
    assert not await operators.remove_operator("admin")
    assert await operators.get_operator("admin") is None


# Importing keys.sqlite3 -------------------------------------------------------------------


async def test_copy_keys_from_a_keys_file_is_complete_and_resumable(
    make_keys: KeysMaker, tmp_path: Path
) -> None:
    source_path = tmp_path / "old" / "keys.sqlite3"
    source_path.parent.mkdir()
    source, source_ops = SQLiteKeyStore(source_path), SQLiteOperatorStore(source_path)
    usable = ApiKeyRecord("pk_a", "ha", created_at=10)
    revoked = ApiKeyRecord("pk_b", "hb", created_at=11, revoked_at=12)
    later_revoked = ApiKeyRecord("pk_c", "hc", created_at=13)
    for record in (usable, revoked, later_revoked):
        await source.add_api_key(record)
    old_key, signing = new_signing_key(100), new_signing_key(200)
    await source.add_signing_key(old_key)
    await source.add_signing_key(signing)
    await source_ops.set_operator("admin", "scrypt-hash", 50)

    target, target_ops = await make_keys()
    await target_ops.set_operator("ops", "other-hash", 60)
    copied = await copy_keys(source, source_ops, target, target_ops)
    assert copied == KeysCopied(api_keys=3, revoked=0, signing_keys=2, operators=1)
    assert await target.list_api_keys() == [usable, revoked, later_revoked]
    assert await target.signing_keys() == [old_key, signing]
    assert await target_ops.get_operator("admin") == OperatorRecord("admin", "scrypt-hash", 50, 50)

    # Again, after a revocation in the old install: only the difference is written.
    await source.revoke_api_key("pk_c", 20)
    await source_ops.set_operator("admin", "changed-since", 70)
    again = await copy_keys(source, source_ops, target, target_ops)
    assert again == KeysCopied(api_keys=0, revoked=1, signing_keys=0, operators=0)
    assert await target.get_api_key("pk_c") == ApiKeyRecord("pk_c", "hc", 13, revoked_at=20)
    assert (await target_ops.get_operator("admin")) == OperatorRecord(
        "admin", "scrypt-hash", 50, 50
    )  # the target's password is kept
    assert [r.name for r in await target_ops.list_operators()] == ["admin", "ops"]
