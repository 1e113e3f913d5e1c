"""Timestamps as the application passes them: what ``load_history`` and ``create_poll`` accept.

The vendor documents a timestamp string; the SDK accepts, and turns into milliseconds since
the epoch (the wire's unit):

- a :class:`~datetime.datetime` (a naive one is local time);
- an ``int`` or a finite ``float`` of milliseconds (a float is truncated);
- a ``str`` of milliseconds (digits only), or an ISO-8601 date or date-time:
  ``YYYY-MM-DD`` (midnight UTC), ``YYYY-MM-DDTHH:MM[:SS[.fff…]]`` with ``Z`` or an offset
  (``+02:00``, ``+0200``, ``+02``), or without one (local time) — as JavaScript's
  ``Date.parse`` reads them, so that both SDKs agree (tests/vectors/timestamps.json).

Anything else (another string, a bool, NaN, a value beyond ±(2**53 − 1) ms) raises
:class:`~pchat.sdk.events.InvalidArgumentError`: a timestamp is never silently dropped.
No I/O here.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from .events import InvalidArgumentError

__all__ = ["MAX_MS", "Timestamp", "timestamp_ms"]

#: What the SDK's calls take as a timestamp (a ``float`` must be finite).
Timestamp = datetime | int | float | str

#: The largest magnitude in ms: JavaScript's Number.MAX_SAFE_INTEGER, so both SDKs agree.
MAX_MS = 2**53 - 1

_DIGITS = re.compile(r"[0-9]+")
_ISO = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def timestamp_ms(value: object, name: str = "timestamp") -> int:
    """``value`` in milliseconds since the epoch; see the module docstring for the forms."""
    ms: int | None = None
    if isinstance(value, datetime):
        ms = _datetime_ms(value)
    elif isinstance(value, bool):
        ms = None  # a bool is an int in Python, never a time
    elif isinstance(value, int):
        ms = value
    elif isinstance(value, float) and math.isfinite(value):
        ms = int(value)
    elif isinstance(value, str):
        ms = _parse(value.strip())
    if ms is None or abs(ms) > MAX_MS:
        raise InvalidArgumentError(
            f"{name}: expected a datetime, milliseconds (int or digits) or an ISO-8601 "
            f"string, not {value!r}"
        )
    return ms


def _datetime_ms(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.astimezone()  # naive: local time
    # Integer arithmetic: value.timestamp() * 1000 can round 0.123 s down to 122 ms.
    return (aware - _EPOCH) // _MS


def _parse(text: str) -> int | None:
    if _DIGITS.fullmatch(text):
        return int(text)
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    part = match.groupdict()
    if part["h"] is None:
        tz: timezone | None = UTC  # a date alone is UTC (as Date.parse)
    elif part["tz"] is None:
        tz = None  # a date-time without an offset is local time
    elif part["tz"] in ("Z", "z"):
        tz = UTC
    else:
        sign = -1 if part["tz"][0] == "-" else 1
        digits = part["tz"][1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        parsed = datetime(
            int(part["y"]),
            int(part["mo"]),
            int(part["d"]),
            int(part["h"] or 0),
            int(part["mi"] or 0),
            int(part["s"] or 0),
            int((part["f"] or "0")[:3].ljust(3, "0")) * 1000,
            tzinfo=tz,
        )
    except ValueError:  # month 13, February 30, hour 24, …
        return None
    return _datetime_ms(parsed)
