"""``pchat console …``: the console's operators, from the command line.

::

    pchat console password [--operator NAME] [--data-dir DIR]   # prompts, or reads stdin
    pchat console operators [--data-dir DIR]
    pchat console remove NAME [--data-dir DIR]

Operators live beside the keys: in ``<data-dir>/keys.sqlite3``, or with a PostgreSQL
``--store`` in that database, where every node of a cluster reads them
(:mod:`pchat.server.key_stores`). Setting a new password ends the sessions opened with the
old one.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from pchat.core.passwords import PasswordError, check_new_password, hash_password
from pchat.storage.base import OperatorStore, StoreUnavailable

from ..config import Settings
from ..key_stores import opened_key_stores
from .service import validate_operator_name

__all__ = ["add_commands"]

DEFAULT_OPERATOR = "admin"


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    data_dir: argparse.ArgumentParser,
) -> None:
    """Add ``console`` and its actions to the ``pchat`` parser's ``commands``."""
    console = commands.add_parser("console", help="the admin console's operators")
    actions = console.add_subparsers(metavar="ACTION", required=True)
    password = actions.add_parser(
        "password",
        parents=[data_dir],
        help="set an operator's console password (prompted, or one line on stdin)",
    )
    password.add_argument(
        "--operator",
        metavar="NAME",
        default=DEFAULT_OPERATOR,
        help=f"the operator (default: {DEFAULT_OPERATOR}); created if new",
    )
    password.set_defaults(command=_password)
    listing = actions.add_parser("operators", parents=[data_dir], help="list the operators")
    listing.set_defaults(command=_operators)
    remove = actions.add_parser("remove", parents=[data_dir], help="remove an operator")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(command=_remove)


_T = TypeVar("_T")


def _on_store(args: argparse.Namespace, action: Callable[[OperatorStore], Awaitable[_T]]) -> _T:
    """``action`` on the operators of the key store that ``--data-dir``/``--store`` select."""
    settings = Settings.from_env(data_dir=args.data_dir, store=getattr(args, "store", None))

    async def run() -> _T:
        async with opened_key_stores(settings) as stores:
            return await action(stores.operators)

    return asyncio.run(run())


def _read_password() -> str:
    """From the terminal (asked twice), or the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("New console password: ")
        if getpass.getpass("Again: ") != first:
            raise PasswordError("the passwords differ")
        return first
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


def _password(args: argparse.Namespace) -> int:
    try:
        name = validate_operator_name(args.operator)
        password = check_new_password(_read_password())
    except (PasswordError, ValueError) as exc:
        print(f"pchat: {exc}", file=sys.stderr)
        return 2
    password_hash, now = hash_password(password), int(time.time())
    try:
        created = _on_store(args, lambda s: s.set_operator(name, password_hash, now))
    except StoreUnavailable as exc:
        print(f"pchat: the key store is unavailable: {exc}", file=sys.stderr)
        return 1
    if created:
        print(f"created console operator {name}: sign in at /console")
    else:
        print(f"changed the console password of {name}: their sessions have ended")
    return 0


def _operators(args: argparse.Namespace) -> int:
    records = _on_store(args, lambda s: s.list_operators())
    if not records:
        print("no console operators: set one with `pchat console password`")
        return 0
    width = max(len("NAME"), *(len(r.name) for r in records))
    print(f"{'NAME':<{width}}  CREATED               PASSWORD SET")
    for r in records:
        print(f"{r.name:<{width}}  {_iso(r.created_at)}  {_iso(r.updated_at)}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not _on_store(args, lambda s: s.remove_operator(args.name)):
        print(f"pchat: no such console operator: {args.name}", file=sys.stderr)
        return 1
    print(f"removed console operator {args.name}: their sessions have ended")
    return 0


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
