"""The rules of polls as pure functions (every store runs them: test_poll_store_conformance.py)."""

from __future__ import annotations

import pytest

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import ConflictError, InvalidRequestError, NotFoundError
from pchat.storage import poll_rules
from tests.storage.conformance import T0, make_poll


def test_a_vote_needs_an_existing_open_poll_and_option() -> None:
    poll = make_poll("p1")
    assert poll_rules.poll_to_vote(poll, 0) is poll
    assert poll_rules.poll_to_vote(poll, 2) is poll
    with pytest.raises(NotFoundError):
        poll_rules.poll_to_vote(None, 0)
    for status in ("scheduled", "finished"):
        with pytest.raises(ConflictError) as closed:
            poll_rules.poll_to_vote(make_poll("p2", status=status), 0)
        assert closed.value.code is ErrorCode.POLL_NOT_OPEN
        assert closed.value.message == f"the poll is {status}"
    for option in (-1, 3):
        with pytest.raises(InvalidRequestError) as invalid:
            poll_rules.poll_to_vote(poll, option)
        assert invalid.value.code is ErrorCode.INVALID_FIELD


def test_a_user_votes_once() -> None:
    poll_rules.first_vote(True)
    with pytest.raises(ConflictError) as again:
        poll_rules.first_vote(False)
    assert again.value.code is ErrorCode.ALREADY_VOTED


def test_a_counted_vote() -> None:
    poll = poll_rules.counted(poll_rules.counted(make_poll("p1"), 1), 1)
    assert [o.votes for o in poll.options] == [0, 2, 0]
    assert poll.my_vote == 1


def test_a_poll_is_finished_once() -> None:
    for status in ("open", "scheduled"):
        poll = make_poll("p1", status=status)
        assert poll_rules.poll_to_finish(poll) is poll
    with pytest.raises(NotFoundError):
        poll_rules.poll_to_finish(None)
    done = poll_rules.finished(make_poll("p1"), T0 + 5)
    assert (done.status, done.finished_at) == ("finished", T0 + 5)
    with pytest.raises(ConflictError) as again:
        poll_rules.poll_to_finish(done)
    assert again.value.code is ErrorCode.POLL_NOT_OPEN
