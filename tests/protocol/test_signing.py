"""The request signature shared by webhooks and the pre-send hook (protocol/signing.py)."""

from __future__ import annotations

import hashlib
import hmac

from pchat.protocol.signing import REPLAY_WINDOW_S, sign, signature_header, verify

SECRET = "whsec_test"
BODY = b'{"type":"message.posted","id":"ev1"}'


def test_the_digest_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == expected
    assert signature_header(SECRET, BODY, now=1700000000.9) == f"t=1700000000,v1={expected}"


def test_a_good_signature_verifies_within_the_window() -> None:
    header = signature_header(SECRET, BODY, now=1000)
    assert verify(SECRET, header, BODY, now=1000)
    assert verify(SECRET, header, BODY, now=1000 + REPLAY_WINDOW_S)
    assert verify(SECRET, header, BODY, now=1000 - REPLAY_WINDOW_S)


def test_a_replay_outside_the_window_is_refused() -> None:
    header = signature_header(SECRET, BODY, now=1000)
    assert not verify(SECRET, header, BODY, now=1000 + REPLAY_WINDOW_S + 1)
    assert not verify(SECRET, header, BODY, now=1000 - REPLAY_WINDOW_S - 1)


def test_a_changed_body_or_secret_or_timestamp_is_refused() -> None:
    header = signature_header(SECRET, BODY, now=1000)
    assert not verify(SECRET, header, BODY + b" ", now=1000)
    assert not verify("other", header, BODY, now=1000)
    forged = header.replace("t=1000", "t=1001")
    assert not verify(SECRET, forged, BODY, now=1000)


def test_one_matching_v1_among_several_is_enough() -> None:
    good = sign(SECRET, 1000, BODY)
    assert verify(SECRET, f"t=1000,v1={'0' * 64},v1={good}", BODY, now=1000)


def test_malformed_headers_are_refused() -> None:
    for header in ["", "t=1000", f"v1={sign(SECRET, 1000, BODY)}", "t=abc,v1=00", "garbage"]:
        assert not verify(SECRET, header, BODY, now=1000)
