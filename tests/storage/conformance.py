"""What the conformance suites share: sample users and polls, and waiting for deliveries.

One suite per interface of :mod:`pchat.storage.base` (``test_<interface>_conformance.py``),
each run against every backend that implements it through the factories of ``conftest.py``.
A test names the narrowest interface it exercises in its signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pchat.protocol.models import Message, Poll, PollOption, User
from pchat.storage.base import Broker, MessageStore, StreamStore
from tests.helpers import t

__all__ = [
    "ALICE",
    "BOB",
    "MOD",
    "T0",
    "BrokerMaker",
    "Got",
    "StoreMaker",
    "make_poll",
    "recorder",
    "send",
    "seqs",
    "until",
]

StoreMaker = Callable[[], Awaitable[MessageStore]]
BrokerMaker = Callable[..., Awaitable[Broker]]
Got = list[tuple[str, int | None, bytes]]

ALICE = User("u-alice", "alice", "viewer")
BOB = User("u-bob", "bob", "viewer")
MOD = User("u-mod", "mod", "moderator")
T0 = 1_700_000_000_000


# -- stores -------------------------------------------------------------------------------------


async def send(
    store: StreamStore,
    room: str,
    n: int,
    *,
    user: User = ALICE,
    ts: Callable[[int], int] = lambda i: T0 + i,
    prefix: str = "m",
) -> list[Message]:
    """Append ``n`` messages one after the other; message i has id ``{prefix}{i}``."""
    messages = []
    for i in range(n):
        result = await store.append_message(
            room, message_id=f"{prefix}{i}", user=user, text=f"text {i}", cid=None, ts=ts(i)
        )
        messages.append(result.message)
    return messages


def make_poll(
    poll_id: str,
    *,
    status: str = "open",
    options: tuple[str, ...] = ("red", "green", "blue"),
    created_at: int = T0,
    publish_at: int | None = None,
) -> Poll:
    return Poll(
        id=poll_id,
        question=f"question {poll_id}?",
        options=tuple(PollOption(text) for text in options),
        status=status,
        created_by=MOD,
        created_at=created_at,
        publish_at=publish_at,
        published_at=created_at if status == "open" else None,
    )


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


# -- brokers ------------------------------------------------------------------------------------


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (delivery may be asynchronous: Redis, the hub)."""
    async with asyncio.timeout(t(timeout)):
        while not predicate():
            await asyncio.sleep(0.01)


def recorder(got: Got) -> Callable[[str, int | None, bytes], None]:
    return lambda room, seq, payload: got.append((room, seq, payload))
