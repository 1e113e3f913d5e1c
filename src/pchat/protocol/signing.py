"""Signatures of the HTTP requests pchat makes to an operator's endpoints (webhooks, pre-send hook).

pchat signs each request body with a secret it shares with the endpoint; the endpoint checks
the signature before trusting the body. The header, after Stripe's scheme::

    pchat-signature: t=1718000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e10...

``t`` is the Unix time in seconds when the request was signed and ``v1`` the lowercase hex
HMAC-SHA256, keyed with the secret (its UTF-8 bytes), of ``f"{t}."`` followed by the raw body
bytes. A receiver recomputes it over the body exactly as received (before parsing any JSON),
compares in constant time, and refuses a ``t`` further than :data:`REPLAY_WINDOW_S` from its own
clock, so a captured request cannot be replayed later. A header may carry several ``v1=``
values (say, while a secret is rotated); one matching is enough.

No I/O here: the server signs with :func:`sign`, an operator's Python backend (and the tests'
receivers) check with :func:`verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "REPLAY_WINDOW_S",
    "SIGNATURE_HEADER",
    "sign",
    "signature_header",
    "verify",
]

#: The header carrying ``t=<unix seconds>,v1=<hex digest>``.
SIGNATURE_HEADER = "pchat-signature"
#: A webhook's unique event id: the same on every retry of the same event (deduplicate by it).
EVENT_ID_HEADER = "pchat-event-id"
#: A webhook's event type, also in the body.
EVENT_TYPE_HEADER = "pchat-event-type"
#: How far (seconds, either way) a signature's ``t`` may be from the receiver's clock.
REPLAY_WINDOW_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body``, keyed with ``secret``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


def signature_header(secret: str, body: bytes, *, now: float | None = None) -> str:
    """The ``pchat-signature`` header's value for ``body``, signed at ``now`` (default: now)."""
    t = int(time.time() if now is None else now)
    return f"t={t},v1={sign(secret, t, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    window_s: int = REPLAY_WINDOW_S,
) -> bool:
    """Whether ``header`` (a ``pchat-signature`` value) signs ``body`` with ``secret``, in time.

    False for a malformed header, a wrong signature, or a ``t`` more than ``window_s`` seconds
    from ``now`` (default: the current time).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > window_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c.lower()) for c in candidates)
