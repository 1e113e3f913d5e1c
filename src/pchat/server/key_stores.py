"""Where the keys live: the key store and operator store that the settings select.

One machine keeps its API keys, signing keys and console operators in
``<data-dir>/keys.sqlite3`` (:mod:`pchat.storage.keys_sqlite`,
:mod:`pchat.storage.operators_sqlite`). With ``--store postgresql://…[?schema=NAME]`` they
live in that database and schema instead (:mod:`pchat.storage.keys_postgres`), where every
node of a cluster reads them: nothing to copy between nodes. The server, ``pchat keys``,
``pchat token`` and ``pchat console`` all open them through :func:`key_stores`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pchat.storage.base import KeyStore, OperatorStore
from pchat.storage.keys_sqlite import SQLiteKeyStore
from pchat.storage.operators_sqlite import SQLiteOperatorStore
from pchat.storage.private_files import private_dir

from .config import Settings

__all__ = ["KeyStores", "is_postgres", "key_stores", "opened_key_stores", "postgres_location"]

log = logging.getLogger(__name__)


def is_postgres(store: str | None) -> bool:
    """Whether ``--store`` names PostgreSQL."""
    return store is not None and store.startswith(("postgresql://", "postgres://"))


def postgres_location(store: str) -> tuple[str, str]:
    """The DSN (without ``schema``) and the schema of a ``postgresql://…?schema=NAME``."""
    parts = urlsplit(store)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None) or "public"
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


@dataclass(frozen=True)
class KeyStores:
    """The keys and the console's operators (one object on PostgreSQL, two on SQLite)."""

    keys: KeyStore
    operators: OperatorStore
    #: Where they are, for messages: the keys file, or ``postgresql (schema NAME)``.
    where: str

    async def open(self) -> None:
        await self.keys.open()

    async def close(self) -> None:
        await self.keys.close()


def key_stores(settings: Settings) -> KeyStores:
    """The stores the settings select (not opened): PostgreSQL with a PostgreSQL
    ``--store``, else ``keys.sqlite3`` in the data directory (created ``0700``/``0600``)."""
    if is_postgres(settings.store):
        from pchat.storage.keys_postgres import PostgresKeyStore

        assert settings.store is not None
        dsn, schema = postgres_location(settings.store)
        store = PostgresKeyStore(dsn, schema=schema, timeout=settings.store_timeout)
        if settings.keys_path.exists():
            log.warning(
                "%s is not used: with a PostgreSQL store the keys live in PostgreSQL"
                " (`pchat keys import --from %s` copies them there)",
                settings.keys_path,
                settings.data_dir,
            )
        return KeyStores(store, store, f"postgresql (schema {schema})")
    private_dir(settings.data_dir)
    path = settings.keys_path
    return KeyStores(SQLiteKeyStore(path), SQLiteOperatorStore(path), str(path))


@asynccontextmanager
async def opened_key_stores(settings: Settings) -> AsyncIterator[KeyStores]:
    """:func:`key_stores`, opened, and closed on the way out (the CLI's)."""
    stores = key_stores(settings)
    await stores.open()
    try:
        yield stores
    finally:
        await stores.close()
