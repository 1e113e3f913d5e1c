"""Rooms: the live rooms of the cluster with their numbers, and one room's state.

``GET /rooms`` lists the rooms with a connection on any node (the broker's presence), the
most crowded first, each with its online count, its message rate (messages sent in the
last minute, counted by the store) and its stream position. ``GET /rooms/{room}`` is one
room's state as a client's connect reply holds it: settings, pin, open and scheduled
polls, reaction totals, online count, epoch and last position.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from .actor import SYSTEM
from .common import ROOM, existing_room, int_query, rate_since
from .context import AdminContext
from .errors import json_response
from .spec import Schema, obj, operation, query_param, ref

__all__ = ["PATHS", "SCHEMAS", "routes"]

_LIST_MAX: Final = 1000


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    store = ctx.service.store

    async def list_rooms(request: web.Request) -> web.Response:
        limit = int_query(request, "limit", 100, 1, _LIST_MAX)
        online = await ctx.service.broker.rooms_online()
        top = sorted(online.items(), key=lambda item: (-item[1], item[0]))[:limit]
        since = rate_since()

        async def numbers(room_id: str, count: int) -> dict[str, Any]:
            info = await store.find_room(room_id)
            rate = await store.messages_since(room_id, since)
            last = 0 if info is None else info.last_seq
            return {"id": room_id, "online": count, "messages_last_minute": rate, "last_seq": last}

        rooms = await asyncio.gather(*(numbers(room_id, count) for room_id, count in top))
        return json_response({"rooms": list(rooms), "total": len(online)})

    async def get_room(request: web.Request) -> web.Response:
        room_id = await existing_room(ctx, request)
        service = ctx.service
        async with ctx.actor.room(room_id) as room:
            moderation = await service.moderation.room_state(room_id, SYSTEM)
            polls, _more = await service.polls.for_connect(room_id, SYSTEM)
            live = await service.live.room_state(room_id, SYSTEM)
            rate = await store.messages_since(room_id, rate_since())
            state = {
                "id": room_id,
                "epoch": room.epoch,
                "last_seq": room.last_seq,
                "online": live["online"],
                "messages_last_minute": rate,
                "settings": moderation["settings"],
                "pin": moderation["pin"],
                "polls": [p for p in polls if p["status"] != "finished"],
                "reactions": live["reactions"],
            }
        return json_response(state)

    return [web.get("/rooms", list_rooms), web.get("/rooms/{room}", get_room)]


_INT: Final[Schema] = {"type": "integer", "minimum": 0}

SCHEMAS: Final[dict[str, Schema]] = {
    "RoomSummary": obj(
        {
            "id": {"type": "string"},
            "online": {**_INT, "description": "Connections on every node"},
            "messages_last_minute": _INT,
            "last_seq": {**_INT, "description": "The position of the room's last event"},
        }
    ),
    "RoomState": obj(
        {
            "id": {"type": "string"},
            "epoch": {"type": "string"},
            "last_seq": _INT,
            "online": _INT,
            "messages_last_minute": _INT,
            "settings": ref("RoomSettings"),
            "pin": {"oneOf": [ref("Pin"), {"type": "null"}]},
            "polls": {
                "type": "array",
                "items": ref("Poll"),
                "description": "The open and the scheduled polls, oldest first",
            },
            "reactions": obj(
                {
                    "types": {"type": "array", "items": {"type": "string"}},
                    "stats": {"type": "object", "additionalProperties": _INT},
                }
            ),
        }
    ),
}

PATHS: Final[dict[str, Any]] = {
    "/rooms": {
        "get": operation(
            "listRooms",
            "The live rooms",
            tag="rooms",
            description=(
                "Every room with a connection on any node, the most crowded first: its "
                "online count, messages sent in the last minute and stream position."
            ),
            params=(
                query_param(
                    "limit",
                    f"How many rooms (1–{_LIST_MAX}, default 100)",
                    {"type": "integer", "minimum": 1, "maximum": _LIST_MAX, "default": 100},
                ),
            ),
            response=obj(
                {
                    "rooms": {"type": "array", "items": ref("RoomSummary")},
                    "total": {**_INT, "description": "How many rooms are live"},
                }
            ),
        )
    },
    "/rooms/{room}": {
        "get": operation(
            "getRoom",
            "One room's state",
            tag="rooms",
            params=(ROOM,),
            response=ref("RoomState"),
            errors=(404,),
        )
    },
}
