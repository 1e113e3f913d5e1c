"""The ``pchat`` command: run the server, manage keys, issue and revoke tokens.

::

    pchat serve [--host H] [--port P] [--data-dir DIR] [--store URL] [--broker URL]
                [--workers N] [--log-format text|json] [--log-level LEVEL]
    pchat keys create [--json] [--data-dir DIR]
    pchat keys list [--data-dir DIR]
    pchat keys revoke KEY [--data-dir DIR]
    pchat keys rotate [--data-dir DIR]
    pchat keys signing [--data-dir DIR]
    pchat keys retire KID [--force] [--data-dir DIR]
    pchat token --sub USER_ID [--role ROLE] [--data-dir DIR]
    pchat users revoke USER_ID [--data-dir DIR] [--store URL]
    pchat console password [--operator NAME] | operators | remove NAME [--data-dir DIR]
    pchat webhooks add URL [--type TYPE]… [--secret S] | list | remove ID | test ID | retry ID
                   [--data-dir DIR] [--store URL]

Every command reads the ``PCHAT_*`` environment like the server does (``PCHAT_DATA_DIR``
defaults ``--data-dir``, ``PCHAT_TOKEN_ISSUER`` and ``PCHAT_TOKEN_TTL`` shape tokens), so a
token printed here is one the server accepts. API keys and signing keys live in
``<data-dir>/keys.sqlite3``; revocations of users' tokens in the message store (the SQLite
file in the data dir, or ``--store``/``PCHAT_STORE``), where every server reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pchat.core.apikeys import create_api_key
from pchat.core.revocations import RELOAD_INTERVAL
from pchat.core.tokens import (
    SigningKeyInUse,
    TokenSigner,
    key_retirement_delay,
    load_or_create_signing_keys,
    retire_signing_key,
    revoked_before,
    rotate_signing_key,
)
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import ROLES, validate_user_id
from pchat.server.config import Settings
from pchat.server.console.commands import add_commands as add_console_commands
from pchat.server.webhook_commands import add_commands as add_webhook_commands
from pchat.storage.base import KeyStore, StoreUnavailable

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
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text (default: $PCHAT_LOG_FORMAT or text) or json: one JSON object a line",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="debug adds a line per connection and request (default: $PCHAT_LOG_LEVEL or info)",
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
    signing = key_commands.add_parser(
        "signing", parents=[data_dir], help="list the token signing keys"
    )
    signing.set_defaults(command=_keys_signing)
    retire = key_commands.add_parser(
        "retire",
        parents=[data_dir],
        help="remove a token signing key (the tokens it signed stop verifying)",
    )
    retire.add_argument("kid", metavar="KID")
    retire.add_argument(
        "--force",
        action="store_true",
        help="even while tokens it signed may be valid (their users must get new ones)",
    )
    retire.set_defaults(command=_keys_retire)

    users = commands.add_parser("users", help="act on users")
    user_commands = users.add_subparsers(metavar="ACTION", required=True)
    revoke_user = user_commands.add_parser(
        "revoke",
        parents=[data_dir],
        help="refuse every token of the user issued until now and close their connections",
    )
    revoke_user.add_argument("sub", metavar="USER_ID")
    revoke_user.add_argument(
        "--store",
        metavar="URL",
        help="the servers' store (default: $PCHAT_STORE, or the SQLite file in the data dir)",
    )
    revoke_user.set_defaults(command=_users_revoke)

    add_console_commands(commands, data_dir)
    add_webhook_commands(commands, data_dir)

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
            log_format=args.log_format,
            log_level=args.log_level,
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


def _keys_signing(args: argparse.Namespace) -> int:
    with _key_store(_settings(args)) as store:
        keys = load_or_create_signing_keys(store)
    width = max(len("KID"), *(len(k.kid) for k in keys))
    print(f"{'KID':<{width}}  CREATED")
    for i, key in enumerate(keys):
        signs = "  (signs new tokens)" if i == len(keys) - 1 else ""
        print(f"{key.kid:<{width}}  {_iso(key.created_at)}{signs}")
    return 0


def _keys_retire(args: argparse.Namespace) -> int:
    settings = _settings(args)
    delay = key_retirement_delay(
        ttl=settings.token_ttl,
        leeway=settings.token_leeway,
        reload_interval=settings.keys_reload_interval,
    )
    with _key_store(settings) as store:
        try:
            retire_signing_key(store, args.kid, delay=delay, force=args.force)
        except LookupError:
            print(f"pchat: no such signing key: {args.kid}", file=sys.stderr)
            return 1
        except SigningKeyInUse as exc:
            if exc.until is None:
                print(f"pchat: {args.kid} signs new tokens: rotate first", file=sys.stderr)
            else:
                print(
                    f"pchat: tokens signed with {args.kid} may be valid until"
                    f" {_iso(exc.until)}; retire it then, or now with --force",
                    file=sys.stderr,
                )
            return 1
    print(
        f"retired signing key {args.kid}: running servers stop accepting its tokens within "
        f"{settings.keys_reload_interval:g} s"
    )
    return 0


def _users_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args, store=args.store)
    try:
        sub = validate_user_id(args.sub)
    except RequestError as exc:
        print(f"pchat: {exc.message}", file=sys.stderr)
        return 2
    # Imported here: only this command needs a message store.
    from pchat.server.app import make_store
    from pchat.storage.private_files import private_dir

    if settings.store is None:
        private_dir(settings.data_dir)

    async def revoke() -> int:
        store = make_store(settings)
        await store.open()
        try:
            return await store.revoke_tokens(sub, revoked_before(time.time()))
        finally:
            await store.close()

    try:
        before = asyncio.run(revoke())
    except StoreUnavailable as exc:
        print(f"pchat: the store is unavailable: {exc}", file=sys.stderr)
        return 1
    print(
        f"revoked the tokens of {sub} issued before {_iso(before)}: running servers refuse"
        f" them and close the connections that use them within {RELOAD_INTERVAL:g} s"
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
