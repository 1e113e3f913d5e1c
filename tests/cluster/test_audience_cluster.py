"""Who sees what across nodes (issue 11): a shadow ban made on one node hides the user's
messages from the viewers of every node (but not from the user's own connections or the
staff, wherever they are), and a mute made on one node follows the user's connections on
the others; a shadow-banned user's connection on a node that opened the room later reads
the ban from the store."""

from __future__ import annotations

import time
from typing import Any

from tests.cluster.conftest import Cluster, raw_client, until


def _stream(client: Any) -> list[dict[str, Any]]:
    return [p for p in client.pushes if p["type"] in ("message", "skip")]


async def test_a_shadow_ban_and_a_mute_act_on_every_node(cluster: Cluster) -> None:
    a, b, c = [await cluster.start_node() for _ in range(3)]
    mod = await raw_client(cluster, a, "show", "mia", "moderator")
    spammer = await raw_client(cluster, b, "show", "spammer")
    spammer_phone = await raw_client(cluster, c, "show", "spammer")
    cat = await raw_client(cluster, c, "show", "cat")
    ann = await raw_client(cluster, b, "show", "ann")
    ann_phone = await raw_client(cluster, a, "show", "ann")
    clients = [mod, spammer, spammer_phone, cat, ann, ann_phone]
    try:
        # The ban acts on node b within a second: the spammer writes until cat's copy of
        # a message is a skip (the ban reaches node b through the broker).
        start = time.monotonic()
        await mod.ok("ban", user_id="spammer", shadow=True)
        everyone = [mod, spammer, spammer_phone, cat, ann, ann_phone]
        for i in range(100):
            for client in everyone:
                client.pushes.clear()
            sent = (await spammer.ok("send", text=f"buy now {i}"))["message"]
            assert "shadow" not in sent
            await until(lambda: all(_stream(x) for x in everyone), what="the message or its skip")
            if _stream(cat)[0]["type"] == "skip":
                break
        assert time.monotonic() - start < 1.0
        assert _stream(cat) == [{"type": "skip", "seq": sent["seq"]}]
        assert _stream(ann_phone) == [{"type": "skip", "seq": sent["seq"]}]
        assert _stream(mod)[0]["message"]["shadow"] is True
        for own in (spammer, spammer_phone):
            got = _stream(own)[0]["message"]
            assert got["text"] == sent["text"] and "shadow" not in got

        # ann mutes cat on node b: ann's connection on node a stops getting cat too.
        await ann.ok("mute", user_id="cat")
        await until(
            lambda: any(p["type"] == "muted" for p in ann_phone.pushes), what="muted on node a"
        )
        said = (await cat.ok("send", text="hello"))["message"]
        await until(lambda: len(_stream(mod)) == 2, what="cat's message on node a")
        await until(lambda: len(_stream(ann_phone)) == 2, what="the skip on node a")
        assert _stream(ann_phone)[1] == {"type": "skip", "seq": said["seq"]}
        await until(lambda: len(_stream(ann)) == 2, what="the skip on node b")
        assert _stream(ann)[1] == {"type": "skip", "seq": said["seq"]}
        assert _stream(spammer)[1]["message"]["text"] == "hello"

        # A node that opens the room after the ban reads it from the store.
        d = await cluster.start_node()
        late = await raw_client(cluster, d, "show", "spammer")
        clients.append(late)
        again = (await late.ok("send", text="again"))["message"]
        await until(lambda: len(_stream(cat)) == 3, what="the second skip on node c")
        assert _stream(cat)[2] == {"type": "skip", "seq": again["seq"]}
    finally:
        for client in clients:
            await client.close()
