"""``--store`` and ``--broker`` URLs select the backends (``make_store`` / ``make_broker``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pchat.server.app import make_broker, make_store
from pchat.server.config import Settings
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.broker_redis import RedisBroker
from pchat.storage.store_postgres import PostgresStore
from pchat.storage.store_sqlite import SQLiteStore


def test_the_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert isinstance(make_store(settings), SQLiteStore)
    assert isinstance(make_broker(settings), MemoryBroker)


def test_cluster_urls_select_postgres_and_redis(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PCHAT_DATA_DIR": str(tmp_path),
            "PCHAT_STORE": "postgresql://u:p@db:5432/chat?schema=tenant_1&sslmode=require",
            "PCHAT_BROKER": "redis://cache:6379/2?prefix=t1:",
        }
    )
    store = make_store(settings)
    assert isinstance(store, PostgresStore)
    assert (store.dsn, store.schema) == (
        "postgresql://u:p@db:5432/chat?sslmode=require",
        "tenant_1",
    )
    broker = make_broker(settings)
    assert isinstance(broker, RedisBroker)
    assert (broker.url, broker.prefix) == ("redis://cache:6379/2", "t1:")
    plain = make_store(settings.replace(store="postgres://db/chat"))
    assert isinstance(plain, PostgresStore) and plain.schema == "public"
    tls = make_broker(settings.replace(broker="rediss://cache"))
    assert isinstance(tls, RedisBroker) and tls.prefix == "pchat:"


@pytest.mark.parametrize(
    ("field", "url"), [("store", "mysql://db/chat"), ("broker", "nats://bus:4222")]
)
def test_other_urls_are_refused(tmp_path: Path, field: str, url: str) -> None:
    settings = Settings(data_dir=tmp_path).replace(**{field: url})
    with pytest.raises(ValueError, match="unsupported"):
        make_store(settings) if field == "store" else make_broker(settings)


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        PostgresStore("postgresql://db/chat", schema='x"; DROP TABLE rooms; --')
