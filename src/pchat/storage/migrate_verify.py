"""The checks at the end of ``pchat migrate``: is the target what the source is?

- **Every row of every table**: its count on both sides, and a checksum of the rows — each
  row in one form for both sides (:meth:`~pchat.storage.migrate_tables.Column.canonical`),
  hashed, the hashes added up (mod 2¹²⁸), so that neither side's order matters.
- **Every room's stream**: its epoch, last position, and numbers of messages and events —
  what a client's recovery depends on, reported room by room.
- **Every key**: each API key (its hash, and revoked if revoked in the source), signing key
  (its secret) and console operator of the source is in the target; the target may hold
  more (a node started on it first creates keys of its own).

A check reads the source in the migration's read transaction, and the target through a
cursor in a read-only transaction of its own.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg

from .base import KeyStore, OperatorStore
from .keys_copy import KeysCopied
from .migrate_tables import TablePlan

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]

__all__ = ["KeysCheck", "RoomsCheck", "TableCheck", "check_keys", "check_rooms", "check_table"]

_MOD: Final = 1 << 128


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table on both sides: rows, and whether their checksums agree."""

    name: str
    source_rows: int
    target_rows: int
    same_rows: bool

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.same_rows


@dataclass(frozen=True, slots=True)
class RoomsCheck:
    """Every room's stream on both sides; ``differing``: one line per room that differs."""

    rooms: int
    differing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.differing


@dataclass(frozen=True, slots=True)
class KeysCheck:
    """The source's keys, what this run copied of them, and any not in the target."""

    api_keys: int
    signing_keys: int
    operators: int
    copied: KeysCopied
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing


def _checksum(rows: Iterable[Any], table: TablePlan, *, source: bool) -> tuple[int, int]:
    """How many rows, and the sum of their hashes (mod 2¹²⁸)."""
    special = [(i, c) for i, c in enumerate(table.columns) if c.needs_canonical]
    count = total = 0
    for row in rows:
        values = list(row)
        for i, column in special:
            values[i] = column.canonical(values[i], source=source)
        digest = hashlib.blake2b(repr(values).encode(), digest_size=16).digest()
        total += int.from_bytes(digest, "big")
        count += 1
    return count, total % _MOD


async def check_table(
    conn: _Conn, src: sqlite3.Connection, table: TablePlan, batch_size: int
) -> TableCheck:
    """Compare ``table`` on both sides (see the module docstring)."""
    query = f'SELECT {table.column_list} FROM "{table.name}"'
    source = _checksum(src.execute(query), table, source=True)
    async with conn.transaction(readonly=True):
        target_rows: list[Any] = []
        count = total = 0
        async for record in conn.cursor(query, prefetch=batch_size):
            target_rows.append(tuple(record))
            if len(target_rows) >= batch_size:
                n, digest = _checksum(target_rows, table, source=False)
                count, total = count + n, (total + digest) % _MOD
                target_rows.clear()
        n, digest = _checksum(target_rows, table, source=False)
        count, total = count + n, (total + digest) % _MOD
    return TableCheck(table.name, source[0], count, source == (count, total))


_SQL_ROOMS: Final = "SELECT room_id, epoch, last_seq FROM rooms"
_SQL_PER_ROOM: Final = "SELECT room_id, count(*) FROM {table} GROUP BY room_id"
_Stream: TypeAlias = tuple[str | None, int | None, int, int]


def _streams(
    rooms: Iterable[Any], messages: Iterable[Any], events: Iterable[Any]
) -> dict[str, _Stream]:
    """room -> (epoch, last position, messages, events)."""
    counted_messages = {room: n for room, n in messages}
    counted_events = {room: n for room, n in events}
    found: dict[str, _Stream] = {
        room: (epoch, last_seq, counted_messages.get(room, 0), counted_events.get(room, 0))
        for room, epoch, last_seq in rooms
    }
    # Messages or events of a room without a row: shown as such.
    for room in counted_messages.keys() | counted_events.keys():
        if room not in found:
            found[room] = (None, None, counted_messages.get(room, 0), counted_events.get(room, 0))
    return found


def _describe(room: str, source: _Stream | None, target: _Stream | None) -> str:
    if target is None:
        return f"room {room!r} is not in the target"
    if source is None:
        return f"room {room!r} is in the target only"
    names = ("epoch", "last position", "messages", "events")
    parts = [
        f"{name} {a} in the source, {b} in the target"
        for name, a, b in zip(names, source, target, strict=True)
        if a != b
    ]
    return f"room {room!r}: " + "; ".join(parts)


async def check_rooms(conn: _Conn, src: sqlite3.Connection) -> RoomsCheck:
    """Compare every room's stream on both sides."""
    source = _streams(
        src.execute(_SQL_ROOMS),
        src.execute(_SQL_PER_ROOM.format(table="messages")),
        src.execute(_SQL_PER_ROOM.format(table="events")),
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        target = _streams(
            await conn.fetch(_SQL_ROOMS),
            await conn.fetch(_SQL_PER_ROOM.format(table="messages")),
            await conn.fetch(_SQL_PER_ROOM.format(table="events")),
        )
    differing = [
        _describe(room, source.get(room), target.get(room))
        for room in sorted(source.keys() | target.keys())
        if source.get(room) != target.get(room)
    ]
    return RoomsCheck(len(source), tuple(differing))


async def check_keys(
    source: KeyStore,
    source_operators: OperatorStore,
    target: KeyStore,
    target_operators: OperatorStore,
    copied: KeysCopied,
) -> KeysCheck:
    """Is every key and operator of the source in the target (see the module docstring)?"""
    missing: list[str] = []
    api_keys = await source.list_api_keys()
    other = "the target holds another secret under this id"
    for record in api_keys:
        found = await target.get_api_key(record.key)
        if found is None:
            missing.append(f"API key {record.key}")
        elif found.secret_hash != record.secret_hash:
            missing.append(f"API key {record.key}: {other}")
        elif record.revoked_at is not None and found.revoked_at is None:
            missing.append(f"API key {record.key}: revoked in the source, not in the target")
    signing = await source.signing_keys()
    in_target = {key.kid: key.secret for key in await target.signing_keys()}
    for key in signing:
        if key.kid not in in_target:
            missing.append(f"signing key {key.kid}")
        elif in_target[key.kid] != key.secret:
            missing.append(f"signing key {key.kid}: {other}")
    operators = await source_operators.list_operators()
    for operator in operators:
        if await target_operators.get_operator(operator.name) is None:
            missing.append(f"console operator {operator.name}")
    return KeysCheck(len(api_keys), len(signing), len(operators), copied, tuple(missing))
