"""The caller's address behind trusted proxies."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from pchat.server.http import client_address


def request(remote: str, forwarded: str | None = None) -> object:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    req = make_mocked_request("GET", "/public-chat/token/", headers=headers)
    req._transport_peername = (remote, 1234)  # type: ignore[attr-defined]
    return req


def test_direct_callers_are_themselves() -> None:
    req = request("203.0.113.9", "1.2.3.4")  # a header from an untrusted caller is ignored
    assert client_address(req, frozenset({"10.0.0.1"})) == "203.0.113.9"  # type: ignore[arg-type]


def test_behind_trusted_proxies_the_nearest_untrusted_hop() -> None:
    trusted = frozenset({"10.0.0.1", "10.0.0.2"})
    req = request("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2")
    assert client_address(req, trusted) == "198.51.100.7"  # type: ignore[arg-type]
    assert client_address(request("10.0.0.1"), trusted) == "10.0.0.1"  # type: ignore[arg-type]
