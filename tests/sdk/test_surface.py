"""The public surface the two SDKs share (tests/vectors/sdk_surface.json, read by
sdk/js/test/surface.test.ts too): payload fields, client properties, methods and options,
and the error class of every error code."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import pchat.protocol.errors
import pchat.protocol.models
import pchat.protocol.moderation
import pchat.sdk
from pchat.protocol.codes import ErrorCode
from pchat.protocol.frames import error_from_wire
from pchat.protocol.models import User
from pchat.sdk import (
    ConnectEvent,
    Events,
    PChatSDK,
    Reaction,
    ReactionEvent,
    StateChange,
    StateChangeEvent,
    States,
)

SURFACE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "sdk_surface.json").read_text()
)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@pytest.mark.parametrize("name", sorted(SURFACE["payloads"]))
def test_payload_fields(name: str) -> None:
    cls = getattr(pchat.sdk, name)
    assert [f.name for f in dataclasses.fields(cls)] == SURFACE["payloads"][name]["python"]


@pytest.mark.parametrize("name", sorted(SURFACE["objects"]))
def test_object_fields(name: str) -> None:
    """The wire objects: dataclass fields and properties (``Poll.total_votes``)."""
    cls = getattr(pchat.protocol.models, name, None) or getattr(pchat.protocol.moderation, name)
    properties = [n for n, v in vars(cls).items() if isinstance(v, property)]
    names = [f.name for f in dataclasses.fields(cls)] + properties
    assert sorted(names) == sorted(SURFACE["objects"][name]["python"])


@pytest.mark.parametrize("group", ["objects", "payloads"])
def test_the_languages_differ_only_in_case(group: str) -> None:
    for name, spec in SURFACE[group].items():
        assert all(n == n.lower() for n in spec["python"]), name
        assert spec["typescript"] == [camel(n) for n in spec["python"]], name


def test_events() -> None:
    events = {k: v for k, v in SURFACE["events"].items() if k != "description"}
    assert {e.name: e.value for e in Events} == events


def test_client_properties_methods_and_options() -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    for name in SURFACE["client_properties"]:
        assert hasattr(sdk, name), name
        assert not callable(getattr(sdk, name)), name
    for name in SURFACE["client_methods"]:
        assert callable(getattr(sdk, name)), name
    options = inspect.signature(PChatSDK).parameters
    for name in SURFACE["client_options"]:
        assert options[name].kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize("name", sorted(n for n in SURFACE["sdk_errors"] if n != "description"))
def test_sdk_side_errors(name: str) -> None:
    """The errors an SDK raises or reports itself, with their parent class."""
    cls = getattr(pchat.sdk, name, None) or getattr(pchat.protocol.errors, name)
    parent = getattr(pchat.protocol.errors, SURFACE["sdk_errors"][name])
    assert cls.__bases__[0] is parent


@pytest.mark.parametrize("case", SURFACE["errors"], ids=lambda c: str(c["code"]))
def test_error_classes(case: dict[str, Any]) -> None:
    error = error_from_wire({"code": case["code"]})
    assert type(error).__name__ == case["class"]
    assert (error.code.slug, error.temporary) == (case["name"], case["temporary"])


def test_errors_cover_every_code() -> None:
    assert [c["code"] for c in SURFACE["errors"]] == [int(c) for c in ErrorCode]


def test_older_names_still_work() -> None:
    user = User("u-1", "Ann")
    event = ConnectEvent(user, "lobby", "e1", 3, 1, None)
    assert event.room == event.room_id == "lobby"
    change = StateChangeEvent(States.CONNECTED, States.CONNECTING)
    assert (change.new, change.old) == (change.new_state, change.old_state)
    assert StateChange is StateChangeEvent and Reaction is ReactionEvent


def test_once_runs_a_handler_one_time_and_off_removes_it() -> None:
    sdk = PChatSDK("http://127.0.0.1:1")
    seen: list[Any] = []

    assert sdk.once(Events.ONLINE, seen.append) == seen.append
    sdk.emit(Events.ONLINE, 1)
    sdk.emit(Events.ONLINE, 2)
    assert seen == [1]

    @sdk.once("online")
    def bare() -> None:  # no parameter: called with none, as with on()
        seen.append("bare")

    sdk.emit(Events.ONLINE, 3)
    sdk.emit(Events.ONLINE, 4)
    assert seen == [1, "bare"]

    sdk.once(Events.ONLINE, seen.append)
    sdk.off(Events.ONLINE, seen.append)  # removed before it ran
    sdk.emit(Events.ONLINE, 5)
    assert seen == [1, "bare"] and sdk.listener_count(Events.ONLINE) == 0

    sdk.on(Events.ONLINE, seen.append)
    sdk.once(Events.ONLINE, seen.append)
    sdk.emit(Events.ONLINE, 6)  # both run; the once one is then gone
    sdk.emit(Events.ONLINE, 7)
    assert seen == [1, "bare", 6, 6, 7]
