"""Operator passwords: scrypt hashes with their parameters, checked in constant time."""

from __future__ import annotations

import pytest

from pchat.core.passwords import (
    MAX_PASSWORD_CHARS,
    PasswordError,
    check_new_password,
    hash_password,
    verify_password,
)


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$15$8$3$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)


def test_hashes_are_salted() -> None:
    assert hash_password("correct horse") != hash_password("correct horse")


def test_no_hash_or_a_broken_one_verifies_nothing() -> None:
    assert not verify_password("pchat: no such operator", None)
    for broken in ("", "scrypt$15$8$3$AAAA", "bcrypt$x", "scrypt$99$8$3$AAAA$AAAA"):
        assert not verify_password("anything", broken)


def test_an_overlong_password_is_refused_not_truncated_into_a_match() -> None:
    stored = hash_password("x" * MAX_PASSWORD_CHARS)
    assert verify_password("x" * MAX_PASSWORD_CHARS, stored)
    assert not verify_password("x" * (MAX_PASSWORD_CHARS + 1), stored)


@pytest.mark.parametrize("password", ["", "short", "x" * (MAX_PASSWORD_CHARS + 1)])
def test_new_passwords_have_a_length(password: str) -> None:
    with pytest.raises(PasswordError):
        check_new_password(password)
    with pytest.raises(PasswordError):
        hash_password(password)
