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
