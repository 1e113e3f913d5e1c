"""Revoked tokens: the verifier's check, the in-memory list, a node's revocations and the
retirement of signing keys. No network: the in-memory broker and a SQLite file."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pchat.core.node import Node, Push
from pchat.core.ratelimit import StrikeCounter, TokenBucket
from pchat.core.revocations import Revocations
from pchat.core.session import Session
from pchat.core.settings import CoreSettings
from pchat.core.tokens import (
    RevokedTokens,
    SigningKeyInUse,
    TokenSigner,
    key_retirement_delay,
    retire_signing_key,
    revoked_before,
)
from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import InvalidRequestError, TokenError
from pchat.protocol.models import User
from pchat.storage.base import SigningKey
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.store_sqlite import SQLiteStore
from tests.core.fakes import MemoryKeyStore
from tests.core.test_room import FakeSink
from tests.core.test_tokens import HS256, ISSUER, KEY, NOW, claims, forge

T = int(NOW)


def signer(revoked: RevokedTokens | None = None, leeway: int = 5) -> TokenSigner:
    return TokenSigner([KEY], issuer=ISSUER, ttl=60, leeway=leeway, revoked=revoked)


def code_of(s: TokenSigner, token: str, now: float = NOW) -> ErrorCode | None:
    try:
        s.verify(token, now=now)
    except TokenError as exc:
        return exc.code
    return None


# The verifier -----------------------------------------------------------------------------


def test_revoked_before_is_the_next_whole_second() -> None:
    assert revoked_before(100.0) == 101
    assert revoked_before(100.999) == 101


def test_a_token_issued_before_the_revocation_is_refused_with_210() -> None:
    revoked = RevokedTokens()
    s = signer(revoked)
    token = s.issue("alice", now=NOW - 10)
    assert code_of(s, token) is None
    assert revoked.add("alice", T + 1)
    assert code_of(s, token) is ErrorCode.TOKEN_REVOKED
    # In the revocation's own second too: iat counts whole seconds.
    assert code_of(s, forge(HS256, claims(iat=T, nbf=T))) is ErrorCode.TOKEN_REVOKED


def test_tokens_issued_since_and_other_users_tokens_verify() -> None:
    revoked = RevokedTokens()
    revoked.add("alice", T + 1)
    s = signer(revoked)
    later = forge(HS256, claims(iat=T + 1, nbf=T + 1))
    assert s.verify(later, now=NOW + 1).sub == "alice"
    assert s.verify(forge(HS256, claims(sub="bob")), now=NOW).sub == "bob"


def test_a_revoked_users_token_without_iat_is_refused() -> None:
    revoked = RevokedTokens()
    s = signer(revoked)
    token = forge(HS256, claims(iat=None))
    assert code_of(s, token) is None
    revoked.add("alice", 1)
    assert code_of(s, token) is ErrorCode.TOKEN_REVOKED


def test_an_expired_revoked_token_is_refused_as_expired() -> None:
    revoked = RevokedTokens()
    revoked.add("alice", T + 1)
    token = forge(HS256, claims(exp=T - 100, iat=T - 200, nbf=T - 200))
    assert code_of(signer(revoked), token) is ErrorCode.TOKEN_EXPIRED


def test_a_token_issued_in_the_revocations_second_carries_the_next_and_verifies() -> None:
    revoked = RevokedTokens()
    s = signer(revoked)
    revoked.add("alice", revoked_before(NOW + 0.2))
    token = s.issue("alice", now=NOW + 0.5)
    claims_ = s.verify(token, now=NOW + 0.5)
    assert claims_.iat == T + 1
    assert s.verify(s.issue("bob", now=NOW + 0.5), now=NOW + 0.5).iat == T  # not revoked


def test_a_revocation_beyond_the_leeway_is_not_stepped_over() -> None:
    """A revocation far ahead (a clock ahead of this one) is not dodged by issuing in the
    future: such a token would be refused as not yet valid anyway."""
    revoked = RevokedTokens()
    s = signer(revoked, leeway=2)
    revoked.add("alice", T + 10)
    token = s.issue("alice", now=NOW)
    assert code_of(s, token) is ErrorCode.TOKEN_REVOKED


def test_revoked_tokens_only_move_later_and_are_forgotten_after_keep() -> None:
    revoked = RevokedTokens(keep=100)
    assert revoked.add("alice", 1000)
    assert not revoked.add("alice", 900)
    assert not revoked.add("alice", 1000)
    assert revoked.before("alice") == 1000
    assert revoked.add("alice", 1001)
    revoked.add("bob", 1050)
    assert revoked.horizon(1120.5) == 1020
    revoked.forget(1120.5)
    assert revoked.before("alice") is None and revoked.before("bob") == 1050
    assert len(revoked) == 1
    assert RevokedTokens().horizon(NOW) == 0  # keep None: everything


def test_the_signer_keeps_revocations_for_a_tokens_life_by_default() -> None:
    assert signer().revoked.keep == 65


# A node's revocations ---------------------------------------------------------------------


def session(user_id: str | None, iat: int | None, closed: list[tuple[str, CloseCode]]) -> Session:
    s = Session(
        sink=FakeSink(),
        closer=lambda code, reason: closed.append((f"{user_id}@{iat}", code)),
        frames=TokenBucket(10, 10, 0),
        strikes=StrikeCounter(None, 1),
    )
    if user_id is not None:
        s.user = User(user_id, user_id.title(), "viewer")
    s.token_iat = iat
    return s


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "chat.sqlite3")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def node(store: SQLiteStore) -> AsyncIterator[Node]:
    broker = MemoryBroker()
    await broker.open()
    n = Node(CoreSettings(), store=store, pubsub=broker)
    yield n
    await n.close()
    await broker.close()


async def test_revoke_closes_the_connections_of_older_tokens_with_4507(
    node: Node, store: SQLiteStore
) -> None:
    closed: list[tuple[str, CloseCode]] = []
    sessions = [
        session("alice", T - 5, closed),
        session("alice", None, closed),
        session("alice", T + 1, closed),  # issued since
        session("bob", T - 5, closed),
        session(None, None, closed),  # not connected yet
    ]
    revoked = RevokedTokens()
    revocations = Revocations(node=node, store=store, revoked=revoked, sessions=lambda: sessions)
    await revocations.start()
    assert await revocations.revoke("alice", now=NOW + 0.4) == T + 1
    assert closed == [(f"alice@{T - 5}", CloseCode.REVOKED), ("alice@None", CloseCode.REVOKED)]
    assert revoked.before("alice") == T + 1
    assert await store.revocations(0) == {"alice": T + 1}
    # Heard again (the store's reload): nothing new, nothing closed twice.
    await revocations.reload()
    assert len(closed) == 2


async def test_an_earlier_revocation_leaves_the_later_in_place(
    node: Node, store: SQLiteStore
) -> None:
    revocations = Revocations(node=node, store=store, revoked=RevokedTokens(), sessions=list)
    assert await revocations.revoke("alice", now=NOW) == T + 1
    assert await revocations.revoke("alice", now=NOW - 50) == T + 1
    assert await store.revocations(T + 1) == {"alice": T + 1}
    assert await store.revocations(T + 2) == {}


async def test_a_revocation_only_in_the_store_is_applied_by_the_reload(
    node: Node, store: SQLiteStore
) -> None:
    """What ``pchat users revoke`` does (it publishes nothing), or a lost publication."""
    closed: list[tuple[str, CloseCode]] = []
    now = int(time.time())
    sessions = [session("alice", now - 5, closed)]
    revoked = RevokedTokens(keep=3600)
    revocations = Revocations(node=node, store=store, revoked=revoked, sessions=lambda: sessions)
    await revocations.start()
    await store.revoke_tokens("alice", revoked_before(now))
    await store.revoke_tokens("old", now - 3700)  # every token it refused has expired
    assert closed == []
    await revocations.reload()
    assert closed == [(f"alice@{now - 5}", CloseCode.REVOKED)]
    assert revoked.before("alice") is not None and revoked.before("old") is None


async def test_revoke_refuses_an_invalid_user_id(node: Node, store: SQLiteStore) -> None:
    revocations = Revocations(node=node, store=store, revoked=RevokedTokens(), sessions=list)
    with pytest.raises(InvalidRequestError):
        await revocations.revoke("not a user id")
    assert await store.revocations(0) == {}


async def test_a_malformed_publication_is_ignored(node: Node, store: SQLiteStore) -> None:
    revoked = RevokedTokens()
    Revocations(node=node, store=store, revoked=revoked, sessions=list)
    await node.listen_nodes()
    for frame in (
        b"not json",
        b"[]",
        b'{"user_id": "alice"}',
        b'{"user_id": 1, "revoked_before": 2}',
    ):
        await node.publish_nodes(Push.REVOCATION, frame)
    await node.publish_nodes(Push.REVOCATION, b'{"user_id": "alice", "revoked_before": 7}')
    assert revoked.before("alice") == 7 and len(revoked) == 1


# Retiring signing keys ---------------------------------------------------------------------

OLD = SigningKey("old", b"o" * 32, 1000)
NEW = SigningKey("new", b"n" * 32, 2000)


def keys() -> MemoryKeyStore:
    store = MemoryKeyStore()
    store.signing = [OLD, NEW]
    return store


def test_the_retirement_delay_covers_a_tokens_life_and_the_key_reload() -> None:
    assert key_retirement_delay(ttl=3600, leeway=5, reload_interval=30) == 3640


async def test_the_key_that_signs_is_never_retired() -> None:
    store = keys()
    for force in (False, True):
        with pytest.raises(SigningKeyInUse) as info:
            await retire_signing_key(store, "new", delay=10, force=force, now=10**9)
        assert info.value.until is None
    assert [k.kid for k in await store.signing_keys()] == ["old", "new"]


async def test_an_older_key_is_retired_once_its_tokens_expired_or_by_force() -> None:
    store = keys()
    with pytest.raises(SigningKeyInUse) as info:
        await retire_signing_key(store, "old", delay=100, now=2099)
    assert info.value.until == 2100
    assert await retire_signing_key(store, "old", delay=100, now=2100) == OLD
    assert [k.kid for k in await store.signing_keys()] == ["new"]
    store = keys()
    assert await retire_signing_key(store, "old", delay=100, force=True, now=2001) == OLD
    assert [k.kid for k in await store.signing_keys()] == ["new"]


async def test_retiring_an_unknown_key_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        await retire_signing_key(keys(), "nope", delay=0)
