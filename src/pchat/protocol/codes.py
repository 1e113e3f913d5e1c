"""Error codes and close codes shared by the server and both SDKs.

Error codes travel inside ``error`` frames: the request failed, the connection stays open.
Ranges (docs/protocol.md §7, §8):

- ``100–199`` request errors: the frame or the action was refused;
- ``200–299`` token errors: the token in ``connect`` or ``refresh`` was refused.

Close codes are WebSocket close codes. The range tells a client whether to reconnect:

- ``4000–4499`` transient: reconnect with backoff (and recovery);
- ``4500–4999`` terminal: do not reconnect until something changes (a new token, a fix);
- standard codes: ``1000`` normal (terminal), ``1001``/``1005``/``1006``/``1011``/``1012``/
  ``1013``/``1014`` transient, ``1002``/``1007``/``1008``/``1009`` terminal.

The TypeScript SDK's ``sdk/js/src/codes.ts`` is generated from ``pchat.protocol.codes``
(``#:`` comments included) by ``scripts/gen_codes.py``; ``tests/protocol/test_codes_ts.py``
fails when it is stale.
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

    #: A server bug; logged. Temporary.
    INTERNAL = 100
    #: Not JSON, or not a JSON object.
    MALFORMED_FRAME = 101
    #: Unknown ``type``.
    UNKNOWN_TYPE = 102
    #: A required field, the ``type`` or the ``id`` is missing.
    MISSING_FIELD = 103
    #: A field has the wrong JSON type or an invalid value.
    INVALID_FIELD = 104
    #: A binary frame that is not UTF-8 (a text frame that is not UTF-8 closes with ``1007``).
    INVALID_UTF8 = 105
    #: A room request before ``connect`` succeeded.
    NOT_CONNECTED = 106
    #: A second ``connect`` on one connection.
    ALREADY_CONNECTED = 107
    #: Too fast; the error carries ``retry_after_ms``. Temporary.
    RATE_LIMITED = 108
    #: Text longer than the limit.
    MESSAGE_TOO_LONG = 109
    #: Text empty after trimming, or invisible characters only.
    MESSAGE_EMPTY = 110
    #: The role does not allow the action.
    FORBIDDEN = 111
    #: No such message or poll in this room.
    NOT_FOUND = 112
    #: A second vote.
    ALREADY_VOTED = 113
    #: A vote on a scheduled or finished poll, or the finish of a finished poll.
    POLL_NOT_OPEN = 114
    #: A bad room id.
    INVALID_ROOM = 115
    #: A bad username.
    INVALID_USERNAME = 116
    #: The claimed role is above the token's.
    ROLE_NOT_GRANTED = 117
    #: Not one of the room's reaction types.
    INVALID_REACTION = 118
    #: The message was deleted before.
    ALREADY_DELETED = 119
    #: A backend is unavailable or did not answer in time. Temporary: retry later.
    UNAVAILABLE = 120
    #: The room holds the most it may (e.g. open or scheduled polls): finish one first.
    LIMIT_REACHED = 121
    #: The user is banned from writing in this room; ``until`` says when a timeout ends
    #: (temporary), none for a ban until lifted.
    BANNED = 122
    #: The room's mode does not allow this now (moderators-only, reactions-only).
    ROOM_MODE = 123
    #: Unique-chat mode: the message repeats one of the user's recent messages.
    DUPLICATE_MESSAGE = 124
    #: The message contains a word of the room's or the server's blocklist.
    BLOCKED_WORD = 125
    #: The operator's pre-send check rejected the message; the error's message is its reason.
    REJECTED = 126

    #: Not a JWT.
    TOKEN_MALFORMED = 200
    #: An ``alg`` other than HS256 (``none`` included).
    TOKEN_BAD_ALGORITHM = 201
    #: The signature does not verify (tampered, other key).
    TOKEN_BAD_SIGNATURE = 202
    #: ``exp`` passed.
    TOKEN_EXPIRED = 203
    #: ``nbf`` or ``iat`` in the future.
    TOKEN_NOT_YET_VALID = 204
    #: No ``exp`` or no ``sub``.
    TOKEN_MISSING_CLAIM = 205
    #: No or unknown ``kid``.
    TOKEN_UNKNOWN_KEY = 206
    #: Wrong ``iss``.
    TOKEN_BAD_ISSUER = 207
    #: An invalid ``sub`` or ``role``, or a time claim out of range.
    TOKEN_BAD_CLAIM = 208
    #: ``refresh`` with a token for another ``sub``.
    TOKEN_WRONG_USER = 209
    #: The operator revoked the user's tokens issued before a time (``iat`` earlier).
    TOKEN_REVOKED = 210

    @property
    def slug(self) -> str:
        """The lower-case name sent beside the number, e.g. ``rate_limited``."""
        return self.name.lower()


#: Errors after which the same request may succeed later without a change by the caller.
TEMPORARY_ERRORS = frozenset({ErrorCode.INTERNAL, ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


class CloseCode(IntEnum):
    """WebSocket close codes used by pchat."""

    # Standard codes (RFC 6455 §7.4.1 and the IANA registry).
    #: The client left. Terminal.
    NORMAL = 1000
    #: The server is going away. Transient.
    GOING_AWAY = 1001
    #: E.g. an unmasked client frame (RFC 6455 §5.1). Terminal.
    PROTOCOL_ERROR = 1002
    #: No close frame: the network dropped, or a client that stopped reading was cut off.
    #: Transient.
    ABNORMAL = 1006
    #: E.g. a text frame that is not UTF-8. Terminal.
    INVALID_PAYLOAD = 1007
    #: A policy violation. Terminal.
    POLICY = 1008
    #: A frame over the size limit. Terminal.
    TOO_BIG = 1009
    #: A server error. Transient.
    INTERNAL = 1011
    #: The server is restarting. Transient.
    RESTART = 1012
    #: The server is overloaded. Transient.
    TRY_AGAIN_LATER = 1013

    # 4000–4499: transient, reconnect with backoff.
    #: The server is stopping; the reason may carry a reconnect hint (docs/protocol.md §8).
    SHUTDOWN = 4000
    #: The client did not read its output.
    SLOW_CONSUMER = 4001
    #: The token expired and was not refreshed: reconnect with a new token.
    TOKEN_EXPIRED = 4002
    #: No pong in time.
    PING_TIMEOUT = 4003
    #: A handler crashed (logged).
    SERVER_ERROR = 4004

    # 4500–4999: terminal, do not reconnect.
    #: The token was refused.
    BAD_TOKEN = 4500
    #: The claimed role was not granted.
    FORBIDDEN = 4501
    #: A bad room id or username.
    BAD_CONNECT = 4502
    #: Too many rate-limited requests.
    FLOOD = 4503
    #: Too many malformed frames.
    PROTOCOL_VIOLATION = 4504
    #: No ``connect`` in time.
    CONNECT_TIMEOUT = 4505
    #: A moderator banned the user and kicked them out of the room.
    KICKED = 4506
    #: The operator revoked the user's tokens: connect again only with a token issued since.
    REVOKED = 4507


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
