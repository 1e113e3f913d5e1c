"""The opening handshake parser of the chat endpoint's fast path (RFC 6455 §4)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pchat.protocol.handshake import (
    MAX_HEAD_BYTES,
    head_end,
    parse_head,
    switching_protocols,
    upgrade_key,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example


def request(*lines: str, first: str = "GET /public-chat/ws HTTP/1.1") -> bytes:
    return ("\r\n".join([first, *lines]) + "\r\n\r\n").encode()


GOOD = (
    "Host: chat.example",
    "Upgrade: websocket",
    "Connection: keep-alive, Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Sec-WebSocket-Version: 13",
)


def test_the_rfc_example_is_accepted_with_its_accept_value() -> None:
    head = parse_head(request(*GOOD))
    assert head is not None and head.path == "/public-chat/ws"
    assert upgrade_key(head) == KEY
    answer = switching_protocols(KEY, {"X-Request-Id": "abc"})
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer  # §1.3
    assert b"X-Request-Id: abc\r\n" in answer and answer.endswith(b"\r\n\r\n")


def test_the_accept_value_is_the_hash_of_key_and_guid() -> None:
    key = base64.b64encode(bytes(range(16))).decode()
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert base64.b64encode(digest) in switching_protocols(key)


def test_path_query_and_repeated_headers() -> None:
    head = parse_head(
        request(*GOOD, "Connection: upgrade", first="GET /public-chat/ws?a=1 HTTP/1.1")
    )
    assert head is not None and head.path == "/public-chat/ws" and head.target.endswith("?a=1")
    assert head.headers["connection"] == "keep-alive, Upgrade, upgrade"
    assert upgrade_key(head) == KEY


@pytest.mark.parametrize(
    "drop, add",
    [
        ("Upgrade: websocket", "Upgrade: h2c"),
        ("Connection: keep-alive, Upgrade", "Connection: keep-alive"),
        ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
        (f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Key: c2hvcnQ="),  # 5 bytes, not 16
        (f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Key: not base64!!"),
        ("Host: chat.example", "X-Nothing: 1"),
        ("Host: chat.example", "Host: chat.example\r\nContent-Length: 5"),
    ],
)
def test_a_bad_upgrade_is_not_taken(drop: str, add: str) -> None:
    head = parse_head(request(*[add if line == drop else line for line in GOOD]))
    assert head is not None and upgrade_key(head) is None


@pytest.mark.parametrize(
    "raw",
    [
        request(*GOOD, first="GET /public-chat/ws HTTP/1.0"),
        request(*GOOD, first="GET  /public-chat/ws HTTP/1.1"),
        request(*GOOD, first="GET public-chat/ws HTTP/1.1"),
        request(*GOOD, " folded: continuation"),
        request(*GOOD, "Bad Name: x"),
        request(*GOOD, "no colon here"),
        request(*GOOD, "X-Bin: \xe9").replace(b"\xc3\xa9", b"\xe9"),
        request(*GOOD)[:-2],  # not complete
        request(*GOOD, "X-Pad: " + "a" * MAX_HEAD_BYTES),
    ],
)
def test_anything_unusual_is_left_to_the_full_server(raw: bytes) -> None:
    assert parse_head(raw) is None


def test_post_is_not_an_upgrade() -> None:
    head = parse_head(request(*GOOD, first="POST /public-chat/ws HTTP/1.1"))
    assert head is not None and upgrade_key(head) is None


def test_head_end() -> None:
    raw = request(*GOOD)
    assert head_end(raw + b"\x81\x85rest") == len(raw)
    assert head_end(raw[:-1]) == -1
