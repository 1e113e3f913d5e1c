"""The pre-send hook over a real server and a real local hook endpoint: allow, reject with a
reason, rewrite (live, in history, held for review), the time budget and the failure policy
(timeouts, 5xx, malformed answers, no endpoint at all), and the signature of each request,
checked by the endpoint itself."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import RawClient, RunningServer, free_port, start_server, t

SECRET = "hook-secret-0123456789"

Answer = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


async def allow(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "allow"})


class HookEndpoint:
    """The operator's endpoint: checks each request's signature (its own HMAC, not pchat's
    code), records what it was asked and answers with ``answer`` (default: allow).

    A request with a bad signature is answered ``401`` and recorded in ``bad``.
    """

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.calls: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bad: list[str] = []
        self.answer: Answer = allow
        #: What a stalling answer waits for (set at the end of the test).
        self.release = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/presend"

    def signed(self, body: bytes, header: str) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        if not fields.get("t", "").isdigit() or "v1" not in fields:
            return False
        stamp = int(fields["t"])
        mac = hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(mac.hexdigest(), fields["v1"]) and abs(time.time() - stamp) < 300

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        header = request.headers.get("pchat-signature", "")
        if not self.signed(body, header):
            self.bad.append(header)
            return web.Response(status=401)
        self.headers.append(dict(request.headers))
        data: dict[str, Any] = json.loads(body)
        self.calls.append(data)
        return await self.answer(data | {"request": request})

    async def stall(self, data: dict[str, Any]) -> web.StreamResponse:
        """An answer that comes only when the test ends: past any time budget."""
        await self.release.wait()
        return await allow(data)

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Where a redirecting answer points (never followed: a redirect is a failure)."""
        return await allow({})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/presend", self.handle)
        app.router.add_post("/elsewhere", self.elsewhere)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def texts(self) -> list[str]:
        return [call["text"] for call in self.calls]


@pytest.fixture
async def hook() -> AsyncIterator[HookEndpoint]:
    endpoint = HookEndpoint()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


@pytest.fixture
def hook_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The server's hook settings of a test (``parametrize(..., indirect=True)``)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
async def server(
    tmp_path: Path, hook: HookEndpoint, hook_settings: dict[str, Any]
) -> AsyncIterator[RunningServer]:
    """A server whose hook is ``hook``, a generous budget and policy ``reject`` (a failure
    nobody expected shows as an error), unless the test says otherwise."""
    settings: dict[str, Any] = {
        "presend_hook_url": hook.url,
        "presend_hook_secret": SECRET,
        "presend_hook_timeout_ms": int(t(10) * 1000),
        "presend_hook_on_failure": "reject",
    }
    srv = await start_server(tmp_path / "data", **(settings | hook_settings))
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


async def next_message(client: RawClient) -> dict[str, Any]:
    message: dict[str, Any] = (await client.push("message"))["message"]
    return message


async def history_texts(client: RawClient) -> list[str]:
    return [m["text"] for m in (await client.ok("history"))["messages"]]


def error_of(frame: dict[str, Any]) -> dict[str, Any]:
    assert frame["type"] == "error", frame
    error: dict[str, Any] = frame["error"]
    return error


# Decisions -------------------------------------------------------------------------------


async def test_the_hook_sees_each_message_signed_and_allows_it(
    raw: Any, hook: HookEndpoint
) -> None:
    bob = await raw("r1", user="bob", name="Bob")
    carol = await raw("r1", user="carol")
    first = (await bob.ok("send", text="  hello  ", cid="c-1"))["message"]
    assert first["text"] == "hello"
    assert await next_message(carol) == first
    assert hook.calls == [
        {
            "type": "presend",
            "room": "r1",
            "user": {"id": "bob", "username": "Bob", "role": "viewer"},
            "text": "hello",  # validated first
            "cid": "c-1",
            "reply_to": None,
        }
    ]
    answer = (await carol.ok("send", text="hi Bob", reply_to=first["id"]))["message"]
    assert hook.calls[1]["reply_to"] == first["id"] and hook.calls[1]["cid"] is None
    assert [await next_message(bob), await next_message(bob)] == [first, answer]
    assert hook.bad == []
    for headers in hook.headers:
        assert headers["Content-Type"] == "application/json"
        assert headers["pchat-signature"].startswith("t=")


async def test_the_staff_are_asked_about_too(raw: Any, hook: HookEndpoint) -> None:
    mod = await raw("r1", user="mia", role="moderator")
    await mod.ok("send", text="welcome")
    assert hook.calls[0]["user"]["role"] == "moderator"


async def test_a_rejection_reaches_the_sender_with_its_reason(raw: Any, hook: HookEndpoint) -> None:
    async def no_links(data: dict[str, Any]) -> web.StreamResponse:
        if "http" in data["text"]:
            return web.json_response({"action": "reject", "reason": "No links, please."})
        return await allow(data)

    hook.answer = no_links
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")
    error = error_of(await bob.request("send", text="see http://spam.example", cid="c-9"))
    assert error == {
        "code": 126,
        "name": "rejected",
        "message": "No links, please.",
        "temporary": False,
    }
    # Nothing was stored or published: the next message carol gets is the next one sent.
    later = (await bob.ok("send", text="fine, no links"))["message"]
    assert await next_message(carol) == later
    assert later["seq"] == 1
    assert await history_texts(carol) == ["fine, no links"]
    # The same cid again is asked again (nothing was stored under it).
    error = error_of(await bob.request("send", text="see http://spam.example", cid="c-9"))
    assert error["code"] == 126
    assert hook.texts().count("see http://spam.example") == 2


async def test_a_rewrite_is_what_everyone_sees(raw: Any, hook: HookEndpoint) -> None:
    async def polite(data: dict[str, Any]) -> web.StreamResponse:
        text = data["text"].replace("stupid", "@carol")
        return web.json_response({"action": "rewrite", "text": f"  {text}\u202e  "})

    hook.answer = polite
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")
    dave = await raw("r1", user="dave")
    sent = (await bob.ok("send", text="you are stupid", cid="c-1"))["message"]
    assert sent["text"] == "you are @carol"  # validated again: trimmed, the bidi control gone
    assert sent["mentions"] == ["carol"]  # read from the new text
    assert await next_message(carol) == sent
    assert await next_message(dave) == sent
    assert await history_texts(dave) == ["you are @carol"]
    # A retry with the same cid gets the stored message.
    again = await bob.ok("send", text="you are stupid", cid="c-1")
    assert again == {"message": sent, "duplicate": True}


async def test_the_hook_runs_before_a_message_is_held(raw: Any, hook: HookEndpoint) -> None:
    async def answer(data: dict[str, Any]) -> web.StreamResponse:
        if data["text"].startswith("nope"):
            return web.json_response({"action": "reject", "reason": "no"})
        return web.json_response({"action": "rewrite", "text": data["text"] + " (checked)"})

    hook.answer = answer
    mod = await raw("r1", user="mia", role="moderator")
    await mod.ok("room_mode", hold=True)
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")

    assert error_of(await bob.request("send", text="nope"))["code"] == 126
    held = (await bob.ok("send", text="hello"))["held"]
    assert held["text"] == "hello (checked)"  # the rewrite is what is held
    item = (await mod.push("review_add"))["item"]
    assert item == held  # the rejected one never reached the queue
    calls = len(hook.calls)
    approved = (await mod.ok("review_approve", message_id=held["id"]))["message"]
    assert approved["text"] == "hello (checked)"
    assert (await next_message(carol))["id"] == held["id"]
    assert len(hook.calls) == calls  # approving does not ask the hook again


async def test_a_chunked_answer_is_read(raw: Any, hook: HookEndpoint) -> None:
    async def rewrite_chunked(data: dict[str, Any]) -> web.StreamResponse:
        answer = {"action": "rewrite", "text": data["text"] + "!"}
        return await chunked(json.dumps(answer).encode(), data["request"])

    hook.answer = rewrite_chunked
    bob = await raw("r1", user="bob")
    assert (await bob.ok("send", text="hello"))["message"]["text"] == "hello!"


# The time budget and the failure policy --------------------------------------------------


@pytest.mark.parametrize(
    "hook_settings",
    [
        {"presend_hook_timeout_ms": 300, "presend_hook_on_failure": "publish"},
        {"presend_hook_timeout_ms": 300, "presend_hook_on_failure": "reject"},
    ],
    indirect=True,
    ids=["publish", "reject"],
)
async def test_a_hook_that_does_not_answer_in_time(
    raw: Any, hook: HookEndpoint, hook_settings: dict[str, Any]
) -> None:
    hook.answer = hook.stall
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")
    started = time.monotonic()
    frame = await bob.request("send", text="still here?")
    waited = time.monotonic() - started
    assert waited >= 0.3  # the budget was given in full (the hook never answers)
    assert hook.texts() == ["still here?"]
    if hook_settings["presend_hook_on_failure"] == "publish":
        assert frame["type"] == "reply"
        assert frame["result"]["message"]["text"] == "still here?"
        assert await next_message(carol) == frame["result"]["message"]
    else:
        error = error_of(frame)
        assert error["code"] == 120 and error["temporary"] is True
        assert await history_texts(carol) == []


async def server_error(data: dict[str, Any]) -> web.StreamResponse:
    return web.Response(status=503, text="overloaded")


async def not_json(data: dict[str, Any]) -> web.StreamResponse:
    return web.Response(text="<html>ok</html>", content_type="text/html")


async def unknown_action(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "block"})


async def rewrite_without_text(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "rewrite"})


async def rewrite_too_long(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "rewrite", "text": "x" * 2001})


async def rewrite_to_nothing(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "rewrite", "text": "\u200b "})


async def no_content(data: dict[str, Any]) -> web.StreamResponse:
    return web.Response(status=204)


async def redirect(data: dict[str, Any]) -> web.StreamResponse:
    return web.Response(status=307, headers={"Location": "/elsewhere"})


async def huge(data: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"action": "allow", "padding": "x" * 100_000})


async def chunked(body: bytes, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for at in range(0, len(body), 1000):
        await response.write(body[at : at + 1000])
    await response.write_eof()
    return response


async def huge_chunked(data: dict[str, Any]) -> web.StreamResponse:
    return await chunked(b'{"action":"allow","padding":"' + b"x" * 100_000 + b'"}', data["request"])


FAILURES = [
    server_error,
    not_json,
    unknown_action,
    rewrite_without_text,
    rewrite_too_long,
    rewrite_to_nothing,
    no_content,
    redirect,
    huge,
    huge_chunked,
]


@pytest.mark.parametrize("answer", FAILURES, ids=lambda f: f.__name__)
async def test_failures_under_policy_reject(raw: Any, hook: HookEndpoint, answer: Answer) -> None:
    hook.answer = answer
    bob = await raw("r1", user="bob")
    error = error_of(await bob.request("send", text="hello"))
    assert error["code"] == 120 and error["temporary"] is True
    assert hook.texts() == ["hello"]
    assert await history_texts(bob) == []


@pytest.mark.parametrize(
    "hook_settings", [{"presend_hook_on_failure": "publish"}], indirect=True, ids=["publish"]
)
@pytest.mark.parametrize("answer", FAILURES, ids=lambda f: f.__name__)
async def test_failures_under_policy_publish(raw: Any, hook: HookEndpoint, answer: Answer) -> None:
    hook.answer = answer
    bob = await raw("r1", user="bob")
    carol = await raw("r1", user="carol")
    sent = (await bob.ok("send", text="hello"))["message"]
    assert sent["text"] == "hello"  # unchanged: as if there were no hook
    assert await next_message(carol) == sent
    assert hook.texts() == ["hello"]


@pytest.mark.parametrize(
    ("hook_settings", "published"),
    [({"presend_hook_on_failure": "publish"}, True), ({}, False)],
    indirect=["hook_settings"],
    ids=["publish", "reject"],
)
async def test_no_endpoint_listening(
    tmp_path: Path, hook_settings: dict[str, Any], published: bool
) -> None:
    srv = await start_server(
        tmp_path / "data",
        presend_hook_url=f"http://127.0.0.1:{free_port()}/presend",
        presend_hook_secret=SECRET,
        presend_hook_on_failure=hook_settings.get("presend_hook_on_failure", "reject"),
    )
    assert srv.http is not None
    try:
        ws = await srv.http.ws_connect(srv.ws_url)
        bob = RawClient(ws)
        await bob.ok("connect", room="r1", username="bob", token=await srv.token("bob"))
        frame = await bob.request("send", text="anyone?")
        if published:
            assert frame["result"]["message"]["text"] == "anyone?"
        else:
            assert error_of(frame)["code"] == 120
        await bob.close()
    finally:
        await srv.stop()
        await srv.http.close()


async def test_a_server_with_another_secret_is_refused_by_the_endpoint(
    tmp_path: Path, hook: HookEndpoint
) -> None:
    """The endpoint's check can fail: signed with another secret, every request is refused
    (401), which the server takes as a failure (policy reject: 120)."""
    srv = await start_server(
        tmp_path / "data",
        presend_hook_url=hook.url,
        presend_hook_secret="not-the-shared-secret",
        presend_hook_on_failure="reject",
    )
    assert srv.http is not None
    try:
        ws = await srv.http.ws_connect(srv.ws_url)
        bob = RawClient(ws)
        await bob.ok("connect", room="r1", username="bob", token=await srv.token("bob"))
        assert error_of(await bob.request("send", text="hello"))["code"] == 120
        assert len(hook.bad) == 1 and hook.calls == []
        await bob.close()
    finally:
        await srv.stop()
        await srv.http.close()


async def test_the_operators_own_messages_skip_the_hook(
    raw: Any, hook: HookEndpoint, server: RunningServer
) -> None:
    """What the server API publishes — as the system user or as a user it names — is the
    operator's own: it is published without asking the hook, even one that rejects all."""

    async def reject_all(data: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({"action": "reject", "reason": "closed"})

    hook.answer = reject_all
    carol = await raw("r1", user="carol")
    assert server.http is not None
    auth = {"auth-api-key": server.api_key, "auth-api-secret": server.api_secret}
    url = f"{server.url}/public-chat/admin/v1/rooms/r1/messages"
    published = []
    for body in (
        {"text": "Welcome!"},
        {"text": "from elsewhere", "user": {"id": "bridge-7", "username": "Bridged"}},
    ):
        async with server.http.post(url, json=body, headers=auth) as response:
            assert response.status == 200, await response.text()
            published.append((await response.json())["message"])
    assert [m["user"]["id"] for m in published] == ["system", "bridge-7"]
    assert [await next_message(carol), await next_message(carol)] == published
    assert hook.calls == []
    assert error_of(await carol.request("send", text="and me?"))["code"] == 126
