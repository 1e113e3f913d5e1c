"""Frame decoding against the shared vectors, and the frames the server writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RateLimitedError, TokenError, request_error
from pchat.protocol.frames import (
    MAX_SAFE_INT,
    OBJECT_FIELDS,
    REQUEST_FIELDS,
    FrameError,
    decode_client_frame,
    decode_server_frame,
    error_frame,
    error_from_wire,
    push_frame,
    reply_frame,
    request_frame,
)
from pchat.protocol.wsframe import encode_text_frame

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "client_frames.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_client_frame_vectors(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(FrameError) as info:
            decode_client_frame(case["raw"])
        assert int(info.value.code) == expect["error"]
        assert info.value.request_id == expect["id"]
    else:
        request = decode_client_frame(case["raw"])
        assert (request.type, request.id, request.args) == (
            expect["type"],
            expect["id"],
            expect["args"],
        )


_SAMPLES: dict[str, Any] = {"str": "s", "uint": 0, "count": 1, "list": [], "object": {}}


def _minimal(spec: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """The required fields of ``spec`` with a valid value each."""
    out: dict[str, Any] = {}
    for name, (kind, required) in spec.items():
        if required:
            out[name] = _minimal(OBJECT_FIELDS[name]) if name in OBJECT_FIELDS else _SAMPLES[kind]
    return out


def _integer_fields() -> list[tuple[str, str | None, str, str]]:
    """(request type, enclosing object field or None, field, kind) for every integer field."""
    found = []
    for ftype, spec in REQUEST_FIELDS.items():
        for name, (kind, _required) in spec.items():
            if kind in ("uint", "count"):
                found.append((ftype, None, name, kind))
            for inner, (inner_kind, _req) in OBJECT_FIELDS.get(name, {}).items():
                if inner_kind in ("uint", "count"):
                    found.append((ftype, name, inner, inner_kind))
    return found


@pytest.mark.parametrize("where", _integer_fields(), ids=lambda w: ".".join(filter(None, w[:3])))
def test_every_integer_field_is_range_checked(where: tuple[str, str | None, str, str]) -> None:
    ftype, outer, name, kind = where
    low = 1 if kind == "count" else 0
    for value, ok in [
        (low, True),
        (MAX_SAFE_INT, True),
        (low - 1, False),
        (MAX_SAFE_INT + 1, False),
        (2**63, False),
        (2**64 - 1, False),
        (-(2**63), False),
        (10**30, False),
        (1e300, False),
    ]:
        frame: dict[str, Any] = {"type": ftype, "id": 1, **_minimal(REQUEST_FIELDS[ftype])}
        if outer is None:
            frame[name] = value
        else:
            frame[outer] = {**_minimal(OBJECT_FIELDS[outer]), name: value}
        raw = orjson.dumps(frame) if abs(value) < 2**64 else json.dumps(frame)
        if ok:
            args = decode_client_frame(raw).args
            assert (args[name] if outer is None else args[outer][name]) == value
        else:
            with pytest.raises(FrameError) as info:
                decode_client_frame(raw)
            assert info.value.code is ErrorCode.INVALID_FIELD, (where, value)
            assert info.value.request_id == 1


def test_integer_kinds_cover_every_integer_field() -> None:
    """Every field that takes an integer has a ranged kind (no unranged ``int`` is left)."""
    kinds = {
        kind
        for spec in (*REQUEST_FIELDS.values(), *OBJECT_FIELDS.values())
        for kind, _ in spec.values()
    }
    assert kinds <= {"str", "list", "object", "uint", "count", "bool"}
    assert ("history", None, "before_seq", "uint") in _integer_fields()
    assert ("connect", "recover", "seq", "uint") in _integer_fields()


def test_bool_fields_take_only_booleans_and_integers_no_booleans() -> None:
    ok = decode_client_frame(b'{"type":"ban","id":1,"user_id":"u","kick":true}')
    assert ok.args == {"user_id": "u", "kick": True}
    for raw in (
        b'{"type":"ban","id":1,"user_id":"u","kick":1}',
        b'{"type":"ban","id":1,"user_id":"u","kick":"true"}',
        b'{"type":"ban","id":1,"user_id":"u","duration":true}',
    ):
        with pytest.raises(FrameError) as info:
            decode_client_frame(raw)
        assert info.value.code is ErrorCode.INVALID_FIELD


def test_binary_frame_must_be_utf8() -> None:
    with pytest.raises(FrameError) as info:
        decode_client_frame(b'{"type":"ping","id":1,"x":"\xff"}')
    assert info.value.code is ErrorCode.INVALID_UTF8
    assert decode_client_frame(b'{"type":"ping","id":1}').type == "ping"


def test_request_frame_round_trip() -> None:
    raw = request_frame("send", 5, text="hé", cid=None)
    assert decode_client_frame(raw).args == {"text": "hé"}


def test_reply_and_error_frames() -> None:
    assert orjson.loads(reply_frame(3, {"ok": 1})) == {
        "type": "reply",
        "id": 3,
        "result": {"ok": 1},
    }
    err = request_error(ErrorCode.RATE_LIMITED, "slow", retry_after_ms=250)
    body = orjson.loads(error_frame(4, err))
    assert body == {
        "type": "error",
        "id": 4,
        "error": {
            "code": 108,
            "name": "rate_limited",
            "message": "slow",
            "temporary": True,
            "retry_after_ms": 250,
        },
    }
    again = error_from_wire(body["error"])
    assert isinstance(again, RateLimitedError) and again.retry_after_ms == 250
    assert isinstance(error_from_wire({"code": 203, "message": "x"}), TokenError)
    assert error_from_wire({"code": 99999}).code is ErrorCode.INTERNAL


def test_push_and_server_decode() -> None:
    frame = push_frame("online", {"online": 3})
    assert decode_server_frame(frame) == {"type": "online", "online": 3}
    with pytest.raises(FrameError):
        decode_server_frame(b'{"no":"type"}')


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_header(size: int) -> None:
    payload = b"x" * size
    frame = encode_text_frame(payload)
    assert frame[0] == 0x81  # FIN + text opcode
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
        assert frame[4:] == payload
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size
        assert frame[10:] == payload
