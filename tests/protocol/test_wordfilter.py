"""The word filter: each evasion technique it defeats, and the false positives it avoids,
listed one by one (issue 11)."""

from __future__ import annotations

import pytest

from pchat.protocol.wordfilter import FilterEntry, WordFilter, fold_word, mask

BLOCKED = WordFilter([FilterEntry("spam"), FilterEntry("ass"), FilterEntry("cunt")])

EVASIONS = [
    ("case", "SPAM", "SpAm"),
    ("full-width forms (NFKC)", "ｓｐａｍ", "ＳＰＡＭ"),
    ("styled mathematical letters (NFKC)", "𝐬𝐩𝐚𝐦", "𝓼𝓹𝓪𝓶"),
    ("zero-width characters", "sp\u200bam", "s\u200dp\u2060am\ufeff"),
    ("combining marks", "s\u0336p\u0336a\u0336m\u0336", "spám"),
    ("Cyrillic look-alikes", "ѕраm", "ѕpаm"),
    ("Greek look-alikes", "sραm", "spαm"),
    ("digits and symbols for letters", "sp4m", "$p@m"),
    ("spaces between letters", "s p a m", "a s s"),
    ("punctuation between letters", "s.p.a.m", "s-p-a-m"),
    ("several at once", "Ｓ.р.4.m", "s p \u200ba m"),
]

FALSE_POSITIVES = [
    ("a blocked word inside a longer word", "class"),
    ("… at its start", "assistant"),
    ("… in a place name", "Scunthorpe"),
    ("… as a suffix", "bass"),
    ("an ordinary sentence", "the spammer passed the assessment in class"),
    ("numbers alone are not letters", "5 p 4 m 2000"),
    ("letters of another script that look nothing alike", "спасибо"),
]


@pytest.mark.parametrize(("technique", "first", "second"), EVASIONS)
def test_each_evasion_is_found(technique: str, first: str, second: str) -> None:
    for text in (first, second, f"well {first} indeed"):
        assert BLOCKED.find(text), f"{technique}: {text!r} got through"


@pytest.mark.parametrize(("case", "text"), FALSE_POSITIVES)
def test_ordinary_words_are_not_blocked(case: str, text: str) -> None:
    assert BLOCKED.find(text) == [], f"{case}: {text!r} was matched"


def test_patterns_match_inside_words_only_when_asked() -> None:
    f = WordFilter([FilterEntry("*ass*"), FilterEntry("scam*"), FilterEntry("*coin")])
    assert f.find("class")[0].entry.pattern == "*ass*"
    assert f.find("scammers")[0].entry.pattern == "scam*"
    assert f.find("buy shitcoin")[0].entry.pattern == "*coin"
    assert f.find("coins to toss") == []


def test_masking_replaces_the_original_spans() -> None:
    f = WordFilter([FilterEntry("spam", "mask")])
    text = "buy S.P.A.M now, s p a m!"
    assert mask(text, f.find(text)) == "buy ******* now, * * * **"
    assert mask("no match", f.find("no match")) == "no match"


def test_folding() -> None:
    assert fold_word("Ｈ3ｌｌ0!") == "hello"
    assert fold_word("2000") == "2000"
    assert fold_word("...") == ""


def test_an_empty_filter_finds_nothing_and_costs_nothing() -> None:
    assert WordFilter([]).find("spam") == []
    assert len(WordFilter([FilterEntry("*")])) == 0  # a pattern of nothing is ignored


def test_a_thousand_entries() -> None:
    f = WordFilter(FilterEntry(f"word{i}x") for i in range(1000))
    assert len(f) == 1000
    assert f.find("say WORD999X now")[0].entry.pattern == "word999x"
