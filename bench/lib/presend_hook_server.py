"""The benchmark's pre-send hook: a tiny aiohttp endpoint, as an operator would write one.

    .venv/bin/python bench/lib/presend_hook_server.py --port P --secret S --mode allow
    .venv/bin/python bench/lib/presend_hook_server.py --port P --secret S --mode rewrite10

Each request's ``pchat-signature`` is checked (``pchat.protocol.signing.verify``, as a real
hook must); ``allow`` allows every message, ``rewrite10`` rewrites one in ten (the text
upper-cased) and allows the rest. A request with a bad signature gets ``401``. Runs on
uvloop; prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import itertools

import orjson
import uvloop
from aiohttp import web

from pchat.protocol.signing import SIGNATURE_HEADER, verify

ALLOW = orjson.dumps({"action": "allow"})


def make_app(secret: str, mode: str) -> web.Application:
    counter = itertools.count(1)

    async def presend(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, request.headers.get(SIGNATURE_HEADER, ""), body):
            return web.Response(status=401)
        if mode == "rewrite10" and next(counter) % 10 == 0:
            text = orjson.loads(body)["text"].upper()
            answer = orjson.dumps({"action": "rewrite", "text": text})
            return web.Response(body=answer, content_type="application/json")
        return web.Response(body=ALLOW, content_type="application/json")

    app = web.Application()
    app.router.add_post("/presend", presend)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--mode", choices=("allow", "rewrite10"), default="allow")
    args = parser.parse_args()
    web.run_app(
        make_app(args.secret, args.mode),
        host="127.0.0.1",
        port=args.port,
        print=lambda *_: print("ready", flush=True),
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
