"""The ``pchat`` command: run the server, manage API keys, issue tokens.

::

    pchat serve [--host H] [--port P] [--data-dir DIR] [--store URL] [--broker URL]
    pchat keys create [--json] [--data-dir DIR]
    pchat keys list [--data-dir DIR]
    pchat keys revoke KEY [--data-dir DIR]
    pchat token --sub USER_ID [--role ROLE] [--data-dir DIR]

Every command reads the ``PCHAT_*`` environment like the server does (``PCHAT_DATA_DIR``
defaults ``--data-dir``, ``PCHAT_TOKEN_ISSUER`` and ``PCHAT_TOKEN_TTL`` shape tokens), so a
token printed here is one the server accepts. API keys and signing keys live in
``<data-dir>/keys.sqlite3``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pchat.core.apikeys import create_api_key
from pchat.core.tokens import TokenSigner, load_or_create_signing_keys, rotate_signing_key
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import ROLES
from pchat.server.config import Settings
from pchat.storage.base import KeyStore

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``pchat`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except (TypeError, ValueError) as exc:  # a bad PCHAT_* variable or option value
        print(f"pchat: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pchat", description="Self-hosted public chat.")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where data and keys live (default: $PCHAT_DATA_DIR or ./pchat-data)",
    )

    serve = commands.add_parser("serve", parents=[data_dir], help="run the chat server")
    serve.add_argument("--host", help="address to listen on (default: $PCHAT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: $PCHAT_PORT or 8080)")
    serve.add_argument(
        "--store",
        metavar="URL",
        help="postgresql://USER@HOST/DB[?schema=NAME] for a cluster (default: $PCHAT_STORE,"
        " or the SQLite file in the data directory)",
    )
    serve.add_argument(
        "--broker",
        metavar="URL",
        help="redis://HOST:PORT/DB[?prefix=P] for a cluster (default: $PCHAT_BROKER,"
        " or in-memory: one node)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes sharing the port, one per core (default: $PCHAT_WORKERS or 1)",
    )
    serve.set_defaults(command=_serve)

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(metavar="ACTION", required=True)
    create = key_commands.add_parser("create", parents=[data_dir], help="create an API key")
    create.add_argument("--json", action="store_true", help="print api_key and api_secret as JSON")
    create.set_defaults(command=_keys_create)
    listing = key_commands.add_parser("list", parents=[data_dir], help="list API keys")
    listing.set_defaults(command=_keys_list)
    revoke = key_commands.add_parser("revoke", parents=[data_dir], help="revoke an API key")
    revoke.add_argument("key", metavar="KEY")
    revoke.set_defaults(command=_keys_revoke)
    rotate = key_commands.add_parser(
        "rotate", parents=[data_dir], help="add a new token signing key (older ones keep verifying)"
    )
    rotate.set_defaults(command=_keys_rotate)

    token = commands.add_parser("token", parents=[data_dir], help="print a signed access token")
    token.add_argument("--sub", required=True, metavar="USER_ID", help="the user id")
    token.add_argument("--role", choices=ROLES, help="the role granted (default: none)")
    token.set_defaults(command=_token)
    return parser


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return Settings.from_env(data_dir=args.data_dir, **overrides)


@contextmanager
def _key_store(settings: Settings) -> Iterator[KeyStore]:
    """The data dir's key database, created with its directory (``0700``) if missing."""
    # Imported here: only the commands that touch keys need the SQLite backend.
    from pchat.storage.keys_sqlite import SQLiteKeyStore
    from pchat.storage.private_files import private_dir

    private_dir(settings.data_dir)
    store = SQLiteKeyStore(settings.keys_path)
    try:
        yield store
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _serve(args: argparse.Namespace) -> int:
    from pchat.server.app import run

    run(
        _settings(
            args,
            host=args.host,
            port=args.port,
            store=args.store,
            broker=args.broker,
            workers=args.workers,
        )
    )
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    with _key_store(_settings(args)) as store:
        key, secret = create_api_key(store)
    if args.json:
        print(json.dumps({"api_key": key, "api_secret": secret}))
    else:
        print(f"API key:    {key}")
        print(f"API secret: {secret}")
        print("The secret is shown only this once; only its hash is stored. Keep it safe.")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    with _key_store(_settings(args)) as store:
        records = store.list_api_keys()
    if not records:
        print("no API keys")
        return 0
    rows = [("KEY", "CREATED", "REVOKED")]
    rows += [
        (r.key, _iso(r.created_at), "-" if r.revoked_at is None else _iso(r.revoked_at))
        for r in records
    ]
    width = max(len(row[0]) for row in rows)
    for key, created, revoked in rows:
        print(f"{key:<{width}}  {created:<20}  {revoked}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    with _key_store(_settings(args)) as store:
        record = store.get_api_key(args.key)
        if record is None:
            print(f"pchat: no such API key: {args.key}", file=sys.stderr)
            return 1
        if record.revoked_at is not None:
            print(f"{args.key} was already revoked at {_iso(record.revoked_at)}")
            return 0
        store.revoke_api_key(args.key, int(time.time()))
    print(f"revoked {args.key}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _key_store(settings) as store:
        load_or_create_signing_keys(store)
        key = rotate_signing_key(store)
    print(
        f"new signing key {key.kid}: running servers sign with it within "
        f"{settings.keys_reload_interval:g} s; tokens signed before keep verifying"
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _key_store(settings) as store:
        keys = load_or_create_signing_keys(store)
    signer = TokenSigner(
        keys, issuer=settings.token_issuer, ttl=settings.token_ttl, leeway=settings.token_leeway
    )
    try:
        print(signer.issue(args.sub, args.role))
    except RequestError as exc:
        print(f"pchat: {exc.message}", file=sys.stderr)
        return 2
    return 0


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
