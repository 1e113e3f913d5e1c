"""What the Python SDK's tests against the real server share: the SDK factory's type and a
wait for a condition (the ``make_sdk`` fixture itself is in ``conftest.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pchat.sdk import PChatSDK
from tests.helpers import t

__all__ = ["MakeSDK", "until"]

MakeSDK = Callable[..., PChatSDK]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (scaled timeout) until ``predicate()`` holds."""
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)
