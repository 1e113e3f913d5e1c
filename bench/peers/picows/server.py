"""Benchmark peer: a one-room broadcast on picows (with uvloop).

Every client that connects is in the room; each text (or binary) message a client sends
goes to every connected client, the sender included (the ``ws`` contract of
``bench/peers/README.md``). Written the way picows' documentation recommends for speed: a
``WSListener`` whose ``on_ws_frame`` runs synchronously on the frame in picows' read
buffer (no coroutine, no queue), the payload taken as a zero-copy ``memoryview`` and handed
to each recipient's ``WSTransport.send`` (which frames and copies it into the socket's
write path), uvloop as the event loop, aiofastnet for the sockets (picows uses it when it
is installed; ``--no-aiofastnet`` to compare). picows answers pings itself (auto pong);
fragmented messages, which picows does not reassemble, are joined here as its guide shows.
Text messages are checked for valid UTF-8 once each (1007 otherwise, as RFC 6455 asks
and the raw and ws peers do; picows leaves it to its user). No permessage-deflate (picows
has none), accept backlog 4096 as for the other peers.

With ``BENCH_HELLO_SECRET`` set, a client is in the room only after a valid hello (a token
and the room in its first message, ``bench/lib/hello.py``), answered with one ``welcome``
frame; anything else is closed with 1008.

Runs on ``.venv-bench`` (``bench/requirements.txt``: picows, aiofastnet, uvloop)::

    .venv-bench/bin/python bench/peers/picows/server.py --port P
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
from pathlib import Path

import uvloop
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    ws_create_server,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.lib.hello import HELLO_SECRET_ENV, HelloRefused, HelloVerifier

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


class Room:
    """The one room: the transports of the clients in it."""

    def __init__(self) -> None:
        self.members: set[WSTransport] = set()

    def broadcast(self, msg_type: WSMsgType, payload: memoryview | bytes) -> None:
        for transport in self.members:
            transport.send(msg_type, payload)


class Client(WSListener):  # type: ignore[misc]
    """One connection: its hello (if required), then every message to the room."""

    def __init__(self, room: Room, hello: HelloVerifier | None) -> None:
        self.room = room
        self.hello = hello
        self.fragments = bytearray()
        self.fragments_type = WSMsgType.TEXT

    def on_ws_connected(self, transport: WSTransport) -> None:
        if self.hello is None:
            self.room.members.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.room.members.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type not in _DATA:
            if msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return  # pings are answered by picows; pongs need nothing
        if frame.fin and not self.fragments:
            self.on_message(transport, msg_type, frame.get_payload_as_memoryview())
            return
        if not self.fragments:
            self.fragments_type = msg_type
        self.fragments += frame.get_payload_as_memoryview()
        if frame.fin:
            message = bytes(self.fragments)
            self.fragments.clear()
            self.on_message(transport, self.fragments_type, message)

    def on_message(
        self, transport: WSTransport, msg_type: WSMsgType, payload: memoryview | bytes
    ) -> None:
        if msg_type == WSMsgType.TEXT:
            try:
                str(payload, "utf-8")
            except UnicodeDecodeError:
                raise WSProtocolError(WSCloseCode.INVALID_TEXT, "invalid UTF-8") from None
        if self.hello is None:
            self.room.broadcast(msg_type, payload)
            return
        try:
            user = self.hello.check(bytes(payload))
        except HelloRefused as exc:
            transport.send_close(WSCloseCode.POLICY_VIOLATION, str(exc).encode())
            transport.disconnect()
            return
        transport.send(WSMsgType.TEXT, self.hello.welcome(user))
        self.hello = None
        self.room.members.add(transport)


async def serve(host: str, port: int, hello: HelloVerifier | None, aiofastnet: bool) -> None:
    room = Room()
    server = await ws_create_server(
        lambda request: Client(room, hello),
        host,
        port,
        backlog=4096,
        reuse_address=True,
        use_aiofastnet=aiofastnet,
    )
    print(f"picows listening on {host}:{port}{' (hello)' if hello else ''}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--room", default="bench", help="the room a hello must name")
    parser.add_argument("--no-aiofastnet", action="store_true", help="uvloop's own sockets instead")
    args = parser.parse_args()
    # As many connections as the hard limit allows (50,000+ for big rooms).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    secret = os.environ.get(HELLO_SECRET_ENV)
    hello = HelloVerifier(secret, args.room) if secret else None
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, hello, not args.no_aiofastnet))


if __name__ == "__main__":
    main()
