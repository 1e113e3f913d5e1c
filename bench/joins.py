"""Joins in-process: N connects through ChatService, no network, before/after side by side.

::

    .venv/bin/python bench/joins.py --n 5000 --runs 7 \\
        --tree before=/tmp/jb-before/src --tree after=/tmp/jb-after/src

Each run starts a fresh interpreter per tree (``PYTHONPATH=<tree>``), trees alternating
within a run, that opens an embedded store and broker, issues N tokens (not timed), then
connects N sessions with fake sinks, 100 at a time, to one room: token, room and username
in the connect, as a client's first frame. Reported per tree: the median wall time of the
N connects and the median CPU time of the process per connect (``time.process_time``: the
store's thread included). ``--profile`` prints a cProfile of one run of the first tree.

What this leaves out is the WebSocket handshake and frame I/O: ``bench/run.py`` measures
those (its join storm), see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, json, pathlib, sys, tempfile, time
from pchat.core.service import ChatService
from pchat.core.settings import CoreSettings
from pchat.core.tokens import TokenSigner, new_signing_key
from pchat.protocol.frames import decode_client_frame, request_frame
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.store_sqlite import SQLiteStore


class Sink:
    def write(self, data):
        pass

    def get_write_buffer_size(self):
        return 0


async def main(n):
    store = SQLiteStore(pathlib.Path(tempfile.mkdtemp()) / "chat.sqlite3")
    broker = MemoryBroker()
    await store.open()
    await broker.open()
    signer = TokenSigner([new_signing_key()], issuer="pchat", ttl=3600)
    service = ChatService(CoreSettings(), store=store, broker=broker, verifier=signer)
    await service.start()
    tokens = [signer.issue(f"u{i}") for i in range(n)]
    gate = asyncio.Semaphore(100)

    async def one(i):
        async with gate:
            session = service.new_session(Sink(), lambda code, reason: None)
            frame = request_frame("connect", 1, room="lobby", username=f"u{i}", token=tokens[i])
            reply = await service.handle(session, decode_client_frame(frame))
            if reply.then:
                reply.then()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await service.stop()
    await broker.close()
    await store.close()
    return {"wall_s": wall, "cpu_us_per_join": cpu / n * 1e6}


n = int(sys.argv[1])
if len(sys.argv) > 2:
    import cProfile, pstats
    cProfile.run("asyncio.run(main(n))", "/tmp/joins.prof")
    pstats.Stats("/tmp/joins.prof").sort_stats("cumulative").print_stats(40)
else:
    print(json.dumps(asyncio.run(main(n))))
"""


def _run(src: str, n: int, profile: bool = False) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": src}
    argv = [sys.executable, "-c", CHILD, str(n), *(["profile"] if profile else [])]
    out = subprocess.run(argv, env=env, capture_output=not profile, text=True, check=True)
    return {} if profile else dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/joins.py", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=5000, help="connects per run")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="a source tree to measure (repeat; default: this checkout's src as 'here')",
    )
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [
        ["here", str(Path(__file__).parents[1] / "src")]
    ]
    if args.profile:
        _run(trees[0][1], args.n, profile=True)
        return 0
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for run in range(args.runs):
        order = trees if run % 2 == 0 else trees[::-1]
        for name, src in order:
            result = _run(src, args.n)
            results[name].append(result)
            print(
                f"run {run + 1} {name}: {result['wall_s']:.3f} s, "
                f"{result['cpu_us_per_join']:.0f} µs CPU/join",
                file=sys.stderr,
            )
    print(f"| tree | {args.n:,} joins, median s (min–max) | CPU µs per join, median |")
    print("|---|---|---|")
    for name, runs in results.items():
        walls = [r["wall_s"] for r in runs]
        cpus = [r["cpu_us_per_join"] for r in runs]
        print(
            f"| {name} | {statistics.median(walls):.3f} ({min(walls):.3f}–{max(walls):.3f}) "
            f"| {statistics.median(cpus):.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
