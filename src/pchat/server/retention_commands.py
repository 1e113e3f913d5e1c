"""``pchat retention …`` and ``pchat backup``: the history the servers keep, from the
command line.

::

    pchat retention show [ROOM] [--json]
    pchat retention set ROOM [--days D] [--messages N]
    pchat retention clear ROOM
    pchat retention run
    pchat backup --to FILE
    pchat restore --from FILE [--keep-epochs]

The ``retention`` actions take ``--data-dir`` and ``--store`` (default ``$PCHAT_STORE``, or
the SQLite file in the data directory): a room's own rule lives in the message store, where
every server's history job reads it at its next round (``PCHAT_RETENTION_INTERVAL``). In
``set``, an option left out follows the server's setting (``PCHAT_RETENTION_DAYS``,
``PCHAT_RETENTION_MESSAGES``) and 0 keeps forever; ``clear`` removes the room's rule.
``run`` removes now, from this machine, what the rules and the server's settings (as this
command reads them from the environment) no longer keep — every room, to the end.

``backup`` copies the data directory's SQLite databases (messages and keys) into one tar
archive while the server runs (:mod:`pchat.storage.backup_sqlite`); ``restore`` puts them
into an empty data directory (the server stopped) and gives every room a new epoch, so that
clients reload history rather than recover over positions the backup lost (``--keep-epochs``
when the backup is the latest state: a move). A PostgreSQL store is backed up with
PostgreSQL's tools (docs/operations.md, Retention and backups).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from pchat.core.retention import Retention, check_rule, effective
from pchat.protocol.validation import validate_room_id
from pchat.storage.base import MessageStore

from .config import Settings
from .key_stores import is_postgres
from .store_commands import on_store, store_options

__all__ = ["add_commands"]

_T = TypeVar("_T")


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    data_dir: argparse.ArgumentParser,
) -> None:
    """Add ``retention`` with its actions, and ``backup``, to the ``pchat`` parser."""
    where = store_options(data_dir)
    retention = commands.add_parser("retention", help="how much history the servers keep")
    actions = retention.add_subparsers(metavar="ACTION", required=True)

    show = actions.add_parser(
        "show", parents=[where], help="the server's retention and the rooms' own rules"
    )
    show.add_argument("room", metavar="ROOM", nargs="?", help="one room (default: every rule)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_show)

    put = actions.add_parser("set", parents=[where], help="set a room's own rule")
    put.add_argument("room", metavar="ROOM")
    put.add_argument(
        "--days",
        type=float,
        metavar="D",
        help="keep the messages of the last D days (fractions allowed; 0: any age;"
        " default: the server's setting)",
    )
    put.add_argument(
        "--messages",
        type=int,
        metavar="N",
        help="keep at most the newest N messages (0: any number; default: the server's)",
    )
    put.set_defaults(command=_set)

    clear = actions.add_parser(
        "clear", parents=[where], help="remove a room's own rule (the server's applies)"
    )
    clear.add_argument("room", metavar="ROOM")
    clear.set_defaults(command=_clear)

    run = actions.add_parser(
        "run", parents=[where], help="remove now what the retention no longer keeps"
    )
    run.set_defaults(command=_run_now)

    backup = commands.add_parser(
        "backup",
        parents=[where],
        help="copy the SQLite data (messages and keys) into a tar archive, online",
    )
    backup.add_argument(
        "--to",
        required=True,
        metavar="FILE",
        help="a new file: FILE.tar, or FILE.tar.gz to compress (mode 0600: it holds the keys)",
    )
    backup.set_defaults(command=_backup)

    restore = commands.add_parser(
        "restore",
        parents=[data_dir],
        help="put a backup's SQLite data into an empty data directory (server stopped)",
    )
    restore.add_argument("--from", dest="source", required=True, metavar="FILE")
    restore.add_argument(
        "--keep-epochs",
        action="store_true",
        help="the backup is the latest state (a move): clients recover across the restore;"
        " by default every room gets a new epoch and clients reload history",
    )
    restore.set_defaults(command=_restore)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=args.data_dir, store=args.store)


def _room(value: str) -> str:
    return validate_room_id(value)


def _limits(days: float, messages: int) -> str:
    """What a retention keeps, in words."""
    shown = []
    if days:
        shown.append(f"the messages of the last {days:g} days")
    if messages:
        shown.append(f"{'at most ' if days else ''}the newest {messages} messages")
    return ", ".join(shown) or "forever"


def _show(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def show(store: MessageStore) -> int:
        server = effective(None, settings)
        if args.room is not None:
            room_id = _room(args.room)
            rule = await store.room_retention(room_id)
            info = await store.find_room(room_id)
            found: dict[str, Any] = {
                "room": room_id,
                "rule": None if rule is None else {"days": rule.days, "messages": rule.messages},
                "effective": effective(rule, settings).to_wire(),
                "first_seq": 1 if info is None else info.first_seq,
                "last_seq": 0 if info is None else info.last_seq,
            }
            if args.json:
                print(json.dumps(found))
                return 0
            kept = found["effective"]
            own = "its own rule" if rule is not None else "the server's"
            print(f"room {room_id}: keeps {_limits(kept['days'], kept['messages'])} ({own})")
            print(f"stream: positions {found['first_seq']}..{found['last_seq']} kept")
            return 0
        rules = await store.retention_rules()
        if args.json:
            listed = {
                "server": server.to_wire(),
                "rooms": {
                    room_id: {"days": r.days, "messages": r.messages}
                    for room_id, r in rules.items()
                },
            }
            print(json.dumps(listed))
            return 0
        print(f"server: keeps {_limits(server.days, server.messages)}")
        for room_id, rule in rules.items():
            kept_by = effective(rule, settings)
            print(f"room {room_id}: keeps {_limits(kept_by.days, kept_by.messages)}")
        return 0

    return on_store(args, show)


def _set(args: argparse.Namespace) -> int:
    if args.days is None and args.messages is None:
        print(
            "pchat: give --days and/or --messages (0 keeps forever); clear removes the rule",
            file=sys.stderr,
        )
        return 2

    async def put(store: MessageStore) -> int:
        room_id = _room(args.room)
        rule = check_rule(args.days, args.messages)
        await store.set_room_retention(room_id, rule)
        kept = effective(rule, _settings(args))
        print(
            f"room {room_id} keeps {_limits(kept.days, kept.messages)}: running servers apply"
            " it at their next retention round"
        )
        return 0

    return on_store(args, put)


def _clear(args: argparse.Namespace) -> int:
    async def clear(store: MessageStore) -> int:
        room_id = _room(args.room)
        await store.set_room_retention(room_id, None)
        print(f"room {room_id} follows the server's retention again")
        return 0

    return on_store(args, clear)


def _run_now(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def run(store: MessageStore) -> int:
        retention = Retention(settings.core(), store=store)
        removed, finished = 0, False
        while not finished:
            done, finished = await retention.round()
            removed += done
        print(f"removed {removed} messages")
        return 0

    return on_store(args, run)


def _backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if is_postgres(settings.store):
        print(
            "pchat: backup copies the SQLite files; back up PostgreSQL with pg_dump"
            " (docs/operations.md, Retention and backups)",
            file=sys.stderr,
        )
        return 2
    from pchat.storage.backup_sqlite import BackupError, write_backup  # SQLite only

    target = Path(args.to)
    try:
        files = write_backup(
            target,
            [
                (settings.db_path.name, settings.db_path),
                (settings.keys_path.name, settings.keys_path),
            ],
        )
    except (BackupError, OSError) as exc:
        print(f"pchat: {exc}", file=sys.stderr)
        return 1
    listed = ", ".join(f"{f.name} ({f.size} bytes)" for f in files)
    print(f"backed up {listed} to {target}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    from pchat.storage.backup_sqlite import BackupError, restore_backup  # SQLite only

    names = [settings.db_path.name, settings.keys_path.name]
    try:
        files = restore_backup(
            Path(args.source), settings.data_dir, names, renew_epochs=not args.keep_epochs
        )
    except (BackupError, OSError) as exc:
        print(f"pchat: {exc}", file=sys.stderr)
        return 1
    listed = ", ".join(f.name for f in files)
    epochs = (
        "epochs kept: clients recover where they were"
        if args.keep_epochs
        else "every room has a new epoch: clients reload history"
    )
    print(f"restored {listed} into {settings.data_dir} ({epochs})")
    return 0
