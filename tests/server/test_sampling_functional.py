"""Sampling of a huge room, over a real server with lowered thresholds.

A room of a few connections (``sample_min_members`` 4) gets messages faster than
``viewer_max_rate`` (4 per second): each viewer then gets the sample (the positions that
are multiples of ``every``), its own messages, those that mention it and the staff's;
the staff get everything; everyone is told with ``sampled`` pushes, and a late joiner by
its connect reply. Recovery and ``history`` still give every message. When the messages
stop, sampling ends and says so. Only the connections that asked for it (``"sampling":
true`` in ``connect``) are sampled: a client that did not gets every message of the same
room, and no ``sampled`` push.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RunningServer, serving, t

ROOM = "huge"


#: A room is sampled from 4 connections and 4 messages/s on (the defaults: 1,000 and 10).
SMALL_ROOM_SAMPLING: dict[str, Any] = {
    "viewer_max_rate": 4.0,
    "sample_min_members": 4,
    "rate_messages": None,
    "rate_frames": None,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with serving(tmp_path / "data", **SMALL_ROOM_SAMPLING) as srv:
        yield srv


def messages(client: Any) -> list[dict[str, Any]]:
    return [p for p in client.pushes if p["type"] == "message"]


async def until(check: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(t(timeout)):
        while not check():
            await asyncio.sleep(0.02)


def every_by_position(stream: list[dict[str, Any]]) -> dict[int, int]:
    """From a connection that gets every message, in order: the ``every`` in force when
    each message was delivered (a ``sampled`` push applies to the messages after it)."""
    every, found = 1, {}
    for push in stream:
        if push["type"] == "sampled":
            every = push["every"]
        elif push["type"] == "message":
            found[push["seq"]] = every
    return found


async def test_a_busy_room_sends_each_viewer_its_sample(raw: Any) -> None:
    mod = await raw(ROOM, user="mia", role="moderator", sampling=True)
    ann = await raw(ROOM, user="ann", sampling=True)
    bob = await raw(ROOM, user="bob", sampling=True)
    cat = await raw(ROOM, user="cat", sampling=True)
    start = cat.connected["room"]
    assert "sampled" not in start
    old = await raw(ROOM, user="old")  # a client that does not know sampling
    assert old.connected["room"]["seq"] == start["seq"]

    async def flood(count: int, special: dict[int, tuple[Any, str]]) -> list[int]:
        sent = []
        for i in range(count):
            sender, text = special.get(i, (bob, f"m{i}"))
            sent.append((await sender.ok("send", text=text))["message"]["seq"])
            await asyncio.sleep(0.04)
        return sent

    # Faster than 4 messages a second until the viewers are told they get a sample.
    while not any(p["type"] == "sampled" for p in ann.pushes):
        await flood(10, {})
        assert len(messages(mod)) < 300, "never sampled"
    told = next(p for p in ann.pushes if p["type"] == "sampled")
    assert told["every"] >= 2 and told["rate"] > 4

    late = await raw(ROOM, user="dan", sampling=True)  # a late joiner is told by its connect reply
    assert late.connected["room"]["sampled"]["every"] >= 2
    late_old = await raw(ROOM, user="fay")  # unless it did not ask for sampling
    assert "sampled" not in late_old.connected["room"]

    special = {5: (bob, "hello @ann"), 11: (mod, "from the staff"), 17: (ann, "my own")}
    batch = await flood(30, special)
    mention, staff, own = batch[5], batch[11], batch[17]
    # A staff message reaches everyone: once it has, so has everything before it.
    last = (await mod.ok("send", text="fence"))["message"]["seq"]
    batch.append(last)
    for client in (mod, ann, bob, cat, old, late_old):
        await until(lambda c=client: any(p["seq"] == last for p in messages(c)))

    every = every_by_position(mod.pushes)
    assert sorted(every) == list(range(start["seq"] + 1, last + 1))  # the staff: all
    assert {every[s] for s in batch} - {1}, "the batch was not sampled"

    def sample(seqs: list[int]) -> set[int]:
        return {s for s in seqs if every[s] == 1 or s % every[s] == 0}

    def got(client: Any) -> set[int]:
        return {p["seq"] for p in messages(client) if p["seq"] in batch}

    assert got(cat) == sample(batch) | {staff, last}
    assert got(ann) == sample(batch) | {staff, last, mention, own}
    bob_own = {s for i, s in enumerate(batch[:-1]) if i not in (11, 17)}
    assert got(bob) == sample(batch) | {staff, last} | bob_own
    assert got(mod) == set(batch)
    # The clients that did not ask: every position, in order, without a gap, never told.
    for client in (old, late_old):
        first = client.connected["room"]["seq"] + 1
        assert [p["seq"] for p in messages(client)] == list(range(first, last + 1))
        assert not any(p["type"] == "sampled" for p in client.pushes)
    for client in (ann, cat):  # the stream in order, its positions only growing
        seqs = [p["seq"] for p in client.pushes if "seq" in p and p["type"] != "sampled"]
        assert seqs == sorted(seqs)

    # Recovery and history still give everything.
    back = await raw(ROOM, user="cat", recover={"epoch": start["epoch"], "seq": start["seq"]})
    recovery = back.connected["recovery"]
    assert recovery["recovered"] is True
    assert [e["seq"] for e in recovery["events"]] == list(range(start["seq"] + 1, last + 1))
    page = await cat.ok("history", limit=100)
    assert {m["seq"] for m in page["messages"]} >= set(batch)

    # Quiet again: sampling ends, and says up to where positions may be missing.
    await until(lambda: any(p["type"] == "sampled" and p["every"] == 1 for p in cat.pushes))
    end = next(p for p in cat.pushes if p["type"] == "sampled" and p["every"] == 1)
    assert end["seq"] >= last
    after = (await bob.ok("send", text="everyone again"))["message"]["seq"]
    await until(lambda: any(p["seq"] == after for p in messages(cat)))
    await until(lambda: any(p["seq"] == after for p in messages(old)))
    assert not any(p["type"] == "sampled" for p in old.pushes)
    assert "sampled" not in (await raw(ROOM, user="eve", sampling=True)).connected["room"]
