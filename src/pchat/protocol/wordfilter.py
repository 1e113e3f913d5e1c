"""The word filter's matching: blocked words found however they are disguised.

No I/O. A :class:`WordFilter` is built from entries (a word, or a pattern with ``*`` at
either end) and finds them in a message, returning the spans of the original text that
matched, so that a match can be refused or masked in place.

How the usual evasions are defeated — each is folded away before comparing:

- **case**: ``SPAM``, ``SpAm`` (case folding);
- **compatibility forms**: full-width ``ｓｐａｍ``, ligatures, circled and styled letters
  such as ``𝐬𝐩𝐚𝐦`` (NFKC);
- **invisible and combining characters**: ``sp\u200bam``, ``s\u0336p\u0336a\u0336m``
  (format characters and combining marks are dropped after NFD);
- **look-alike letters**: Cyrillic ``ѕраm``, Greek ``ο``, and digits or symbols standing for
  letters inside a word (``sp4m``, ``$pam``, ``5p@m``) — a confusables fold to Latin;
- **spacing and punctuation between letters**: ``s p a m``, ``s.p.a.m``, ``s-p-a-m``
  (punctuation inside a word is dropped; a run of single letters is read as one word).

False positives are avoided by matching **whole words**: a blocked ``ass`` does not match
``class``, ``assistant`` or ``Scunthorpe``-style words; only an entry written as a pattern
(``*ass*``, ``ass*``) matches inside words, on purpose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["ACTIONS", "FilterEntry", "Match", "WordFilter", "fold_word", "mask"]

#: What happens to a message that matches: refused, sent with the match masked, or held for
#: a moderator's review (when entries of several actions match: block, then hold, then mask).
ACTIONS: Final = ("block", "mask", "hold")

# Look-alike letters of other scripts, folded to the Latin letter they imitate (after
# NFKC and case folding). The common ones in spam and slurs (Unicode's confusables data
# has thousands; these cover the Cyrillic and Greek letters that pass for Latin ones).
_CONFUSABLE: Final = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "һ": "h",
        "ԛ": "q",
        "ԝ": "w",
        "ɡ": "g",
        "ı": "i",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "ϲ": "c",
        "ѵ": "v",
    }
)
# Digits and symbols read as letters when they stand inside a word with letters.
_LEET: Final = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
        "£": "l",
    }
)
_WORD_SPLIT: Final = re.compile(r"\s+")
# Sentence punctuation around a word ("spam!", "(spam)") is not part of it; symbols that
# stand for letters ("$pam", "sp@m") are.
_OUTER_PUNCTUATION: Final = ".,!?;:'\"()[]{}<>«»“”‘’…"


def fold_word(word: str) -> str:
    """A word as the filter compares it: NFKC, case-folded, marks and format characters
    dropped, look-alikes and (next to letters) leet digits folded to Latin letters, and
    any other punctuation removed."""
    text = unicodedata.normalize("NFKC", word).casefold().strip(_OUTER_PUNCTUATION)
    text = "".join(
        ch
        for ch in unicodedata.normalize("NFD", text)
        if unicodedata.category(ch) not in ("Mn", "Me", "Cf")
    )
    text = text.translate(_CONFUSABLE)
    if any(ch.isalpha() for ch in text):
        text = text.translate(_LEET)
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True, slots=True)
class FilterEntry:
    """One blocklist entry: ``pattern`` is a word, or a word with ``*`` at its start and/or
    end to match inside words; ``action`` one of :data:`ACTIONS`."""

    pattern: str
    action: str = "block"


@dataclass(frozen=True, slots=True)
class Match:
    """An entry found in a text, at ``start:end`` of the original text."""

    entry: FilterEntry
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Token:
    folded: str
    start: int
    end: int


class WordFilter:
    """Finds the entries of a blocklist in texts; build once, use for every message."""

    def __init__(self, entries: Iterable[FilterEntry]) -> None:
        self._exact: dict[str, FilterEntry] = {}
        self._prefix: list[tuple[str, FilterEntry]] = []
        self._suffix: list[tuple[str, FilterEntry]] = []
        self._inner: list[tuple[str, FilterEntry]] = []
        for entry in entries:
            head, tail = entry.pattern.startswith("*"), entry.pattern.endswith("*")
            word = fold_word(entry.pattern.strip("*"))
            if not word:
                continue
            if head and tail:
                self._inner.append((word, entry))
            elif tail:
                self._prefix.append((word, entry))
            elif head:
                self._suffix.append((word, entry))
            else:
                self._exact.setdefault(word, entry)

    def __len__(self) -> int:
        return len(self._exact) + len(self._prefix) + len(self._suffix) + len(self._inner)

    def find(self, text: str) -> list[Match]:
        """Every match in ``text``, in order."""
        if not len(self):
            return []
        found = []
        for token in _tokens(text):
            entry = self._match(token.folded)
            if entry is not None:
                found.append(Match(entry, token.start, token.end))
        return found

    def _match(self, word: str) -> FilterEntry | None:
        exact = self._exact.get(word)
        if exact is not None:
            return exact
        for part, entry in self._prefix:
            if word.startswith(part):
                return entry
        for part, entry in self._suffix:
            if word.endswith(part):
                return entry
        for part, entry in self._inner:
            if part in word:
                return entry
        return None


def _tokens(text: str) -> list[_Token]:
    """The words of ``text`` as compared, with their spans; a run of one-letter words
    (``s p a m``) is also read as the word it spells."""
    words = []
    pos = 0
    for piece in _WORD_SPLIT.split(text):
        start = text.index(piece, pos) if piece else pos
        end = start + len(piece)
        pos = end
        folded = fold_word(piece)
        if folded:
            words.append(_Token(folded, start, end))
    tokens = list(words)
    run: list[_Token] = []
    for word in [*words, None]:
        if word is not None and len(word.folded) == 1:
            run.append(word)
            continue
        if len(run) >= 2:
            joined = "".join(w.folded for w in run)
            tokens.append(_Token(joined, run[0].start, run[-1].end))
        run = []
    return tokens


def mask(text: str, matches: Iterable[Match], char: str = "*") -> str:
    """``text`` with every matched span replaced by ``char`` (spaces kept)."""
    chars = list(text)
    for match in matches:
        for i in range(match.start, match.end):
            if not chars[i].isspace():
                chars[i] = char
    return "".join(chars)
