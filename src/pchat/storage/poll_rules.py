"""The rules of polls, in one place for every store.

A store reads what the rules need inside the transaction of the write (the poll, locked
where the database can lock it; whether the user's vote was new), calls the rule, and
writes only if the rule let it through. The rules raise the documented request errors, with
one wording for every store:

- a poll that does not exist: ``NOT_FOUND``;
- a vote needs an open poll (``POLL_NOT_OPEN``: scheduled or finished) and an existing
  option (``INVALID_FIELD``);
- a user votes once per poll (``ALREADY_VOTED``);
- a finished poll cannot be finished again (``POLL_NOT_OPEN``); a scheduled one can.

Publishing (``scheduled`` to ``open``, exactly once) is a conditional write in each store:
there is nothing to check before it.
"""

from __future__ import annotations

from dataclasses import replace

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.protocol.models import Poll

__all__ = ["counted", "finished", "first_vote", "poll_to_finish", "poll_to_vote"]


def _existing(poll: Poll | None) -> Poll:
    if poll is None:
        raise request_error(ErrorCode.NOT_FOUND, "no such poll")
    return poll


def poll_to_vote(poll: Poll | None, option: int) -> Poll:
    """``poll``, if a vote for ``option`` may go to it: it exists, is open, has the option."""
    poll = _existing(poll)
    if poll.status != "open":
        raise request_error(ErrorCode.POLL_NOT_OPEN, f"the poll is {poll.status}")
    if not 0 <= option < len(poll.options):
        raise request_error(ErrorCode.INVALID_FIELD, "option: out of range")
    return poll


def first_vote(recorded: bool) -> None:
    """A user votes once: ``recorded`` says whether the store took the vote as the user's
    first on the poll (its insert did not meet an earlier vote)."""
    if not recorded:
        raise request_error(ErrorCode.ALREADY_VOTED, "you voted in this poll already")


def counted(poll: Poll, option: int) -> Poll:
    """``poll`` as it stands after the vote for ``option``: one more vote there, and the
    voter's choice as ``my_vote``."""
    options = list(poll.options)
    options[option] = replace(options[option], votes=options[option].votes + 1)
    return replace(poll, options=tuple(options), my_vote=option)


def poll_to_finish(poll: Poll | None) -> Poll:
    """``poll``, if it may be finished: it exists and is not finished already."""
    poll = _existing(poll)
    if poll.status == "finished":
        raise request_error(ErrorCode.POLL_NOT_OPEN, "the poll is finished")
    return poll


def finished(poll: Poll, ts: int) -> Poll:
    """``poll`` as finished at ``ts``."""
    return replace(poll, status="finished", finished_at=ts)
