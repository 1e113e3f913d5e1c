"""Messages: publish one as the system or a named user, page through history, delete.

A message is published through the chat core's ``send`` as the acting user: stored (the
reply means committed), given the room's next position, fanned out to every node and
recoverable like a client's; a ``cid`` makes it idempotent (the same ``cid`` of the same user
again returns the stored message with ``duplicate: true``). The write guard applies to the
acting user as to a client: a named viewer's message may be refused by a ban or a room mode,
held for review or delayed (``held``); the system user is an admin.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from pchat.protocol.frames import check_fields

from .common import ACTING_USER, ROOM, acting_user, existing_room, room_of
from .context import AdminContext
from .errors import json_response, query_fields, read_body
from .spec import Schema, obj, operation, path_param, query_param, ref

__all__ = ["PATHS", "routes"]


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    actor = ctx.actor

    async def publish(request: web.Request) -> web.Response:
        room_id = room_of(request)
        body = await read_body(request)
        fields = check_fields("send", body)
        user = acting_user(ctx, body)
        return json_response(await actor.request(room_id, "send", fields, user))

    async def history(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        args = query_fields(request, "history")
        return json_response(await actor.request(room_id, "history", args))

    async def delete(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        fields = {"message_id": request.match_info["message_id"]}
        return json_response(await actor.request(room_id, "delete", fields))

    return [
        web.post("/rooms/{room}/messages", publish),
        web.get("/rooms/{room}/messages", history),
        web.delete("/rooms/{room}/messages/{message_id}", delete),
    ]


_UINT: Final[Schema] = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}

PATHS: Final[dict[str, Any]] = {
    "/rooms/{room}/messages": {
        "post": operation(
            "publishMessage",
            "Publish a message",
            tag="messages",
            description=(
                "As the system user or the user named in `user`, through the same path as a "
                "client's `send`: stored, ordered, fanned out, recoverable. With a `cid` the "
                "same call again returns the stored message (`duplicate: true`). A message "
                "held for review or by the chat delay answers `message: null` and `held`."
            ),
            params=(ROOM,),
            body=obj(
                {
                    "text": {"type": "string", "description": "1–2000 characters"},
                    "cid": {
                        "type": "string",
                        "description": "A client id of the message: idempotency",
                    },
                    "reply_to": {"type": "string", "description": "The id of a message"},
                    "user": ACTING_USER,
                },
                ("text",),
            ),
            example={"text": "The stream starts in 5 minutes", "cid": "announce-1"},
            response=obj(
                {
                    "message": {"oneOf": [ref("Message"), {"type": "null"}]},
                    "held": ref("Held"),
                    "duplicate": {"type": "boolean"},
                },
                ("message", "duplicate"),
            ),
            errors=(403, 404, 409, 422),
        ),
        "get": operation(
            "listMessages",
            "Page through history",
            tag="messages",
            description=(
                "The newest `limit` messages before `before_seq` and `before_ts` (both "
                "optional), oldest first, as a moderator sees them (shadow and hidden "
                "messages included, marked)."
            ),
            params=(
                ROOM,
                query_param("before_seq", "Only messages before this position", _UINT),
                query_param("before_ts", "Only messages before this time (ms)", _UINT),
                query_param(
                    "limit",
                    "How many (1–100, default 50)",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                ),
            ),
            response=obj(
                {
                    "messages": {"type": "array", "items": ref("Message")},
                    "has_more": {"type": "boolean"},
                }
            ),
            errors=(404,),
        ),
    },
    "/rooms/{room}/messages/{message_id}": {
        "delete": operation(
            "deleteMessage",
            "Delete a message",
            tag="messages",
            description="Soft delete: the text is removed, `message_delete` goes to the room.",
            params=(ROOM, path_param("message_id", "The message's id")),
            response=obj({"message_id": {"type": "string"}, "seq": _UINT}),
            errors=(404, 409),
        )
    },
}
