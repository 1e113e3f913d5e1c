"""The server API in a cluster: a call to one node acts in a room whose clients are on
another — messages published there reach them in order with their own, a ban reaches
them, and the live rooms and online counts are the cluster's (the broker's presence)."""

from __future__ import annotations

import asyncio

import pytest

from pchat.protocol.errors import ForbiddenError
from pchat.sdk import Events
from pchat.server.appkeys import SERVICE_KEY
from pchat.server_client import ServerClient
from tests.cluster.conftest import Cluster, until
from tests.helpers import RunningServer, t


async def test_a_call_to_one_node_acts_in_a_room_served_by_another(cluster: Cluster) -> None:
    a = await cluster.start_node()
    b = await cluster.start_node()
    assert isinstance(a, RunningServer)
    ann = await cluster.client(b, "show", "ann")
    bob = await cluster.client(b, "show", "bob")
    banned: list[object] = []
    bob.on(Events.BANNED, banned.append)
    async with ServerClient(a.url, a.api_key, a.api_secret) as api:
        # The live rooms and their online counts are the cluster's: no client is on a.
        async with asyncio.timeout(t(10)):
            while (rooms := {r.id: r.online for r in (await api.rooms()).rooms}).get("show") != 2:
                await asyncio.sleep(0.05)
        assert rooms == {"show": 2}
        assert (await api.room("show")).online == 2

        sent = [
            await ann.send_message("one"),
            (await api.publish("show", "two", cid="c-2")).message,
            await bob.send_message("three"),
            (await api.publish("show", "four")).message,
        ]
        ids = [m.id for m in sent if m is not None]
        await until(lambda: [m.id for m in ann.messages] == ids, what="ann got all four")
        await until(lambda: [m.id for m in bob.messages] == ids, what="bob got all four")

        # Moderation state changed through a reaches b's clients and b's write guard.
        await api.set_room_mode("show", slow_mode=30)
        await until(lambda: bob.room_settings.slow_mode == 30, what="the settings on b")
        await api.ban("show", "bob", duration=60)
        await until(lambda: len(banned) == 1, what="bob told on b")
        with pytest.raises(ForbiddenError):
            await bob.send_message("let me")
        # Node a did not keep the room open: nothing of it stays there.
        assert "show" not in a.runner.app[SERVICE_KEY].node.room_ids()  # type: ignore[union-attr]
