"""Rows to objects, shared by the SQL stores (SQLite, PostgreSQL).

Both select the columns in the same order, so one mapping serves both:

- messages: ``seq, id, user_id, username, role, text, cid, ts, deleted, deleted_by_id,
  deleted_by_name, deleted_by_role, deleted_at``;
- polls: ``id, question, status, created_by_id, created_by_name, created_by_role,
  created_at, publish_at, published_at, finished_at``, and ``(text, votes)`` per option.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pchat.protocol.models import Message, Poll, PollOption, User

__all__ = ["message_from_row", "poll_from_row"]


def message_from_row(row: Iterable[Any]) -> Message:
    """A message from its row (``deleted`` may be 0/1 or a boolean)."""
    (seq, mid, uid, name, role, text, cid, ts, deleted, by_id, by_name, by_role, at) = row
    return Message(
        id=mid,
        seq=seq,
        ts=ts,
        user=User(uid, name, role),
        text=text,
        cid=cid,
        deleted=bool(deleted),
        deleted_by=User(by_id, by_name, by_role) if by_id is not None else None,
        deleted_at=at,
    )


def poll_from_row(row: Iterable[Any], options: Iterable[Iterable[Any]]) -> Poll:
    """A poll from its row and its options' ``(text, votes)`` rows, in option order."""
    (pid, question, status, by_id, by_name, by_role, created, publish, published, finished) = row
    return Poll(
        id=pid,
        question=question,
        options=tuple(PollOption(text, votes) for text, votes in options),
        status=status,
        created_by=User(by_id, by_name, by_role),
        created_at=created,
        publish_at=publish,
        published_at=published,
        finished_at=finished,
    )
