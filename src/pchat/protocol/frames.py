"""Frames: JSON text frames, decoded into :class:`Request` and encoded from plain objects.

Every client frame is a JSON object with ``type`` and, for requests that expect a reply, an
integer ``id`` that the reply echoes. The structure of each request type is data
(:data:`REQUEST_FIELDS`, :data:`OBJECT_FIELDS`); what the values mean is checked by the chat
core with :mod:`pchat.protocol.validation`.

Integers are checked here, at the edge, so that no number reaches the chat core or a store
out of range: every integer of a client frame (``id`` and every integer field) is between
its kind's minimum (0 or 1) and :data:`MAX_SAFE_INT`, 2^53 - 1, the largest integer every
JSON implementation (JavaScript's numbers included) holds exactly, and far inside a 64-bit
database column. Anything else is ``invalid_field`` (104).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .codes import ErrorCode
from .errors import RequestError, request_error

__all__ = [
    "MAX_SAFE_INT",
    "OBJECT_FIELDS",
    "PUSH_TYPES",
    "RECOVERABLE_PUSHES",
    "REQUEST_FIELDS",
    "FrameError",
    "Request",
    "check_fields",
    "decode_client_frame",
    "decode_server_frame",
    "dumps",
    "error_frame",
    "error_from_wire",
    "push_frame",
    "reply_frame",
    "request_frame",
]

#: The largest integer a client frame may carry: 2^53 - 1 (JavaScript's
#: ``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INT: Final = 2**53 - 1

# Field kinds: the JSON types a field may have. ``bool`` is excluded from ``int`` on purpose.
_KINDS: Final[dict[str, tuple[type, ...]]] = {
    "str": (str,),
    "uint": (int,),
    "count": (int,),
    "list": (list,),
    "object": (dict,),
    "bool": (bool,),
}
# The smallest value of each integer kind; the largest is MAX_SAFE_INT for all.
_INT_MINIMUM: Final[dict[str, int]] = {"uint": 0, "count": 1}
# Described in error messages.
_KIND_NAMES: Final[dict[str, str]] = {
    "str": "a string",
    "uint": f"an integer 0-{MAX_SAFE_INT}",
    "count": f"an integer 1-{MAX_SAFE_INT}",
    "list": "a list",
    "object": "an object",
    "bool": "true or false",
}

#: The fields of the object-valued request fields: field name -> (kind, required).
OBJECT_FIELDS: Final[dict[str, dict[str, tuple[str, bool]]]] = {
    "recover": {"epoch": ("str", True), "seq": ("uint", True)},
}

#: For each request type: field name -> (kind, required). Kinds: ``str``, ``list``,
#: ``object`` (its fields in :data:`OBJECT_FIELDS`), ``bool``, ``uint`` (an integer
#: 0–:data:`MAX_SAFE_INT`) and ``count`` (1–:data:`MAX_SAFE_INT`).
REQUEST_FIELDS: Final[dict[str, dict[str, tuple[str, bool]]]] = {
    "connect": {
        "room": ("str", True),
        "username": ("str", True),
        "token": ("str", True),
        "role": ("str", False),
        "recover": ("object", False),
        # The client takes a sampled stream (the ``sampled`` push, jumps in ``seq``).
        "sampling": ("bool", False),
    },
    "send": {"text": ("str", True), "cid": ("str", False), "reply_to": ("str", False)},
    "history": {
        "before_seq": ("uint", False),
        "before_ts": ("uint", False),
        "limit": ("count", False),
    },
    "delete": {"message_id": ("str", True)},
    "react": {"reaction": ("str", True)},
    "reactions_stats": {},
    "poll_create": {
        "question": ("str", True),
        "options": ("list", True),
        "publish_at": ("uint", False),
    },
    "poll_vote": {"poll_id": ("str", True), "option": ("uint", True)},
    "poll_finish": {"poll_id": ("str", True)},
    "polls": {"before": ("str", False), "limit": ("count", False)},
    "refresh": {"token": ("str", True)},
    "ping": {},
    # Moderation (docs/moderation.md).
    "ban": {
        "user_id": ("str", True),
        "duration": ("count", False),
        "reason": ("str", False),
        "kick": ("bool", False),
        "shadow": ("bool", False),
    },
    "unban": {"user_id": ("str", True)},
    "bans": {},
    "room_mode": {
        "slow_mode": ("uint", False),
        "unique_chat": ("bool", False),
        "max_message_chars": ("uint", False),
        "mode": ("str", False),
        "hold": ("bool", False),
        "delay": ("uint", False),
    },
    "pin": {"message_id": ("str", False), "text": ("str", False)},
    "unpin": {},
    "mod_log": {"before": ("count", False), "limit": ("count", False)},
    "purge": {"user_id": ("str", True), "within": ("count", False)},
    "filter_add": {"pattern": ("str", True), "action": ("str", False), "scope": ("str", False)},
    "filter_remove": {"pattern": ("str", True), "scope": ("str", False)},
    "filters": {"scope": ("str", False)},
    "review_queue": {"limit": ("count", False)},
    "review_approve": {"message_id": ("str", True)},
    "review_reject": {"message_id": ("str", True), "reason": ("str", False)},
    "mute": {"user_id": ("str", True)},
    "unmute": {"user_id": ("str", True)},
    "mutes": {},
    "report": {"message_id": ("str", True), "reason": ("str", False)},
    "reports": {"limit": ("count", False)},
    "report_resolve": {"message_id": ("str", True), "action": ("str", True)},
}

#: Server pushes. Those with a ``seq`` are part of the room's stream and are recoverable.
PUSH_TYPES: Final = frozenset(
    {
        "message",
        "message_delete",
        "message_purge",
        "message_hide",
        "message_restore",
        "report_add",
        "report_remove",
        "review_add",
        "review_remove",
        "message_rejected",
        "skip",
        "muted",
        "unmuted",
        "reaction",
        "reactions_stats",
        "poll",
        "online",
        "room_settings",
        "pin",
        "banned",
        "unbanned",
        "sampled",
    }
)
RECOVERABLE_PUSHES: Final = frozenset(
    {"message", "message_delete", "message_purge", "message_hide", "message_restore"}
)


class FrameError(RequestError):
    """A client frame that could not be decoded; ``request_id`` is set when it was readable."""

    def __init__(self, code: ErrorCode, message: str, request_id: int | None = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded client frame."""

    type: str
    id: int | None
    args: dict[str, Any] = field(default_factory=dict)


def dumps(obj: Any) -> bytes:
    """Encode one frame (UTF-8 JSON bytes)."""
    return orjson.dumps(obj)


def _loads_object(data: str | bytes) -> dict[str, Any]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(ErrorCode.INVALID_UTF8, "frame is not valid UTF-8") from None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.MALFORMED_FRAME, "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise FrameError(ErrorCode.MALFORMED_FRAME, "frame must be a JSON object")
    return obj


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAFE_INT


def decode_client_frame(data: str | bytes) -> Request:
    """Decode and structurally check one client frame; raise :class:`FrameError` if bad."""
    obj = _loads_object(data)
    raw_id = obj.get("id")
    request_id = raw_id if _is_uint(raw_id) else None
    if raw_id is not None and request_id is None:
        raise FrameError(ErrorCode.INVALID_FIELD, f"id must be {_KIND_NAMES['uint']}")
    ftype = obj.get("type")
    if not isinstance(ftype, str):
        raise FrameError(ErrorCode.MISSING_FIELD, "frame has no type", request_id)
    spec = REQUEST_FIELDS.get(ftype)
    if spec is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {ftype[:32]!r}", request_id)
    if request_id is None:
        raise FrameError(ErrorCode.MISSING_FIELD, "request has no id")
    return Request(ftype, request_id, _fields(obj, spec, ftype, "", request_id))


def check_fields(ftype: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``ftype`` request found in ``obj``, checked as a client frame's are
    (:data:`REQUEST_FIELDS`; unknown ones dropped): for requests that arrive by other means
    than a frame (the server API), so that they are refused with the same codes."""
    return _fields(obj, REQUEST_FIELDS[ftype], ftype, "", 0)


def _fields(
    obj: dict[str, Any],
    spec: dict[str, tuple[str, bool]],
    ftype: str,
    prefix: str,
    request_id: int,
) -> dict[str, Any]:
    """The fields of ``spec`` found in ``obj``, each checked; unknown fields are dropped."""
    args: dict[str, Any] = {}
    for name, (kind, required) in spec.items():
        value = obj.get(name)
        if value is None:
            if required:
                raise FrameError(
                    ErrorCode.MISSING_FIELD, f"{ftype} needs {prefix}{name}", request_id
                )
            continue
        ok = isinstance(value, _KINDS[kind]) and (kind == "bool") == isinstance(value, bool)
        if ok and kind in _INT_MINIMUM:
            ok = _INT_MINIMUM[kind] <= value <= MAX_SAFE_INT
        if not ok:
            raise FrameError(
                ErrorCode.INVALID_FIELD, f"{prefix}{name} must be {_KIND_NAMES[kind]}", request_id
            )
        if kind == "object" and name in OBJECT_FIELDS:
            value = _fields(value, OBJECT_FIELDS[name], ftype, f"{name}.", request_id)
        args[name] = value
    return args


def request_frame(ftype: str, request_id: int, **args: Any) -> bytes:
    """A client frame (used by the Python SDK)."""
    return dumps(
        {"type": ftype, "id": request_id, **{k: v for k, v in args.items() if v is not None}}
    )


def reply_frame(request_id: int, result: dict[str, Any]) -> bytes:
    """A successful reply to request ``request_id``."""
    return dumps({"type": "reply", "id": request_id, "result": result})


def error_frame(request_id: int | None, error: RequestError) -> bytes:
    """An error reply; ``request_id`` is None when the frame's id could not be read."""
    return dumps({"type": "error", "id": request_id, "error": error.to_wire()})


def push_frame(ptype: str, body: dict[str, Any]) -> bytes:
    """A server push of type ``ptype`` with the fields of ``body``."""
    return dumps({"type": ptype, **body})


def decode_server_frame(data: str | bytes) -> dict[str, Any]:
    """Decode one server frame (SDK side); raise :class:`FrameError` if it is not an object."""
    obj = _loads_object(data)
    if not isinstance(obj.get("type"), str):
        raise FrameError(ErrorCode.MALFORMED_FRAME, "server frame has no type")
    return obj


def error_from_wire(body: dict[str, Any]) -> RequestError:
    """The exception for the ``error`` object of an error frame."""
    return request_error(
        int(body.get("code", ErrorCode.INTERNAL)),
        str(body.get("message", "")),
        retry_after_ms=body.get("retry_after_ms"),
        until=body.get("until"),
    )
