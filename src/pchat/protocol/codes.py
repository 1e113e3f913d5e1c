"""Error codes and close codes shared by the server and both SDKs.

Error codes travel inside ``error`` frames; the request failed, the connection stays open.
Ranges (see ``docs/protocol.md``):

- ``100–199`` request errors: the frame or the action was refused;
- ``200–299`` token errors: the token in ``connect`` or ``refresh`` was refused.

Close codes are WebSocket close codes. The range tells a client whether to reconnect:

- ``4000–4499`` transient: reconnect with backoff (and recovery);
- ``4500–4999`` terminal: do not reconnect until something changes (a new token, a fix);
- standard codes: ``1000`` normal (terminal), ``1001``/``1006``/``1011``/``1012``/``1013``
  transient, ``1002``/``1007``/``1008``/``1009`` terminal.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "TEMPORARY_ERRORS",
    "CloseCode",
    "ErrorCode",
    "close_is_reconnectable",
]


class ErrorCode(IntEnum):
    """Codes carried by ``error`` frames."""

    INTERNAL = 100
    MALFORMED_FRAME = 101
    UNKNOWN_TYPE = 102
    MISSING_FIELD = 103
    INVALID_FIELD = 104
    INVALID_UTF8 = 105
    NOT_CONNECTED = 106
    ALREADY_CONNECTED = 107
    RATE_LIMITED = 108
    MESSAGE_TOO_LONG = 109
    MESSAGE_EMPTY = 110
    FORBIDDEN = 111
    NOT_FOUND = 112
    ALREADY_VOTED = 113
    POLL_NOT_OPEN = 114
    INVALID_ROOM = 115
    INVALID_USERNAME = 116
    ROLE_NOT_GRANTED = 117
    INVALID_REACTION = 118
    ALREADY_DELETED = 119
    UNAVAILABLE = 120
    LIMIT_REACHED = 121

    TOKEN_MALFORMED = 200
    TOKEN_BAD_ALGORITHM = 201
    TOKEN_BAD_SIGNATURE = 202
    TOKEN_EXPIRED = 203
    TOKEN_NOT_YET_VALID = 204
    TOKEN_MISSING_CLAIM = 205
    TOKEN_UNKNOWN_KEY = 206
    TOKEN_BAD_ISSUER = 207
    TOKEN_BAD_CLAIM = 208
    TOKEN_WRONG_USER = 209

    @property
    def slug(self) -> str:
        """The lower-case name sent beside the number, e.g. ``rate_limited``."""
        return self.name.lower()


#: Errors after which the same request may succeed later without a change by the caller.
TEMPORARY_ERRORS = frozenset({ErrorCode.INTERNAL, ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


class CloseCode(IntEnum):
    """WebSocket close codes used by pchat."""

    # Standard codes (RFC 6455 §7.4.1 and the IANA registry).
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002  # e.g. an unmasked client frame (RFC 6455 §5.1)
    ABNORMAL = 1006
    INVALID_PAYLOAD = 1007  # e.g. a text frame that is not UTF-8
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTART = 1012
    TRY_AGAIN_LATER = 1013

    # 4000–4499: transient, reconnect with backoff.
    SHUTDOWN = 4000
    SLOW_CONSUMER = 4001
    TOKEN_EXPIRED = 4002
    PING_TIMEOUT = 4003
    SERVER_ERROR = 4004

    # 4500–4999: terminal, do not reconnect.
    BAD_TOKEN = 4500
    FORBIDDEN = 4501
    BAD_CONNECT = 4502
    FLOOD = 4503
    PROTOCOL_VIOLATION = 4504
    CONNECT_TIMEOUT = 4505


_TRANSIENT_STANDARD = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})


def close_is_reconnectable(code: int | None) -> bool:
    """Whether a client should reconnect after the connection closed with ``code``.

    ``None`` (no close frame at all: the network dropped) is transient.
    """
    if code is None:
        return True
    if 4000 <= code <= 4499:
        return True
    if 4500 <= code <= 4999:
        return False
    return code in _TRANSIENT_STANDARD
