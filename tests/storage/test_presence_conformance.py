"""The Presence contract, run against every broker backend of ``conftest.BROKER_FACTORIES``.

Sums over several nodes are backend tests (``test_broker_redis.py``, ``test_broker_local.py``):
the in-memory broker has no other node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pchat.storage.base import Presence

PresenceMaker = Callable[..., Awaitable[Presence]]


async def test_presence_of_one_node_is_its_count(make_broker: PresenceMaker) -> None:
    broker = await make_broker()
    assert await broker.set_presence("lobby", 3) == 3
    assert await broker.set_presence("lobby", 5) == 5
    assert await broker.set_presence("hall", 1) == 1
    assert await broker.set_presence("lobby", 0) == 0
