"""Retention: how much of a room's history the server keeps, set per room by the operator.

``GET /rooms/{room}/retention`` shows the room's own rule (or null), the retention that
applies (the rule over the server's ``PCHAT_RETENTION_DAYS`` / ``PCHAT_RETENTION_MESSAGES``)
and where the room's kept stream starts. ``PUT`` sets the room's rule — ``days`` and
``messages``, each null (or absent) for the server's setting and 0 for "keep forever" — and
``DELETE`` removes it. A rule is the operator's, not the room's: clients never see it. The
history job (core/retention.py) applies a change at its next round, on every node.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import web

from pchat.core.retention import DAYS_MAX, MESSAGES_MAX, check_rule, effective
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error

from .common import ROOM, room_of
from .context import AdminContext
from .errors import json_response, read_body
from .spec import Schema, obj, operation, ref

__all__ = ["PATHS", "SCHEMAS", "routes"]

log = logging.getLogger(__name__)

_FIELDS: Final = frozenset({"days", "messages"})


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    store = ctx.service.store

    async def shown(room_id: str) -> dict[str, Any]:
        rule = await store.room_retention(room_id)
        info = await store.find_room(room_id)
        return {
            "room": room_id,
            "rule": None if rule is None else {"days": rule.days, "messages": rule.messages},
            "effective": effective(rule, ctx.settings).to_wire(),
            "first_seq": 1 if info is None else info.first_seq,
            "last_seq": 0 if info is None else info.last_seq,
        }

    async def show(request: web.Request) -> web.Response:
        return json_response(await shown(room_of(request)))

    async def put(request: web.Request) -> web.Response:
        room_id = room_of(request)
        body = await read_body(request)
        unknown = set(body) - _FIELDS
        if unknown:
            raise request_error(ErrorCode.INVALID_FIELD, f"unknown field {sorted(unknown)[0]!r}")
        rule = check_rule(body.get("days"), body.get("messages"))
        await store.set_room_retention(room_id, rule)
        log.info("retention of room %s set: days=%s messages=%s", room_id, rule.days, rule.messages)
        return json_response(await shown(room_id))

    async def remove(request: web.Request) -> web.Response:
        room_id = room_of(request)
        await store.set_room_retention(room_id, None)
        log.info("retention of room %s removed: the server's applies", room_id)
        return json_response(await shown(room_id))

    path = "/rooms/{room}/retention"
    return [web.get(path, show), web.put(path, put), web.delete(path, remove)]


_DAYS: Final[Schema] = {"type": "number", "minimum": 0, "maximum": DAYS_MAX}
_MESSAGES: Final[Schema] = {"type": "integer", "minimum": 0, "maximum": MESSAGES_MAX}
_RULE_DAYS: Final[Schema] = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": DAYS_MAX,
    "description": "Keep the messages of the last so many days (fractions allowed); "
    "null: the server's setting; 0: any age",
}
_RULE_MESSAGES: Final[Schema] = {
    "type": ["integer", "null"],
    "minimum": 0,
    "maximum": MESSAGES_MAX,
    "description": "Keep at most the newest so many messages; null: the server's setting; "
    "0: any number",
}

SCHEMAS: Final[dict[str, Schema]] = {
    "RetentionRule": obj({"days": _RULE_DAYS, "messages": _RULE_MESSAGES}),
    "RoomRetention": obj(
        {
            "room": {"type": "string"},
            "rule": {
                "oneOf": [ref("RetentionRule"), {"type": "null"}],
                "description": "The room's own rule; null: the server's settings apply",
            },
            "effective": {
                **obj({"days": _DAYS, "messages": _MESSAGES}),
                "description": "What applies to the room (0: no limit of that kind)",
            },
            "first_seq": {
                "type": "integer",
                "minimum": 1,
                "description": "The position of the room's first kept event: recovering "
                "from before it answers gap_too_large",
            },
            "last_seq": {"type": "integer", "minimum": 0},
        }
    ),
}

_DESCRIPTION: Final = (
    "A room keeps the messages of the last `days` days and at most the newest `messages`; "
    "the rest, and the stream events before the oldest message kept, are removed by the "
    "history job within `PCHAT_RETENTION_INTERVAL` seconds. Clients are not told the rule."
)

PATHS: Final[dict[str, Any]] = {
    "/rooms/{room}/retention": {
        "get": operation(
            "getRoomRetention",
            "A room's retention",
            tag="rooms",
            description=_DESCRIPTION,
            params=(ROOM,),
            response=ref("RoomRetention"),
        ),
        "put": operation(
            "setRoomRetention",
            "Set a room's retention",
            tag="rooms",
            description=(
                "Replaces the room's rule; a field null or absent follows the server's "
                "setting, 0 keeps forever (both null: the rule is removed). The room need not "
                "exist yet. " + _DESCRIPTION
            ),
            params=(ROOM,),
            body=obj({"days": _RULE_DAYS, "messages": _RULE_MESSAGES}, ()),
            example={"days": 30, "messages": 10000},
            response=ref("RoomRetention"),
        ),
        "delete": operation(
            "removeRoomRetention",
            "Remove a room's retention rule",
            tag="rooms",
            description="The server's settings apply to the room again.",
            params=(ROOM,),
            response=ref("RoomRetention"),
        ),
    }
}
