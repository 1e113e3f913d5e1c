"""The SDK's room state against the shared vectors (tests/vectors/room_state.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Held, Pin, Report
from pchat.sdk.events import (
    BannedEvent,
    Events,
    MessageRejectedEvent,
    PurgeEvent,
    Reaction,
    ReportRemovedEvent,
    ReviewRemovedEvent,
    SampledEvent,
)
from pchat.sdk.room_state import Outcome, RoomState

VECTORS = Path(__file__).parent.parent / "vectors" / "room_state.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))
SURFACE = Path(__file__).parent.parent / "vectors" / "sdk_surface.json"
OBJECTS: dict[str, Any] = json.loads(SURFACE.read_text(encoding="utf-8"))["objects"]


def plain(value: Any) -> Any:
    """An SDK object as JSON: the fields sdk_surface.json lists for Python, recursively."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    spec = OBJECTS.get(type(value).__name__)
    if spec is None:
        return value
    return {name: plain(getattr(value, name)) for name in spec["python"]}


def event_string(event: Events, payload: Any) -> str:
    """The vectors' string form of one event (see tests/vectors/README.md)."""
    if event in (
        Events.MESSAGE,
        Events.MESSAGE_DELETE,
        Events.MENTION,
        Events.MESSAGE_HIDDEN,
        Events.MESSAGE_RESTORED,
    ):
        assert isinstance(payload, Message)
        return f"{event.value}:{payload.id}"
    if event in (Events.MUTED, Events.UNMUTED):
        assert isinstance(payload, str)
        return f"{event.value}:{payload}"
    if event is Events.REVIEW_ADDED:
        assert isinstance(payload, Held)
        return f"review_added:{payload.id}:{payload.reason}"
    if event is Events.REVIEW_REMOVED:
        assert isinstance(payload, ReviewRemovedEvent)
        by = "null" if payload.by is None else payload.by.id
        return f"review_removed:{payload.id}:{payload.outcome}:{by}"
    if event is Events.REPORT_ADDED:
        assert isinstance(payload, Report)
        return f"report_added:{payload.message.id}:{payload.count}"
    if event is Events.REPORT_REMOVED:
        assert isinstance(payload, ReportRemovedEvent)
        return f"report_removed:{payload.message_id}:{payload.outcome}:{payload.by.id}"
    if event is Events.MESSAGE_REJECTED:
        assert isinstance(payload, MessageRejectedEvent)
        return f"message_rejected:{payload.id}:{payload.reason}"
    if event is Events.SAMPLED:
        assert isinstance(payload, SampledEvent)
        return f"sampled:{payload.every}"
    if event is Events.HISTORY_LOAD:
        return "history_load:" + ",".join(m.id for m in payload)
    if event is Events.POLL:
        assert isinstance(payload, Poll)
        return f"poll:{payload.id}"
    if event is Events.REACTION:
        assert isinstance(payload, Reaction)
        return f"reaction:{payload.reaction}"
    if event is Events.ONLINE:
        return f"online:{payload}"
    if event is Events.PIN:
        assert payload is None or isinstance(payload, Pin)
        if payload is None:
            return "pin:none"
        return f"pin:message:{payload.message.id}" if payload.message else "pin:text"
    if event is Events.BANNED:
        assert isinstance(payload, BannedEvent)
        return f"banned:{'null' if payload.until is None else payload.until}"
    if event is Events.UNBANNED:
        assert payload is None
    if event is Events.PURGE:
        assert isinstance(payload, PurgeEvent)
        return f"purge:{payload.user_id}:{payload.since}"
    return event.value


def apply_step(state: RoomState, kind: str, frame: dict[str, Any], sent: list[Any]) -> Outcome:
    """Apply one step; a ``send`` step's return is appended to ``sent``."""
    if kind in ("connect", "recovery"):
        if kind == "recovery":
            assert state.joined and "recovery" in frame
        return state.apply_connect(frame)
    if kind == "push":
        return state.apply_push(frame)
    if kind == "history":
        return state.apply_history(frame)
    if kind == "send":
        result, outcome = state.apply_send_reply(frame)
        sent.append(result)
        return outcome
    if kind in ("mute_reply", "unmute_reply"):
        return state.apply_mute(frame["user_id"], muted=kind == "mute_reply")
    if kind == "mutes_reply":
        return state.apply_mutes(frame["user_ids"])
    if kind == "poll_reply":
        return state.apply_poll(frame["poll"])[1]
    if kind == "settings_reply":
        return state.apply_room_settings(frame["settings"])
    if kind == "pin_reply":
        return state.apply_pin(frame["pin"])
    raise AssertionError(f"unknown step kind {kind!r}")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    state = RoomState()
    events: list[str] = []
    gap = False
    reset = False
    recovered: bool | None = None
    sent: list[Any] = [None]
    for step in case["steps"]:
        outcome = apply_step(state, step["kind"], step["frame"], sent)
        events += [event_string(ev, payload) for ev, payload in outcome.events]
        gap = gap or outcome.gap
        if step["kind"] in ("connect", "recovery"):
            reset, recovered = outcome.reset, outcome.recovered

    expect = case["expect"]
    held = [
        {"id": m.id, "seq": m.seq, "text": m.text, "deleted": m.deleted} for m in state.messages
    ]
    assert held == expect["messages"]
    assert state.last_seq == expect["last_seq"]
    assert state.epoch == expect["epoch"]
    assert gap == expect.get("gap", False)
    if "reset" in expect:
        assert reset == expect["reset"]
    if "recovered" in expect:
        assert recovered == expect["recovered"]
    if "has_more" in expect:
        assert state.has_more == expect["has_more"]
    if "polls" in expect:
        polls = {
            pid: {"status": p.status, "votes": [o.votes for o in p.options], "my_vote": p.my_vote}
            for pid, p in state.polls.items()
        }
        assert polls == expect["polls"]
    if "stats" in expect:
        assert state.stats == expect["stats"]
    if "online" in expect:
        assert state.online == expect["online"]
    if "events" in expect:
        assert events == expect["events"]
    if "objects" in expect:
        held_objects = {
            "user": state.user,
            "messages": state.messages,
            "polls": list(state.polls.values()),
            "limits": state.limits,
            "room_settings": state.room_settings,
            "pin": state.pin,
            "my_ban": state.my_ban,
            "mutes": state.mutes,
            "sent": sent[-1],
        }
        # A case lists what it checks; the objects case lists everything a state holds.
        wanted = expect["objects"]["python"]
        assert plain({k: held_objects[k] for k in wanted}) == wanted


def test_vectors_cover_the_required_situations() -> None:
    kinds = {step["kind"] for case in CASES for step in case["steps"]}
    assert kinds == {
        "connect",
        "recovery",
        "push",
        "history",
        "send",
        "poll_reply",
        "settings_reply",
        "pin_reply",
        "mute_reply",
        "unmute_reply",
        "mutes_reply",
    }
    assert any(case["expect"].get("gap") for case in CASES)
    assert any(case["expect"].get("reset") for case in CASES)
    pushes = {
        event["type"]
        for case in CASES
        for step in case["steps"]
        for event in (
            [step["frame"]]
            if step["kind"] == "push"
            else step["frame"].get("recovery", {}).get("events", [])
        )
    }
    assert pushes >= {
        "message",
        "message_delete",
        "message_purge",
        "message_hide",
        "message_restore",
        "skip",
        "muted",
        "unmuted",
        "review_add",
        "review_remove",
        "report_add",
        "report_remove",
        "message_rejected",
        "sampled",
    }


def test_delete_of_an_unknown_message_builds_one_from_the_push() -> None:
    state = RoomState()
    state.apply_connect(CASES[0]["steps"][0]["frame"])
    by = {"id": "u-mod", "username": "Mia", "role": "moderator"}
    outcome = state.apply_push(
        {
            "type": "message_delete",
            "seq": 1,
            "message_id": "old",
            "message_seq": 0,
            "deleted_by": by,
            "ts": 5,
        }
    )
    [(event, message)] = outcome.events
    assert event is Events.MESSAGE_DELETE
    assert message.id == "old" and message.deleted and message.deleted_at == 5
    assert message.deleted_by == User.from_wire(by)
    assert state.messages == []


def test_messages_stay_sorted_when_a_send_reply_comes_first() -> None:
    state = RoomState()
    state.apply_connect(CASES[0]["steps"][0]["frame"])
    user = {"id": "u", "username": "U", "role": "viewer"}

    def wire(mid: str, seq: int) -> dict[str, Any]:
        return {"id": mid, "seq": seq, "ts": seq, "user": user, "text": mid, "deleted": False}

    state.apply_sent(Message.from_wire(wire("b", 2)))
    state.apply_push({"type": "message", "seq": 1, "message": wire("a", 1)})
    state.apply_push({"type": "message", "seq": 2, "message": wire("b", 2)})
    assert [m.id for m in state.messages] == ["a", "b"]
    assert state.last_seq == 2
