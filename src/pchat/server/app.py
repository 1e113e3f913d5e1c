"""App wiring: settings -> store, broker, keys, chat service, aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from pchat.core.apikeys import (
    ApiKeyAuthenticator,
    ApiKeyGate,
    FailureLimiter,
    create_first_api_key,
)
from pchat.core.connect import NODE
from pchat.core.keyring import Keyring
from pchat.core.service import ChatService
from pchat.core.tokens import TokenSigner, load_or_create_signing_keys
from pchat.storage.base import Broker, MessageStore
from pchat.storage.broker_memory import MemoryBroker
from pchat.storage.private_files import private_dir
from pchat.storage.store_sqlite import SQLiteStore

from . import logs
from .admin import AdminContext, add_admin_routes
from .admin.actor import Actor
from .appkeys import DRAIN_KEY, SERVICE_KEY, SETTINGS_KEY
from .chat_socket import CHAT_KEY, ChatEndpoint
from .config import Settings
from .console import console_for
from .drain import Drain
from .edge import (
    TrustedProxies,
    WebSocketGate,
    guard_websocket,
    handler_args,
    raise_open_files_limit,
)
from .http import DemoTokens, TokenService, health_handler, ready_handler
from .key_stores import key_stores, opened_key_stores
from .metrics import METRICS_KEY, Metrics, shared_between_workers
from .presend_hook import presend_hook_from
from .runner import serve
from .webhook_sender import HttpPoster
from .workers import run_workers
from .ws import websocket_handler

__all__ = ["build_app", "ensure_first_key", "run"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def _split_option(url: str, name: str) -> tuple[str, str | None]:
    """``url`` without its query parameter ``name``, and that parameter's value."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    value = next((v for k, v in query if k == name), None)
    rest = urlencode([(k, v) for k, v in query if k != name])
    return urlunsplit(parts._replace(query=rest)), value


def make_store(settings: Settings) -> MessageStore:
    """SQLite by default; ``postgresql://…[?schema=NAME]`` selects PostgreSQL."""
    if settings.store is None:
        return SQLiteStore(settings.db_path, timeout=settings.store_timeout)
    if settings.store.startswith(("postgresql://", "postgres://")):
        from pchat.storage.store_postgres import PostgresStore

        dsn, schema = _split_option(settings.store, "schema")
        return PostgresStore(dsn, schema=schema or "public", timeout=settings.store_timeout)
    raise ValueError(f"unsupported store {settings.store!r} (use postgresql://…)")


def make_broker(settings: Settings) -> Broker:
    """In-memory by default; ``redis://…[?prefix=P]`` (or ``rediss://``) selects Redis."""
    if settings.broker is None:
        return MemoryBroker()
    if settings.broker.startswith(("redis://", "rediss://", "unix://")):
        from pchat.storage.broker_redis import RedisBroker

        url, prefix = _split_option(settings.broker, "prefix")
        return RedisBroker(url, prefix=prefix or "pchat:")
    raise ValueError(f"unsupported broker {settings.broker!r} (use redis://…)")


def build_app(settings: Settings, *, broker: Broker | None = None) -> web.Application:
    """The aiohttp application; the store opens on startup and closes on cleanup.

    ``broker`` overrides the one the settings select (worker processes pass theirs).
    """
    private_dir(settings.data_dir)
    # The keys: keys.sqlite3, or PostgreSQL with a PostgreSQL store (server/key_stores.py);
    # the signing keys are read when the app starts (the keyring's load).
    stores = key_stores(settings)
    keys = stores.keys
    signer = TokenSigner(
        None,
        issuer=settings.token_issuer,
        ttl=settings.token_ttl,
        leeway=settings.token_leeway,
    )
    store = make_store(settings)
    broker = make_broker(settings) if broker is None else broker
    metrics = Metrics(NODE) if settings.metrics else None
    if metrics is not None:  # every store and broker call timed, at this one place
        store, broker = metrics.timed_store(store), metrics.timed_broker(broker)
    presend_hook = presend_hook_from(settings)
    webhook_poster = HttpPoster()
    service = ChatService(
        settings.core(),
        store=store,
        broker=broker,
        verifier=signer,
        presend_hook=presend_hook,
        revoked=signer.revoked,
        webhook_poster=webhook_poster,
    )
    proxies = TrustedProxies(settings.trusted_proxies)
    # One gate for the token service and the server API: failures count against one budget.
    gate = ApiKeyGate(
        ApiKeyAuthenticator(keys),
        FailureLimiter(settings.auth_failures_max, settings.auth_failures_window),
    )
    tokens = TokenService(signer, gate, proxies)
    keyring = Keyring(store=keys, signer=signer, auth=gate.auth, node=service.node)
    service.jobs.add("keys-reload", settings.keys_reload_interval, keyring.reload)
    if metrics is not None:
        metrics.watch(service)

    app = web.Application(
        client_max_size=64 * 1024,
        handler_args=handler_args(settings),
        middlewares=[logs.request_ids(proxies)],
    )
    app.on_response_prepare.append(logs.echo_request_id)
    drain = app[DRAIN_KEY] = Drain(service, settings)
    app[SERVICE_KEY] = service
    app[SETTINGS_KEY] = settings
    token_handler = tokens.handle if metrics is None else metrics.count_token_calls(tokens.handle)
    app.router.add_get("/public-chat/token/", token_handler)
    app.router.add_get("/public-chat/token", token_handler)
    # Chat WebSockets are served by the fast path (server/chat_socket.py, the listening
    # socket's protocol); this route serves an upgrade on a kept-alive HTTP connection
    # and answers the refusals, with the same gate.
    ws_gate = WebSocketGate(settings, proxies)
    ws_route = drain.guard(guard_websocket(websocket_handler, ws_gate))
    app.router.add_get("/public-chat/ws", ws_route)
    chat = app[CHAT_KEY] = ChatEndpoint(
        service, settings, gate=ws_gate, drain=drain, metrics=metrics
    )
    app.router.add_get("/healthz", health_handler)
    app.router.add_get("/readyz", ready_handler)
    if metrics is not None:
        app[METRICS_KEY] = metrics
        app.router.add_get("/metrics", metrics.handle)
        app.cleanup_ctx.append(metrics.lifecycle)
    admin = AdminContext(
        settings=settings,
        service=service,
        actor=Actor(service),
        keys=keys,
        signer=signer,
        gate=gate,
        proxies=proxies,
        keyring=keyring,
        operators=stores.operators,
    )
    add_admin_routes(app, admin, sessions=console_for(app, admin).guard)
    if settings.demo_token_endpoint:
        app.router.add_get("/demo/token", DemoTokens(signer).handle)
    static = settings.static_dir or STATIC_DIR
    if settings.serve_demo and (static / "index.html").exists():
        app.router.add_get("/", _index(static / "index.html"))
        if (static / "console.html").exists():  # the admin console's page (web/src/console)
            app.router.add_get("/console", _index(static / "console.html"))
        app.router.add_static("/", static)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await stores.open()
        await keyring.load()  # before serving: the signer has its keys
        await store.open()
        await broker.open()
        if presend_hook is not None:
            await presend_hook.open()
        await webhook_poster.open()
        await service.start()
        yield
        await chat.stop()
        await service.stop()
        await keyring.close()
        await webhook_poster.close()
        if presend_hook is not None:
            await presend_hook.close()
        await broker.close()
        await store.close()
        await stores.close()

    async def goodbye(app: web.Application) -> None:
        # aiohttp runs this after it stopped listening and before it waits for (and, after
        # shutdown_timeout, cancels) the handlers — under `pchat serve`, after the drain
        # (server/drain.py) — : each connection left gets its 4000 close with a reconnect
        # hint. The closes are tasks; one turn of the loop lets every one write
        # its close frame before anything else of the shutdown runs.
        service.close_sessions()
        await asyncio.sleep(0)

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(goodbye)
    return app


def _index(path: Path) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    return index


async def ensure_first_key(settings: Settings) -> tuple[str, str] | None:
    """On a first start with no API key, create one and return it (shown once; of nodes
    starting at once on an empty PostgreSQL, one creates it)."""
    async with opened_key_stores(settings) as stores:
        return await create_first_api_key(stores.keys)


def run(settings: Settings) -> None:
    """``pchat serve``: serve until interrupted."""
    logs.configure(
        settings.log_format, settings.log_level, known_secrets=[settings.presend_hook_secret]
    )
    before, after = raise_open_files_limit()  # workers inherit it
    if after > before:
        log.info("open files limit raised from %d to %d", before, after)
    else:
        log.info("open files limit: %d", after)
    first = asyncio.run(ensure_first_key(settings))
    base = f"http://{settings.host}:{settings.port}"
    if first is not None:
        key, secret = first
        print(
            "First start: created an API key (the secret is shown only this once).\n"
            f"  API_KEY={key}\n  API_SECRET={secret}\n"
            f"Get a token:\n  curl -iL --request GET --url '{base}/public-chat/token/?sub=USER_ID'"
            f" --header 'auth-api-key: {key}' --header 'auth-api-secret: {secret}'",
            flush=True,
        )
    if settings.workers > 1:
        print(f"pchat serving on {base} with {settings.workers} workers", flush=True)
        # Any worker may answer a scrape: they keep their metrics in files they all read.
        with shared_between_workers() if settings.metrics else contextlib.nullcontext():
            run_workers(settings, build_app, _prepare_workers)
        return
    print(f"pchat serving on {base} (data in {settings.data_dir})", flush=True)
    serve(build_app(settings), settings)


async def _prepare_workers(settings: Settings) -> None:
    """Create what workers would otherwise race to create: signing keys, the schema."""
    async with opened_key_stores(settings) as stores:
        await load_or_create_signing_keys(stores.keys)
    store = make_store(settings)
    await store.open()
    await store.close()
