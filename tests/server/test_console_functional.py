"""The admin console's sessions against a real server: sign-in by password or API key (the
cookie's attributes, no secret in the browser), refusals and the per-address limit (429 with
Retry-After), the session in place of the API key on the server API, CSRF on every change,
sign-out (on another node too), expiry (idle and absolute), a changed password or a revoked
key ending sessions, and the console's chat token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pchat.core.passwords import hash_password
from pchat.storage.operators_sqlite import SQLiteOperatorStore
from tests.helpers import RawClient, RunningServer, run_sync, start_server, t

CONSOLE = "/public-chat/admin/console"
API = "/public-chat/admin/v1"
PASSWORD = "correct horse battery"


class Browser:
    """An HTTP client that keeps the console cookie as a browser would (by hand: aiohttp's
    jar ignores cookies of IP hosts), and the CSRF token the page would read."""

    def __init__(self, server: RunningServer, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.set_cookies: list[str] = []

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
        sent = dict(headers or {})
        if self.cookie is not None:
            sent["Cookie"] = f"pchat_console={self.cookie}"
        if csrf and self.csrf is not None:
            sent["x-csrf-token"] = self.csrf
        async with self.http.request(
            method, self.server.url + path, json=body, headers=sent
        ) as response:
            self.set_cookies = response.headers.getall("Set-Cookie", [])
            for raw in self.set_cookies:
                jar = SimpleCookie()
                jar.load(raw)
                if "pchat_console" in jar:
                    morsel = jar["pchat_console"]
                    self.cookie = morsel.value or None
                    if morsel["max-age"] == "0":
                        self.cookie = None
            payload = await response.json() if response.content_type == "application/json" else {}
            return response.status, payload, response

    async def sign_in(self, password: str = PASSWORD, operator: str = "admin") -> int:
        status, body, _ = await self.call(
            "POST", f"{CONSOLE}/session", {"operator": operator, "password": password}
        )
        if status == 200:
            self.csrf = body["csrf_token"]
        return status


def set_password(server: RunningServer, password: str = PASSWORD, name: str = "admin") -> None:
    run_sync(
        SQLiteOperatorStore(server.settings.keys_path).set_operator(
            name, hash_password(password), int(time.time())
        )
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def _start(path: Path, **settings: Any) -> RunningServer:
    server = await start_server(path, **settings)
    set_password(server)
    return server


async def _stop(server: RunningServer) -> None:
    await server.stop()
    assert server.http is not None
    await server.http.close()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[RunningServer]:
    server = await _start(tmp_path / "data", auth_failures_max=3, auth_failures_window=60.0)
    yield server
    await _stop(server)


async def test_sign_in_sets_a_strict_http_only_cookie(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    assert await browser.sign_in() == 200
    (raw,) = browser.set_cookies
    attributes = {part.strip().split("=")[0].lower() for part in raw.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "secure" not in attributes  # served over http
    jar = SimpleCookie()
    jar.load(raw)
    morsel = jar["pchat_console"]
    assert morsel["path"] == "/public-chat/admin"
    assert morsel["samesite"] == "Strict"
    assert int(morsel["max-age"]) == 8 * 3600
    # The page learns who it is and the CSRF token; never a secret.
    status, who, response = await browser.call("GET", f"{CONSOLE}/session")
    assert status == 200
    assert who["operator"] == "admin" and who["via"] == "password"
    assert who["csrf_token"] == browser.csrf
    assert who["idle_timeout_ms"] == 1800 * 1000
    assert response.headers["Cache-Control"] == "no-store"
    assert PASSWORD not in str(who) and console.api_secret not in str(who)


async def test_the_cookie_is_secure_over_https(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Behind a trusted proxy that says https, and always when forced."""
    proxied = await _start(tmp_path / "a", trusted_proxies=("127.0.0.1",))
    forced = await _start(tmp_path / "b", console_cookie_secure=True)
    try:
        browser = Browser(proxied, http)
        await browser.call(
            "POST",
            f"{CONSOLE}/session",
            {"password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "secure" in browser.set_cookies[0].lower()
        await browser.call("POST", f"{CONSOLE}/session", {"password": PASSWORD})
        assert "secure" not in browser.set_cookies[0].lower()
        browser = Browser(forced, http)
        assert await browser.sign_in() == 200
        assert "secure" in browser.set_cookies[0].lower()
    finally:
        await _stop(proxied)
        await _stop(forced)


async def test_wrong_sign_ins_are_refused_then_throttled_per_address(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    assert await browser.sign_in("wrong password") == 401
    assert await browser.sign_in(operator="nobody") == 401
    status, body, _ = await browser.call("POST", f"{CONSOLE}/session", {"password": "also wrong"})
    assert (status, body["error"]["name"]) == (401, "unauthorized")
    assert browser.cookie is None
    # Three failures within the window: even the right password waits.
    status, body, response = await browser.call(
        "POST", f"{CONSOLE}/session", {"password": PASSWORD}
    )
    assert (status, body["error"]["name"]) == (429, "too_many_failures")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert browser.cookie is None


async def test_bad_bodies_are_refused(console: RunningServer, http: aiohttp.ClientSession) -> None:
    browser = Browser(console, http)
    for body in (
        None,
        [],
        {},
        {"password": 5},
        {"password": ""},
        {"password": PASSWORD, "operator": "no spaces"},
        {"password": PASSWORD, "api_key": "pk_x", "api_secret": "sk_x"},
        {"api_key": "pk_x"},
    ):
        status, reply, _ = await browser.call("POST", f"{CONSOLE}/session", body)
        assert status == 400, body
        assert reply["error"]["name"] in ("malformed_body", "invalid_field")


async def test_an_api_key_is_exchanged_once_and_its_revocation_ends_the_session(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    status, who, _ = await browser.call(
        "POST",
        f"{CONSOLE}/session",
        {"api_key": console.api_key, "api_secret": console.api_secret},
    )
    assert status == 200
    assert (who["operator"], who["via"]) == (console.api_key, "api_key")
    browser.csrf = who["csrf_token"]
    assert console.api_secret not in browser.cookie  # type: ignore[operator]
    # The session manages keys through the API; revoking its own key ends it.
    status, created, _ = await browser.call("POST", f"{API}/keys")
    assert status == 201 and created["api_key"] != console.api_key
    status, _, _ = await browser.call("POST", f"{API}/keys/{console.api_key}/revoke")
    assert status == 200
    status, body, _ = await browser.call("GET", f"{API}/rooms")
    assert (status, body["error"]["name"]) == (401, "session_expired")
    assert browser.cookie is None  # cleared
    status, body, _ = await browser.call(
        "POST", f"{CONSOLE}/session", {"api_key": console.api_key, "api_secret": "sk_wrong"}
    )
    assert status == 401


async def test_the_session_stands_in_for_the_api_key_and_changes_need_csrf(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    status, body, _ = await browser.call("GET", f"{API}/rooms")
    assert (status, body["error"]["name"]) == (401, "unauthorized")  # no cookie, no key
    assert await browser.sign_in() == 200
    status, body, _ = await browser.call("GET", f"{API}/rooms")
    assert status == 200 and body["total"] == 0
    # A change without the token, or with another, is refused and changes nothing.
    for headers in ({}, {"x-csrf-token": "not-it"}):
        status, body, _ = await browser.call("POST", f"{API}/keys", csrf=False, headers=headers)
        assert (status, body["error"]["name"]) == (403, "csrf_failed")
    status, listed, _ = await browser.call("GET", f"{API}/keys")
    assert len(listed["api_keys"]) == 1
    status, created, _ = await browser.call("POST", f"{API}/keys")
    assert status == 201 and created["api_secret"].startswith("sk_")
    status, posted, _ = await browser.call(
        "POST", f"{API}/rooms/lobby/messages", {"text": "from the console"}
    )
    assert status == 200, posted
    # The API key headers decide when present (no CSRF for them), the cookie aside.
    keyed = {"auth-api-key": console.api_key, "auth-api-secret": console.api_secret}
    status, _, _ = await browser.call("POST", f"{API}/keys", csrf=False, headers=keyed)
    assert status == 201
    keyed["auth-api-secret"] = "sk_wrong"
    status, _, _ = await browser.call("GET", f"{API}/rooms", headers=keyed)
    assert status == 401


async def test_a_tampered_cookie_is_no_session(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    assert await browser.sign_in() == 200
    assert browser.cookie is not None
    head, payload, mac = browser.cookie.rsplit(".", 2)
    browser.cookie = f"{head}.{payload[:-2]}AA.{mac}"
    status, body, _ = await browser.call("GET", f"{CONSOLE}/session")
    assert (status, body["error"]["name"]) == (401, "session_expired")
    browser.cookie = None
    status, body, _ = await browser.call("GET", f"{CONSOLE}/session")
    assert (status, body["error"]["name"]) == (401, "no_session")


async def test_sign_out_needs_csrf_and_ends_the_session_on_every_node(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Two servers on one data directory (one store, one keys file), no broker between
    them: a session of one works on the other, and its sign-out reaches the other through
    the store."""
    one = await _start(tmp_path / "data")
    two = await start_server(tmp_path / "data")
    try:
        browser = Browser(one, http)
        assert await browser.sign_in() == 200
        elsewhere = Browser(two, http)
        elsewhere.cookie, elsewhere.csrf = browser.cookie, browser.csrf
        status, _, _ = await elsewhere.call("GET", f"{API}/rooms")
        assert status == 200
        status, body, _ = await browser.call("DELETE", f"{CONSOLE}/session", csrf=False)
        assert (status, body["error"]["name"]) == (403, "csrf_failed")
        status, body, _ = await browser.call("DELETE", f"{CONSOLE}/session")
        assert status == 200 and body == {"signed_out": True}
        assert browser.cookie is None
        status, _, _ = await elsewhere.call("GET", f"{CONSOLE}/session")  # the old cookie
        async with asyncio.timeout(t(10)):
            while status != 401:
                await asyncio.sleep(0.1)
                status, _, _ = await elsewhere.call("GET", f"{API}/rooms")
        browser.cookie = elsewhere.cookie = None
        # Signing in again works at once.
        assert await browser.sign_in() == 200
        status, _, _ = await browser.call("GET", f"{API}/rooms")
        assert status == 200
    finally:
        await _stop(two)
        await _stop(one)


async def test_an_unused_session_expires(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = await _start(tmp_path / "data", console_session_idle=1.0)
    try:
        browser = Browser(server, http)
        assert await browser.sign_in() == 200
        status, who, _ = await browser.call("GET", f"{CONSOLE}/session")
        assert status == 200 and who["idle_timeout_ms"] == 1000
        await asyncio.sleep(1.3)
        status, body, _ = await browser.call("GET", f"{API}/rooms")
        assert (status, body["error"]["name"]) == (401, "session_expired")
        assert "unused" in body["error"]["message"]
    finally:
        await _stop(server)


async def test_use_extends_a_session_until_its_absolute_end(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server = await _start(tmp_path / "data", console_session_idle=60.0, console_session_max=2.0)
    try:
        browser = Browser(server, http)
        assert await browser.sign_in() == 200
        first = browser.cookie
        await asyncio.sleep(0.1)
        # Used later than a tenth of the idle time (6 s)? Not yet: the cookie stays.
        status, _, _ = await browser.call("GET", f"{CONSOLE}/session")
        assert status == 200 and browser.cookie == first and not browser.set_cookies
        await asyncio.sleep(2.2)
        status, body, _ = await browser.call("GET", f"{CONSOLE}/session")
        assert (status, body["error"]["name"]) == (401, "session_expired")
    finally:
        await _stop(server)


async def test_use_seals_a_fresh_cookie(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = await _start(tmp_path / "data", console_session_idle=2.0)
    try:
        browser = Browser(server, http)
        assert await browser.sign_in() == 200
        first = browser.cookie
        await asyncio.sleep(0.3)  # past a tenth of the idle time
        status, who, _ = await browser.call("GET", f"{API}/rooms")
        assert status == 200
        assert browser.cookie is not None and browser.cookie != first
        status, who, _ = await browser.call("GET", f"{CONSOLE}/session")
        assert who["ends_at"] > who["issued_at"] + 2000
        # The page's own refreshes are no use: they leave the cookie as it is.
        await asyncio.sleep(0.3)
        status, _, _ = await browser.call(
            "GET", f"{API}/rooms", headers={"x-console-background": "1"}
        )
        assert status == 200 and not browser.set_cookies
        status, _, _ = await browser.call(
            "POST", f"{CONSOLE}/chat-token", headers={"x-console-background": "1"}
        )
        assert status == 200 and not browser.set_cookies
    finally:
        await _stop(server)


async def test_a_new_password_ends_the_sessions_of_the_old_one(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    assert await browser.sign_in() == 200
    set_password(console, "a whole new password")
    async with asyncio.timeout(t(10)):
        while True:
            status, body, _ = await browser.call("GET", f"{API}/rooms")
            if status == 401:
                break
            await asyncio.sleep(0.2)
    assert body["error"]["name"] == "session_expired"
    assert await browser.sign_in("a whole new password") == 200


async def test_the_chat_token_joins_a_room_as_admin(
    console: RunningServer, http: aiohttp.ClientSession
) -> None:
    browser = Browser(console, http)
    status, _, _ = await browser.call("POST", f"{CONSOLE}/chat-token")
    assert status == 401
    assert await browser.sign_in() == 200
    status, body, _ = await browser.call("POST", f"{CONSOLE}/chat-token", csrf=False)
    assert (status, body["error"]["name"]) == (403, "csrf_failed")
    status, body, _ = await browser.call("POST", f"{CONSOLE}/chat-token")
    assert status == 200
    assert body["user"] == {"id": "console:admin", "username": "admin", "role": "admin"}
    assert body["expires_in"] == 300
    client = RawClient(await http.ws_connect(console.ws_url))
    try:
        reply = await client.ok(
            "connect", room="lobby", username="admin", token=body["token"], role="admin"
        )
        assert reply["user"]["role"] == "admin"
    finally:
        await client.close()
