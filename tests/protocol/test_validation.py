"""Validation of user-supplied strings: each refusal carries its documented code."""

from __future__ import annotations

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import (
    Limits,
    validate_client_id,
    validate_poll,
    validate_publish_at,
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


# Invisible, bidi and look-alike content (issue #8, finding 9).

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\ufeff",  # BOM
    "\u2060",  # word joiner
    "\u2061",  # function application
    "\u3164",  # Hangul filler
    "\u2800",  # braille pattern blank
    "\u115f",  # Hangul choseong filler
    "\u1160",  # Hangul jungseong filler
    "\uffa0",  # halfwidth Hangul filler
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u180e",  # Mongolian vowel separator
    "\ufe0f",  # variation selector 16
    "\U000e0041",  # tag latin capital letter a
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u061c",  # Arabic letter mark
]


@pytest.mark.parametrize("ch", INVISIBLE, ids=ascii)
def test_invisible_only_text_is_empty(ch: str) -> None:
    assert code_of(validate_text, ch) is ErrorCode.MESSAGE_EMPTY
    assert code_of(validate_text, f" {ch}{ch}\n{ch} \u3000") is ErrorCode.MESSAGE_EMPTY


def test_all_invisible_together_is_empty() -> None:
    assert code_of(validate_text, "".join(INVISIBLE)) is ErrorCode.MESSAGE_EMPTY


def test_text_with_invisible_characters_and_something_visible_is_kept() -> None:
    # Joiners are part of emoji and of some scripts' spelling: kept inside visible text.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert validate_text(family) == family
    assert validate_text("\u2764\ufe0f") == "\u2764\ufe0f"
    assert validate_text("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    )
    assert validate_text("\u200bhi") == "\u200bhi"


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
BIDI += ["\u2069", "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("ch", BIDI, ids=ascii)
def test_bidi_controls_are_stripped(ch: str) -> None:
    assert validate_text(f"{ch}abc{ch}def{ch}") == "abcdef"
    assert validate_poll(f"Q{ch}?", [f"{ch}a", f"b{ch}"]) == ("Q?", ["a", "b"])


def test_text_limits_count_after_stripping_bidi() -> None:
    assert validate_text("\u202e" + "x" * 2000) == "x" * 2000
    assert validate_text(" \u202e hi \u202c ") == "hi"


def test_hebrew_and_arabic_text_is_unchanged() -> None:
    for text in ("\u05e9\u05dc\u05d5\u05dd 123", "\u0645\u0631\u062d\u0628\u0627 abc"):
        assert validate_text(text) == text


@pytest.mark.parametrize(
    "options",
    [
        ["yes", "ye\u200bs"],
        ["yes", "YES"],
        ["yes", "yes\ufeff"],
        ["yes", "\u202eyes"],
        ["yes", "\uff59\uff45\uff53"],  # fullwidth
        ["Stra\u00dfe", "STRASSE"],  # casefold: sharp s
        ["caf\u00e9", "cafe\u0301"],  # composed and decomposed
        ["a b", "a \u200b b"],
        ["\u2460", "1"],  # circled digit one
    ],
    ids=ascii,
)
def test_poll_options_that_look_the_same_are_not_distinct(options: list[str]) -> None:
    assert code_of(validate_poll, "q", options) is ErrorCode.INVALID_FIELD


def test_poll_options_that_differ_are_distinct() -> None:
    assert validate_poll("q", ["yes", "yes!", "ye s", "\u00e9", "e"])[1] == [
        "yes",
        "yes!",
        "ye s",
        "\u00e9",
        "e",
    ]


@pytest.mark.parametrize("blank", ["\u200b", "\u3164", "\u2800 \u2800", "\u202e"], ids=ascii)
def test_invisible_only_poll_texts_are_refused(blank: str) -> None:
    assert code_of(validate_poll, blank, ["a", "b"]) is ErrorCode.INVALID_FIELD
    assert code_of(validate_poll, "q", ["a", blank]) is ErrorCode.INVALID_FIELD


ORDINARY_NAMES = [
    "José Müller",
    "Zoë Ng",
    "Дмитрий",
    "Σωκράτης",
    "محمد",
    "محمد علي",
    "דוד",
    "राहुल",
    "สมชาย",
    "田中さんABC",
    "田中太郎",
    "やまだ",
    "カタカナ",
    "李雷",
    "王小明 Wang",
    "ㄅㄆㄇ 陳",
    "김민준",
    "김 Kim 金",
    "Ann 🎉",
    "I \u2764\ufe0f cats",
    "😀 fan",
    "O'Brien",
    "Jean-Luc",
    "o'neil-2",
    "R2-D2",
    "Ann_42",
    "Nguyễn Văn An",
    "Łukasz Żółć",
    "Ørjan",
    "Ğülşen",
    "Արամ",
    "ნინო",
    "አበበ",
    "ᏣᎳᎩ",
    "Владимир 2",
    "x" * 32,
]


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_in_many_scripts_pass(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "\u3164",  # Hangul filler
        "\u2800",  # braille pattern blank
        "\u115f",
        "\u1160",
        "\uffa0",
        "Ann\u3164",
        "\u2800Ann",
        "A\u2800B",
        "\u0301",  # a lone combining mark
        "\u0301\u0302\u0303",  # only combining marks
        "\u0301Ann",  # a combining mark at the start
        "\u20dd",  # enclosing circle
        "\u0903",  # spacing mark alone
        "Ann\u034f",  # combining grapheme joiner
        "Ann\u00ad",  # soft hyphen
        "Ann\ufe0f",  # a variation selector after a letter
        "\u0410dmin",  # Cyrillic A + Latin dmin
        "\u0430dmin",
        "p\u0430ypal",  # Cyrillic a inside
        "\u0391lice",  # Greek Alpha + Latin
        "\u03bfpen",  # Greek omicron
        "Ad\u043cin",
        "Pay\u0440al",
        "\u0627dmin",  # Arabic + Latin
        "\u05d3avid",  # Hebrew + Latin
        "\u0434\u03b1",  # Cyrillic + Greek
        "\u0e01\u0915",  # Thai + Devanagari
        "\uac00\u3042",  # Hangul + Hiragana
        "Ann 12\u0663",  # ASCII and Arabic-Indic digits mixed
    ],
    ids=ascii,
)
def test_blank_and_look_alike_names_are_refused(name: str) -> None:
    assert code_of(validate_username, name) is ErrorCode.INVALID_USERNAME


# publish_at (issue #8, finding 10).

NOW_MS = 1_800_000_000_000


def test_publish_at() -> None:
    ahead = Limits.PUBLISH_AHEAD_MAX_MS
    assert ahead == 30 * 24 * 3600 * 1000
    assert validate_publish_at(None, NOW_MS) is None
    assert validate_publish_at(NOW_MS + 1000, NOW_MS) == NOW_MS + 1000
    assert validate_publish_at(NOW_MS + ahead, NOW_MS) == NOW_MS + ahead
    assert validate_publish_at(0, NOW_MS) == 0  # the past: published now, as before
    assert code_of(validate_publish_at, NOW_MS + ahead + 1, NOW_MS) is ErrorCode.INVALID_FIELD
    assert code_of(validate_publish_at, 2**63, NOW_MS) is ErrorCode.INVALID_FIELD
    assert code_of(validate_publish_at, -1, NOW_MS) is ErrorCode.INVALID_FIELD
    assert code_of(validate_publish_at, "1", NOW_MS) is ErrorCode.INVALID_FIELD
    assert code_of(validate_publish_at, True, NOW_MS) is ErrorCode.INVALID_FIELD


def test_script_table_is_every_script_the_regex_module_knows() -> None:
    """The table of scripts in validation.py names every Script_Extensions value of the
    installed regex module (an upgrade that adds a script shows up here)."""
    from regex import _regex_core

    from pchat.protocol import validation

    values = _regex_core.PROPERTIES["SCRIPTEXTENSIONS"][1]  # type: ignore[attr-defined]
    aliases: dict[int, list[str]] = {}
    for alias, value in values.items():
        aliases.setdefault(value, []).append(alias)
    known = {
        next(a for a in names if len(a) == 4 and not a.startswith("QAA"))
        for names in aliases.values()
    }
    assert known - {"ZZZZ", "ZYYY", "ZINH"} == set(validation._SCRIPT_CODES)
