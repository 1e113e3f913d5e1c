"""Hostile input over a real connection (issue #8, findings 6, 9 and 10's ``publish_at``).

Each case is sent to a real server on port 0 as an attacker would send it; each must get its
documented code, never ``internal`` (100) or close ``4004``, and the connection must stay
usable afterwards (unless the code is a terminal one, which closes with its own code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from pchat.protocol.codes import CloseCode
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.helpers import RawClient, RunningServer, run_sync

BIG = 2**63  # past a signed 64-bit integer: what reached the store before
HUGE = 2**64  # orjson reads this one as a float


@pytest.fixture(autouse=True)
def _no_error_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No hostile input may reach the ``internal`` path (an error and a traceback logged)."""
    with caplog.at_level(logging.ERROR):
        yield
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


async def _request(c: RawClient, ftype: str, **args: Any) -> dict[str, Any]:
    """Send a request written by the standard json module, which writes integers of any size
    in full (orjson refuses those past 64 bits); return its reply or error frame."""
    data = json.dumps({"type": ftype, "id": 1000, **args})
    await c.send_raw(data)
    return await c.reply_to_raw(data)


async def _still_usable(c: RawClient) -> None:
    assert "ts" in await c.ok("ping")
    assert c.close_code is None


# Finding 6: integers past 64 bits, and past what JSON numbers hold exactly.


@pytest.mark.parametrize(
    "args",
    [
        {"before_seq": BIG},
        {"before_seq": 2**53},
        {"before_seq": -1},
        {"before_ts": BIG},
        {"before_ts": HUGE},
        {"before_ts": -(2**63) - 1},
        {"limit": BIG},
        {"limit": 0},
    ],
    ids=str,
)
async def test_history_integers_out_of_range_are_invalid_fields(
    raw: Any, args: dict[str, Any]
) -> None:
    c = await raw("h6", user="alice")
    frame = await _request(c, "history", **args)
    assert frame["type"] == "error" and frame["error"]["code"] == 104, frame
    await _still_usable(c)


async def test_largest_safe_integers_are_accepted(raw: Any) -> None:
    c = await raw("h6b", user="alice")
    await c.ok("send", text="one")
    page = await c.ok("history", before_seq=2**53 - 1, before_ts=2**53 - 1)
    assert [m["text"] for m in page["messages"]] == ["one"]


async def test_poll_integers_out_of_range(raw: Any) -> None:
    mod = await raw("p6", user="mia", role="moderator")
    for publish_at in (BIG, HUGE, 2**53, -1):
        frame = await _request(
            mod, "poll_create", question="Q?", options=["a", "b"], publish_at=publish_at
        )
        assert frame["type"] == "error" and frame["error"]["code"] == 104, (publish_at, frame)
    poll = (await mod.ok("poll_create", question="Q?", options=["a", "b"]))["poll"]
    for option in (BIG, HUGE, -1):
        frame = await _request(mod, "poll_vote", poll_id=poll["id"], option=option)
        assert frame["error"]["code"] == 104, (option, frame)
    await _still_usable(mod)


async def test_request_id_out_of_range(raw: Any) -> None:
    c = await raw("i6", user="alice")
    await c.send_raw(orjson.dumps({"type": "ping", "id": BIG}))
    frame = await c.error_without_id()
    assert frame["error"]["code"] == 104 and frame["id"] is None
    await _still_usable(c)


@pytest.mark.parametrize("seq", [BIG, -1, 2**53, "4"])
async def test_recover_seq_out_of_range_is_refused_before_joining(
    server: RunningServer, raw: Any, seq: Any
) -> None:
    c = await raw(None)
    token = await server.token("alice")
    frame = await c.request(
        "connect", room="r6", username="alice", token=token, recover={"epoch": "e", "seq": seq}
    )
    assert frame["type"] == "error" and frame["error"]["code"] == 104, frame
    await _still_usable(c)  # a frame error: the connection may still connect
    assert (await c.ok("connect", room="r6", username="alice", token=token))["user"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(server: RunningServer, **claims: str) -> str:
    """A token signed with the server's own key; each of ``claims`` is raw JSON text, written
    as an attacker may (integers of any length, ``Infinity``, ``NaN``)."""
    keys = run_sync(SQLiteKeyStore(server.settings.keys_path).signing_keys())
    key = max(keys, key=lambda k: k.created_at)
    fields = {"sub": '"eve"', "iss": json.dumps(server.settings.token_issuer)}
    fields["iat"] = str(int(time.time()))
    fields.update(claims)
    body = "{" + ",".join(f'"{name}":{text}' for name, text in fields.items()) + "}"
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256", "kid": key.kid}).encode())
    payload = _b64(body.encode())
    signature = hmac.new(key.secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


LATER = str(int(time.time()) + 3600)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": "1" + "0" * 400}, id="exp-400-digits"),
        pytest.param({"exp": "1" + "0" * 5000}, id="exp-5000-digits"),
        pytest.param({"exp": str(BIG)}, id="exp-2^63"),
        pytest.param({"exp": "1e300"}, id="exp-1e300"),
        pytest.param({"exp": "1e400"}, id="exp-1e400"),
        pytest.param({"exp": "Infinity"}, id="exp-inf"),
        pytest.param({"exp": "NaN"}, id="exp-nan"),
        pytest.param({"exp": "-" + "9" * 400}, id="exp-minus-400-digits"),
        pytest.param({"exp": LATER, "nbf": "-" + "1" * 400}, id="nbf-minus-400-digits"),
        pytest.param({"exp": LATER, "iat": "1" * 400}, id="iat-400-digits"),
    ],
)
async def test_token_with_out_of_range_time_claims_is_a_bad_claim(
    server: RunningServer, raw: Any, claims: dict[str, str]
) -> None:
    c = await raw(None)
    frame = await c.request("connect", room="t6", username="eve", token=_forge(server, **claims))
    assert frame["type"] == "error" and frame["error"]["code"] == 208, frame
    assert await c.closed() == CloseCode.BAD_TOKEN


async def test_forged_token_with_sane_claims_connects(server: RunningServer, raw: Any) -> None:
    """The forging helper itself is right: the same token with a normal exp is accepted."""
    c = await raw(None)
    token = _forge(server, exp=LATER)
    assert (await c.ok("connect", room="t6", username="eve", token=token))["user"]["id"] == "eve"


async def test_token_refresh_with_huge_exp(server: RunningServer, raw: Any) -> None:
    c = await raw("t6r", user="eve")
    frame = await c.request("refresh", token=_forge(server, exp="1" + "0" * 400))
    assert frame["type"] == "error" and frame["error"]["code"] == 208, frame


# Finding 10: publish_at is bounded on the server.


async def test_publish_at_far_future_is_refused_and_the_past_means_now(raw: Any) -> None:
    mod = await raw("p10", user="mia", role="moderator")
    viewer = await raw("p10", user="bob")
    now = int(time.time() * 1000)
    day = 24 * 3600 * 1000
    far = await mod.request(
        "poll_create", question="Q?", options=["a", "b"], publish_at=now + 31 * day
    )
    assert far["type"] == "error" and far["error"]["code"] == 104, far
    ok = await mod.ok("poll_create", question="Q?", options=["a", "b"], publish_at=now + 29 * day)
    assert ok["poll"]["status"] == "scheduled"
    past = await mod.ok("poll_create", question="P?", options=["a", "b"], publish_at=1)
    assert past["poll"]["status"] == "open"
    assert (await viewer.push("poll"))["poll"]["id"] == past["poll"]["id"]
    await _still_usable(mod)


# Finding 9: content that hides or impersonates.


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200f", "\ufeff", "\u200b\u200b \ufeff\n\u2060", "\u3164", "\u2800", "\u202e"],
    ids=ascii,
)
async def test_invisible_only_messages_are_empty(raw: Any, text: str) -> None:
    c = await raw("m9", user="alice")
    frame = await c.request("send", text=text)
    assert frame["type"] == "error" and frame["error"]["code"] == 110, frame
    await _still_usable(c)


async def test_bidi_controls_are_stripped_from_messages_and_polls(raw: Any) -> None:
    mod = await raw("b9", user="mia", role="moderator")
    other = await raw("b9", user="bob")
    sent = (await mod.ok("send", text="price: \u202e0.99\u202c\u2066x\u2069 \u200eok\u061c"))[
        "message"
    ]
    assert sent["text"] == "price: 0.99x ok"
    assert (await other.push("message"))["message"]["text"] == "price: 0.99x ok"
    poll = (
        await mod.ok("poll_create", question="\u202eWho?", options=["\u202ea\u202c", "b\u2067"])
    )["poll"]
    assert poll["question"] == "Who?" and [o["text"] for o in poll["options"]] == ["a", "b"]


@pytest.mark.parametrize(
    "options",
    [["yes", "ye\u200bs"], ["yes", "YES\ufeff"], ["ｙｅｓ", "yes"], ["yes", "\u202eyes"]],
    ids=ascii,
)
async def test_poll_options_are_compared_after_normalisation(raw: Any, options: list[str]) -> None:
    mod = await raw("o9", user="mia", role="moderator")
    frame = await mod.request("poll_create", question="Q?", options=options)
    assert frame["type"] == "error" and frame["error"]["code"] == 104, frame
    await _still_usable(mod)


@pytest.mark.parametrize(
    "name",
    [
        "\u3164",
        "\u2800",
        "\u0301",
        "\u0301Ann",
        "\u115f\u1160",
        "\uffa0",
        "\u0410dmin",
        "Ann\u3164",
    ],
    ids=ascii,
)
async def test_blank_and_look_alike_usernames_are_refused(
    server: RunningServer, raw: Any, name: str
) -> None:
    c = await raw(None)
    token = await server.token("alice")
    frame = await c.request("connect", room="u9", username=name, token=token)
    assert frame["type"] == "error" and frame["error"]["code"] == 116, frame
    assert await c.closed() == CloseCode.BAD_CONNECT


@pytest.mark.parametrize(
    "name", ["José Müller", "Дмитрий", "田中さんABC", "김민준", "Ann 🎉", "O'Brien", "محمد"]
)
async def test_ordinary_usernames_in_many_scripts_connect(raw: Any, name: str) -> None:
    c = await raw("u9ok", user="alice", name=name)
    assert c.connected["user"]["username"] == name
