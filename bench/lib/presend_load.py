"""The send benchmark's load: many senders, few subscribers, each send timed to its reply.

    .venv/bin/python bench/lib/presend_load.py --url ws://127.0.0.1:P/public-chat/ws \\
        --tokens FILE --senders 200 --rooms 50 --rate 0 --warmup 3 --duration 10 \\
        --pids SERVER_PIDS --hook-pids HOOK_PIDS

``senders`` connections join ``rooms`` rooms round-robin (sender i in room ``send-{i %
rooms}``), so each message reaches ``senders / rooms`` connections: the server's work is
the send path (validation, the guard, the hook, the store, the reply), not the fan-out.

- ``--rate 0`` (saturating): every sender has one ``send`` in flight and sends the next as
  soon as the reply comes; the server's capacity sets the rate.
- ``--rate R``: open loop, R sends per second in all, each sender on its own schedule
  (spread evenly); a send's latency counts from when it was due, so a server that falls
  behind shows it (no coordinated omission).

A send's latency is from when it was due (open loop) or sent (saturating) to its reply.
Sends due in the measuring window count; the window's accepted sends per second, errors,
latency percentiles and the CPU time of the server's, the hook's and this process's in
the window are printed as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

TEXT = "send benchmark " + "x" * 185  # 200 characters
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Window:
    """The measuring window and what fell in it."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        self.latencies_ns: list[int] = []
        self.accepted = 0
        self.errors: dict[int, int] = {}

    def count(self, due: float, latency_ns: int, error: int | None) -> None:
        if not self.start <= due < self.end:
            return
        if error is None:
            self.accepted += 1
            self.latencies_ns.append(latency_ns)
        else:
            self.errors[error] = self.errors.get(error, 0) + 1


class Sender:
    """One connection: sends, and files each reply against its send."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, window: Window) -> None:
        self.ws = ws
        self.window = window
        self.next_id = 1
        #: request id -> (due, perf_counter_ns at due)
        self.pending: dict[int, tuple[float, int]] = {}
        self.replied = asyncio.Event()
        self.closed = False

    async def read(self) -> None:
        async for msg in self.ws:
            data = msg.data
            if not isinstance(data, str) or data.startswith('{"type":"message"'):
                continue  # the room's pushes: received, not looked at
            if data.startswith(('{"type":"reply"', '{"type":"error"')):
                now_ns = time.perf_counter_ns()
                frame = orjson.loads(data)
                sent = self.pending.pop(frame["id"], None)
                if sent is not None:
                    error = frame["error"]["code"] if frame["type"] == "error" else None
                    self.window.count(sent[0], now_ns - sent[1], error)
                    self.replied.set()
        self.closed = True
        self.replied.set()

    async def send(self, due: float, due_ns: int) -> None:
        rid = self.next_id
        self.next_id += 1
        self.pending[rid] = (due, due_ns)
        await self.ws.send_str(f'{{"type":"send","id":{rid},"text":"{TEXT}"}}')


async def _join(
    http: aiohttp.ClientSession, url: str, token: str, room: str, name: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url, autoping=True, max_msg_size=0)
    await ws.send_str(
        json.dumps({"type": "connect", "id": 0, "room": room, "username": name, "token": token})
    )
    while True:
        msg = await ws.receive(timeout=60)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise SystemExit(f"connect of {name} failed: {msg}")
        frame = orjson.loads(msg.data)
        if frame.get("id") == 0:
            if frame["type"] != "reply":
                raise SystemExit(f"connect of {name} failed: {msg.data[:300]}")
            return ws


async def _saturate(sender: Sender, stop: float) -> None:
    while time.monotonic() < stop and not sender.closed:
        sender.replied.clear()
        await sender.send(time.monotonic(), time.perf_counter_ns())
        while sender.pending and not sender.closed:
            await sender.replied.wait()
            sender.replied.clear()


async def _paced(sender: Sender, period: float, offset: float, begin: float, stop: float) -> None:
    due = begin + offset
    while due < stop and not sender.closed:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        # Its due time, as a perf_counter_ns reading: sending late counts as latency.
        due_ns = time.perf_counter_ns() - int(max(0.0, time.monotonic() - due) * 1e9)
        await sender.send(due, due_ns)
        due += period


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tokens = Path(args.tokens).read_text().split()
    if len(tokens) < args.senders:
        raise SystemExit(f"{len(tokens)} tokens for {args.senders} senders")
    pids = [int(p) for p in args.pids.split(",") if p]
    hook_pids = [int(p) for p in args.hook_pids.split(",") if p]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        gate = asyncio.Semaphore(100)

        async def join(i: int) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await _join(http, args.url, tokens[i], f"send-{i % args.rooms}", f"s{i}")

        started = time.monotonic()
        sockets = await asyncio.gather(*(join(i) for i in range(args.senders)))
        join_seconds = time.monotonic() - started
        begin = time.monotonic() + 0.2
        window = Window(begin + args.warmup, begin + args.warmup + args.duration)
        stop = window.end
        senders = [Sender(ws, window) for ws in sockets]
        readers = [asyncio.ensure_future(s.read()) for s in senders]
        if args.rate > 0:
            period = args.senders / args.rate
            loads = [
                _paced(s, period, period * i / args.senders, begin, stop)
                for i, s in enumerate(senders)
            ]
        else:
            loads = [_saturate(s, stop) for s in senders]
        tasks = [asyncio.ensure_future(load) for load in loads]
        await asyncio.sleep(max(0.0, window.start - time.monotonic()))
        cpu0 = (_cpu_seconds(pids), _cpu_seconds(hook_pids), _own_cpu(), time.monotonic())
        await asyncio.sleep(max(0.0, window.end - time.monotonic()))
        cpu1 = (_cpu_seconds(pids), _cpu_seconds(hook_pids), _own_cpu(), time.monotonic())
        await asyncio.gather(*tasks)
        # Replies to sends of the window still on their way (open loop: bounded wait).
        deadline = time.monotonic() + 10
        while any(s.pending for s in senders) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        unanswered = sum(
            1 for s in senders for due, _ in s.pending.values() if window.start <= due < stop
        )
        for ws in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
    elapsed = cpu1[3] - cpu0[3]
    ordered = sorted(window.latencies_ns)

    def at(q: float) -> float | None:
        return (
            round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 3)
            if ordered
            else None
        )

    return {
        "senders": args.senders,
        "rooms": args.rooms,
        "fanout": args.senders / args.rooms,
        "offered_rate": args.rate,
        "join_seconds": round(join_seconds, 3),
        "window_seconds": args.duration,
        "accepted": window.accepted,
        "accepted_per_s": round(window.accepted / args.duration, 1),
        "errors": window.errors,
        "unanswered": unanswered,
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "p999_ms": at(0.999),
        "max_ms": round(ordered[-1] / 1e6, 3) if ordered else None,
        "server_cpu_pct": round((cpu1[0] - cpu0[0]) / elapsed * 100, 1),
        "hook_cpu_pct": round((cpu1[1] - cpu0[1]) / elapsed * 100, 1) if hook_pids else None,
        "load_cpu_pct": round((cpu1[2] - cpu0[2]) / elapsed * 100, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.0, help="sends/s in all; 0: saturating")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pids", default="", help="the server's processes (CPU time)")
    parser.add_argument("--hook-pids", default="", help="the hook's processes (CPU time)")
    args = parser.parse_args()
    result = uvloop.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
