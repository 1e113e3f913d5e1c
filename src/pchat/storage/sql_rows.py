"""Rows to objects and back, shared by the SQL stores (SQLite, PostgreSQL).

Both select and insert the columns named here, in this order, so one mapping serves both:

- messages: :data:`MESSAGE_COLUMNS`, as a SELECT list :data:`M` (``M_JOINED`` for the table
  alias ``m``); a new message's row is :data:`NEW_MESSAGE_COLUMNS`, the first of them (as a
  list :data:`M_NEW`), written by :func:`message_to_row`; ``mentions`` is a JSON array (the
  stores read it as text), NULL for none — as in every row written before mentions;
- polls: :data:`POLL_COLUMNS`, as a SELECT list :data:`P` (``P_JOINED`` for the alias ``p``),
  and ``(text, votes)`` per option;
- moderation: bans (:data:`BAN_COLUMNS`), room settings (:data:`SETTINGS_COLUMNS`) and the
  moderation log (:data:`MOD_LOG_COLUMNS`), each with its ``*_to_row`` and ``*_from_row``; a
  pin is one JSON text (:func:`pin_to_json`), as are a log entry's ``details``;
- the word filter's blocklists: the query :func:`sql_filter_entries`, whose ``(pattern,
  action)`` rows are :class:`~pchat.protocol.wordfilter.FilterEntry`'s fields;
- purges: :data:`PURGE_COLUMNS` (as a list :data:`PU`) after ``room_id, seq``, the position
  of the purge's event, written by :func:`purge_to_row`;
- held messages: :data:`HELD_COLUMNS` (as a list :data:`H`), written by :func:`held_to_row`
  and read by :func:`held_from_row` (``mentions`` as in a message row);
- stream events: the query :func:`sql_events`, each row read by :func:`event_from_row`;
- reports: the query :func:`sql_reports`, its rows read by :func:`reports_from_rows`.
- and what both stamp and page by: :func:`now_ms` and :data:`MAX_SEQ`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

import orjson

from pchat.protocol.models import Message, Poll, PollOption, User
from pchat.protocol.moderation import (
    REPORT_REASONS_MAX,
    Ban,
    Held,
    ModAction,
    Pin,
    Report,
    RoomSettings,
)

from .base import Purge, StreamEvent

__all__ = [
    "BAN_COLUMNS",
    "HELD_COLUMNS",
    "MAX_SEQ",
    "MESSAGE_COLUMNS",
    "MOD_LOG_COLUMNS",
    "M_JOINED",
    "M_NEW",
    "NEW_MESSAGE_COLUMNS",
    "POLL_COLUMNS",
    "PU",
    "PURGE_COLUMNS",
    "P_JOINED",
    "SETTINGS_COLUMNS",
    "B",
    "H",
    "L",
    "M",
    "P",
    "S",
    "ban_from_row",
    "ban_to_row",
    "event_from_row",
    "held_from_row",
    "held_to_row",
    "message_from_row",
    "message_to_row",
    "mod_action_from_row",
    "mod_action_to_row",
    "now_ms",
    "pin_from_json",
    "pin_to_json",
    "poll_from_row",
    "poll_to_row",
    "purge_to_row",
    "reports_from_rows",
    "settings_from_row",
    "settings_to_row",
    "sql_events",
    "sql_filter_entries",
    "sql_reports",
]

#: The largest stream position or log id (a BIGINT's): "before the newest" when paging.
MAX_SEQ: Final = (1 << 63) - 1


def now_ms() -> int:
    """The wall clock in ms, for what a store stamps itself (a new room, a vote, an event)."""
    return time.time_ns() // 1_000_000


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
    "reply_to",
    "mentions",
    "shadow",
    "hidden",
    "deleted",
    "deleted_by_id",
    "deleted_by_name",
    "deleted_by_role",
    "deleted_at",
)

#: A new message's row, as :func:`message_to_row` writes it (not deleted: the ``deleted*``
#: columns keep their defaults).
NEW_MESSAGE_COLUMNS: Final = MESSAGE_COLUMNS[: MESSAGE_COLUMNS.index("deleted")]

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

#: A ban row, as :func:`ban_to_row` writes it and :func:`ban_from_row` reads it.
BAN_COLUMNS: Final = (
    "user_id",
    "by_id",
    "by_name",
    "by_role",
    "created_at",
    "until",
    "reason",
    "shadow",
)

#: A room's settings row, as :func:`settings_to_row` writes it.
SETTINGS_COLUMNS: Final = (
    "slow_mode",
    "unique_chat",
    "max_message_chars",
    "mode",
    "hold",
    "delay",
)

#: A moderation log row, as :func:`mod_action_from_row` reads it; :func:`mod_action_to_row`
#: writes every column but the first (``id``, given by the store).
MOD_LOG_COLUMNS: Final = (
    "id",
    "action",
    "by_id",
    "by_name",
    "by_role",
    "ts",
    "target_user_id",
    "message_id",
    "reason",
    "details",
)

#: A purge row after ``room_id, seq``, as :func:`purge_to_row` writes it.
PURGE_COLUMNS: Final = ("user_id", "since", "by_id", "by_name", "by_role", "ts", "count")

#: A held message's row after ``room_id``, as :func:`held_to_row` writes it and
#: :func:`held_from_row` reads it.
HELD_COLUMNS: Final = (
    "id",
    "user_id",
    "username",
    "role",
    "text",
    "cid",
    "ts",
    "reason",
    "release_at",
    "reply_to",
    "mentions",
)


def _select_list(columns: tuple[str, ...], table: str | None = None) -> str:
    prefix = "" if table is None else f"{table}."
    return ", ".join(prefix + column for column in columns)


M: Final = _select_list(MESSAGE_COLUMNS)
M_JOINED: Final = _select_list(MESSAGE_COLUMNS, "m")
M_NEW: Final = _select_list(NEW_MESSAGE_COLUMNS)
P: Final = _select_list(POLL_COLUMNS)
P_JOINED: Final = _select_list(POLL_COLUMNS, "p")
B: Final = _select_list(BAN_COLUMNS)
S: Final = _select_list(SETTINGS_COLUMNS)
L: Final = _select_list(MOD_LOG_COLUMNS)
PU: Final = _select_list(PURGE_COLUMNS)
H: Final = _select_list(HELD_COLUMNS)

# The purge's columns renamed: a row holds a message's ``user_id`` and ``ts`` too.
_PURGE_AS: Final = ", ".join(f"pu.{c} AS purge_{c}" for c in PURGE_COLUMNS)
_PURGE_AT: Final = 3 + len(MESSAGE_COLUMNS)


def sql_events(room: str, after: str, limit: str) -> str:
    """The query of a room's stream events after a position, oldest first, as
    :func:`event_from_row` reads them; the arguments are the store's placeholders.

    An event joins its message by ``message_seq`` (a purge's is 0: no message has that
    position) and its purge by its own position. The purges are bounded by the page's
    range too, so that a planner joining them as a range (a merge join) reads only the
    page's, never every purge of the room.
    """
    return f"""
    SELECT e.seq AS event_seq, e.kind, e.ts AS event_ts, {M_JOINED}, {_PURGE_AS} FROM events AS e
    LEFT JOIN messages AS m ON m.room_id = e.room_id AND m.seq = e.message_seq
    LEFT JOIN purges AS pu ON e.kind = 'message_purge'
        AND pu.room_id = {room} AND pu.seq > {after} AND pu.seq = e.seq
    WHERE e.room_id = {room} AND e.seq > {after} ORDER BY e.seq LIMIT {limit}"""


def sql_reports(room: str, limit: str, message: str | None = None) -> str:
    """The query of a room's open reports (of ``message`` only, when given), as
    :func:`reports_from_rows` reads them; the arguments are the store's placeholders.

    One row per reported message and distinct non-empty reason (the newest
    :data:`~pchat.protocol.moderation.REPORT_REASONS_MAX`; one row with a NULL reason for a
    message reported without any): the message, its report count and last report's ``ts``,
    and the reason. The messages most recently reported come first, the newest reasons
    first within each. A deleted message's reports are not open.
    """
    one = "" if message is None else f"AND message_id = {message}"
    # The reports are counted first, on their own (a grouped subquery is not merged into the
    # join): the room's messages are then looked up by id, never walked.
    return f"""
    WITH counts AS (
        SELECT message_id, count(*) AS n, max(ts) AS last_ts FROM reports
        WHERE room_id = {room} {one} GROUP BY message_id
    ), top AS (
        SELECT c.message_id, m.seq, c.n, c.last_ts FROM counts AS c
        JOIN messages AS m ON m.room_id = {room} AND m.id = c.message_id
        WHERE NOT m.deleted
        ORDER BY c.last_ts DESC, m.seq DESC LIMIT {limit}
    ), why AS (
        SELECT r.message_id, r.reason, row_number() OVER (
            PARTITION BY r.message_id ORDER BY max(r.ts) DESC, r.reason
        ) AS rank
        FROM reports AS r
        WHERE r.room_id = {room} AND r.message_id IN (SELECT message_id FROM top)
            AND r.reason <> ''
        GROUP BY r.message_id, r.reason
    )
    SELECT {M_JOINED}, top.n, top.last_ts, why.reason FROM top
    JOIN messages AS m ON m.room_id = {room} AND m.seq = top.seq
    LEFT JOIN why ON why.message_id = top.message_id AND why.rank <= {REPORT_REASONS_MAX}
    ORDER BY top.last_ts DESC, top.seq DESC, why.rank"""


def reports_from_rows(rows: Iterable[Any]) -> list[Report]:
    """The reports of :func:`sql_reports`' rows, in their order."""
    reports: list[Report] = []
    width = len(MESSAGE_COLUMNS)
    for row in rows:
        message = message_from_row(row[:width])
        count, last_ts, reason = row[width], row[width + 1], row[width + 2]
        if not reports or reports[-1].message.id != message.id:
            reports.append(Report(message, count, (), last_ts))
        if reason is not None:
            last = reports[-1]
            reports[-1] = Report(last.message, last.count, (*last.reasons, reason), last.last_ts)
    return reports


def sql_filter_entries(room: str) -> str:
    """The query of a room's blocklist, oldest first, as ``(pattern, action)`` rows; ``room``
    is the store's placeholder. ``seq`` orders the entries as they were added: changing an
    entry's action keeps its place."""
    return f"SELECT pattern, action FROM filter_entries WHERE room_id = {room} ORDER BY seq"


def message_to_row(message: Message) -> tuple[Any, ...]:
    """A new message's row, in the order of :data:`NEW_MESSAGE_COLUMNS`."""
    m, user = message, message.user
    mentions = orjson.dumps(m.mentions).decode() if m.mentions else None
    return (
        m.seq,
        m.id,
        user.id,
        user.username,
        user.role,
        m.text,
        m.cid,
        m.ts,
        m.reply_to,
        mentions,
        m.shadow,
        m.hidden,
    )


def message_from_row(row: Iterable[Any]) -> Message:
    """A message from its row (``deleted`` may be 0/1 or a boolean)."""
    (seq, mid, uid, name, role, text, cid, ts, reply_to, mentions, *rest) = row
    shadow, hidden, deleted, by_id, by_name, by_role, at = rest
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
        reply_to=reply_to,
        mentions=tuple(orjson.loads(mentions)) if mentions else (),
        shadow=bool(shadow),
        hidden=bool(hidden),
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


def ban_to_row(ban: Ban) -> tuple[Any, ...]:
    """A ban's row, in the order of :data:`BAN_COLUMNS`."""
    by = ban.by
    return (
        ban.user_id,
        by.id,
        by.username,
        by.role,
        ban.created_at,
        ban.until,
        ban.reason,
        ban.shadow,
    )


def ban_from_row(row: Iterable[Any]) -> Ban:
    (user_id, by_id, by_name, by_role, created_at, until, reason, shadow) = row
    return Ban(user_id, User(by_id, by_name, by_role), created_at, until, reason, bool(shadow))


def settings_to_row(settings: RoomSettings) -> tuple[Any, ...]:
    """A room's settings row, in the order of :data:`SETTINGS_COLUMNS`."""
    s = settings
    return (s.slow_mode, s.unique_chat, s.max_message_chars, s.mode, s.hold, s.delay)


def settings_from_row(row: Iterable[Any]) -> RoomSettings:
    """Settings from their row (``unique_chat`` may be 0/1 or a boolean)."""
    (slow_mode, unique_chat, max_message_chars, mode, hold, delay) = row
    return RoomSettings(slow_mode, bool(unique_chat), max_message_chars, mode, bool(hold), delay)


def pin_to_json(pin: Pin) -> str:
    return orjson.dumps(pin.to_wire()).decode()


def pin_from_json(text: str) -> Pin:
    return Pin.from_wire(orjson.loads(text))


def mod_action_to_row(action: ModAction) -> tuple[Any, ...]:
    """A log entry's row without its ``id``: :data:`MOD_LOG_COLUMNS` from the second on."""
    a, by = action, action.by
    details = orjson.dumps(a.details).decode()
    return (
        a.action,
        by.id,
        by.username,
        by.role,
        a.ts,
        a.target_user_id,
        a.message_id,
        a.reason,
        details,
    )


def mod_action_from_row(row: Iterable[Any]) -> ModAction:
    (log_id, action, by_id, by_name, by_role, ts, target, message_id, reason, details) = row
    by = User(by_id, by_name, by_role)
    return ModAction(action, by, ts, target, message_id, reason, orjson.loads(details), log_id)


def purge_to_row(purge: Purge) -> tuple[Any, ...]:
    """A purge's row, in the order of :data:`PURGE_COLUMNS`."""
    p, by = purge, purge.by
    return (p.user_id, p.since, by.id, by.username, by.role, p.ts, p.count)


def held_to_row(held: Held) -> tuple[Any, ...]:
    """A held message's row, in the order of :data:`HELD_COLUMNS`."""
    h, user = held, held.user
    mentions = orjson.dumps(h.mentions).decode() if h.mentions else None
    return (
        h.id,
        user.id,
        user.username,
        user.role,
        h.text,
        h.cid,
        h.ts,
        h.reason,
        h.release_at,
        h.reply_to,
        mentions,
    )


def held_from_row(row: Iterable[Any]) -> Held:
    (hid, uid, name, role, text, cid, ts, reason, release_at, reply_to, mentions) = row
    return Held(
        id=hid,
        ts=ts,
        user=User(uid, name, role),
        text=text,
        reason=reason,
        release_at=release_at,
        cid=cid,
        reply_to=reply_to,
        mentions=tuple(orjson.loads(mentions)) if mentions else (),
    )


def event_from_row(row: Any) -> StreamEvent:
    """A stream event from a row of :func:`sql_events`: a purge with its :class:`Purge`,
    any other with its message (and a hide or restore with its time)."""
    seq, kind, ts = row[0], row[1], row[2]
    if kind == "message_purge":
        (user_id, since, by_id, by_name, by_role, at, count) = row[_PURGE_AT:]
        purge = Purge(user_id, since, User(by_id, by_name, by_role), at, count)
        return StreamEvent(seq, kind, None, purge)
    return StreamEvent(seq, kind, message_from_row(row[3:_PURGE_AT]), ts=ts)
