"""The server API against a real server, through the Python server client: messages (the
same path as a client's send — order, fan-out, recovery, idempotency), rooms, moderation,
polls, and the refusals (bad bodies, unknown rooms, rate limits)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RequestError,
)
from pchat.protocol.models import User
from pchat.sdk import Events, PChatSDK, States
from pchat.server.ws import SERVICE_KEY
from pchat.server_client import ServerClient, UnauthorizedError
from tests.helpers import RunningServer, t
from tests.sdk.support import Gate, MakeSDK, cut_off, join, record, until

BASE = "/public-chat/admin/v1"


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ServerClient]:
    async with ServerClient(server.url, server.api_key, server.api_secret) as client:
        yield client


@pytest.fixture
async def make_sdk(server: RunningServer) -> AsyncIterator[MakeSDK]:
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


def _code(exc: pytest.ExceptionInfo[RequestError]) -> ErrorCode:
    return exc.value.code


async def _raw(
    server: RunningServer, method: str, path: str, data: bytes | None = None
) -> tuple[int, Any, dict[str, str]]:
    assert server.http is not None
    headers = {"auth-api-key": server.api_key, "auth-api-secret": server.api_secret}
    async with server.http.request(
        method, server.url + BASE + path, data=data, headers=headers
    ) as response:
        return response.status, await response.json(), dict(response.headers)


# -- messages ---------------------------------------------------------------------------------


async def test_published_messages_reach_clients_in_order_and_are_recovered(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    ann = await join(server, make_sdk, "lobby", "ann")
    gate = Gate()
    bob = await join(server, make_sdk, "lobby", "bob", connector=gate)
    carl = User("carl", "Carl", "viewer")
    sent = [
        await ann.send_message("ann 1"),
        (await api.publish("lobby", "system 1", cid="s-1")).message,
        (await api.publish("lobby", "carl 1", user=carl)).message,
        await ann.send_message("ann 2"),
    ]
    ids = [m.id for m in sent if m is not None]
    await until(lambda: [m.id for m in bob.messages] == ids)
    await until(lambda: [m.id for m in ann.messages] == ids)
    assert [m.seq for m in bob.messages] == sorted(m.seq for m in bob.messages)
    system = bob.messages[1]
    assert (system.user.id, system.user.username, system.user.role) == ("system", "System", "admin")
    assert (system.text, system.cid) == ("system 1", "s-1")
    assert bob.messages[2].user == carl

    # The same cid again: nothing new, the stored message.
    again = await api.publish("lobby", "system 1 (retry)", cid="s-1")
    assert again.duplicate and again.message is not None and again.message.id == ids[1]

    # Bob away: what the API and Ann publish meanwhile is recovered, in order.
    await cut_off(server, bob, gate)
    away = [
        (await api.publish("lobby", "while away 1")).message,
        await ann.send_message("while away 2"),
        (await api.publish("lobby", "while away 3", user=carl)).message,
    ]
    gate.down = False
    all_ids = ids + [m.id for m in away if m is not None]
    await until(lambda: bob.state is States.CONNECTED and len(bob.messages) == len(all_ids))
    assert [m.id for m in bob.messages] == all_ids
    # History through the API is the same stream.
    page = await api.history("lobby", limit=100)
    assert [m.id for m in page.messages] == all_ids and not page.has_more


async def test_a_named_user_goes_through_the_write_guard(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    mod = await join(server, make_sdk, "guarded", "mod", "moderator")
    dan = User("dan", "Dan", "viewer")
    await api.ban("guarded", "dan", duration=600, reason="spam")
    with pytest.raises(ForbiddenError) as banned:
        await api.publish("guarded", "let me in", user=dan)
    assert _code(banned) is ErrorCode.BANNED and banned.value.until is not None
    await api.unban("guarded", "dan")
    assert (await api.publish("guarded", "back", user=dan)).message is not None

    # Hold mode: a viewer's message waits for review; the system user's does not.
    await api.set_room_mode("guarded", hold=True)
    added = record(mod, Events.REVIEW_ADDED)
    held = await api.publish("guarded", "wait for me", user=dan, cid="h-1")
    assert held.message is None and held.held is not None and held.held.reason == "hold"
    assert (await api.publish("guarded", "wait for me", user=dan, cid="h-1")).duplicate
    assert (await api.publish("guarded", "system speaks")).message is not None
    await until(lambda: len(added) == 1)
    queue = await api.review_queue("guarded")
    assert [h.id for h in queue] == [held.held.id]
    approved = await api.approve("guarded", held.held.id)
    assert approved.id == held.held.id and approved.text == "wait for me"
    await until(lambda: any(m.id == approved.id for m in mod.messages))
    other = await api.publish("guarded", "reject me", user=dan)
    assert other.held is not None
    await api.reject("guarded", other.held.id, reason="no")
    assert await api.review_queue("guarded") == []
    with pytest.raises(NotFoundError):
        await api.approve("guarded", other.held.id)

    # Moderators-only: a viewer is refused, an admin (the system) is not.
    await api.set_room_mode("guarded", hold=False, mode="moderators_only")
    with pytest.raises(ForbiddenError) as mode:
        await api.publish("guarded", "hello", user=dan)
    assert _code(mode) is ErrorCode.ROOM_MODE


async def test_history_pages_and_deletes(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    ann = await join(server, make_sdk, "pages", "ann")
    sent = [(await api.publish("pages", f"m{i}")).message for i in range(5)]
    ids = [m.id for m in sent if m is not None]
    page = await api.history("pages", limit=2)
    assert [m.id for m in page.messages] == ids[3:] and page.has_more
    older = await api.history("pages", before_seq=page.messages[0].seq, limit=10)
    assert [m.id for m in older.messages] == ids[:3] and not older.has_more

    deletes = record(ann, Events.MESSAGE_DELETE)
    seq = await api.delete_message("pages", ids[1])
    assert seq > sent[-1].seq  # type: ignore[union-attr]
    await until(lambda: len(deletes) == 1)
    with pytest.raises(ConflictError) as twice:
        await api.delete_message("pages", ids[1])
    assert _code(twice) is ErrorCode.ALREADY_DELETED
    with pytest.raises(NotFoundError):
        await api.delete_message("pages", "no-such-message")
    deleted = (await api.history("pages")).messages[1]
    assert deleted.deleted and deleted.text == "" and deleted.deleted_by is not None
    assert deleted.deleted_by.id == "system"


# -- rooms ------------------------------------------------------------------------------------


async def test_live_rooms_and_a_rooms_state(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    for sub in ("a1", "a2", "a3"):
        await join(server, make_sdk, "big", sub)
    viewer = await join(server, make_sdk, "small", "b1")
    for i in range(3):
        await viewer.send_message(f"hi {i}")

    async def live() -> dict[str, Any]:
        return {r.id: r for r in (await api.rooms()).rooms}

    rooms: dict[str, Any] = {}

    async def counted() -> bool:
        rooms.update(await live())
        return rooms.get("big") is not None and rooms["big"].online == 3

    async with asyncio.timeout(t(5)):
        while not await counted():
            await asyncio.sleep(0.05)
    assert list(rooms)[:2] == ["big", "small"]  # the most crowded first
    small = rooms["small"]
    assert (small.online, small.messages_last_minute, small.last_seq) == (1, 3, 3)
    assert (await api.rooms(limit=1)).rooms[0].id == "big"
    assert (await api.rooms(limit=1)).total >= 2

    await api.pin("small", text="Welcome")
    poll = await api.create_poll("small", "Tea?", ["yes", "no"])
    state = await api.room("small")
    assert (state.id, state.last_seq, state.online, state.messages_last_minute) == (
        "small",
        3,
        1,
        3,
    )
    assert state.pin is not None and state.pin.text == "Welcome"
    assert [p.id for p in state.polls] == [poll.id]
    assert "like" in state.reaction_types and state.settings.mode == "open"

    # The room no one is in anymore leaves the list.
    await viewer.disconnect()

    async with asyncio.timeout(t(5)):
        while "small" in await live():
            await asyncio.sleep(0.05)


async def test_unknown_rooms_are_404_for_reads(api: ServerClient) -> None:
    reads = [
        api.room("nowhere"),
        api.history("nowhere"),
        api.bans("nowhere"),
        api.mod_log("nowhere"),
        api.filters("nowhere"),
        api.review_queue("nowhere"),
        api.reports("nowhere"),
        api.polls("nowhere"),
        api.poll("nowhere", "p1"),
        api.delete_message("nowhere", "m1"),
        api.unban("nowhere", "u1"),
        api.unpin("nowhere"),
        api.finish_poll("nowhere", "p1"),
    ]
    for call in reads:
        with pytest.raises(NotFoundError):
            await call
    # A write may create the room; reads of it then answer.
    assert (await api.publish("nowhere", "first")).message is not None
    assert len((await api.history("nowhere")).messages) == 1


async def test_calls_leave_nothing_of_a_room_no_client_is_in(
    server: RunningServer, api: ServerClient
) -> None:
    """The actor holds the room open for the call only: the node closes it again, and the
    features forget it (their per-room state would otherwise grow with every room)."""
    await api.publish("passing", "hello")
    await api.set_room_mode("passing", slow_mode=5)
    await api.ban("passing", "u1")
    await api.create_poll("passing", "Q?", ["a", "b"])
    await api.history("passing")
    await api.room("passing")
    assert server.runner is not None
    service = server.runner.app[SERVICE_KEY]
    assert "passing" not in service.node.room_ids()
    assert "passing" not in service.moderation._rooms  # the leak checked
    assert "passing" not in service.polls._seen
    # The state was kept all the same (the store's), and reads of it are fresh.
    assert (await api.room("passing")).settings.slow_mode == 5


# -- moderation -------------------------------------------------------------------------------


async def test_bans_timeouts_shadow_bans_and_kicks(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    vic = await join(server, make_sdk, "mods", "vic")
    mod = await join(server, make_sdk, "mods", "mod", "moderator")
    banned = record(vic, Events.BANNED, Events.UNBANNED)
    ban = await api.ban("mods", "vic", duration=60, reason="calm down")
    assert (ban.user_id, ban.by.id, ban.reason) == ("vic", "system", "calm down")
    assert ban.until is not None and ban.until > time.time() * 1000
    await until(lambda: [e for e, _ in banned] == [Events.BANNED])
    with pytest.raises(ForbiddenError):
        await vic.send_message("hey")
    assert [b.user_id for b in await api.bans("mods")] == ["vic"]
    await api.unban("mods", "vic")
    await until(lambda: [e for e, _ in banned] == [Events.BANNED, Events.UNBANNED])
    with pytest.raises(NotFoundError):
        await api.unban("mods", "vic")

    # A shadow ban: vic writes on; the moderator sees it marked, nobody else sees it.
    shadow = await api.ban("mods", "vic", shadow=True)
    assert shadow.shadow and shadow.until is None
    hidden = await vic.send_message("can you see me")
    await until(lambda: any(m.id == hidden.id for m in mod.messages))
    assert next(m for m in mod.messages if m.id == hidden.id).shadow
    await api.unban("mods", "vic")

    # A moderator cannot be banned by a ban of theirs, but the system (an admin) can ban
    # a moderator; nobody bans an admin connected here.
    await join(server, make_sdk, "mods", "boss", "admin")
    with pytest.raises(ForbiddenError):
        await api.ban("mods", "boss")
    with pytest.raises(InvalidRequestError):
        await api.ban("mods", "system")

    # A kick closes the user's connections (terminal).
    await api.ban("mods", "vic", kick=True)
    await until(lambda: vic.state is States.DISCONNECTED)
    actions = [e.action for e in (await api.mod_log("mods")).entries]
    assert actions[:1] == ["ban"] and "shadow_ban" in actions and "timeout" in actions


async def test_purge_modes_pins_and_the_log(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    ann = await join(server, make_sdk, "room2", "ann")
    bob = await join(server, make_sdk, "room2", "bob")
    first = await bob.send_message("spam 1")
    await bob.send_message("spam 2")
    keep = await ann.send_message("keep")
    purges = record(ann, Events.PURGE)
    result = await api.purge("room2", "bob")
    assert result.count == 2 and result.seq is not None
    await until(lambda: len(purges) == 1)
    assert (await api.purge("room2", "bob", within=60)).count == 0

    settings = await api.set_room_mode("room2", slow_mode=10, unique_chat=True, delay=5)
    assert (settings.slow_mode, settings.unique_chat, settings.delay) == (10, True, 5)
    await until(lambda: ann.room_settings.slow_mode == 10)
    with pytest.raises(InvalidRequestError) as nothing:
        await api.set_room_mode("room2")
    assert _code(nothing) is ErrorCode.MISSING_FIELD
    with pytest.raises(InvalidRequestError):
        await api.set_room_mode("room2", delay=61)

    pin = await api.pin("room2", message_id=keep.id)
    assert pin.message is not None and pin.message.id == keep.id
    await until(lambda: ann.pin is not None)
    with pytest.raises(NotFoundError):
        await api.pin("room2", message_id=first.id)  # deleted by the purge
    with pytest.raises(InvalidRequestError):
        await api.pin("room2", message_id=keep.id, text="both")
    await api.unpin("room2")
    await until(lambda: ann.pin is None)

    log = await api.mod_log("room2", limit=2)
    assert [e.action for e in log.entries] == ["unpin", "pin"] and log.has_more
    rest = await api.mod_log("room2", before=log.entries[-1].id)
    assert [e.action for e in rest.entries][:2] == ["room_mode", "purge"]


async def test_word_filter_entries(make_sdk: MakeSDK, api: ServerClient) -> None:
    entry = await api.add_filter("words", "darn*")
    assert (entry.pattern, entry.action) == ("darn*", "block")
    await api.add_filter("words", "heck", action="mask")
    await api.add_filter("words", "gosh", action="hold", scope="server")
    assert [e.pattern for e in await api.filters("words")] == ["darn*", "heck"]
    assert "gosh" in [e.pattern for e in await api.filters("words", scope="server")]
    dan = User("dan", "Dan", "viewer")
    with pytest.raises(RequestError) as blocked:
        await api.publish("words", "darnit", user=dan)
    assert _code(blocked) is ErrorCode.BLOCKED_WORD
    masked = await api.publish("words", "what the heck", user=dan)
    assert masked.message is not None and "heck" not in masked.message.text
    held = await api.publish("words", "oh gosh", user=dan)
    assert held.held is not None and held.held.reason == "filter"
    await api.remove_filter("words", "darn*")
    await api.remove_filter("words", "gosh", scope="server")
    with pytest.raises(NotFoundError):
        await api.remove_filter("words", "darn*")
    assert [e.pattern for e in await api.filters("words")] == ["heck"]
    with pytest.raises(InvalidRequestError):
        await api.add_filter("words", "x", action="explode")


async def test_reports_are_listed_and_resolved(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    author = await join(server, make_sdk, "rep", "author")
    first = await author.send_message("hmm")
    second = await author.send_message("hmm again")
    for sub in ("r1", "r2"):
        reporter = await join(server, make_sdk, "rep", sub)
        await reporter.report(first.id, reason="rude")
        await reporter.report(second.id)
    reports = await api.reports("rep")
    assert {r.message.id for r in reports} == {first.id, second.id}
    assert next(r for r in reports if r.message.id == first.id).reasons == ("rude",)
    await api.resolve_report("rep", first.id, "dismiss")
    await api.resolve_report("rep", second.id, "delete")
    assert await api.reports("rep") == []
    assert (await api.history("rep")).messages[1].deleted
    with pytest.raises(NotFoundError):
        await api.resolve_report("rep", first.id, "dismiss")
    with pytest.raises(InvalidRequestError):
        await api.resolve_report("rep", first.id, "burn")


# -- polls ------------------------------------------------------------------------------------


async def test_polls_create_schedule_finish_and_read(
    server: RunningServer, make_sdk: MakeSDK, api: ServerClient
) -> None:
    voter = await join(server, make_sdk, "polls", "voter")
    poll = await api.create_poll("polls", "Best tea?", ["green", "black"])
    assert poll.status == "open" and poll.created_by.id == "system"
    await until(lambda: poll.id in voter.polls)
    await voter.vote(poll.id, 1)
    counted = await api.poll("polls", poll.id)
    assert [o.votes for o in counted.options] == [0, 1] and counted.total_votes == 1

    soon = int(time.time() * 1000) + 400
    scheduled = await api.create_poll("polls", "Later?", ["a", "b"], publish_at=soon)
    assert scheduled.status == "scheduled"
    assert scheduled.id not in voter.polls
    await until(lambda: scheduled.id in voter.polls, timeout=10)
    assert (await api.poll("polls", scheduled.id)).status == "open"

    finished = await api.finish_poll("polls", poll.id)
    assert finished.status == "finished"
    with pytest.raises(ConflictError) as twice:
        await api.finish_poll("polls", poll.id)
    assert _code(twice) is ErrorCode.POLL_NOT_OPEN
    with pytest.raises(NotFoundError):
        await api.poll("polls", "no-such-poll")
    page = await api.polls("polls", limit=1)
    assert [p.id for p in page.polls] == [scheduled.id] and page.has_more
    with pytest.raises(InvalidRequestError):
        await api.create_poll("polls", "One?", ["only"])


# -- refusals ---------------------------------------------------------------------------------


async def test_bad_bodies_queries_and_paths(server: RunningServer) -> None:
    cases: list[tuple[str, str, bytes | None, int, int]] = [
        ("POST", "/rooms/lobby/messages", b"{not json", 400, 101),
        ("POST", "/rooms/lobby/messages", b"[1, 2]", 400, 101),
        ("POST", "/rooms/lobby/messages", b"\xff\xfe", 400, 101),
        ("POST", "/rooms/lobby/messages", b"{}", 400, 103),
        ("POST", "/rooms/lobby/messages", b'{"text": 5}', 400, 104),
        ("POST", "/rooms/lobby/messages", b'{"text": "   "}', 400, 110),
        ("POST", "/rooms/lobby/messages", b'{"text": "x", "user": "bob"}', 400, 104),
        ("POST", "/rooms/lobby/messages", b'{"text": "x", "user": {"id": "b"}}', 400, 103),
        (
            "POST",
            "/rooms/lobby/messages",
            b'{"text": "x", "user": {"id": "b", "username": "B", "role": "god"}}',
            400,
            104,
        ),
        ("POST", "/rooms/bad%20room/messages", b'{"text": "x"}', 400, 115),
        ("POST", "/rooms/lobby/bans", b'{"user_id": "u", "duration": -1}', 400, 104),
        ("POST", "/rooms/lobby/bans", b'{"user_id": "u", "kick": "yes"}', 400, 104),
        ("POST", "/rooms/lobby/polls", b'{"question": "q", "options": "ab"}', 400, 104),
        ("PATCH", "/rooms/lobby/settings", b'{"mode": "chaos"}', 400, 104),
        ("GET", "/rooms?limit=0", None, 400, 104),
        ("GET", "/rooms?limit=x", None, 400, 104),
    ]
    for method, path, data, status, code in cases:
        got, body, _ = await _raw(server, method, path, data)
        assert (got, body["error"].get("code")) == (status, code), (path, data, body)
        assert set(body["error"]) >= {"code", "name", "message"}
    await _raw(server, "POST", "/rooms/lobby/messages", b'{"text": "x"}')
    for query in ("limit=0", "limit=x", "before_seq=-1", "limit=101"):
        got, body, _ = await _raw(server, "GET", f"/rooms/lobby/messages?{query}")
        assert (got, body["error"]["code"]) == (400, 104), query


async def test_the_system_user_is_rate_limited_like_a_client(server: RunningServer) -> None:
    statuses: list[int] = []
    retry_after = None
    for i in range(30):
        status, body, headers = await _raw(
            server, "POST", "/rooms/fast/messages", f'{{"text": "m{i}"}}'.encode()
        )
        statuses.append(status)
        if status == 429:
            assert body["error"]["name"] == "rate_limited" and body["error"]["temporary"]
            retry_after = int(headers["Retry-After"])
            break
    assert statuses[-1] == 429 and statuses[:-1] == [200] * (len(statuses) - 1)
    assert retry_after is not None and retry_after >= 1


async def test_the_client_raises_typed_errors(server: RunningServer, api: ServerClient) -> None:
    async with ServerClient(server.url, server.api_key, "sk_wrong") as wrong:
        with pytest.raises(UnauthorizedError):
            await wrong.rooms()
    with pytest.raises(RateLimitedError) as limited:
        for i in range(30):
            await api.publish("typed", f"m{i}")
    assert limited.value.retry_after_ms is not None
    spec = await api.openapi()
    assert spec["openapi"] == "3.1.0"
