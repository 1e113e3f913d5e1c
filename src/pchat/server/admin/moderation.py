"""Moderation: everything the protocol lets moderators and admins do, for the operator's
own tools — bans (timeouts and shadow bans too), purge, room modes (hold and the chat
delay included), the pin, the word filter (room and server scope), the review queue, the
reports, and the moderation log.

Each endpoint runs the chat core's request of the same name as the system user (an admin):
stored, logged in the room's moderation log, told to the room and the users concerned on
every node, exactly as when a moderator does it (docs/moderation.md). A change of the
server-wide word filter is logged in the room of the path, as an admin's would be in the
room they are in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from pchat.protocol.frames import check_fields

from .common import ROOM, existing_room, room_of
from .context import AdminContext
from .errors import json_response, query_values, read_body
from .spec import Schema, obj, operation, page_param, path_param, query_param, ref

__all__ = ["PATHS", "routes"]

Handler = Callable[[web.Request], Awaitable[web.Response]]


def action(
    ctx: AdminContext,
    rtype: str,
    *,
    path: tuple[str, ...] = (),
    body: bool = False,
    query: bool = False,
    existing: bool = True,
) -> Handler:
    """A handler that runs the request ``rtype`` as the system user in the path's room with
    the fields of the body or the query string and the ``path`` parameters (a path
    parameter ``message_id`` or ``user_id`` is the field of that name). ``existing``: the
    room must have been used before (404), else the call may create it."""

    async def handler(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request) if existing else room_of(request)
        fields: dict[str, Any] = {}
        if body:
            fields.update(await read_body(request))
        if query:
            fields.update(query_values(request, rtype))
        fields.update({name: request.match_info[name] for name in path})
        fields = check_fields(rtype, fields)
        return json_response(await ctx.actor.request(room_id, rtype, fields))

    return handler


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    r = "/rooms/{room}"
    return [
        web.get(f"{r}/bans", action(ctx, "bans")),
        web.post(f"{r}/bans", action(ctx, "ban", body=True, existing=False)),
        web.delete(f"{r}/bans/{{user_id}}", action(ctx, "unban", path=("user_id",))),
        web.post(f"{r}/purge", action(ctx, "purge", body=True)),
        web.patch(f"{r}/settings", action(ctx, "room_mode", body=True, existing=False)),
        web.put(f"{r}/pin", action(ctx, "pin", body=True, existing=False)),
        web.delete(f"{r}/pin", action(ctx, "unpin")),
        web.get(f"{r}/mod-log", action(ctx, "mod_log", query=True)),
        web.get(f"{r}/filters", action(ctx, "filters", query=True)),
        web.post(f"{r}/filters", action(ctx, "filter_add", body=True, existing=False)),
        web.delete(
            f"{r}/filters/{{pattern}}",
            action(ctx, "filter_remove", path=("pattern",), query=True),
        ),
        web.get(f"{r}/review", action(ctx, "review_queue", query=True)),
        web.post(
            f"{r}/review/{{message_id}}/approve",
            action(ctx, "review_approve", path=("message_id",)),
        ),
        web.post(
            f"{r}/review/{{message_id}}/reject",
            action(ctx, "review_reject", path=("message_id",), body=True),
        ),
        web.get(f"{r}/reports", action(ctx, "reports", query=True)),
        web.post(
            f"{r}/reports/{{message_id}}/resolve",
            action(ctx, "report_resolve", path=("message_id",), body=True),
        ),
    ]


_SECONDS_YEAR: Final = 366 * 24 * 3600
_REASON: Final[Schema] = {"type": "string", "maxLength": 200}
_USER_ID: Final = path_param("user_id", "The user's id (a token's `sub`)")
_MESSAGE_ID: Final = path_param("message_id", "The message's id")
_HELD_ID: Final = path_param("message_id", "The held message's id")
_SCOPE: Final[Schema] = {"type": "string", "enum": ["room", "server"], "default": "room"}
_SCOPE_PARAM: Final = query_param("scope", "`room` (default) or `server`", _SCOPE)
_FILTER_ENTRY: Final = obj(
    {"pattern": {"type": "string"}, "action": {"enum": ["block", "mask", "hold"]}}
)
_EMPTY: Final = obj({})
_NULLABLE_UINT: Final[Schema] = {"type": ["integer", "null"], "minimum": 0}


def _op(operation_id: str, summary: str, **kwargs: Any) -> Schema:
    params = (ROOM, *kwargs.pop("params", ()))
    return operation(operation_id, summary, tag="moderation", params=params, **kwargs)


PATHS: Final[dict[str, Any]] = {
    "/rooms/{room}/bans": {
        "get": _op(
            "listBans",
            "The bans in force",
            response=obj({"bans": {"type": "array", "items": ref("Ban")}}),
            errors=(404,),
        ),
        "post": _op(
            "ban",
            "Ban, time out or shadow-ban a user",
            description=(
                "`duration` (seconds) makes a timeout; without it the ban lasts until lifted. "
                "`kick` closes the user's connections (4506); `shadow` makes a shadow ban "
                "(the user writes on, seen only by themselves and the staff)."
            ),
            body=obj(
                {
                    "user_id": {"type": "string"},
                    "duration": {"type": "integer", "minimum": 1, "maximum": _SECONDS_YEAR},
                    "reason": _REASON,
                    "kick": {"type": "boolean"},
                    "shadow": {"type": "boolean"},
                },
                ("user_id",),
            ),
            example={"user_id": "u-troll", "duration": 600, "reason": "spam"},
            response=obj({"ban": ref("Ban")}),
            errors=(403,),
        ),
    },
    "/rooms/{room}/bans/{user_id}": {
        "delete": _op(
            "unban",
            "Lift a ban",
            params=(_USER_ID,),
            response=obj({"user_id": {"type": "string"}}),
            errors=(404,),
        )
    },
    "/rooms/{room}/purge": {
        "post": _op(
            "purge",
            "Delete every message of a user",
            description="All of them, or those of the last `within` seconds: one stream event.",
            body=obj(
                {
                    "user_id": {"type": "string"},
                    "within": {"type": "integer", "minimum": 1, "maximum": _SECONDS_YEAR},
                },
                ("user_id",),
            ),
            example={"user_id": "u-troll", "within": 300},
            response=obj({"seq": _NULLABLE_UINT, "count": {"type": "integer", "minimum": 0}}),
            errors=(404,),
        )
    },
    "/rooms/{room}/settings": {
        "patch": _op(
            "setRoomMode",
            "Change the room's settings",
            description="Any of the fields; the room gets `room_settings`.",
            body=obj(
                {
                    "slow_mode": {"type": "integer", "minimum": 0, "maximum": 3600},
                    "unique_chat": {"type": "boolean"},
                    "max_message_chars": {"type": "integer", "minimum": 0},
                    "mode": {"enum": ["open", "moderators_only", "reactions_only"]},
                    "hold": {"type": "boolean"},
                    "delay": {"type": "integer", "minimum": 0, "maximum": 60},
                },
                (),
            ),
            example={"slow_mode": 10, "mode": "open"},
            response=obj({"settings": ref("RoomSettings")}),
        )
    },
    "/rooms/{room}/pin": {
        "put": _op(
            "pin",
            "Pin a message or an announcement",
            description="`message_id` or `text`, not both.",
            body=obj({"message_id": {"type": "string"}, "text": {"type": "string"}}, ()),
            example={"text": "Welcome! Be kind."},
            response=obj({"pin": ref("Pin")}),
            errors=(404,),
        ),
        "delete": _op("unpin", "Unpin", response=_EMPTY, errors=(404,)),
    },
    "/rooms/{room}/mod-log": {
        "get": _op(
            "modLog",
            "The moderation log",
            description="Newest first; `before` pages back (an entry id).",
            params=(
                query_param("before", "Entries before this id", {"type": "integer", "minimum": 1}),
                page_param(100),
            ),
            response=obj(
                {
                    "entries": {"type": "array", "items": ref("ModAction")},
                    "has_more": {"type": "boolean"},
                }
            ),
            errors=(404,),
        )
    },
    "/rooms/{room}/filters": {
        "get": _op(
            "listFilters",
            "The word filter's entries",
            params=(_SCOPE_PARAM,),
            response=obj({"entries": {"type": "array", "items": _FILTER_ENTRY}}),
            errors=(404,),
        ),
        "post": _op(
            "addFilter",
            "Add a word filter entry",
            description=(
                "A word, or with `*` at its start and/or end; `action` `block` (default), "
                "`mask` or `hold`; `scope` `room` (default) or `server`."
            ),
            body=obj(
                {
                    "pattern": {"type": "string"},
                    "action": {"enum": ["block", "mask", "hold"], "default": "block"},
                    "scope": _SCOPE,
                },
                ("pattern",),
            ),
            example={"pattern": "darn*", "action": "mask"},
            response=obj({"entry": _FILTER_ENTRY, "scope": {"enum": ["room", "server"]}}),
        ),
    },
    "/rooms/{room}/filters/{pattern}": {
        "delete": _op(
            "removeFilter",
            "Remove a word filter entry",
            params=(path_param("pattern", "The entry's pattern"), _SCOPE_PARAM),
            response=_EMPTY,
            errors=(404,),
        )
    },
    "/rooms/{room}/review": {
        "get": _op(
            "reviewQueue",
            "The messages held for review or by the chat delay",
            params=(page_param(100),),
            response=obj({"items": {"type": "array", "items": ref("Held")}}),
            errors=(404,),
        )
    },
    "/rooms/{room}/review/{message_id}/approve": {
        "post": _op(
            "approveHeld",
            "Publish a held message now",
            params=(_HELD_ID,),
            response=obj({"message": ref("Message")}),
            errors=(404,),
        )
    },
    "/rooms/{room}/review/{message_id}/reject": {
        "post": _op(
            "rejectHeld",
            "Reject a held message",
            params=(_HELD_ID,),
            body=obj({"reason": _REASON}, ()),
            response=_EMPTY,
            errors=(404,),
        )
    },
    "/rooms/{room}/reports": {
        "get": _op(
            "listReports",
            "The reported messages not decided yet",
            params=(page_param(100),),
            response=obj({"reports": {"type": "array", "items": ref("Report")}}),
            errors=(404,),
        )
    },
    "/rooms/{room}/reports/{message_id}/resolve": {
        "post": _op(
            "resolveReports",
            "Decide on a reported message",
            description="`dismiss` (shown again if hidden) or `delete`.",
            params=(_MESSAGE_ID,),
            body=obj({"action": {"enum": ["dismiss", "delete"]}}),
            example={"action": "dismiss"},
            response=_EMPTY,
            errors=(404, 409),
        )
    },
}
