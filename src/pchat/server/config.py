"""Server settings: keyword-only, defaults in one place, ``PCHAT_*`` environment variables.

``None`` disables a limit. :meth:`Settings.from_env` reads ``PCHAT_<FIELD>`` for every field
(``PCHAT_PORT=9000``, ``PCHAT_RATE_MESSAGES=none``); command-line options override both.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pchat.core.settings import DEFAULT_REACTIONS, CoreSettings

__all__ = ["DEFAULT_REACTIONS", "Settings"]


@dataclass(frozen=True, kw_only=True)
class Settings(CoreSettings):
    """Everything ``pchat serve`` can be told: the server's own settings (addresses, files,
    backends, tokens, the edge, sockets) and, inherited, the chat core's."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./pchat-data")
    #: Worker processes sharing the port (SO_REUSEPORT) and relaying through a local hub.
    workers: int = 1
    #: Cluster backends; None selects the embedded SQLite store and in-memory broker.
    store: str | None = None
    broker: str | None = None
    #: Seconds a store operation may take (waiting for a connection included) before the
    #: request answers ``unavailable``; well under the SDKs' 10 s request timeout.
    store_timeout: float | None = 3.0

    # Tokens.
    token_issuer: str = "pchat"
    token_ttl: int = 3600  # seconds
    #: How often a running server re-reads the signing keys (``pchat keys rotate``), in s.
    keys_reload_interval: float = 30.0
    #: Failed token-service calls within the window before 429: distinct wrong secrets per
    #: (address, API key), and failures with unknown keys per address (docs/operations.md).
    auth_failures_max: int | None = 10
    auth_failures_window: float = 60.0
    #: Proxy addresses or networks (``10.0.0.5``, ``10.0.0.0/24``) whose X-Forwarded-For
    #: is believed (the load balancer's).
    trusted_proxies: tuple[str, ...] = ()

    # Connections at the edge.
    #: Concurrent WebSockets per client address (IPv6: per /64); more are refused with 429.
    max_connections_per_address: int | None = 100
    #: Apply that limit to connections from trusted proxies too, per X-Forwarded-For caller.
    limit_connections_behind_proxy: bool = False
    #: Seconds a connection has to send a complete HTTP request (from when it opens, or
    #: from its previous response); the slow or silent are closed.
    handshake_timeout: float = 10.0
    #: Browser origins allowed to open the WebSocket (exact match); empty: any.
    allowed_origins: tuple[str, ...] = ()

    # The pre-send hook (server/presend_hook.py; its timeout and policy: CoreSettings).
    #: An operator's URL that sees every message before it is published and allows,
    #: rejects or rewrites it (docs/server-api.md); None: no hook.
    presend_hook_url: str | None = None
    #: The secret its requests are signed with (``pchat-signature``); required with the URL.
    presend_hook_secret: str | None = field(default=None, repr=False)
    #: Connections to the hook kept open at most (more concurrent checks wait for one).
    presend_hook_connections: int = 100

    # The admin console (server/console; docs/server-api.md, Console).
    #: Seconds a console session lives unused (at most the tokens' lifetime), and at most.
    console_session_idle: float = 1800.0
    console_session_max: float = 28800.0
    #: The console cookie's ``Secure``: None sets it when the request came over https
    #: (directly, or per ``X-Forwarded-Proto`` from a trusted proxy); true or false decides.
    console_cookie_secure: bool | None = None
    #: Seconds the chat tokens the console gets for its own room connections live.
    console_token_ttl: int = 300

    # Logs (server/logs.py) and the stop on SIGTERM (server/drain.py; docs/operations.md).
    #: ``text`` (one line per event, fields as key=value) or ``json`` (one object a line).
    log_format: str = "text"
    #: ``debug`` adds a line per connection and HTTP request; ``info``, ``warning``, ``error``.
    log_level: str = "info"
    #: Seconds between SIGTERM (``/readyz`` answers 503 from then on) and the stop of
    #: listening: a load balancer that polls readiness sends new clients elsewhere first.
    drain_ready_delay: float = 1.0
    #: Seconds over which the connected clients are then closed (``4000`` with a reconnect
    #: hint), spread out so that the other nodes take them over a little at a time; the
    #: process exits once all are gone, at the latest a few seconds after the window.
    drain_window: float = 10.0

    #: Prometheus metrics at ``GET /metrics`` (server/metrics.py; docs/operations.md,
    #: Metrics); false: no endpoint and nothing measured.
    metrics: bool = True

    #: The cyclic garbage collector (server/runner.py; docs/operations.md, A node):
    #: ``tuned`` freezes what startup built and collects the young generation less often;
    #: ``default`` leaves Python's settings as they are.
    gc: str = "tuned"

    # The chat core's limits, rates and periods: see CoreSettings (inherited).

    # Liveness and sockets.
    heartbeat: float | None = 25.0  # WebSocket ping interval; a missed pong closes
    #: The kernel's send buffer per connection (SO_SNDBUF; None: the system's autotuning,
    #: up to several MB on Linux). Bounded, so that with ``max_send_buffer`` it bounds what
    #: a client that stopped reading holds on the server.
    socket_send_buffer: int | None = 256 * 1024

    # Demo and static files.
    serve_demo: bool = True
    #: ``/demo/token`` mints tokens of any role for anyone who asks: for the bundled demo
    #: only (``make run`` turns it on), never on a server that matters.
    demo_token_endpoint: bool = False
    static_dir: Path | None = None

    extra: Mapping[str, Any] = field(default_factory=dict)

    def core(self) -> CoreSettings:
        """The chat core's part of these settings (limits, rates, periods)."""
        return CoreSettings.pick(self)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "pchat.sqlite3"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.sqlite3"

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (values may be strings, as from argv)."""
        return dataclasses.replace(self, **_coerce_all(changes))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``PCHAT_*`` variables, then ``overrides`` (None values ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"PCHAT_{f.name.upper()}"
            if name in env and f.name != "extra":
                values[f.name] = env[name]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**_coerce_all(values))


_DEFAULTS = {f.name: f for f in fields(Settings)}


def _coerce_all(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _coerce(name, value) for name, value in values.items()}


def _coerce(name: str, value: Any) -> Any:
    """Turn a string from the environment or argv into the field's type."""
    if not isinstance(value, str):
        return value
    f = _DEFAULTS.get(name)
    if f is None:
        raise TypeError(f"unknown setting {name!r}")
    kind = str(f.type)
    if value.lower() in ("none", "off", "") and "None" in kind:
        return None
    if kind.startswith("bool"):
        return value.lower() in ("1", "true", "yes", "on")
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("float"):
        return float(value)
    if "Path" in kind:
        return Path(value)
    if kind.startswith("tuple"):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value
