"""Wall-clock time as the protocol counts it, and new ids."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "now_ms"]


def now_ms() -> int:
    """Milliseconds since the Unix epoch (timestamps of messages, reactions, polls)."""
    return int(time.time() * 1000)


def new_id() -> str:
    """A new id: 16 hex characters, unique with overwhelming probability."""
    return secrets.token_hex(8)
