"""Validation of the user-supplied strings of the protocol.

Every function returns the normalised value or raises :class:`RequestError` with the code the
protocol documents for that field. No I/O.

Content that hides or impersonates:

- *Invisible* characters show nothing: white space, Unicode's Default_Ignorable_Code_Point
  (zero-width spaces and joiners, the BOM, word joiner, soft hyphen, variation selectors,
  tags, the Hangul fillers U+115F U+1160 U+3164 U+FFA0) and the braille pattern blank
  U+2800, which fonts draw empty. A message or poll text made only of them is empty; inside
  visible text they stay (joiners build emoji and spell Persian and Indic words).
- *Bidi controls* (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, the marks
  U+200E U+200F U+061C) are stripped from messages and poll texts, so that none can reorder
  what a client shows after it. Right-to-left text displays without them.
- Poll options are compared by :func:`option_key` (NFKC, case-folded, without invisible
  characters): ``yes``, ``YES``, ``ye\\u200bs`` and the full-width ``ｙｅｓ`` are one option.
- Usernames follow Unicode TR #39 (security mechanisms): no invisible character, no
  combining mark at the start, digits of one numbering system only, and one script, where
  Common and Inherited characters (digits, punctuation, emoji, most combining marks) go with
  any script and the combinations TR #39 calls *highly restrictive* are allowed: Latin + Han
  + Hiragana + Katakana (Japanese), Latin + Han + Bopomofo (Chinese), Latin + Han + Hangul
  (Korean). So ``Аdmin`` (Cyrillic U+0410, then Latin) is refused; ``Дмитрий`` and
  ``田中さんABC`` pass. A name written wholly in another script that happens to look like a
  Latin one (all-Cyrillic ``аѕѕ``) is a whole-script confusable, which this does not detect.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The standard library has no Unicode Script property; the regex module has
# Script_Extensions, Default_Ignorable_Code_Point and Emoji.
import regex

from .codes import ErrorCode
from .errors import RequestError, request_error

__all__ = [
    "ROLES",
    "ROLE_RANK",
    "Limits",
    "option_key",
    "validate_client_id",
    "validate_poll",
    "validate_publish_at",
    "validate_reaction",
    "validate_role",
    "validate_room_id",
    "validate_text",
    "validate_user_id",
    "validate_username",
]

#: Roles from least to most privileged.
ROLES: tuple[str, ...] = ("viewer", "moderator", "admin")
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}

_ROOM_RE = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")
_USER_ID_RE = re.compile(r"[A-Za-z0-9_\-.@:|]{1,128}")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")
_REACTION_RE = re.compile(r"[a-z0-9_]{1,32}")

# Categories never allowed in a username: controls, format characters (this covers the
# bidi overrides and zero-width characters), private use, unassigned, separators but space.
_BAD_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# In message text the same, except that line feeds and tabs are kept.
_TEXT_KEEP = frozenset({"\n", "\t"})

# Characters that show nothing (see the module docstring): without white space, and the
# whole text made of them and white space.
_HIDDEN = r"\p{Default_Ignorable_Code_Point}\u2800"
_HIDDEN_RE = regex.compile(f"[{_HIDDEN}]")
_BLANK_RE = regex.compile(rf"[{_HIDDEN}\p{{White_Space}}]*")
# Variation selectors 15 and 16 choose text or emoji style: allowed in a name after an emoji.
_EMOJI_STYLE = frozenset({"\ufe0e", "\ufe0f"})
_EMOJI_RE = regex.compile(r"\p{Emoji}")
# Bidi controls, stripped from messages and poll texts (a str.translate table).
_BIDI_CONTROLS: dict[int, None] = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)

# Scripts by their ISO 15924 codes: the Script_Extensions values the regex module knows
# (Unicode 17), less Common (Zyyy), Inherited (Zinh) and Unknown (Zzzz).
_SCRIPT_TABLE = """
    LATN BOPO GREK COPT CYRL ARMN HEBR ARAB SYRC THAA NKOO SAMR MAND DEVA BENG GURU GUJR ORYA
    TAML TELU KNDA MLYM SINH THAI LAOO TIBT MYMR GEOR HANG ETHI CHER CANS OGAM RUNR TGLG HANO
    BUHD TAGB KHMR MONG LIMB TALE TALU BUGI LANA BALI SUND BATK LEPC OLCK BRAI GLAG TFNG HANI
    HIRA KANA YIII LISU VAII BAMU SYLO PHAG SAUR KALI RJNG JAVA CHAM TAVT MTEI LINB LYCI CARI
    ITAL GOTH PERM UGAR XPEO DSRT SHAW OSMA OSGE ELBA AGHB VITH TODR LINA CPRT ARMI PALM NBAT
    HATR PHNX LYDI SIDT MERO MERC KHAR SARB NARB MANI AVST PRTI PHLI PHLP ORKH HUNG ROHG GARA
    YEZI SOGO SOGD OUGR CHRS ELYM BRAH KTHI SORA CAKM MAHJ SHRD KHOJ MULT SIND GRAN TUTG NEWA
    TIRH SIDD MODI TAKR AHOM DOGR WARA DIAK NAND ZANB SOYO PAUC SUNU BHKS MARC GONM GONG TOLS
    MAKA KAWI XSUX PCUN CPMN EGYP HLUW GUKH MROO TNSA BASS HMNG KRAI MEDF BERF MIAO TANG NSHU
    KITS JURC DUPL SGNW HMNP TOTO WCHO NAGM ONAO TAYO MEND ADLM SEAL HRKT
"""
_SCRIPT_CODES: tuple[str, ...] = tuple(_SCRIPT_TABLE.split())
_SCRIPT_RES = tuple((code, regex.compile(rf"\p{{scx={code}}}")) for code in _SCRIPT_CODES)
_ANY_SCRIPT_RE = regex.compile(r"[\p{scx=Zyyy}\p{scx=Zinh}]")
# TR #39 §5.1: Han, kana, Hangul and Bopomofo also count as the writing systems they make up.
_AUGMENT: dict[str, frozenset[str]] = {
    "HANI": frozenset({"HANB", "JPAN", "KORE"}),
    "HIRA": frozenset({"JPAN"}),
    "KANA": frozenset({"JPAN"}),
    "HRKT": frozenset({"JPAN"}),
    "HANG": frozenset({"KORE"}),
    "BOPO": frozenset({"HANB"}),
}
# TR #39 §5.2, "highly restrictive": these combinations of scripts may share one name.
_ALLOWED_MIXES = (
    frozenset({"LATN", "HANI", "HIRA", "KANA", "HRKT"}),
    frozenset({"LATN", "HANI", "BOPO"}),
    frozenset({"LATN", "HANI", "HANG"}),
)


class Limits:
    """Length limits; the server's configuration may narrow them."""

    USERNAME_MAX = 32
    TEXT_MAX = 2000
    QUESTION_MAX = 300
    OPTION_MAX = 100
    OPTIONS_MIN = 2
    OPTIONS_MAX = 10
    #: How far ahead a poll may be scheduled: 30 days, in ms.
    PUBLISH_AHEAD_MAX_MS = 30 * 24 * 3600 * 1000


def _fail(code: ErrorCode, message: str) -> RequestError:
    return request_error(code, message)


def validate_room_id(value: object) -> str:
    """Room ids: 1–64 of ``A–Z a–z 0–9 _ - : .``."""
    if not isinstance(value, str) or not _ROOM_RE.fullmatch(value):
        raise _fail(ErrorCode.INVALID_ROOM, "room id must be 1-64 of A-Z a-z 0-9 _ - : .")
    return value


def validate_user_id(value: object) -> str:
    """User ids (the token's ``sub``): 1–128 of ``A–Z a–z 0–9 _ - . @ : |``."""
    if not isinstance(value, str) or not _USER_ID_RE.fullmatch(value):
        raise _fail(ErrorCode.INVALID_FIELD, "user id must be 1-128 of A-Z a-z 0-9 _ - . @ : |")
    return value


def validate_username(value: object, max_length: int = Limits.USERNAME_MAX) -> str:
    """Usernames: NFC-normalised, 1–``max_length`` characters, single inner spaces.

    Letters, marks, digits, punctuation and symbols of any script are allowed; control,
    format (bidi overrides, zero-width), private-use, unassigned and invisible characters
    are not, nor a combining mark first, nor mixed scripts or digits (Unicode TR #39, as the
    module docstring says).
    """
    if not isinstance(value, str):
        raise _fail(ErrorCode.INVALID_USERNAME, "username must be a string")
    if value.isascii() and value.isprintable():
        # Printable ASCII is NFC already, has no forbidden, hidden or combining character,
        # one script (Latin letters; digits and punctuation are Common) and one numbering
        # system: only the spacing and the length can refuse it.
        verdict = _spacing_or_length(value, max_length) or value
    elif len(value) <= _USERNAME_CACHED_CHARS:
        # Checking other names costs a regular expression per character and script: a
        # reconnect storm checks the same names again, so their verdicts are kept.
        verdict = _unicode_username(value, max_length)
    else:
        verdict = _unicode_username.__wrapped__(value, max_length)
    if isinstance(verdict, str):
        return verdict
    raise _fail(ErrorCode.INVALID_USERNAME, verdict[0])


#: Longer names are checked each time (a longer one is refused, unless NFC shortens it).
_USERNAME_CACHED_CHARS = 4 * Limits.USERNAME_MAX


def _spacing_or_length(name: str, max_length: int) -> tuple[str] | None:
    """Why ``name``'s spacing or length refuses it (a 1-tuple), None if neither does."""
    if name != name.strip() or "  " in name:
        return ("username has leading, trailing or double spaces",)
    if not 1 <= len(name) <= max_length:
        return (f"username must be 1-{max_length} characters",)
    return None


@functools.lru_cache(maxsize=4096)
def _unicode_username(value: str, max_length: int) -> str | tuple[str]:
    """The normalised username, or why it is refused (a 1-tuple): see validate_username."""
    name = unicodedata.normalize("NFC", value)
    refusal = _spacing_or_length(name, max_length)
    if refusal is not None:
        return refusal
    previous = ""
    for ch in name:
        if ch != " " and _forbidden_in_name(ch, previous):
            return (f"username contains a forbidden character U+{ord(ch):04X}",)
        previous = ch
    if unicodedata.category(name[0]).startswith("M"):
        return ("username starts with a combining mark",)
    mixed = _mixed_scripts(name)
    if mixed:
        return (f"username mixes scripts ({', '.join(mixed)})",)
    if len({ord(ch) - unicodedata.decimal(ch) for ch in name if ch.isdecimal()}) > 1:
        return ("username mixes digits of different scripts",)
    return name


def _forbidden_in_name(ch: str, previous: str) -> bool:
    category = unicodedata.category(ch)
    if category in _BAD_NAME_CATEGORIES or category == "Zs":
        return True
    if _HIDDEN_RE.match(ch):
        return not (ch in _EMOJI_STYLE and previous and _EMOJI_RE.match(previous))
    return False


@functools.lru_cache(maxsize=4096)
def _scripts_of(ch: str) -> frozenset[str] | None:
    """The scripts ``ch`` is written in (TR #39's augmented Script_Extensions); None for a
    character of every script (Common, Inherited)."""
    if _ANY_SCRIPT_RE.match(ch):
        return None
    found = {code for code, pattern in _SCRIPT_RES if pattern.match(ch)}
    for code in tuple(found):
        found |= _AUGMENT.get(code, frozenset())
    return frozenset(found)


def _mixed_scripts(name: str) -> list[str]:
    """The scripts of ``name`` if they are mixed (TR #39 §5.2, highly restrictive), else []."""
    sets = [scripts for ch in name if (scripts := _scripts_of(ch)) is not None]
    if not sets or frozenset.intersection(*sets):
        return []
    if any(all(scripts & mix for scripts in sets) for mix in _ALLOWED_MIXES):
        return []
    return sorted({min(scripts & set(_SCRIPT_CODES), default="?") for scripts in sets})


def validate_text(value: object, max_length: int = Limits.TEXT_MAX) -> str:
    """Message text: bidi controls stripped, then trimmed; at most ``max_length`` characters,
    no controls. Text with nothing visible is empty (``110``)."""
    if not isinstance(value, str):
        raise _fail(ErrorCode.INVALID_FIELD, "text must be a string")
    text = value.translate(_BIDI_CONTROLS).strip()
    if _BLANK_RE.fullmatch(text):
        raise _fail(ErrorCode.MESSAGE_EMPTY, "message is empty")
    if len(text) > max_length:
        raise _fail(ErrorCode.MESSAGE_TOO_LONG, f"message is longer than {max_length} characters")
    for ch in text:
        if ch not in _TEXT_KEEP and unicodedata.category(ch) in ("Cc", "Cs"):
            raise _fail(ErrorCode.INVALID_FIELD, f"text contains control character U+{ord(ch):04X}")
    return text


def validate_client_id(value: object) -> str:
    """Client message ids (for idempotent retries): 1–64 of ``A–Z a–z 0–9 _ - . :``."""
    if not isinstance(value, str) or not _CLIENT_ID_RE.fullmatch(value):
        raise _fail(ErrorCode.INVALID_FIELD, "cid must be 1-64 of A-Z a-z 0-9 _ - . :")
    return value


def validate_role(value: object) -> str:
    """One of :data:`ROLES`."""
    if not isinstance(value, str) or value not in ROLE_RANK:
        raise _fail(ErrorCode.INVALID_FIELD, f"role must be one of {', '.join(ROLES)}")
    return value


def validate_reaction(value: object, allowed: frozenset[str] | None = None) -> str:
    """A reaction type: a short lower-case name, one of ``allowed`` when given."""
    if not isinstance(value, str) or not _REACTION_RE.fullmatch(value):
        raise _fail(ErrorCode.INVALID_REACTION, "reaction must be 1-32 of a-z 0-9 _")
    if allowed is not None and value not in allowed:
        raise _fail(ErrorCode.INVALID_REACTION, f"reaction must be one of {sorted(allowed)}")
    return value


def _poll_string(value: object, what: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _fail(ErrorCode.INVALID_FIELD, f"{what} must be a string")
    text = " ".join(value.translate(_BIDI_CONTROLS).split())
    if not 1 <= len(text) <= max_length or _BLANK_RE.fullmatch(text):
        raise _fail(ErrorCode.INVALID_FIELD, f"{what} must be 1-{max_length} visible characters")
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise _fail(ErrorCode.INVALID_FIELD, f"{what} contains a control character")
    return text


def option_key(option: str) -> str:
    """What poll options are compared by: NFKC, case-folded, invisible characters removed,
    single spaces (so ``yes``, ``YES``, ``ye\\u200bs`` and ``ｙｅｓ`` are one option)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", option).casefold())
    return " ".join(_HIDDEN_RE.sub("", folded).split())


def validate_poll(question: object, options: object) -> tuple[str, list[str]]:
    """A poll: a question and 2–10 options, distinct by :func:`option_key`."""
    q = _poll_string(question, "question", Limits.QUESTION_MAX)
    if not isinstance(options, list) or not (
        Limits.OPTIONS_MIN <= len(options) <= Limits.OPTIONS_MAX
    ):
        raise _fail(
            ErrorCode.INVALID_FIELD,
            f"options must be a list of {Limits.OPTIONS_MIN}-{Limits.OPTIONS_MAX} strings",
        )
    opts = [_poll_string(o, "option", Limits.OPTION_MAX) for o in options]
    if len({option_key(o) for o in opts}) != len(opts):
        raise _fail(ErrorCode.INVALID_FIELD, "options must be distinct")
    return q, opts


def validate_publish_at(
    value: object, now_ms: int, max_ahead_ms: int = Limits.PUBLISH_AHEAD_MAX_MS
) -> int | None:
    """A poll's ``publish_at`` (ms since the epoch), at most ``max_ahead_ms`` after ``now_ms``.

    None stays None; a time already past is returned as it is (the poll opens now).
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(ErrorCode.INVALID_FIELD, "publish_at must be a time in ms since the epoch")
    if value > now_ms + max_ahead_ms:
        days = max_ahead_ms // (24 * 3600 * 1000)
        raise _fail(ErrorCode.INVALID_FIELD, f"publish_at may be at most {days} days ahead")
    return value
