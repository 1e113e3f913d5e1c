"""The ``pchat`` command: run the server, manage keys, issue and revoke tokens.

::

    pchat serve [--host H] [--port P] [--data-dir DIR] [--store URL] [--broker URL]
                [--workers N] [--log-format text|json] [--log-level LEVEL]
    pchat keys create [--json] [--data-dir DIR] [--store URL]
    pchat keys list [--data-dir DIR] [--store URL]
    pchat keys revoke KEY [--data-dir DIR] [--store URL]
    pchat keys rotate [--data-dir DIR] [--store URL]
    pchat keys signing [--data-dir DIR] [--store URL]
    pchat keys retire KID [--force] [--data-dir DIR] [--store URL]
    pchat keys import --from DIR [--store URL]
    pchat token --sub USER_ID [--role ROLE] [--data-dir DIR] [--store URL]
    pchat users revoke USER_ID [--data-dir DIR] [--store URL]
    pchat console password [--operator NAME] | operators | remove NAME [--data-dir DIR]
                  [--store URL]
    pchat webhooks add URL [--type TYPE]… [--secret S] | list | remove ID | test ID | retry ID
                   [--data-dir DIR] [--store URL]
    pchat migrate --from DIR --to postgresql://… [--replace] [--batch-size N]
    pchat retention show [ROOM] | set ROOM [--days D] [--messages N] | clear ROOM | run
                    [--data-dir DIR] [--store URL]
    pchat backup --to FILE [--data-dir DIR]
    pchat restore --from FILE [--keep-epochs] [--data-dir DIR]

Every command reads the ``PCHAT_*`` environment like the server does (``PCHAT_DATA_DIR``
defaults ``--data-dir``, ``PCHAT_STORE`` ``--store``, ``PCHAT_TOKEN_ISSUER`` and
``PCHAT_TOKEN_TTL`` shape tokens), so a token printed here is one the server accepts. API
keys, signing keys and console operators live in ``<data-dir>/keys.sqlite3``, or with a
PostgreSQL ``--store`` in that database, where every node of a cluster reads them
(:mod:`pchat.server.key_stores`); revocations of users' tokens in the message store (the
SQLite file in the data dir, or ``--store``), where every server reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pchat.core.apikeys import API_KEY_CACHE_TTL, create_api_key
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
from pchat.server.key_stores import is_postgres, opened_key_stores, postgres_location
from pchat.server.retention_commands import add_commands as add_retention_commands
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

    # Where the keys are: the data dir's keys.sqlite3, or a PostgreSQL store's database.
    keys_in = argparse.ArgumentParser(add_help=False, parents=[data_dir])
    keys_in.add_argument(
        "--store",
        metavar="URL",
        help="the servers' store: with postgresql://… the keys live there (default:"
        " $PCHAT_STORE, or keys.sqlite3 in the data directory)",
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
    create = key_commands.add_parser("create", parents=[keys_in], help="create an API key")
    create.add_argument("--json", action="store_true", help="print api_key and api_secret as JSON")
    create.set_defaults(command=_keys_create)
    listing = key_commands.add_parser("list", parents=[keys_in], help="list API keys")
    listing.set_defaults(command=_keys_list)
    revoke = key_commands.add_parser("revoke", parents=[keys_in], help="revoke an API key")
    revoke.add_argument("key", metavar="KEY")
    revoke.set_defaults(command=_keys_revoke)
    rotate = key_commands.add_parser(
        "rotate", parents=[keys_in], help="add a new token signing key (older ones keep verifying)"
    )
    rotate.set_defaults(command=_keys_rotate)
    signing = key_commands.add_parser(
        "signing", parents=[keys_in], help="list the token signing keys"
    )
    signing.set_defaults(command=_keys_signing)
    retire = key_commands.add_parser(
        "retire",
        parents=[keys_in],
        help="remove a token signing key (the tokens it signed stop verifying)",
    )
    retire.add_argument("kid", metavar="KID")
    retire.add_argument(
        "--force",
        action="store_true",
        help="even while tokens it signed may be valid (their users must get new ones)",
    )
    retire.set_defaults(command=_keys_retire)
    imports = key_commands.add_parser(
        "import",
        parents=[keys_in],
        help="copy the keys and console operators of a data dir's keys.sqlite3 into the"
        " PostgreSQL store (what it lacks: safe to run again)",
    )
    imports.add_argument(
        "--from", dest="source", required=True, metavar="DIR", help="the old data directory"
    )
    imports.set_defaults(command=_keys_import)

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

    add_console_commands(commands, keys_in)
    add_webhook_commands(commands, data_dir)
    add_retention_commands(commands, data_dir)

    migrate = commands.add_parser(
        "migrate",
        help="copy a single-node install (SQLite) into PostgreSQL: resumable, then verified",
    )
    migrate.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="DIR",
        help="the data directory of the install (its pchat.sqlite3 and keys.sqlite3);"
        " stop its server first",
    )
    migrate.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="postgresql://USER@HOST/DB[?schema=NAME]: the cluster's --store",
    )
    migrate.add_argument(
        "--replace",
        action="store_true",
        help="empty the target's messages, rooms and the rest first if it holds another"
        " install's data (else refused); keys are merged",
    )
    migrate.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="rows per transaction and checkpoint (default: 5000)",
    )
    migrate.set_defaults(command=_migrate)

    token = commands.add_parser("token", parents=[keys_in], help="print a signed access token")
    token.add_argument("--sub", required=True, metavar="USER_ID", help="the user id")
    token.add_argument("--role", choices=ROLES, help="the role granted (default: none)")
    token.set_defaults(command=_token)
    return parser


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return Settings.from_env(data_dir=args.data_dir, **overrides)


def _keys_settings(args: argparse.Namespace) -> Settings:
    return _settings(args, store=getattr(args, "store", None))


def _with_keys(settings: Settings, action: Callable[[KeyStore], Awaitable[int]]) -> int:
    """Run ``action`` on the key store the settings select (:mod:`pchat.server.key_stores`:
    the data dir's keys.sqlite3, created with the directory if missing, or PostgreSQL);
    1 with a message if the store cannot be reached."""

    async def run() -> int:
        async with opened_key_stores(settings) as stores:
            return await action(stores.keys)

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"pchat: the key store is unavailable: {exc}", file=sys.stderr)
        return 1


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
    async def create(store: KeyStore) -> int:
        key, secret = await create_api_key(store)
        if args.json:
            print(json.dumps({"api_key": key, "api_secret": secret}))
        else:
            print(f"API key:    {key}")
            print(f"API secret: {secret}")
            print("The secret is shown only this once; only its hash is stored. Keep it safe.")
        return 0

    return _with_keys(_keys_settings(args), create)


def _keys_list(args: argparse.Namespace) -> int:
    async def listing(store: KeyStore) -> int:
        records = await store.list_api_keys()
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

    return _with_keys(_keys_settings(args), listing)


def _keys_revoke(args: argparse.Namespace) -> int:
    settings = _keys_settings(args)

    async def revoke(store: KeyStore) -> int:
        record = await store.get_api_key(args.key)
        if record is None:
            print(f"pchat: no such API key: {args.key}", file=sys.stderr)
            return 1
        if record.revoked_at is not None:
            print(f"{args.key} was already revoked at {_iso(record.revoked_at)}")
            return 0
        await store.revoke_api_key(args.key, int(time.time()))
        print(f"revoked {args.key}: running servers refuse it within {API_KEY_CACHE_TTL:g} s")
        return 0

    return _with_keys(settings, revoke)


def _keys_rotate(args: argparse.Namespace) -> int:
    settings = _keys_settings(args)

    async def rotate(store: KeyStore) -> int:
        await load_or_create_signing_keys(store)
        key = await rotate_signing_key(store)
        print(
            f"new signing key {key.kid}: running servers sign with it within "
            f"{settings.keys_reload_interval:g} s; tokens signed before keep verifying"
        )
        return 0

    return _with_keys(settings, rotate)


def _keys_signing(args: argparse.Namespace) -> int:
    async def signing(store: KeyStore) -> int:
        keys = await load_or_create_signing_keys(store)
        width = max(len("KID"), *(len(k.kid) for k in keys))
        print(f"{'KID':<{width}}  CREATED")
        for i, key in enumerate(keys):
            signs = "  (signs new tokens)" if i == len(keys) - 1 else ""
            print(f"{key.kid:<{width}}  {_iso(key.created_at)}{signs}")
        return 0

    return _with_keys(_keys_settings(args), signing)


def _keys_retire(args: argparse.Namespace) -> int:
    settings = _keys_settings(args)
    delay = key_retirement_delay(
        ttl=settings.token_ttl,
        leeway=settings.token_leeway,
        reload_interval=settings.keys_reload_interval,
    )

    async def retire(store: KeyStore) -> int:
        try:
            await retire_signing_key(store, args.kid, delay=delay, force=args.force)
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

    return _with_keys(settings, retire)


def _keys_import(args: argparse.Namespace) -> int:
    """Copy the keys of ``--from``'s keys.sqlite3 into the PostgreSQL ``--store``."""
    settings = _keys_settings(args)
    if not is_postgres(settings.store):
        print(
            "pchat: keys import copies into a PostgreSQL store: give --store postgresql://…",
            file=sys.stderr,
        )
        return 2
    source = Settings.from_env(data_dir=Path(args.source)).keys_path
    if not source.is_file():
        print(f"pchat: no keys file at {source}", file=sys.stderr)
        return 1
    # Imported here: only this command reads a keys file besides the selected store.
    from pchat.storage.keys_copy import copy_keys
    from pchat.storage.keys_sqlite import SQLiteKeyStore
    from pchat.storage.operators_sqlite import SQLiteOperatorStore

    async def run() -> int:
        async with opened_key_stores(settings) as target:
            copied = await copy_keys(
                SQLiteKeyStore(source), SQLiteOperatorStore(source), target.keys, target.operators
            )
        print(
            f"copied from {source} to {target.where}: {copied.api_keys} API keys"
            f" ({copied.revoked} more revoked), {copied.signing_keys} signing keys,"
            f" {copied.operators} console operators"
        )
        return 0

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"pchat: the key store is unavailable: {exc}", file=sys.stderr)
        return 1


def _migrate(args: argparse.Namespace) -> int:
    """Copy ``--from``'s store and keys into the PostgreSQL ``--to``, then verify."""
    if not is_postgres(args.target):
        print("pchat: migrate copies into PostgreSQL: give --to postgresql://…", file=sys.stderr)
        return 2
    # Imported here: only this command reads one store to write another.
    import asyncpg

    from pchat.storage.migrate import BATCH_SIZE, MigrationError, migrate

    source = Settings.from_env(data_dir=Path(args.source))
    dsn, schema = postgres_location(args.target)
    reported: dict[str, int] = {}

    def progress(table: str, done: int, total: int) -> None:
        # A line when a table is done, and every 50,000 rows of a long one.
        if done >= total or done - reported.get(table, 0) >= 50_000:
            reported[table] = done
            print(f"{table}: {done:,} of {total:,} rows", flush=True)

    try:
        report = asyncio.run(
            migrate(
                source.db_path,
                source.keys_path,
                dsn,
                schema=schema,
                replace=args.replace,
                batch_size=args.batch_size or BATCH_SIZE,
                progress=progress,
            )
        )
    except MigrationError as exc:
        print(f"pchat: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"pchat: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


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
    settings = _keys_settings(args)

    async def token(store: KeyStore) -> int:
        keys = await load_or_create_signing_keys(store)
        signer = TokenSigner(
            keys,
            issuer=settings.token_issuer,
            ttl=settings.token_ttl,
            leeway=settings.token_leeway,
        )
        try:
            print(signer.issue(args.sub, args.role))
        except RequestError as exc:
            print(f"pchat: {exc.message}", file=sys.stderr)
            return 2
        return 0

    return _with_keys(settings, token)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
