"""What the route modules share: the room of a path, the user a call acts as, integers of
a query, and the path parameters and schemas of the document."""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from pchat.core.clock import now_ms
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import User
from pchat.protocol.validation import validate_room_id

from .actor import SYSTEM, user_from_wire
from .context import AdminContext
from .spec import Schema, obj, path_param, ref

__all__ = [
    "ACTING_USER",
    "RATE_WINDOW_MS",
    "ROOM",
    "acting_user",
    "existing_room",
    "int_query",
    "rate_since",
    "room_of",
]

#: The window of a room's message rate (``messages_last_minute``).
RATE_WINDOW_MS: Final = 60_000

_DIGITS: Final = re.compile(r"[0-9]{1,16}")

#: The ``{room}`` path parameter.
ROOM: Final = path_param(
    "room",
    "The room id: 1–64 of `A–Z a–z 0–9 _ - : .`",
    {"type": "string", "pattern": r"^[A-Za-z0-9_\-:.]{1,64}$"},
    example="lobby",
)

#: A user a call names to act as (``user`` of a message).
ACTING_USER: Final[Schema] = {
    **obj(
        {
            "id": {"type": "string", "description": "The user id (a token's `sub`)"},
            "username": {"type": "string"},
            "role": {**ref("Role"), "description": "Default `viewer`"},
        },
        ("id", "username"),
    ),
    "description": "Act as this user (default: the system user, an admin)",
}


def room_of(request: web.Request) -> str:
    """The ``{room}`` of the path, checked (``invalid_room``, 400)."""
    return validate_room_id(request.match_info["room"])


async def existing_room(ctx: AdminContext, request: web.Request) -> str:
    """The ``{room}`` of the path if the room was ever used; ``not_found`` (404) for a room
    that never existed (reads create nothing)."""
    room_id = room_of(request)
    if await ctx.service.store.find_room(room_id) is None:
        raise request_error(ErrorCode.NOT_FOUND, f"no such room: {room_id}")
    return room_id


def acting_user(ctx: AdminContext, body: dict[str, Any]) -> User:
    """The body's ``user`` ({id, username, role?}), or the system user."""
    value = body.get("user")
    if value is None:
        return SYSTEM
    return user_from_wire(value, ctx.settings.max_username_chars)


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter from ``low`` to ``high`` (``invalid_field``, 400)."""
    value = request.query.get(name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise request_error(ErrorCode.INVALID_FIELD, f"{name} must be an integer {low}-{high}")
    return int(value)


def rate_since() -> int:
    """The start of the message-rate window, now."""
    return now_ms() - RATE_WINDOW_MS
