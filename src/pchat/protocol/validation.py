"""Validation of the user-supplied strings of the protocol.

Every function returns the normalised value or raises :class:`RequestError` with the code the
protocol documents for that field. No I/O.
"""

from __future__ import annotations

import re
import unicodedata

from .codes import ErrorCode
from .errors import RequestError, request_error

__all__ = [
    "ROLES",
    "ROLE_RANK",
    "Limits",
    "validate_client_id",
    "validate_poll",
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


class Limits:
    """Length limits; the server's configuration may narrow them."""

    USERNAME_MAX = 32
    TEXT_MAX = 2000
    QUESTION_MAX = 300
    OPTION_MAX = 100
    OPTIONS_MIN = 2
    OPTIONS_MAX = 10


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
    format (bidi overrides, zero-width), private-use and unassigned characters are not.
    """
    if not isinstance(value, str):
        raise _fail(ErrorCode.INVALID_USERNAME, "username must be a string")
    name = unicodedata.normalize("NFC", value)
    if name != name.strip() or "  " in name:
        raise _fail(ErrorCode.INVALID_USERNAME, "username has leading, trailing or double spaces")
    if not 1 <= len(name) <= max_length:
        raise _fail(ErrorCode.INVALID_USERNAME, f"username must be 1-{max_length} characters")
    for ch in name:
        if ch != " " and (
            unicodedata.category(ch) in _BAD_NAME_CATEGORIES or unicodedata.category(ch) == "Zs"
        ):
            raise _fail(
                ErrorCode.INVALID_USERNAME,
                f"username contains a forbidden character U+{ord(ch):04X}",
            )
    return name


def validate_text(value: object, max_length: int = Limits.TEXT_MAX) -> str:
    """Message text: stripped, non-empty, at most ``max_length`` characters, no controls."""
    if not isinstance(value, str):
        raise _fail(ErrorCode.INVALID_FIELD, "text must be a string")
    text = value.strip()
    if not text:
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
    text = " ".join(value.split())
    if not 1 <= len(text) <= max_length:
        raise _fail(ErrorCode.INVALID_FIELD, f"{what} must be 1-{max_length} characters")
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise _fail(ErrorCode.INVALID_FIELD, f"{what} contains a control character")
    return text


def validate_poll(question: object, options: object) -> tuple[str, list[str]]:
    """A poll: a question and 2–10 distinct options."""
    q = _poll_string(question, "question", Limits.QUESTION_MAX)
    if not isinstance(options, list) or not (
        Limits.OPTIONS_MIN <= len(options) <= Limits.OPTIONS_MAX
    ):
        raise _fail(
            ErrorCode.INVALID_FIELD,
            f"options must be a list of {Limits.OPTIONS_MIN}-{Limits.OPTIONS_MAX} strings",
        )
    opts = [_poll_string(o, "option", Limits.OPTION_MAX) for o in options]
    if len({o.casefold() for o in opts}) != len(opts):
        raise _fail(ErrorCode.INVALID_FIELD, "options must be distinct")
    return q, opts
