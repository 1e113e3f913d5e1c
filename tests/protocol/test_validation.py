"""Validation of user-supplied strings: each refusal carries its documented code."""

from __future__ import annotations

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import (
    validate_client_id,
    validate_poll,
    validate_reaction,
    validate_role,
    validate_room_id,
    validate_text,
    validate_user_id,
    validate_username,
)


def code_of(fn: object, *args: object) -> ErrorCode:
    with pytest.raises(RequestError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


@pytest.mark.parametrize("room", ["lobby", "a", "event:2026.final_1-b", "x" * 64])
def test_room_ok(room: str) -> None:
    assert validate_room_id(room) == room


@pytest.mark.parametrize("room", ["", "x" * 65, "a b", "a/b", "ä", None, 5])
def test_room_bad(room: object) -> None:
    assert code_of(validate_room_id, room) is ErrorCode.INVALID_ROOM


@pytest.mark.parametrize("name", ["Ann", "Zoë Ng", "李雷", "o'neil-2", "x" * 32, "😀 fan"])
def test_username_ok(name: str) -> None:
    assert validate_username(name) == name


def test_username_is_nfc_normalised() -> None:
    assert validate_username("Zoe\u0308") == "Zoë"


@pytest.mark.parametrize(
    "name",
    [
        "",
        " Ann",
        "Ann ",
        "A  B",
        "x" * 33,
        "Ann\u202e",  # right-to-left override
        "An\u200bn",  # zero-width space
        "An\u200dn",  # zero-width joiner
        "A\x07",  # bell
        "A\nB",
        "A\u00a0B",  # no-break space
        "\ue000",  # private use
        "A\u2028B",  # line separator
        7,
    ],
)
def test_username_bad(name: object) -> None:
    assert code_of(validate_username, name) is ErrorCode.INVALID_USERNAME


def test_text() -> None:
    assert validate_text("  hello\nworld\t! ") == "hello\nworld\t!"
    assert code_of(validate_text, "   ") is ErrorCode.MESSAGE_EMPTY
    assert code_of(validate_text, "x" * 2001) is ErrorCode.MESSAGE_TOO_LONG
    assert validate_text("x" * 2000) == "x" * 2000
    assert code_of(validate_text, "a\x00b") is ErrorCode.INVALID_FIELD
    assert code_of(validate_text, "ab", 1) is ErrorCode.MESSAGE_TOO_LONG


def test_ids_roles_reactions() -> None:
    assert validate_user_id("user-42@example.com") == "user-42@example.com"
    assert code_of(validate_user_id, "a b") is ErrorCode.INVALID_FIELD
    assert code_of(validate_user_id, "x" * 129) is ErrorCode.INVALID_FIELD
    assert validate_client_id("c-1:2") == "c-1:2"
    assert code_of(validate_client_id, "") is ErrorCode.INVALID_FIELD
    assert validate_role("moderator") == "moderator"
    assert code_of(validate_role, "owner") is ErrorCode.INVALID_FIELD
    assert validate_reaction("like", frozenset({"like"})) == "like"
    assert code_of(validate_reaction, "boo", frozenset({"like"})) is ErrorCode.INVALID_REACTION
    assert code_of(validate_reaction, "<b>") is ErrorCode.INVALID_REACTION


def test_poll() -> None:
    assert validate_poll(" Best  team? ", ["A", "B "]) == ("Best team?", ["A", "B"])
    assert code_of(validate_poll, "q", ["only"]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "q", [str(i) for i in range(11)]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "q", ["a", "A"]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "", ["a", "b"]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "q", ["a", 3]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "q", "ab") is ErrorCode.INVALID_FIELD
