"""The caller's address behind trusted proxies; what a client's connections count under."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from pchat.server.edge import ConnectionSlots, TrustedProxies, address_group
from pchat.server.http import client_address


def request(remote: str, forwarded: str | None = None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    req = make_mocked_request("GET", "/public-chat/token/", headers=headers)
    req._transport_peername = (remote, 1234)  # type: ignore[attr-defined]
    return req


def test_direct_callers_are_themselves() -> None:
    req = request("203.0.113.9", "1.2.3.4")  # a header from an untrusted caller is ignored
    assert client_address(req, TrustedProxies(["10.0.0.1"])) == "203.0.113.9"


def test_behind_trusted_proxies_the_nearest_untrusted_hop() -> None:
    trusted = TrustedProxies(["10.0.0.1", "10.0.0.2"])
    req = request("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2")
    assert client_address(req, trusted) == "198.51.100.7"
    assert client_address(request("10.0.0.1"), trusted) == "10.0.0.1"


def test_trusted_networks() -> None:
    trusted = TrustedProxies(["10.1.0.0/16", "fd00::/8", " 192.0.2.7 "])
    assert "10.1.255.3" in trusted and "10.2.0.1" not in trusted
    assert "192.0.2.7" in trusted and "192.0.2.8" not in trusted
    assert "fd12::1" in trusted and "fe80::1" not in trusted
    assert "::ffff:10.1.0.9" in trusted  # IPv4 on a dual-stack socket
    assert "" not in trusted and "nginx" not in trusted and "10.1.0.1:80" not in trusted
    req = request("10.1.4.4", "198.51.100.7, 10.1.9.9")
    assert client_address(req, trusted) == "198.51.100.7"
    assert not TrustedProxies() and "10.1.0.1" not in TrustedProxies()


def test_trusted_proxies_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="nginx"):
        TrustedProxies(["nginx"])


def test_address_groups() -> None:
    assert address_group("203.0.113.9") == "203.0.113.9"
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2::ffff")
    assert address_group("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")
    assert address_group("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_group("") == ""


def test_connection_slots() -> None:
    slots = ConnectionSlots(2)
    assert slots.acquire("a") and slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.acquire("b")
    slots.release("a")
    assert slots.acquire("a")
    for subject in ("a", "a", "b"):
        slots.release(subject)
    assert len(slots) == 0  # nothing kept for addresses that left
    unlimited = ConnectionSlots(None)
    assert all(unlimited.acquire("a") for _ in range(1000))
    with pytest.raises(ValueError):
        ConnectionSlots(0)
