"""The operator in a room: the server API acts through the same handlers as a client.

A call of the server API that acts in a room — a message, a ban, a poll — runs the chat
core's own request handler for a :class:`~pchat.core.session.Session` that is no connection:
the system user (:data:`SYSTEM`, an admin) or a user the call names, in the room. So a
message published through the API is stored, ordered, fanned out, recoverable and
idempotent by ``cid`` exactly as a client's ``send``; a ban is logged, stored and told to the
banned user's connections on every node; and every refusal carries the code a client would
get. The call's fields are checked with the client frames' table first.

The room is held open on this node for the length of the call (:meth:`Node.opened
<pchat.core.node.Node.opened>`): the features keep state of the rooms open here (the
moderation state, caches of polls and of who can be mentioned) and keep it current from
the room's publications, and forget it when the room closes. A room no client of this
node is in is so opened, used and closed again, leaving nothing behind; the hold counts in
no online count.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from pchat.core.presend import SERVER_API_REMOTE
from pchat.core.ratelimit import StrikeCounter, TokenBucket
from pchat.core.room import Room
from pchat.core.service import ChatService, Session
from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.frames import Request, check_fields
from pchat.protocol.models import User
from pchat.protocol.validation import (
    validate_role,
    validate_room_id,
    validate_user_id,
    validate_username,
)

__all__ = ["SYSTEM", "Actor", "user_from_wire"]

#: Who the operator acts as unless a call names a user: an admin, so every action is
#: allowed and a ban acts on moderators and viewers.
SYSTEM: Final = User("system", "System", "admin")


class _NoConnection:
    """The sink of an actor's session: nothing is ever written to it."""

    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def _never_closed(code: CloseCode, reason: str) -> None:
    pass


class Actor:
    """Runs the chat core's requests in a room as the system user or a named one."""

    def __init__(self, service: ChatService) -> None:
        self.service = service

    @asynccontextmanager
    async def room(self, room_id: str) -> AsyncIterator[Room]:
        """The room, held open on this node while the block runs (see the module docs)."""
        async with self.service.node.opened(validate_room_id(room_id)) as room:
            yield room

    async def request(
        self, room_id: str, rtype: str, fields: dict[str, Any], user: User = SYSTEM
    ) -> dict[str, Any]:
        """Run one request of type ``rtype`` (a client frame's fields, checked as a frame's)
        in the room as ``user``; its reply's ``result``, or the protocol's error raised."""
        args = check_fields(rtype, fields)
        async with self.room(room_id) as room:
            return await self.run(room, rtype, args, user)

    async def run(
        self, room: Room, rtype: str, args: dict[str, Any], user: User = SYSTEM
    ) -> dict[str, Any]:
        """Run one request in a room held open by :meth:`room` (``args`` checked)."""
        session = Session(
            sink=_NoConnection(),
            closer=_never_closed,
            frames=TokenBucket(1e9, 1_000_000, time.monotonic()),
            strikes=StrikeCounter(None, 1.0),
            remote=SERVER_API_REMOTE,  # the pre-send hook skips the operator's own
            user=user,
            room_id=room.room_id,
        )
        session.machine.advance("connect")
        session.machine.advance("connected")
        reply = await self.service.handle(session, Request(rtype, 0, args))
        return reply.result


def user_from_wire(value: Any, max_username_chars: int) -> User:
    """A user named by a call: ``{"id", "username", "role"?}`` (default role ``viewer``),
    each checked as a token's ``sub``, a connect's ``username`` and ``role`` are."""
    if not isinstance(value, dict):
        raise request_error(ErrorCode.INVALID_FIELD, "user must be an object")
    if "id" not in value or "username" not in value:
        raise request_error(ErrorCode.MISSING_FIELD, "user needs id and username")
    return User(
        validate_user_id(value["id"]),
        validate_username(value["username"], max_username_chars),
        validate_role(value.get("role", "viewer")),
    )
