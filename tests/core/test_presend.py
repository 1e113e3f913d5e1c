"""The pre-send hook's decision logic and failure policy, with fake hooks (no network)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import Mock

import pytest

from pchat.core.presend import (
    DEFAULT_REASON,
    MAX_REASON_CHARS,
    SERVER_API_REMOTE,
    Decision,
    Draft,
    HookError,
    Presend,
)
from pchat.core.ratelimit import StrikeCounter, TokenBucket
from pchat.core.session import Session
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError
from pchat.protocol.models import User

BOB = User("bob", "Bob")
DRAFT = Draft("r1", BOB, "hello there", cid="c-1", reply_to=None)


class FakeHook:
    """Answers each check with the next of ``answers`` (a Decision, or an exception to
    raise); records the drafts it saw."""

    def __init__(self, *answers: Decision | BaseException) -> None:
        self.answers = list(answers)
        self.seen: list[Draft] = []

    async def check(self, draft: Draft) -> Decision:
        self.seen.append(draft)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class SilentHook:
    """Never answers (until cancelled)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def check(self, draft: Draft) -> Decision:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


def presend(hook: Any, on_failure: str = "publish", timeout_ms: int = 5000) -> Presend:
    return Presend(hook, timeout_ms=timeout_ms, on_failure=on_failure, max_chars=20)


async def refused(p: Presend, draft: Draft = DRAFT) -> RequestError:
    with pytest.raises(RequestError) as info:
        await p.screen(draft)
    return info.value


# The answer's wire form ------------------------------------------------------------------


def test_the_drafts_wire_form() -> None:
    assert DRAFT.to_wire() == {
        "type": "presend",
        "room": "r1",
        "user": {"id": "bob", "username": "Bob", "role": "viewer"},
        "text": "hello there",
        "cid": "c-1",
        "reply_to": None,
    }


@pytest.mark.parametrize(
    ("wire", "decision"),
    [
        ({"action": "allow"}, Decision("allow")),
        ({"action": "allow", "text": "ignored", "extra": 1}, Decision("allow")),
        ({"action": "reject", "reason": " spam "}, Decision("reject", reason="spam")),
        ({"action": "reject"}, Decision("reject")),
        ({"action": "reject", "reason": None}, Decision("reject")),
        ({"action": "rewrite", "text": "hi"}, Decision("rewrite", text="hi")),
        ({"action": "rewrite", "text": ""}, Decision("rewrite", text="")),
    ],
)
def test_answers_that_are_decisions(wire: Any, decision: Decision) -> None:
    assert Decision.from_wire(wire) == decision


def test_a_long_reason_is_cut() -> None:
    decision = Decision.from_wire({"action": "reject", "reason": "x" * 1000})
    assert decision.reason == "x" * MAX_REASON_CHARS


@pytest.mark.parametrize(
    "wire",
    [
        None,
        "allow",
        ["allow"],
        {},
        {"action": "ALLOW"},
        {"action": "publish"},
        {"action": None},
        {"action": "reject", "reason": 42},
        {"action": "rewrite"},
        {"action": "rewrite", "text": None},
        {"action": "rewrite", "text": ["a"]},
    ],
)
def test_answers_that_are_not(wire: Any) -> None:
    with pytest.raises(HookError):
        Decision.from_wire(wire)


# Decisions -------------------------------------------------------------------------------


async def test_allow_keeps_the_text_and_the_hook_sees_the_draft() -> None:
    hook = FakeHook(Decision("allow"))
    assert await presend(hook).screen(DRAFT) == "hello there"
    assert hook.seen == [DRAFT]


async def test_reject_refuses_with_the_hooks_reason() -> None:
    error = await refused(presend(FakeHook(Decision("reject", reason="no links, please"))))
    assert error.code is ErrorCode.REJECTED and error.message == "no links, please"
    assert not error.temporary
    assert error.to_wire()["name"] == "rejected"


async def test_reject_without_a_reason_has_a_default_one() -> None:
    error = await refused(presend(FakeHook(Decision("reject"))))
    assert error.code is ErrorCode.REJECTED and error.message == DEFAULT_REASON


async def test_rewrite_replaces_the_text_validated_as_a_clients() -> None:
    hook = FakeHook(Decision("rewrite", text="  hi \u202ethere  "))
    assert await presend(hook).screen(DRAFT) == "hi there"  # trimmed, bidi control gone


@pytest.mark.parametrize("text", ["", "   ", "\u200b", "x" * 21])
@pytest.mark.parametrize("policy", ["publish", "reject"])
async def test_an_invalid_rewrite_is_a_failure(text: str, policy: str) -> None:
    p = presend(FakeHook(Decision("rewrite", text=text)), on_failure=policy)
    if policy == "publish":
        assert await p.screen(DRAFT) == "hello there"
    else:
        assert (await refused(p)).code is ErrorCode.UNAVAILABLE


# Failures and the policy -----------------------------------------------------------------

FAILURES = [
    HookError("HTTP 500"),
    HookError("the answer is not JSON"),
    ConnectionResetError("reset"),  # a bug of the hook's client: the policy still decides
    TimeoutError("the client's own timeout"),
]


@pytest.mark.parametrize("failure", FAILURES, ids=repr)
async def test_policy_publish_sends_the_message_unchanged(failure: BaseException) -> None:
    assert await presend(FakeHook(failure)).screen(DRAFT) == "hello there"


@pytest.mark.parametrize("failure", FAILURES, ids=repr)
async def test_policy_reject_refuses_temporarily(failure: BaseException) -> None:
    error = await refused(presend(FakeHook(failure), on_failure="reject"))
    assert error.code is ErrorCode.UNAVAILABLE and error.temporary


@pytest.mark.parametrize("policy", ["publish", "reject"])
async def test_a_hook_that_does_not_answer_in_time(policy: str) -> None:
    hook = SilentHook()
    p = presend(hook, on_failure=policy, timeout_ms=50)
    async with asyncio.timeout(5):  # the budget under test is 50 ms
        if policy == "publish":
            assert await p.screen(DRAFT) == "hello there"
        else:
            assert (await refused(p)).code is ErrorCode.UNAVAILABLE
    assert hook.cancelled  # the check was abandoned, not left running


async def test_cancelling_the_send_cancels_the_check() -> None:
    hook = SilentHook()
    task = asyncio.ensure_future(presend(hook).screen(DRAFT))
    await hook.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hook.cancelled


async def test_failures_are_logged_at_most_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = presend(FakeHook(*[HookError(f"HTTP {500 + i}") for i in range(5)]))
    with caplog.at_level(logging.WARNING, logger="pchat.core.presend"):
        for _ in range(5):
            await p.screen(DRAFT)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "HTTP 500" in lines[0] and "policy: publish" in lines[0]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="publish or reject"):
        presend(FakeHook(), on_failure="drop")
    with pytest.raises(ValueError, match="positive"):
        presend(FakeHook(), timeout_ms=0)


def session(remote: str) -> Session:
    return Session(
        sink=Mock(),
        closer=Mock(),
        frames=TokenBucket(1.0, 1, 0.0),
        strikes=StrikeCounter(None, 1.0),
        remote=remote,
        user=User("system", "System", "admin"),
        room_id="r1",
    )


def test_messages_of_the_operators_server_api_skip_the_hook() -> None:
    assert Presend.applies(session("203.0.113.7"))
    assert Presend.applies(session(""))
    assert not Presend.applies(session(SERVER_API_REMOTE))
