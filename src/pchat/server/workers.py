"""``pchat serve --workers N``: N worker processes on one port, one hub between them.

Each worker is a whole pchat server (its own event loop, rooms and SQLite connections)
bound with ``SO_REUSEPORT``, so the kernel spreads connections over the workers and a big
room is split across processes: one pass over a room's local connections stays short. The
parent runs :class:`~pchat.storage.hub_local.LocalHub`, which relays publications between the
workers, restarts a worker that died, and stops them all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from aiohttp import web

from pchat.storage.base import Broker
from pchat.storage.broker_local import LocalBroker
from pchat.storage.hub_local import LocalHub

from . import logs
from .config import Settings
from .runner import new_event_loop, serve, stop_timeout

__all__ = ["AppBuilder", "run_workers", "worker_main"]

log = logging.getLogger(__name__)


class AppBuilder(Protocol):
    """What builds a worker's application (``app.build_app``); passed in, so this module
    does not import the wiring that imports it."""

    def __call__(self, settings: Settings, *, broker: Broker | None = None) -> web.Application:
        """The application; ``broker`` replaces the one the settings select."""
        ...


def worker_main(build: AppBuilder, settings: Settings, hub_path: str, index: int) -> None:
    """One worker: a full server whose broker is the parent's hub."""
    logs.configure(
        settings.log_format,
        settings.log_level,
        static={"worker": index},
        known_secrets=[settings.presend_hook_secret],
    )
    # With a cluster broker (Redis) every worker is a node of its own; else the hub relays.
    broker = None if settings.broker is not None else LocalBroker(Path(hub_path))
    settings = worker_settings(settings, len(os.sched_getaffinity(0)))
    serve(build(settings, broker=broker), settings, reuse_port=True)


def worker_settings(settings: Settings, cores: int) -> Settings:
    """A worker's settings. The coalescing budget is the writes per second one core can do
    (core/room.py): workers that outnumber the cores they may run on share it, else they
    ask the cores for more writes than they can make and a big room falls behind."""
    budget = settings.coalesce_budget
    if not budget or settings.workers <= cores:
        return settings
    return dataclasses.replace(settings, coalesce_budget=budget * cores / settings.workers)


def run_workers(
    settings: Settings,
    build: AppBuilder,
    prepare: Callable[[Settings], Awaitable[None]],
) -> None:
    """Run the hub and ``settings.workers`` workers until SIGINT or SIGTERM.

    ``prepare`` runs first, once, to create what the workers would otherwise race to
    create (signing keys, the schema); each worker serves the application ``build`` makes.
    """
    loop = new_event_loop()
    try:
        loop.run_until_complete(_supervise(settings, build, prepare))
    finally:
        loop.close()


async def _supervise(
    settings: Settings,
    build: AppBuilder,
    prepare: Callable[[Settings], Awaitable[None]],
) -> None:
    await prepare(settings)
    hub_path = Path(tempfile.gettempdir()) / f"pchat-hub-{os.getpid()}.sock"
    hub = LocalHub(hub_path)
    await hub.start()
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []

    def spawn(index: int) -> BaseProcess:
        proc = ctx.Process(
            target=worker_main,
            args=(build, settings, str(hub_path), index),
            name=f"pchat-w{index}",
        )
        proc.start()
        return proc

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        procs = [spawn(i) for i in range(settings.workers)]
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                for i, proc in enumerate(procs):
                    if not proc.is_alive():
                        log.error("worker %d exited with %s; restarting it", i, proc.exitcode)
                        procs[i] = spawn(i)
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        # Each worker drains its own clients (server/drain.py); the hub relays for them
        # until the last one has exited.
        for proc in procs:
            await loop.run_in_executor(None, proc.join, stop_timeout(settings) + 5.0)
            if proc.is_alive():
                proc.kill()
        await hub.close()
