"""Benchmark peer: a one-room chat on python-socketio.

Every client that connects to the default namespace is in the room. Each
``msg`` event a client emits is broadcast with ``await sio.emit('msg', data)``
(no ``to=``: the whole namespace, the sender included), which is how the
python-socketio docs broadcast to all connected clients.

Two server setups, both on uvloop:

* ``--setup aiohttp`` (the default): ``AsyncServer(async_mode='aiohttp')``
  attached to an aiohttp ``web.Application``. The fastest setup measured here
  (see ``bench/peers/README.md``).
* ``--setup asgi``: ``AsyncServer(async_mode='asgi')`` wrapped in
  ``socketio.ASGIApp`` and served by uvicorn (httptools; ``--ws`` picks
  uvicorn's WebSocket implementation).

Only the websocket transport is enabled, so clients connect straight to
``/socket.io/?EIO=4&transport=websocket`` with no polling first.

Usage: .venv-bench/bin/python server.py --port P [--setup aiohttp|asgi]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import socketio
import uvloop

# Every peer listens with the same accept backlog, so that a join storm is
# not decided by SYN retries (aiohttp's default is 128, uvicorn's 2048).
BACKLOG = 4096


def make_server(async_mode: str) -> socketio.AsyncServer:
    """The one-room chat: every ``msg`` goes to everyone connected."""
    sio = socketio.AsyncServer(
        async_mode=async_mode,
        transports=["websocket"],
        logger=False,
        engineio_logger=False,
    )

    @sio.on("msg")  # type: ignore[untyped-decorator]
    async def on_msg(sid: str, data: object) -> None:
        await sio.emit("msg", data)

    return sio


async def serve_aiohttp(host: str, port: int) -> None:
    from aiohttp import web

    sio = make_server("aiohttp")
    app = web.Application()
    sio.attach(app)
    # No access log: the other peers do not log per request either.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=BACKLOG).start()
    print(f"python_socketio (aiohttp) listening on {host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def serve_asgi(host: str, port: int, ws: str) -> None:
    import uvicorn

    sio = make_server("asgi")
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host=host,
        port=port,
        backlog=BACKLOG,
        loop="none",  # uvloop is already running: uvloop.run() below
        http="httptools",
        ws=ws,
        ws_per_message_deflate=False,
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"python_socketio (asgi/uvicorn, ws={ws}) listening on {host}:{port}", flush=True)
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--setup", choices=["aiohttp", "asgi"], default="aiohttp")
    parser.add_argument(
        "--ws",
        choices=["websockets", "websockets-sansio", "wsproto"],
        default="websockets-sansio",
        help="uvicorn's WebSocket implementation (only with --setup asgi)",
    )
    args = parser.parse_args()
    if args.setup == "aiohttp":
        serve = serve_aiohttp(args.host, args.port)
    else:
        serve = serve_asgi(args.host, args.port, args.ws)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve)


if __name__ == "__main__":
    main()
