"""pchat-side helpers of the benchmark runner; run with the project's venv (``.venv``).

The runner itself needs only the standard library; whatever needs ``pchat`` (and its
dependencies) runs here, as a subprocess::

    .venv/bin/python bench/lib/pchat_tools.py tokens --data-dir D --count N --out FILE
    .venv/bin/python bench/lib/pchat_tools.py history-fill --data-dir D --count 1000000
    .venv/bin/python bench/lib/pchat_tools.py history-measure --url ws://… --token-file F
    .venv/bin/python bench/lib/pchat_tools.py history-store --data-dir D
    .venv/bin/python bench/lib/pchat_tools.py cluster-drop --run-id ID --store URL --broker URL

Each command prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["main"]

ROOM = "bench"
TEXT_BYTES = 200


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p99/p99.9/max in ms (nearest rank) of a list of durations in ns."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1e6

    return {
        "count": n,
        "p50_ms": round(at(0.5), 4),
        "p99_ms": round(at(0.99), 4),
        "p999_ms": round(at(0.999), 4),
        "max_ms": round(ordered[-1] / 1e6, 4),
        "mean_ms": round(sum(ordered) / n / 1e6, 4),
    }


def cmd_tokens(args: argparse.Namespace) -> dict[str, Any]:
    """Sign ``count`` viewer tokens (subs ``u0``…) with the data dir's signing keys."""
    from pchat.core.tokens import TokenSigner, load_or_create_signing_keys
    from pchat.server.config import Settings
    from pchat.storage.keys_sqlite import SQLiteKeyStore

    settings = Settings.from_env(data_dir=args.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys = asyncio.run(load_or_create_signing_keys(SQLiteKeyStore(settings.keys_path)))
    signer = TokenSigner(
        keys, issuer=settings.token_issuer, ttl=args.ttl, leeway=settings.token_leeway
    )
    started = time.perf_counter()
    with open(args.out, "w", encoding="ascii") as out:
        for i in range(args.count):
            out.write(signer.issue(f"u{i}") + "\n")
    return {"tokens": args.count, "seconds": round(time.perf_counter() - started, 3)}


def _text(i: int) -> str:
    head = f"history message {i} "
    return head + "y" * (TEXT_BYTES - len(head))


async def _fill(db_path: Path, count: int, batch: int) -> dict[str, Any]:
    from pchat.protocol.models import User
    from pchat.storage.store_sqlite import SQLiteStore

    # Big batches: every append of a batch is submitted at once, so the store's writer
    # commits up to its batch_max of them in one transaction.
    store = SQLiteStore(db_path, batch_max=batch)
    await store.open()
    try:
        info = await store.room(ROOM)
        have = info.last_seq
        users = [User(id=f"h{i}", username=f"writer {i}") for i in range(100)]
        ts0 = int(time.time() * 1000) - count  # one message per ms, ending about now
        started = time.perf_counter()
        for start in range(have, count, batch):
            stop = min(count, start + batch)
            await asyncio.gather(
                *(
                    store.append_message(
                        ROOM,
                        message_id=f"m{i:08d}",
                        user=users[i % len(users)],
                        text=_text(i),
                        cid=None,
                        ts=ts0 + i,
                    )
                    for i in range(start, stop)
                )
            )
        seconds = time.perf_counter() - started
        info = await store.room(ROOM)
    finally:
        await store.close()
    return {
        "room": ROOM,
        "messages": info.last_seq,
        "added": info.last_seq - have,
        "fill_seconds": round(seconds, 2),
        "db_bytes": db_path.stat().st_size,
    }


def cmd_history_fill(args: argparse.Namespace) -> dict[str, Any]:
    """Store ``count`` messages in the room through :class:`SQLiteStore` (resumes a fill)."""
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_fill(data_dir / "pchat.sqlite3", args.count, args.batch))


def _positions(total: int, pages: int, seed: int) -> list[int | None]:
    """``before_seq`` of each request: the newest page first, then random depths."""
    rng = random.Random(seed)
    newest: list[int | None] = [None] * (pages // 2)
    deep: list[int | None] = [rng.randint(51, max(51, total)) for _ in range(pages - len(newest))]
    return newest + deep


async def _measure_ws(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    token = Path(args.token_file).read_text().split()[0]
    positions = _positions(args.total, args.pages, args.seed)
    newest: list[int] = []
    deep: list[int] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(args.url) as ws:
        await ws.send_str(
            json.dumps(
                {"type": "connect", "id": 1, "room": ROOM, "username": "reader", "token": token}
            )
        )
        await _reply(ws, 1)
        request_id = 1
        for _ in range(args.warmup):
            request_id += 1
            await ws.send_str(json.dumps({"type": "history", "id": request_id, "limit": 50}))
            await _reply(ws, request_id)
        for before in positions:
            request_id += 1
            request: dict[str, Any] = {"type": "history", "id": request_id, "limit": args.limit}
            if before is not None:
                request["before_seq"] = before
            frame = json.dumps(request)
            started = time.perf_counter_ns()
            await ws.send_str(frame)
            result = await _reply(ws, request_id)
            elapsed = time.perf_counter_ns() - started
            if len(result["messages"]) != args.limit:
                raise SystemExit(f"history page of {len(result['messages'])} messages")
            (newest if before is None else deep).append(elapsed)
    return {
        "method": "websocket: sequential `history` requests from an aiohttp client",
        "limit": args.limit,
        "newest_page": _percentiles(newest),
        "random_page": _percentiles(deep),
        "all": _percentiles(newest + deep),
    }


async def _reply(ws: Any, request_id: int) -> dict[str, Any]:
    """Wait for the reply to ``request_id``, skipping pushes."""
    while True:
        msg = await ws.receive(timeout=30)
        data = json.loads(msg.data)
        if data.get("id") == request_id:
            if data.get("type") != "reply":
                raise SystemExit(f"request {request_id} failed: {msg.data[:300]}")
            result: dict[str, Any] = data["result"]
            return result


def cmd_history_measure(args: argparse.Namespace) -> dict[str, Any]:
    """Time 50-message ``history`` pages over the WebSocket of a running server."""
    return asyncio.run(_measure_ws(args))


async def _measure_store(args: argparse.Namespace) -> dict[str, Any]:
    from pchat.storage.store_sqlite import SQLiteStore

    store = SQLiteStore(Path(args.data_dir) / "pchat.sqlite3")
    await store.open()
    newest: list[int] = []
    deep: list[int] = []
    try:
        for _ in range(args.warmup):
            await store.history(ROOM, limit=args.limit)
        for before in _positions(args.total, args.pages, args.seed):
            started = time.perf_counter_ns()
            await store.history(ROOM, before_seq=before, limit=args.limit)
            (newest if before is None else deep).append(time.perf_counter_ns() - started)
    finally:
        await store.close()
    return {
        "method": "store API: SQLiteStore.history() in-process",
        "limit": args.limit,
        "newest_page": _percentiles(newest),
        "random_page": _percentiles(deep),
        "all": _percentiles(newest + deep),
    }


def cmd_history_store(args: argparse.Namespace) -> dict[str, Any]:
    """Time the same pages through the store API, without the server."""
    return asyncio.run(_measure_store(args))


async def _blocklist(db_path: Path, count: int) -> dict[str, Any]:
    from pchat.protocol.wordfilter import FilterEntry
    from pchat.storage.store_sqlite import SQLiteStore

    store = SQLiteStore(db_path)
    await store.open()
    try:
        for i in range(count):
            # Nine in ten whole words, one in ten patterns (which cost more: each is tried
            # on every word of a message).
            kind = i % 30
            pattern = (
                f"*blk{i}*"
                if kind == 0
                else f"blk{i}*"
                if kind == 10
                else f"*blk{i}"
                if kind == 20
                else f"blocked{i}x"
            )
            await store.put_filter_entry("*", FilterEntry(pattern, "block" if i % 2 else "mask"))
    finally:
        await store.close()
    return {"blocklist": count}


def cmd_blocklist_fill(args: argparse.Namespace) -> dict[str, Any]:
    """A server-wide blocklist of ``count`` entries in the data directory's store."""
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_blocklist(data_dir / "pchat.sqlite3", args.count))


async def _drop_schema(store: str, run_id: str) -> str:
    import asyncpg

    from pchat.server.key_stores import postgres_location

    dsn, schema = postgres_location(store)
    if run_id not in schema:
        raise SystemExit(f"refusing to drop schema {schema!r}: not this run's ({run_id})")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    return schema


async def _drop_prefix(broker: str, run_id: str) -> tuple[str, int]:
    from redis.asyncio import Redis

    parts = urlsplit(broker)
    prefix = dict(parse_qsl(parts.query)).get("prefix", "")
    if run_id not in prefix:
        raise SystemExit(f"refusing to delete keys {prefix!r}*: not this run's ({run_id})")
    client = Redis.from_url(urlunsplit(parts._replace(query="")))
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
    finally:
        await client.aclose()
    return prefix, len(keys)


def cmd_cluster_drop(args: argparse.Namespace) -> dict[str, Any]:
    """Drop one run's PostgreSQL schema and Redis keys (names that hold ``run_id`` only)."""
    result: dict[str, Any] = {}
    if args.store:
        result["schema"] = asyncio.run(_drop_schema(args.store, args.run_id))
    if args.broker:
        result["prefix"], result["keys"] = asyncio.run(_drop_prefix(args.broker, args.run_id))
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True)

    p = sub.add_parser("tokens")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ttl", type=int, default=7 * 24 * 3600)
    p.set_defaults(fn=cmd_tokens)

    p = sub.add_parser("blocklist-fill")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(fn=cmd_blocklist_fill)

    p = sub.add_parser("history-fill")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=5000)
    p.set_defaults(fn=cmd_history_fill)

    for name, fn in (
        ("history-measure", cmd_history_measure),
        ("history-store", cmd_history_store),
    ):
        p = sub.add_parser(name)
        if name == "history-measure":
            p.add_argument("--url", required=True)
            p.add_argument("--token-file", required=True)
        else:
            p.add_argument("--data-dir", required=True)
        p.add_argument("--total", type=int, required=True, help="messages in the room")
        p.add_argument("--pages", type=int, default=2000)
        p.add_argument("--warmup", type=int, default=100)
        p.add_argument("--limit", type=int, default=50)
        p.add_argument("--seed", type=int, default=1)
        p.set_defaults(fn=fn)

    p = sub.add_parser("cluster-drop")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", help="postgresql://…?schema=NAME")
    p.add_argument("--broker", help="redis://…?prefix=P")
    p.set_defaults(fn=cmd_cluster_drop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = args.fn(args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
