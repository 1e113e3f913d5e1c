"""What the ``pchat`` commands that act on the servers' message store share: the ``--store``
option (beside ``--data-dir``) and running one action on the store, opened for it, with its
refusals turned into exit codes (2: refused, 1: the store is unavailable)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from pchat.protocol.errors import RequestError
from pchat.storage.base import MessageStore, StoreUnavailable

from .config import Settings

__all__ = ["on_store", "store_options"]


def store_options(data_dir: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A parent parser: ``data_dir``'s options and ``--store``."""
    where = argparse.ArgumentParser(add_help=False, parents=[data_dir])
    where.add_argument(
        "--store",
        metavar="URL",
        help="the servers' store (default: $PCHAT_STORE, or the SQLite file in the data dir)",
    )
    return where


def on_store(args: argparse.Namespace, action: Callable[[MessageStore], Awaitable[int]]) -> int:
    """Run ``action`` on the servers' message store, opened for it; its exit status."""
    # Imported here: only these commands need a message store.
    from pchat.storage.private_files import private_dir

    from .app import make_store

    settings = Settings.from_env(data_dir=args.data_dir, store=args.store)
    if settings.store is None:
        private_dir(settings.data_dir)

    async def run() -> int:
        store = make_store(settings)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except RequestError as exc:
        print(f"pchat: {exc.message}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"pchat: the store is unavailable: {exc}", file=sys.stderr)
        return 1
