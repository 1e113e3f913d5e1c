"""Console sessions sealed into cookies: the seal opens only what it sealed, with a key it
still holds; the lifetimes; the CSRF token. No I/O."""

from __future__ import annotations

import secrets

from pchat.server.console.sessions import (
    ConsoleSession,
    Ended,
    Lifetimes,
    SessionSeal,
    credential_of_password,
)

KEYS = {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}


def seal_with(current: str = "k1", keys: dict[str, bytes] = KEYS) -> SessionSeal:
    return SessionSeal(lambda: current, keys.get)


def test_a_sealed_session_opens_as_it_was() -> None:
    seal = seal_with()
    session = seal.new("admin", "password", credential_of_password("h"), 1_000)
    assert session.kid == "k1" and session.issued_ms == session.seen_ms == 1_000
    cookie = seal.seal(session)
    assert seal.open(cookie) == session
    assert "admin" not in cookie.split(".")[1]
    # Another node with the same keys opens it; after a rotation too (the old key verifies).
    assert seal_with("k2").open(cookie) == session


def test_anything_else_does_not_open() -> None:
    seal = seal_with()
    cookie = seal.seal(seal.new("admin", "password", "c", 1_000))
    version, kid, payload, mac = cookie.split(".")
    other = seal_with(keys={"k1": secrets.token_bytes(32)})
    for value in (
        "",
        "garbage",
        f"2.{kid}.{payload}.{mac}",
        f"{version}.k2.{payload}.{mac}",
        f"{version}.{kid}.{payload}A.{mac}",
        f"{version}.{kid}.{payload}.{mac[:-1]}",
        f"{version}.{kid}.{payload}.{mac}.x",
        f"{version}.nokey.{payload}.{mac}",
        cookie + "x" * 5000,
    ):
        assert seal.open(value) is None, value
    assert other.open(cookie) is None  # a retired key (or another server's)


def test_a_well_sealed_payload_of_the_wrong_shape_does_not_open() -> None:
    seal = seal_with()
    bad = ConsoleSession("sid", "admin", "password", "c", 1, 1, "k1")
    object.__setattr__(bad, "issued_ms", "1")  # a string where a time goes
    assert seal.open(seal.seal(bad)) is None


def test_lifetimes() -> None:
    life = Lifetimes(idle_ms=1_000, absolute_ms=5_000)
    session = seal_with().new("admin", "password", "c", 0)
    assert life.ended(session, 999) is None
    assert life.ended(session, 1_000) is Ended.IDLE
    used = seal_with().touched(session, 900)
    assert life.ended(used, 1_800) is None
    assert life.ends_at(used) == 1_900
    late = seal_with().touched(session, 4_900)
    assert life.ended(late, 5_000) is Ended.EXPIRED
    assert life.ends_at(late) == 5_000
    assert life.touch_ms == 100
    assert Lifetimes(idle_ms=3_600_000, absolute_ms=1).touch_ms == 60_000


def test_the_csrf_token_is_the_sessions_own() -> None:
    seal = seal_with()
    one = seal.new("admin", "password", "c", 0)
    two = seal.new("admin", "password", "c", 0)
    token = seal.csrf_token(one)
    assert seal.csrf_ok(one, token)
    assert not seal.csrf_ok(two, token)
    assert not seal.csrf_ok(one, None)
    assert not seal.csrf_ok(one, "")
    assert not seal.csrf_ok(one, token[:-1] + "é")
    assert seal.csrf_token(seal.touched(one, 500)) == token
