"""``pchat webhooks …``: the operator's webhook endpoints, from the command line.

::

    pchat webhooks add URL [--type TYPE]… [--secret S] [--description D] [--json]
    pchat webhooks list [--json]
    pchat webhooks remove ID
    pchat webhooks test ID
    pchat webhooks retry ID

Each takes ``--data-dir`` and ``--store`` (default ``$PCHAT_STORE``, or the SQLite file in the
data directory): endpoints live in the message store, where every server reads them — a
running server delivers to a new endpoint at once, other nodes within 2 s. ``add`` prints
the signing secret once (made here unless ``--secret``); ``test`` POSTs one signed
``webhook.test`` event from this machine now and prints the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pchat.core import webhooks
from pchat.core.clock import now_ms
from pchat.protocol import webhooks as events
from pchat.storage.base import MessageStore

from .config import Settings
from .store_commands import on_store, store_options
from .webhook_sender import HttpPoster

__all__ = ["add_commands"]

_T = TypeVar("_T")


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    data_dir: argparse.ArgumentParser,
) -> None:
    """Add ``webhooks`` and its actions to the ``pchat`` parser's ``commands``."""
    where = store_options(data_dir)
    hooks = commands.add_parser("webhooks", help="the endpoints that get room events")
    actions = hooks.add_subparsers(metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[where], help="register an endpoint")
    add.add_argument("url", metavar="URL", help="an http:// or https:// URL")
    add.add_argument(
        "--type",
        dest="types",
        action="append",
        metavar="TYPE",
        choices=[*events.EVENT_TYPES, events.ALL_TYPES],
        help="an event type it gets (repeat for more; default: * — every type)",
    )
    add.add_argument("--secret", help="the signing secret (default: a new one, printed once)")
    add.add_argument("--description", default="", help="a note for yourself")
    add.add_argument("--json", action="store_true", help="print the endpoint as JSON")
    add.set_defaults(command=_add)

    listing = actions.add_parser("list", parents=[where], help="list the endpoints")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.set_defaults(command=_list)

    for name, run, text in [
        ("remove", _remove, "remove an endpoint and its pending deliveries"),
        ("test", _test, "POST a signed webhook.test event to it now"),
        ("retry", _retry, "make its given-up deliveries due again"),
    ]:
        action = actions.add_parser(name, parents=[where], help=text)
        action.add_argument("id", metavar="ID", help="the endpoint's id (wh_…)")
        action.set_defaults(command=run)


def _run(args: argparse.Namespace, action: Callable[[MessageStore], Awaitable[int]]) -> int:
    """Run ``action`` on the servers' store, which knows its subscribed event types."""

    async def with_types(store: MessageStore) -> int:
        await store.reload_webhook_types()
        return await action(store)

    return on_store(args, with_types)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add(args: argparse.Namespace) -> int:
    async def add(store: MessageStore) -> int:
        endpoint = await webhooks.register(
            store,
            args.url,
            args.types or [events.ALL_TYPES],
            secret=args.secret,
            description=args.description,
        )
        if args.json:
            shown = {
                "id": endpoint.id,
                "url": endpoint.url,
                "types": list(endpoint.types),
                "secret": endpoint.secret,
                "description": endpoint.description,
                "created_at": endpoint.created_at,
            }
            print(json.dumps(shown))
            return 0
        print(f"webhook:  {endpoint.id}")
        print(f"url:      {endpoint.url}")
        print(f"types:    {', '.join(endpoint.types)}")
        print(f"secret:   {endpoint.secret}")
        print(
            "The secret is shown only this once: the endpoint checks the pchat-signature"
            " header with it (docs/server-api.md, Webhooks)."
        )
        return 0

    return _run(args, add)


def _list(args: argparse.Namespace) -> int:
    async def listing(store: MessageStore) -> int:
        rows: list[dict[str, Any]] = []
        for e in await store.webhooks():
            backlog = await store.webhook_backlog(e.id)
            rows.append(
                {
                    "id": e.id,
                    "url": e.url,
                    "types": list(e.types),
                    "active": e.active,
                    "description": e.description,
                    "created_at": e.created_at,
                    "pending": backlog.pending,
                    "dead": backlog.dead,
                    "last_error": backlog.last_error,
                }
            )
        if args.json:
            print(json.dumps(rows))
            return 0
        if not rows:
            print("no webhooks")
            return 0
        for r in rows:
            state = "active" if r["active"] else "inactive"
            print(f"{r['id']}  {r['url']}  ({state}, since {_iso(r['created_at'])})")
            print(f"    types: {', '.join(r['types'])}")
            line = f"    pending: {r['pending']}, dead: {r['dead']}"
            if r["last_error"]:
                line += f", last error: {r['last_error']}"
            print(line)
            if r["description"]:
                print(f"    {r['description']}")
        return 0

    return _run(args, listing)


def _remove(args: argparse.Namespace) -> int:
    async def remove(store: MessageStore) -> int:
        if not await store.remove_webhook(args.id):
            print(f"pchat: no such webhook: {args.id}", file=sys.stderr)
            return 1
        print(f"removed {args.id} and its pending deliveries")
        return 0

    return _run(args, remove)


def _retry(args: argparse.Namespace) -> int:
    async def retry(store: MessageStore) -> int:
        if await store.get_webhook(args.id) is None:
            print(f"pchat: no such webhook: {args.id}", file=sys.stderr)
            return 1
        count = await store.retry_dead_webhooks(args.id, now_ms())
        print(f"{count} given-up deliveries to {args.id} are due again")
        return 0

    return _run(args, retry)


def _test(args: argparse.Namespace) -> int:
    async def test(store: MessageStore) -> int:
        endpoint = await store.get_webhook(args.id)
        if endpoint is None:
            print(f"pchat: no such webhook: {args.id}", file=sys.stderr)
            return 1
        settings = Settings.from_env(data_dir=args.data_dir, store=args.store)
        poster = HttpPoster(connections=1)
        await poster.open()
        try:
            hooks = webhooks.Webhooks(settings.core(), store=store, poster=poster)
            result = await hooks.send_test(endpoint)
        finally:
            await poster.close()
        answer = f"HTTP {result.status}" if result.status is not None else result.error
        print(f"{endpoint.url}: {answer} in {result.ms} ms (event {result.event_id})")
        return 0 if result.ok else 1

    return _run(args, test)
