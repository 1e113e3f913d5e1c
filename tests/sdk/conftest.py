"""Fixtures of the Python SDK's tests: ``make_sdk`` builds SDK clients of the real server
started by the ``server`` fixture (test modules against the fake server define their own)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pchat.sdk import PChatSDK
from tests.helpers import RunningServer, t
from tests.sdk.support import MakeSDK


@pytest.fixture
async def make_sdk(server: RunningServer) -> AsyncIterator[MakeSDK]:
    """SDK clients of ``server`` with short timeouts and backoff; all closed at the end."""
    sdks: list[PChatSDK] = []

    def make(**options: Any) -> PChatSDK:
        options.setdefault("request_timeout", t(5))
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.2)
        options.setdefault("rng", random.Random(3))
        sdk = PChatSDK(server.url, **options)
        sdks.append(sdk)
        return sdk

    yield make
    for sdk in sdks:
        await sdk.disconnect()
        await sdk.drain()
