"""What the chat core can be told: limits, rates and periods — nothing about transports.

The server's :class:`~pchat.server.config.Settings` (host, port, files, sockets, …) builds
one of these with :meth:`CoreSettings.pick`; the core never sees the server's settings.
``None`` disables a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["DEFAULT_REACTIONS", "CoreSettings"]

DEFAULT_REACTIONS: tuple[str, ...] = ("like", "love", "haha", "wow", "sad", "angry", "clap", "fire")


@dataclass(frozen=True, kw_only=True)
class CoreSettings:
    """Limits, rates and periods of the chat core (documented in docs/protocol.md §6)."""

    # Limits.
    max_frame_bytes: int = 16 * 1024  # told to clients in the connect reply
    max_message_chars: int = 2000
    max_username_chars: int = 32
    history_page_max: int = 100
    #: Messages per second per user (token bucket rate) and the burst it may save up.
    rate_messages: float | None = 5.0
    rate_messages_burst: int = 10
    #: All frames per second per connection, and burst.
    rate_frames: float | None = 50.0
    rate_frames_burst: int = 100
    #: Rate-limited requests tolerated within ``flood_window`` before closing with FLOOD.
    flood_strikes: int | None = 30
    flood_window: float = 10.0
    rate_reactions: float | None = 10.0
    rate_reactions_burst: int = 20
    reactions: tuple[str, ...] = DEFAULT_REACTIONS
    #: Polls a moderator may create per second (per user), and burst.
    rate_polls: float | None = 0.2
    rate_polls_burst: int = 3
    #: Open and scheduled polls a room may hold at once; more are refused (``121``).
    max_open_polls: int | None = 10
    #: Finished polls in a connect reply (the newest; older ones are paged with ``polls``).
    polls_in_connect: int = 10
    #: The most polls one ``polls`` page holds.
    polls_page_max: int = 50
    #: Reports per second per user (``report``), and burst.
    rate_reports: float | None = 1.0
    rate_reports_burst: int = 5
    #: Reports by different users that hide a message from viewers until a moderator
    #: decides (0: reports never hide; the staff's messages are never hidden).
    reports_to_hide: int = 3

    # The pre-send hook (core/presend.py; its endpoint is the server's presend_hook_url).
    #: Milliseconds the hook has to answer, connecting included; then the policy decides.
    presend_hook_timeout_ms: int = 500
    #: When the hook fails or times out: ``publish`` the message as it is, or ``reject``
    #: the send (``120``, temporary).
    presend_hook_on_failure: str = "publish"

    # Webhooks (core/webhooks.py; docs/server-api.md, "Webhooks").
    #: Seconds one delivery attempt may take, connecting included. A claimed delivery is
    #: leased for twice this plus 5 s: a node that dies leaves it to another after that.
    webhook_timeout: float = 10.0
    #: Seconds before the first retry; each next one waits twice as long (times a random
    #: factor in [0.5, 1]), at most ``webhook_retry_max``.
    webhook_retry_base: float = 5.0
    webhook_retry_max: float = 3600.0
    #: Attempts before a delivery is given up (dead: kept 7 days for a retry by hand).
    webhook_max_attempts: int = 18
    #: Deliveries in flight at once on one node.
    webhook_concurrency: int = 16
    #: Seconds between looks for due deliveries (when some endpoint is registered).
    webhook_poll_interval: float = 0.5

    # Connections.
    #: Seconds a new connection has to send ``connect`` (else close 4505).
    connect_timeout: float = 10.0
    #: Leeway for clock skew when a token's ``exp`` is checked, in seconds.
    token_leeway: int = 5
    #: Close a connection with ``4002`` when its token expires (then clients need a token
    #: refresher). Off: a token is checked at connect and at every reconnect, and an
    #: established connection outlives it, as with the vendor's SDK.
    end_connections_at_token_exp: bool = False
    #: A connection whose unsent output exceeds this many bytes is closed (SLOW_CONSUMER).
    max_send_buffer: int | None = 1024 * 1024
    #: Seconds: the upper bound of the jittered reconnect hint sent on shutdown (None: none).
    reconnect_hint_max: float | None = 2.5

    # History retention (core/retention.py; docs/operations.md, Retention and backups): a
    # room keeps the messages of the last ``retention_days`` days (fractions allowed) and at
    # most the newest ``retention_messages``; 0: no limit of that kind. A room's own rule
    # (the server API, ``pchat retention``) replaces these.
    retention_days: float = 0.0
    retention_messages: int = 0
    #: Seconds between the job's rounds, and the events one transaction removes at most.
    retention_interval: float = 60.0
    retention_batch: int = 500
    #: Seconds: a message this recent is never removed (nor the events after it), whatever
    #: the count says: a node fills a stream gap from the store, and a client that blinked
    #: recovers, within that time.
    retention_min_age: float = 60.0

    # Recovery and periods.
    recovery_max_events: int = 1000
    stats_interval: float = 1.0  # reaction statistics / online count push period
    #: Writes per second a room's online-count pushes may cost on a node: each push is one
    #: write per connection, so a room with more than this × ``stats_interval``
    #: connections on the node gets its count every ``connections / budget`` seconds (at
    #: most ``online_push_max_interval``) instead of every period. None: every period.
    online_push_budget: float | None = 2000.0
    online_push_max_interval: float = 10.0
    poll_tally_interval: float = 0.25  # coalescing window for poll tally pushes
    poll_scan_interval: float = 5.0  # how often scheduled polls of other nodes are armed
    # Big rooms (core/room.py, core/sampling.py; docs/operations.md, Big rooms).
    #: Coalescing: a push to a room that wrote nothing within its window goes out at once;
    #: pushes that follow within the window are written together at its end. The window is
    #: the room's connections on the node divided by this budget of writes per second, at
    #: most ``coalesce_max_ms``, and none under 1 ms (rooms under ~200 connections write
    #: every push at once); it lasts at least as long as the write that opened it took.
    #: None: no coalescing.
    coalesce_budget: float | None = 200_000.0
    coalesce_max_ms: float = 250.0
    #: A fixed window of this many ms instead of the adaptive one (0: adaptive).
    coalesce_ms: float = 0.0
    #: Messages per second a viewer can read: a room whose message rate is above it, with
    #: at least ``sample_min_members`` connections on the node, sends each viewer 1 of every
    #: ``ceil(rate / viewer_max_rate)`` messages (and always their own, the staff's and
    #: those that mention them). None or 0: never sample.
    viewer_max_rate: float | None = 10.0
    sample_min_members: int = 1000

    @classmethod
    def pick(cls, source: Any) -> CoreSettings:
        """The core's settings read off any object with attributes of the same names (the
        server's settings)."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls)})
