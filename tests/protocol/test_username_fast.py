"""validate_username's ASCII fast path and kept verdicts against the check they shortcut.

``reference`` is validate_username as it was before issue 14, without a fast path or a
cache: every name here must get the same verdict (the same name, or the same message).
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from pchat.protocol import validation
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import validate_username


def refusal(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_USERNAME, message)


def reference(value: str, max_length: int = 32) -> str:
    name = unicodedata.normalize("NFC", value)
    if name != name.strip() or "  " in name:
        raise RequestError(
            ErrorCode.INVALID_USERNAME, "username has leading, trailing or double spaces"
        )
    if not 1 <= len(name) <= max_length:
        raise RequestError(
            ErrorCode.INVALID_USERNAME, f"username must be 1-{max_length} characters"
        )
    previous = ""
    for ch in name:
        if ch != " " and validation._forbidden_in_name(ch, previous):
            raise RequestError(
                ErrorCode.INVALID_USERNAME,
                f"username contains a forbidden character U+{ord(ch):04X}",
            )
        previous = ch
    if unicodedata.category(name[0]).startswith("M"):
        raise RequestError(ErrorCode.INVALID_USERNAME, "username starts with a combining mark")
    mixed = validation._mixed_scripts(name)
    if mixed:
        raise RequestError(
            ErrorCode.INVALID_USERNAME, f"username mixes scripts ({', '.join(mixed)})"
        )
    if len({ord(ch) - unicodedata.decimal(ch) for ch in name if ch.isdecimal()}) > 1:
        raise RequestError(ErrorCode.INVALID_USERNAME, "username mixes digits of different scripts")
    return name


def verdict(check: object, value: str, max_length: int = 32) -> tuple[str, str]:
    try:
        return ("ok", check(value, max_length))  # type: ignore[operator]
    except RequestError as exc:
        assert exc.code is ErrorCode.INVALID_USERNAME
        return ("refused", exc.message)


def same(value: str, max_length: int = 32) -> None:
    expected = verdict(reference, value, max_length)
    assert verdict(validate_username, value, max_length) == expected, repr(value)
    assert verdict(validate_username, value, max_length) == expected, repr(value)  # kept


def test_every_ascii_character_and_pair() -> None:
    chars = [chr(i) for i in range(128)]
    for a in chars:
        same(a)
        same(f"x{a}y")
        for b in chars:
            same(a + b)


def test_random_ascii_names() -> None:
    rng = random.Random(14)
    alphabet = [chr(i) for i in range(128)] + [" "] * 20
    for _ in range(5000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        same(name, rng.choice([1, 5, 32, 64]))


@pytest.mark.parametrize(
    "name",
    [
        "Zoe\u0308",
        "Дмитрий",
        "\u0410dmin",
        "田中さんABC",
        "a\u200bb",
        "\u0301abc",
        "1\u0661",
        "👍\ufe0f",
        "a\ufe0f",
        "é" * 32,
        "é" * 33,
        "e\u0301" * 32,  # 64 characters, 32 after NFC
        "e\u0301" * 70,  # longer than the kept names
        " Дмитрий",
        "Дми  трий",
        "\u3164",
        "",
    ],
)
def test_unicode_names(name: str) -> None:
    same(name)
    same(name, 8)


def test_random_unicode_names() -> None:
    rng = random.Random(1414)
    pool = "aZ09 _-.éДмиДтрий田中さんABCαβγ\u0301\u0308\u200b\u202e\u0661\u0662👍\ufe0f\u3164\x00"
    for _ in range(3000):
        name = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        same(name)


def test_a_kept_refusal_is_a_fresh_error_each_time() -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(RequestError) as info:
            validate_username("\u0410dmin")
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert errors[0].message == errors[1].message


def test_kept_verdicts_are_bounded() -> None:
    validation._unicode_username.cache_clear()
    for i in range(5000):
        validate_username(f"é{i}")
    info = validation._unicode_username.cache_info()
    assert info.currsize == info.maxsize == 4096
    validate_username("é" * 200, 300)  # longer than the kept names: checked, not kept
    assert validation._unicode_username.cache_info().misses == 5000
