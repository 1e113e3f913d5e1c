"""The real Redis and PostgreSQL services of the backend tests: where, whether, cleanup.

``PCHAT_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and
``PCHAT_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``) point at them. Each test works in
its own schema or key prefix (:func:`unique_name`) and drops it at teardown.

When a service cannot be reached the test is skipped with the reason — unless ``CI`` is set:
CI starts both services (``scripts/services.sh``), so there an unreachable one fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pchat.storage.broker_redis import RedisBroker

__all__ = [
    "drop_redis_prefix",
    "drop_schema",
    "hold_resubscription",
    "postgres_dsn",
    "redis_url",
    "require_postgres",
    "require_redis",
    "unique_name",
]

_reachable: dict[str, str | None] = {}


def postgres_dsn() -> str:
    return os.environ.get("PCHAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def redis_url() -> str:
    return os.environ.get("PCHAT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def unique_name(tmp_path: Path) -> str:
    """A schema name / key prefix of this test: the same for the whole test, unique to it."""
    return "pchat_t_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16]


def _unreachable(service: str, error: str) -> None:
    reason = f"{service} is unreachable ({error}); run scripts/services.sh"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI is set, so the backend tests must run", pytrace=False)
    pytest.skip(reason)


async def require_postgres() -> None:
    """Skip (or in CI fail) when PostgreSQL cannot be reached."""
    if "postgres" not in _reachable:
        import asyncpg

        try:
            conn = await asyncpg.connect(postgres_dsn(), timeout=3)
            await conn.close()
            _reachable["postgres"] = None
        except Exception as exc:
            _reachable["postgres"] = repr(exc)
    error = _reachable["postgres"]
    if error is not None:
        _unreachable("PostgreSQL", error)


async def require_redis() -> None:
    """Skip (or in CI fail) when Redis cannot be reached."""
    if "redis" not in _reachable:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url(), socket_connect_timeout=3, socket_timeout=3)
        try:
            await client.ping()
            _reachable["redis"] = None
        except Exception as exc:
            _reachable["redis"] = repr(exc)
        finally:
            await client.aclose()
    error = _reachable["redis"]
    if error is not None:
        _unreachable("Redis", error)


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_dsn(), timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def drop_redis_prefix(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url(), socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def hold_resubscription(broker: RedisBroker) -> asyncio.Event:
    """Until the returned event is set, ``broker``'s listener cannot subscribe again (each
    attempt times out): a node that comes back later than the others."""
    client = broker._sub_client
    assert client is not None
    gate = asyncio.Event()
    make = client.pubsub

    def pubsub(**kwargs: Any) -> Any:
        ps = make(**kwargs)
        subscribe = ps.subscribe

        async def held(*args: Any, **kw: Any) -> Any:
            await gate.wait()
            return await subscribe(*args, **kw)

        ps.subscribe = held  # type: ignore[method-assign]
        return ps

    client.pubsub = pubsub  # type: ignore[method-assign]
    return gate
