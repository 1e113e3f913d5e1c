"""What ``pchat migrate`` copies: the tables, their columns on each side, and their values.

:data:`TABLES` names every table of the SQLite store that the migration copies, in the order
it copies them; :data:`NOT_COPIED` names the others, each with the reason. A table of the
SQLite schema in neither is an error — at run time (:func:`source_tables` refuses the
source) and in the tests (``tests/storage/test_migrate.py``): a new table is never left
behind silently. The columns are read from both databases when the migration runs, so a new
column of a copied table is copied once both schemas have it; a source column the target
lacks is an error (:func:`plan`).

A value is converted by the type of its target column (:class:`Column`): SQLite's 0/1 to a
boolean, JSON text to ``jsonb`` as it is, a JSON array of strings to ``text[]``. The
verification compares rows in one form for both sides, :meth:`Column.canonical`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg
import orjson

from pchat.protocol.errors import PChatError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = [
    "NOT_COPIED",
    "TABLES",
    "Column",
    "MigrationError",
    "TablePlan",
    "plan",
    "source_columns",
    "source_tables",
    "target_columns",
]


class MigrationError(PChatError):
    """The migration cannot go on: the source or the target is not what it must be."""


#: The SQLite store's tables that ``pchat migrate`` copies, in copy order: the streams
#: (rooms, their messages and events, purges), then what hangs off them, then the
#: install-wide tables. Every table has a primary key: rows are copied in its order.
TABLES: Final[tuple[str, ...]] = (
    "rooms",
    "messages",
    "events",
    "purges",
    "reactions",
    "polls",
    "poll_options",
    "poll_votes",
    "bans",
    "room_settings",
    "room_retention",
    "pins",
    "mod_log_heads",
    "mod_log",
    "filter_entries",
    "mutes",
    "held_messages",
    "reports",
    "revocations",
    "webhook_endpoints",
    "webhook_outbox",
    "webhook_rooms",
)

#: The SQLite store's tables that are not copied, and why. SQLite's own tables (named
#: ``sqlite_…``, a prefix no other table may take: ``sqlite_sequence``, the AUTOINCREMENT
#: counters, whose part the target's identity sequences take; ``sqlite_stat1``, the
#: planner's statistics) are not the store's and not listed.
NOT_COPIED: Final[dict[str, str]] = {}


@dataclass(frozen=True, slots=True)
class Column:
    """A copied column: its name and its type in the target (``information_schema``)."""

    name: str
    #: ``data_type``: ``boolean``, ``jsonb``, ``ARRAY``, ``bytea``, ``bigint``, ``text``, …
    target_type: str
    #: GENERATED ALWAYS AS IDENTITY in the target: inserted with OVERRIDING SYSTEM VALUE,
    #: and its sequence moved past the largest copied value.
    identity: bool = False

    @property
    def needs_canonical(self) -> bool:
        """Whether the two sides return this column's values in different forms."""
        return self.target_type in ("boolean", "json", "jsonb", "ARRAY")

    def convert(self) -> Callable[[Any], Any] | None:
        """The function from a SQLite value to the value the target column takes; None
        when the value goes as it is (text, integers, JSON text for ``jsonb``)."""
        if self.target_type == "boolean":
            return _to_bool
        if self.target_type == "ARRAY":
            return _to_list
        if self.target_type == "bytea":
            return _to_bytes
        return None

    def canonical(self, value: Any, *, source: bool) -> Any:
        """The value in one form for both sides (``source``: as SQLite returned it)."""
        if value is None:
            return None
        if self.target_type == "boolean":
            return int(bool(value))
        if self.target_type in ("json", "jsonb"):
            return orjson.dumps(orjson.loads(value), option=orjson.OPT_SORT_KEYS)
        if self.target_type == "ARRAY":
            return orjson.dumps(orjson.loads(value) if source else list(value))
        if self.target_type == "bytea":
            return bytes(value)
        return value


def _to_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _to_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    items = orjson.loads(value)
    if not isinstance(items, list):
        raise MigrationError(f"expected a JSON array, found {value!r}")
    return items


def _to_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How one table is copied: its columns (source order) and its primary key's."""

    name: str
    columns: tuple[Column, ...]
    #: Indexes into ``columns`` of the primary key's columns, in the key's order.
    key: tuple[int, ...]

    @property
    def column_list(self) -> str:
        return ", ".join(f'"{c.name}"' for c in self.columns)

    @property
    def key_list(self) -> str:
        return ", ".join(f'"{self.columns[i].name}"' for i in self.key)

    @property
    def has_identity(self) -> bool:
        return any(c.identity for c in self.columns)


def source_tables(conn: sqlite3.Connection) -> list[str]:
    """The source's tables in copy order; :class:`MigrationError` if it has one this
    migration does not know (neither in :data:`TABLES` nor in :data:`NOT_COPIED`)."""
    names = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_")
    }
    unknown = sorted(names - set(TABLES) - set(NOT_COPIED))
    if unknown:
        raise MigrationError(
            f"the source has tables this pchat does not migrate: {', '.join(unknown)}"
            " (a newer pchat's store?)"
        )
    return [name for name in TABLES if name in names]


def source_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, int]]:
    """A source table's columns in order, each with its place in the primary key (0: none)."""
    return [(row[1], row[5]) for row in conn.execute(f'PRAGMA table_info("{table}")')]


_Info: TypeAlias = dict[str, dict[str, tuple[str, bool]]]


async def target_columns(conn: _Conn, schema: str) -> _Info:
    """The target schema's tables -> column -> (``data_type``, is an identity)."""
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_identity = 'YES'"
        " FROM information_schema.columns WHERE table_schema = $1",
        schema,
    )
    info: _Info = {}
    for table, column, data_type, identity in rows:
        info.setdefault(table, {})[column] = (data_type, bool(identity))
    return info


def plan(table: str, source: Sequence[tuple[str, int]], target: _Info) -> TablePlan:
    """The copy of ``table``: :class:`MigrationError` if the target lacks it, or lacks one of
    its source columns, or the source table has no primary key."""
    found = target.get(table)
    if found is None:
        raise MigrationError(f"the target has no table {table}")
    missing = [name for name, _ in source if name not in found]
    if missing:
        raise MigrationError(
            f"the target's table {table} has no column {', '.join(missing)} (an older pchat's"
            " schema?)"
        )
    columns = tuple(Column(name, *found[name]) for name, _ in source)
    key = tuple(i for _, i in sorted((pk, i) for i, (_, pk) in enumerate(source) if pk))
    if not key:
        raise MigrationError(f"the source's table {table} has no primary key")
    return TablePlan(table, columns, key)
