"""The server's edge: who is calling, whether they may open a WebSocket, and how long a
connection may take to ask.

- :class:`TrustedProxies` and :func:`client_address`: the caller behind the load balancer,
  from ``X-Forwarded-For`` when the peer is a trusted proxy (addresses or CIDR networks).
- :class:`WebSocketGate`: an ``Origin`` allowlist (403) and a limit on concurrent
  WebSockets per client address (429), both answered before the upgrade; one per
  application, asked by the chat endpoint's fast path (``chat_socket``) and by
  :func:`guard_websocket`, which wraps aiohttp's WebSocket route.
- :func:`handler_args`: what every aiohttp runner of the app is told — the handshake
  timeout, and a logger that writes one line, not a traceback, for a client that sent bad
  HTTP or went away mid-request.
- :func:`raise_open_files_limit`: the soft descriptor limit raised to the hard one at start.

The handshake timeout: a connection that has not sent a complete request head in time is
closed — a silent connection, a half-sent request or one dribbled a byte at a time. While
the front door reads the head (``chat_socket``), its sweep enforces it; once a connection
is handed to aiohttp, aiohttp's keep-alive timer does (started when it takes the connection
and again after each response). Neither touches an open WebSocket.
"""

from __future__ import annotations

import ipaddress
import logging
import resource
from collections.abc import Awaitable, Callable, Container, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .config import Settings

__all__ = [
    "ConnectionSlots",
    "TrustedProxies",
    "WebSocketGate",
    "address_group",
    "client_address",
    "forwarded_client",
    "guard_websocket",
    "handler_args",
    "raise_open_files_limit",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Addresses and networks (``10.0.0.5``, ``10.0.0.0/24``, ``fd00::/8``) of trusted
    proxies; ``addr in proxies`` for an address string (never raises)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        networks: list[_Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                msg = f"trusted_proxies: {entry!r} is not an address or network"
                raise ValueError(msg) from None
        self._networks = tuple(networks)

    def __contains__(self, addr: object) -> bool:
        if not self._networks or not isinstance(addr, str):
            return False
        ip = _parse(addr)
        return ip is not None and any(ip in net for net in self._networks)

    def __bool__(self) -> bool:
        return bool(self._networks)


def _parse(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.5 on a dual-stack socket is 10.0.0.5
    return ip


def client_address(request: web.BaseRequest, trusted: Container[str]) -> str:
    """The caller's address: behind trusted proxies, the nearest untrusted hop of
    ``X-Forwarded-For`` (read right to left, as each proxy appends the address it saw)."""
    forwarded_for = request.headers.get("X-Forwarded-For", "")
    return forwarded_client(request.remote or "", forwarded_for, trusted)


def forwarded_client(peer: str, forwarded_for: str, trusted: Container[str]) -> str:
    """:func:`client_address` from the peer's address and its ``X-Forwarded-For``."""
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop and hop not in trusted:
            return hop
    return peer


def address_group(addr: str) -> str:
    """What one client's connections are counted under: its IPv4 address, or its IPv6
    /64 (one host or home usually holds a whole /64, and may use any address in it)."""
    ip = _parse(addr)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return addr if ip is None else str(ip)


class ConnectionSlots:
    """Concurrent connections per subject, at most ``limit`` each (None: unlimited)."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError("the connection limit must be at least 1 (or None)")
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, subject: str) -> bool:
        """Take a slot; False if ``subject`` holds them all."""
        count = self._counts.get(subject, 0)
        if self.limit is not None and count >= self.limit:
            return False
        self._counts[subject] = count + 1
        return True

    def release(self, subject: str) -> None:
        count = self._counts.pop(subject, 0) - 1
        if count > 0:
            self._counts[subject] = count

    def __len__(self) -> int:
        """The number of subjects holding a slot."""
        return len(self._counts)


def _refusal(status: int, name: str, message: str) -> web.Response:
    return web.json_response({"error": {"name": name, "message": message}}, status=status)


class WebSocketGate:
    """Who may open a WebSocket: an ``Origin`` allowlist and a limit on concurrent
    WebSockets per client address. One per application, shared by the two ways a
    WebSocket opens (:func:`guard_websocket` and the fast path of ``chat_socket``).

    A request without ``Origin`` (not from a browser) passes the allowlist: the check
    protects browsers' users, and any other client can send any header it likes. Behind a
    trusted proxy the limit applies only when ``limit_connections_behind_proxy`` is set,
    per ``X-Forwarded-For`` caller.
    """

    def __init__(self, settings: Settings, proxies: TrustedProxies) -> None:
        self.origins = frozenset(o.strip().rstrip("/").lower() for o in settings.allowed_origins)
        self.slots = ConnectionSlots(settings.max_connections_per_address)
        self.behind_proxy = settings.limit_connections_behind_proxy
        self.proxies = proxies

    def origin_allowed(self, origin: str | None) -> bool:
        return not self.origins or origin is None or origin.lower() in self.origins

    def subject(self, peer: str, forwarded_for: str) -> str | None:
        """What the connection counts under, or None when it is not counted."""
        if self.slots.limit is None:
            return None
        if peer in self.proxies:
            if not self.behind_proxy:
                return None
            return address_group(forwarded_client(peer, forwarded_for, self.proxies))
        return address_group(peer)


def guard_websocket(handler: Handler, gate: WebSocketGate) -> Handler:
    """``handler`` behind the gate: ``403 origin_not_allowed`` and
    ``429 too_many_connections``, both answered before the upgrade."""
    slots = gate.slots

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not gate.origin_allowed(request.headers.get("Origin")):
            return _refusal(403, "origin_not_allowed", "this origin may not connect")
        who = gate.subject(request.remote or "", request.headers.get("X-Forwarded-For", ""))
        if who is None:
            return await handler(request)
        if not slots.acquire(who):
            return _refusal(429, "too_many_connections", "too many connections from your address")
        try:
            return await handler(request)
        finally:
            slots.release(who)

    return guarded


class _OneLine(logging.Filter):
    """Turns aiohttp's tracebacks for a client's fault into one line of ``log``.

    Bad HTTP (a 10 KB URL, garbage, an oversized header) and a client that goes away in the
    middle of its request are the client's business, not a fault of the server; anything
    else keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        if isinstance(exc, HttpProcessingError):
            text = " ".join(str(exc.message).split())
            log.info("bad request from %s: %s %s", peer, exc.code, _clip(text))
        elif isinstance(exc, ConnectionError):
            log.info("client %s went away during its request (%s)", peer, type(exc).__name__)
        else:
            return True
        return False


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


#: The logger aiohttp's connection handlers write to (see :func:`handler_args`).
_protocol_log = logging.getLogger("pchat.server.http_protocol")
_protocol_log.addFilter(_OneLine())


def handler_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiohttp's connection handler, given to ``web.Application``
    (``handler_args``) so that every runner of the app — ``pchat serve``, its workers,
    the tests' — uses them."""
    if settings.handshake_timeout <= 0:
        raise ValueError("handshake_timeout must be positive")
    return {"keepalive_timeout": settings.handshake_timeout, "logger": _protocol_log}


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft limit on open descriptors to the hard one; ``(before, after)``.

    Each connection holds a descriptor, and the usual default soft limit (1024) would
    refuse connections long before memory runs out.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        # The kernel caps descriptors per process below "infinity" (Linux: fs.nr_open).
        targets = [n for n in (_nr_open(), 1 << 20, 65536, 10240) if n > soft]
    else:
        targets = [hard] if hard > soft else []
    for target in targets:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return soft, target
    return soft, soft


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 0
