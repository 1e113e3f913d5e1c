"""Rows to objects and back, shared by the SQL stores (SQLite, PostgreSQL).

Both select and insert the columns named here, in this order, so one mapping serves both:

- messages: :data:`MESSAGE_COLUMNS`, as a SELECT list :data:`M` (``M_JOINED`` for the table
  alias ``m``);
- polls: :data:`POLL_COLUMNS`, as a SELECT list :data:`P` (``P_JOINED`` for the alias ``p``),
  and ``(text, votes)`` per option.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pchat.protocol.models import Message, Poll, PollOption, User

__all__ = [
    "MESSAGE_COLUMNS",
    "M_JOINED",
    "POLL_COLUMNS",
    "P_JOINED",
    "M",
    "P",
    "message_from_row",
    "poll_from_row",
    "poll_to_row",
]

#: A message row, as :func:`message_from_row` reads it.
MESSAGE_COLUMNS: Final = (
    "seq",
    "id",
    "user_id",
    "username",
    "role",
    "text",
    "cid",
    "ts",
    "deleted",
    "deleted_by_id",
    "deleted_by_name",
    "deleted_by_role",
    "deleted_at",
)

#: A poll row, as :func:`poll_to_row` writes it and :func:`poll_from_row` reads it.
POLL_COLUMNS: Final = (
    "id",
    "question",
    "status",
    "created_by_id",
    "created_by_name",
    "created_by_role",
    "created_at",
    "publish_at",
    "published_at",
    "finished_at",
)


def _select_list(columns: tuple[str, ...], table: str | None = None) -> str:
    prefix = "" if table is None else f"{table}."
    return ", ".join(prefix + column for column in columns)


M: Final = _select_list(MESSAGE_COLUMNS)
M_JOINED: Final = _select_list(MESSAGE_COLUMNS, "m")
P: Final = _select_list(POLL_COLUMNS)
P_JOINED: Final = _select_list(POLL_COLUMNS, "p")


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


def poll_to_row(poll: Poll) -> tuple[Any, ...]:
    """A poll's row, in the order of :data:`POLL_COLUMNS` (options are rows of their own)."""
    by = poll.created_by
    return (
        poll.id,
        poll.question,
        poll.status,
        by.id,
        by.username,
        by.role,
        poll.created_at,
        poll.publish_at,
        poll.published_at,
        poll.finished_at,
    )
