"""The Python SDK against the real server on port 0 (fixture ``server`` of tests/conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from pchat.protocol.errors import ForbiddenError, TokenError
from pchat.protocol.models import Message
from pchat.sdk import ConnectEvent, DisconnectEvent, Events, InvalidArgumentError, PChatSDK, States
from tests.helpers import RunningServer, t
from tests.sdk.support import MakeSDK, until


async def test_seed_flow_between_two_users(server: RunningServer, make_sdk: MakeSDK) -> None:
    ann, bob = make_sdk(), make_sdk()
    seen_by_bob: list[Message] = []
    bob.on(Events.MESSAGE, seen_by_bob.append)
    await ann.connect("lobby", "Ann", await server.token("ann"))
    await bob.connect("lobby", "Bob", await server.token("bob"))
    sent = await ann.send_message("hello")
    await until(lambda: [m.id for m in seen_by_bob] == [sent.id])
    await until(lambda: [m.id for m in ann.messages] == [sent.id])

    late = make_sdk()
    await late.connect("lobby", "Cat", await server.token("cat"))
    page = await late.load_history()
    assert [m.text for m in page] == ["hello"]
    assert [m.id for m in late.messages] == [sent.id]


async def test_refusals_raise_the_right_errors(server: RunningServer, make_sdk: MakeSDK) -> None:
    sdk = make_sdk()
    with pytest.raises(TokenError):
        await sdk.connect("lobby", "Ann", "not-a-jwt")
    with pytest.raises(ForbiddenError):
        await sdk.connect("lobby", "Ann", await server.token("ann"), role="admin")
    assert sdk.state is States.DISCONNECTED
    await sdk.connect("lobby", "Ann", await server.token("ann", "moderator"), role="moderator")
    poll = await sdk.create_poll("Tea or coffee?", ["tea", "coffee"])
    voted = await sdk.vote(poll.id, 0)
    assert voted.my_vote == 0 and voted.options[0].votes == 1


async def test_reconnects_and_recovers_after_a_restart(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann, bob = make_sdk(), make_sdk()
    await ann.connect("lobby", "Ann", await server.token("ann"))
    first = await ann.send_message("before")
    await server.restart()
    await until(lambda: ann.state is States.CONNECTED)
    await bob.connect("lobby", "Bob", await server.token("bob"))
    second = await bob.send_message("after")
    await until(lambda: [m.id for m in ann.messages] == [first.id, second.id])


async def test_delete_reaction_and_poll_flows(server: RunningServer, make_sdk: MakeSDK) -> None:
    mod, viewer = make_sdk(), make_sdk()
    deleted: list[Message] = []
    reactions: list[Any] = []
    stats: list[dict[str, int]] = []
    polls: list[Any] = []
    viewer.on(Events.MESSAGE_DELETE, deleted.append)
    viewer.on(Events.REACTION, reactions.append)
    viewer.on(Events.REACTIONS_STATS, stats.append)
    viewer.on(Events.POLL, polls.append)
    await mod.connect("flows", "Mia", await server.token("mia", "moderator"), role="moderator")
    await viewer.connect("flows", "Vic", await server.token("vic"))

    own = await viewer.send_message("mine")
    other = await mod.send_message("theirs")
    with pytest.raises(ForbiddenError):
        await viewer.delete_message(other.id)
    await viewer.delete_message(own.id)
    await mod.delete_message(other.id)
    await until(lambda: [m.id for m in deleted] == [own.id, other.id])
    await until(lambda: all(m.deleted and m.text == "" for m in viewer.messages))

    await mod.send_reaction("clap")
    await viewer.send_reaction("clap")
    await until(lambda: len(reactions) == 2 and bool(stats) and stats[-1].get("clap") == 2)
    assert await viewer.get_reactions_stats() == {"clap": 2}

    poll = await mod.create_poll("Encore?", ["yes", "no"])
    await until(lambda: any(p.id == poll.id for p in polls))
    assert (await viewer.vote(poll.id, 0)).my_vote == 0
    await until(lambda: viewer.polls[poll.id].total_votes == 1)
    finished = await mod.finish_poll(poll.id)
    assert finished.status == "finished"
    await until(lambda: viewer.polls[poll.id].status == "finished")


async def test_scheduled_poll_through_a_restart(server: RunningServer, make_sdk: MakeSDK) -> None:
    import time

    mod, viewer = make_sdk(), make_sdk()
    published: list[Any] = []
    viewer.on(Events.POLL, published.append)
    await mod.connect("sched", "Mia", await server.token("mia", "admin"), role="admin")
    await viewer.connect("sched", "Vic", await server.token("vic"))
    poll = await mod.create_poll(
        "Later?", ["a", "b"], scheduled_date=int(time.time() * 1000) + 1200
    )
    assert poll.status == "scheduled"
    await mod.disconnect()
    await server.restart()
    await until(lambda: viewer.state is States.CONNECTED)
    await until(lambda: any(p.id == poll.id and p.status == "open" for p in published), timeout=6)
    assert [p.status for p in published if p.id == poll.id] == ["open"]


async def test_history_after_restart_and_idempotent_retry(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann = make_sdk()
    await ann.connect("hist", "Ann", await server.token("ann"))
    first = await ann.send_message("kept", cid="fixed-cid")
    again = await ann.send_message("kept", cid="fixed-cid")
    assert again.id == first.id
    await ann.disconnect()
    await server.restart()
    reader = make_sdk()
    await reader.connect("hist", "Rob", await server.token("rob"))
    page = await reader.load_history()
    assert [m.id for m in page] == [first.id]


async def test_recovers_after_the_connection_drops(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    from pchat.server.ws import SERVICE_KEY

    ann, bob = make_sdk(), make_sdk()
    await ann.connect("drop", "Ann", await server.token("ann"))
    await bob.connect("drop", "Bob", await server.token("bob"))
    assert server.runner is not None
    service = server.runner.app[SERVICE_KEY]
    bob_id = bob.user.id if bob.user else ""
    for session in service.sessions():
        if session.user is not None and session.user.id == bob_id:
            session.sink.abort()  # type: ignore[attr-defined]  # the network drops
    sent = [await ann.send_message(f"while away {i}") for i in range(3)]
    await ann.delete_message(sent[1].id)
    await until(lambda: bob.state is States.CONNECTED and len(bob.messages) == 3)
    assert [m.id for m in bob.messages] == [m.id for m in sent]
    assert [m.deleted for m in bob.messages] == [False, True, False]


async def test_older_polls_are_paged(tmp_path: Any) -> None:
    from tests.helpers import start_server

    srv = await start_server(tmp_path / "d", rate_polls=None, polls_in_connect=2)
    sdks: list[PChatSDK] = []
    try:

        async def join(sub: str, role: str | None = None) -> PChatSDK:
            sdk = PChatSDK(srv.url, request_timeout=t(5))
            sdks.append(sdk)
            await sdk.connect("pages", sub, await srv.token(sub, role), role=role)
            return sdk

        mia = await join("mia", "moderator")
        made = []
        for i in range(6):
            poll = await mia.create_poll(f"Q{i}", ["a", "b"])
            await mia.finish_poll(poll.id)
            made.append(poll.id)
            await asyncio.sleep(0.003)  # one creation time each: ordered by time, then id
        bob = await join("bob")
        assert list(bob.polls) == made[4:] and bob.has_more_polls
        page = await bob.get_polls(before=made[4], limit=3)
        assert [p.id for p in page] == made[1:4] and bob.has_more_polls
        await bob.get_polls(before=made[1])
        assert not bob.has_more_polls and set(bob.polls) == set(made)
    finally:
        for sdk in sdks:
            await sdk.disconnect()
        await srv.stop()
        assert srv.http is not None
        await srv.http.close()


async def test_vendor_style_connect_from_the_disconnect_handler_across_a_restart(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    """Code written for the vendor's SDK, which does not reconnect, calls connect() again
    from its DISCONNECT handler: that joins the SDK's own reconnection."""
    ann, bob = make_sdk(), make_sdk()
    token = await server.token("ann")
    disconnects: list[DisconnectEvent] = []
    reconnects: list[ConnectEvent] = []
    errors: list[Any] = []
    ann.on(Events.ERROR, errors.append)

    @ann.on(Events.DISCONNECT)
    async def connect_again(event: DisconnectEvent) -> None:
        disconnects.append(event)
        reconnects.append(await ann.connect("vendor", "Ann", token))

    await ann.connect("vendor", "Ann", token)
    before = await ann.send_message("before")
    await server.restart()
    await until(lambda: ann.state is States.CONNECTED and len(reconnects) == 1, timeout=15)
    mine = await ann.send_message("mine, after")
    await bob.connect("vendor", "Bob", await server.token("bob"))
    theirs = await bob.send_message("theirs, after")
    expected = [before.id, mine.id, theirs.id]
    await until(lambda: [m.id for m in ann.messages] == expected)
    await bob.load_history()
    assert [m.id for m in bob.messages] == expected
    ann.off(Events.DISCONNECT)  # or disconnect() would connect again
    assert [d.reconnect for d in disconnects] == [True] and errors == []
    assert ann.state is States.CONNECTED


async def test_a_send_made_while_reconnecting_is_sent_after_the_reconnect(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann = make_sdk(request_timeout=t(10))
    await ann.connect("away", "Ann", await server.token("ann"))
    await server.stop()
    await until(lambda: ann.state is States.RECONNECTING)
    sending = asyncio.create_task(ann.send_message("sent while away"))
    await asyncio.sleep(0.3)
    assert not sending.done()
    await server.start()
    sent = await sending
    assert ann.state is States.CONNECTED
    await until(lambda: [m.id for m in ann.messages] == [sent.id])
    reader = make_sdk()
    await reader.connect("away", "Rob", await server.token("rob"))
    assert [m.text for m in await reader.load_history()] == ["sent while away"]


async def test_load_history_accepts_each_documented_timestamp(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    ann = make_sdk()
    await ann.connect("stamps", "Ann", await server.token("ann"))
    sent = []
    for i in range(4):
        sent.append(await ann.send_message(f"m{i}"))
        await asyncio.sleep(0.005)  # one ms timestamp each
    cut = sent[2].ts
    reader = make_sdk()
    await reader.connect("stamps", "Rob", await server.token("rob"))
    iso = datetime.fromtimestamp(cut / 1000, UTC).isoformat(timespec="milliseconds")
    forms: list[Any] = [
        cut,
        str(cut),
        iso,
        iso.replace("+00:00", "Z"),
        datetime.fromtimestamp(cut / 1000, UTC),
    ]
    for form in forms:
        page = await reader.load_history(form)
        assert [m.id for m in page] == [sent[0].id, sent[1].id], form
    with pytest.raises(InvalidArgumentError):
        await reader.load_history("not a time")
