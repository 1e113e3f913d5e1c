"""Helpers that route modules describe their endpoints with, and the shared schemas.

Each route module has ``PATHS``: OpenAPI 3.1 path items keyed by the path below the API's
base (``/rooms/{room}``), built with :func:`operation`; the document (:mod:`.openapi`)
gathers them with :data:`SCHEMAS` and the modules' own ``SCHEMAS``. The schemas are the
protocol's wire forms (docs/protocol.md, Objects): schemathesis checks every response
against them.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "ERROR_STATUSES",
    "SCHEMAS",
    "obj",
    "operation",
    "page_param",
    "path_param",
    "query_param",
    "ref",
]

Schema = dict[str, Any]

#: The description of each error status an operation may list.
ERROR_STATUSES: Final[dict[int, str]] = {
    400: "Invalid body, query or path (`malformed_frame`, `missing_field`, `invalid_field`, "
    "`invalid_room`, …)",
    401: "Missing or wrong `auth-api-key` / `auth-api-secret` (`unauthorized`)",
    403: "Not allowed (`forbidden`, `banned`, `room_mode`)",
    404: "No such room, message, poll or entry (`not_found`)",
    409: "Conflicts with the current state (`already_deleted`, `limit_reached`, "
    "`already_voted`, `poll_not_open`, `duplicate_message`)",
    422: "The content is refused (`blocked_word`, `rejected`)",
    429: "Too many failed calls (`too_many_failures`) or too fast (`rate_limited`); see "
    "`Retry-After`",
    503: "A backend is unavailable (`unavailable`); retry later",
}

#: What every call may answer besides its own statuses.
_ALWAYS: Final = (400, 401, 429, 503)


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: dict[str, Schema], required: tuple[str, ...] | None = None, *, extra: bool = False
) -> Schema:
    """An object schema; every property required unless ``required`` names them."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }
    if not extra:
        schema["additionalProperties"] = False
    return schema


def path_param(
    name: str, description: str, schema: Schema | None = None, example: str | None = None
) -> Schema:
    param: Schema = {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string", "minLength": 1},
    }
    if example is not None:
        param["example"] = example
    return param


def query_param(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def page_param(maximum: int, default: int = 50) -> Schema:
    """The ``limit`` of a page."""
    return query_param(
        "limit",
        f"How many (1–{maximum}, default {default})",
        {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    )


def operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    response: Schema,
    status: int = 200,
    body: Schema | None = None,
    example: dict[str, Any] | None = None,
    params: tuple[Schema, ...] = (),
    errors: tuple[int, ...] = (),
    description: str | None = None,
    secured: bool = True,
) -> Schema:
    """One operation: its success ``response`` (a schema) and the error statuses it may
    answer (400, 401, 429 and 503 always) in the error shape; ``example``: a request body
    (the docs show it, schemathesis tries it first)."""
    responses: dict[str, Any] = {
        str(status): {
            "description": "OK",
            "content": {"application/json": {"schema": response}},
        }
    }
    for code in sorted({*errors, *_ALWAYS} if secured else set(errors)):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    op: Schema = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = list(params)
    if body is not None:
        media: Schema = {"schema": body}
        if example is not None:
            media["example"] = example
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    op["responses"] = responses
    if not secured:
        op["security"] = []
    return op


_INT: Final = {"type": "integer", "minimum": 0}
_MS: Final = {"type": "integer", "minimum": 0, "description": "ms since the epoch"}
_MS_OR_NULL: Final = {"type": ["integer", "null"], "minimum": 0}
_STR: Final = {"type": "string"}

#: The protocol's objects (docs/protocol.md, Objects) and the error.
SCHEMAS: Final[dict[str, Schema]] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {"type": "integer", "description": "docs/protocol.md §7"},
                    "name": _STR,
                    "message": _STR,
                    "temporary": {"type": "boolean"},
                    "retry_after_ms": {"type": "integer", "minimum": 1},
                    "until": _MS_OR_NULL,
                },
                ("name", "message"),
            )
        }
    ),
    "Role": {"type": "string", "enum": ["viewer", "moderator", "admin"]},
    "User": obj({"id": _STR, "username": _STR, "role": ref("Role")}),
    "Message": obj(
        {
            "id": _STR,
            "seq": _INT,
            "ts": _MS,
            "user": ref("User"),
            "text": _STR,
            "deleted": {"type": "boolean"},
            "cid": _STR,
            "reply_to": _STR,
            "mentions": {"type": "array", "items": _STR},
            "shadow": {"type": "boolean"},
            "hidden": {"type": "boolean"},
            "deleted_by": {"oneOf": [ref("User"), {"type": "null"}]},
            "deleted_at": _MS_OR_NULL,
        },
        ("id", "seq", "ts", "user", "text", "deleted"),
    ),
    "Poll": obj(
        {
            "id": _STR,
            "question": _STR,
            "options": {
                "type": "array",
                "items": obj({"text": _STR, "votes": _INT}),
            },
            "status": {"enum": ["scheduled", "open", "finished"]},
            "total_votes": _INT,
            "created_by": ref("User"),
            "created_at": _MS,
            "publish_at": _MS_OR_NULL,
            "published_at": _MS_OR_NULL,
            "finished_at": _MS_OR_NULL,
            "my_vote": _INT,
        },
        (
            "id",
            "question",
            "options",
            "status",
            "total_votes",
            "created_by",
            "created_at",
            "publish_at",
            "published_at",
            "finished_at",
        ),
    ),
    "Ban": obj(
        {
            "user_id": _STR,
            "by": ref("User"),
            "created_at": _MS,
            "until": _MS_OR_NULL,
            "reason": _STR,
            "shadow": {"type": "boolean"},
        }
    ),
    "RoomSettings": obj(
        {
            "slow_mode": _INT,
            "unique_chat": {"type": "boolean"},
            "max_message_chars": _INT,
            "mode": {"enum": ["open", "moderators_only", "reactions_only"]},
            "hold": {"type": "boolean"},
            "delay": _INT,
        }
    ),
    "Pin": obj(
        {
            "by": ref("User"),
            "ts": _MS,
            "message": {"oneOf": [ref("Message"), {"type": "null"}]},
            "text": {"type": ["string", "null"]},
        }
    ),
    "Held": obj(
        {
            "id": _STR,
            "ts": _MS,
            "user": ref("User"),
            "text": _STR,
            "cid": _STR,
            "reply_to": _STR,
            "mentions": {"type": "array", "items": _STR},
            "reason": {"enum": ["filter", "hold", "delay"]},
            "release_at": _MS_OR_NULL,
        },
        ("id", "ts", "user", "text", "reason", "release_at"),
    ),
    "Report": obj(
        {
            "message": ref("Message"),
            "count": _INT,
            "reasons": {"type": "array", "items": _STR},
            "last_ts": _MS,
            "hidden": {"type": "boolean"},
        }
    ),
    "ModAction": obj(
        {
            "id": _INT,
            "action": _STR,
            "by": ref("User"),
            "ts": _MS,
            "target_user_id": {"type": ["string", "null"]},
            "message_id": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
            "details": {"type": "object"},
        }
    ),
}
