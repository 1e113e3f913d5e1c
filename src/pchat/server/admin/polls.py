"""Polls: create one (now, or scheduled with ``publish_at``), finish it, read the results.

Created and finished through the chat core's ``poll_create`` and ``poll_finish`` as the
system user: stored, pushed to the room on every node, a scheduled one published at its
time by whichever node gets there first (exactly once). A poll is read from the store with
its exact tallies.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error

from .common import ROOM, existing_room, room_of
from .context import AdminContext
from .errors import json_response, query_fields, read_body
from .spec import Schema, obj, operation, page_param, path_param, query_param, ref

__all__ = ["PATHS", "routes"]


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    actor, store = ctx.actor, ctx.service.store

    async def list_polls(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        args = query_fields(request, "polls")
        return json_response(await actor.request(room_id, "polls", args))

    async def create(request: web.Request) -> web.Response:
        room_id = room_of(request)
        fields = await read_body(request, "poll_create")
        return json_response(await actor.request(room_id, "poll_create", fields))

    async def get_poll(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        poll = await store.get_poll(room_id, request.match_info["poll_id"])
        if poll is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such poll in this room")
        return json_response({"poll": poll.to_wire()})

    async def finish(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        fields = {"poll_id": request.match_info["poll_id"]}
        return json_response(await actor.request(room_id, "poll_finish", fields))

    return [
        web.get("/rooms/{room}/polls", list_polls),
        web.post("/rooms/{room}/polls", create),
        web.get("/rooms/{room}/polls/{poll_id}", get_poll),
        web.post("/rooms/{room}/polls/{poll_id}/finish", finish),
    ]


_POLL_ID: Final = path_param("poll_id", "The poll's id")
_POLL: Final[Schema] = obj({"poll": ref("Poll")})


def _op(operation_id: str, summary: str, **kwargs: Any) -> Schema:
    params = (ROOM, *kwargs.pop("params", ()))
    return operation(operation_id, summary, tag="polls", params=params, **kwargs)


PATHS: Final[dict[str, Any]] = {
    "/rooms/{room}/polls": {
        "get": _op(
            "listPolls",
            "The room's polls",
            description=(
                "The newest `limit` polls created before the poll `before` (default: the "
                "newest), oldest first; scheduled ones included."
            ),
            params=(query_param("before", "A poll id", {"type": "string"}), page_param(50)),
            response=obj(
                {"polls": {"type": "array", "items": ref("Poll")}, "has_more": {"type": "boolean"}}
            ),
            errors=(404,),
        ),
        "post": _op(
            "createPoll",
            "Create a poll",
            description=(
                "2–10 distinct options. With `publish_at` (ms, at most 30 days ahead) in the "
                "future the poll is scheduled; else it opens now."
            ),
            body=obj(
                {
                    "question": {"type": "string", "description": "1–300 characters"},
                    "options": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 2,
                        "maxItems": 10,
                    },
                    "publish_at": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
                },
                ("question", "options"),
            ),
            example={"question": "Best tea?", "options": ["green", "black"]},
            response=_POLL,
            errors=(409,),
        ),
    },
    "/rooms/{room}/polls/{poll_id}": {
        "get": _op(
            "getPoll",
            "A poll and its results",
            params=(_POLL_ID,),
            response=_POLL,
            errors=(404,),
        )
    },
    "/rooms/{room}/polls/{poll_id}/finish": {
        "post": _op(
            "finishPoll",
            "Finish a poll",
            params=(_POLL_ID,),
            response=_POLL,
            errors=(404, 409),
        )
    },
}
