"""The worker hub of ``pchat serve --workers N``: a relay on a Unix socket, and its wire format.

``pchat serve --workers N`` runs N worker processes that share the listening port
(``SO_REUSEPORT``) and the SQLite store. The parent process runs :class:`LocalHub`; each
worker's :class:`~pchat.storage.broker_local.LocalBroker` connects to it. The hub relays a
publication to every *other* worker subscribed to its room (the publisher delivers to its own
room itself), and answers a presence report with the sum of the workers' counts for the room.

Wire format between worker and hub: ``!IB`` (body length, op) then the body:

- ``OP_SUB`` / ``OP_UNSUB``: the room id;
- ``OP_PUB``: ``!qH`` (seq, -1 for none; room length), the room id, the payload;
- ``OP_PRESENCE``: ``!IiH`` (request id, this worker's count, room length), the room id;
- ``OP_PRESENCE_REPLY``: ``!Ii`` (request id, the room-wide total);
- ``OP_ROOMS``: ``!I`` (request id) — which rooms have connections;
- ``OP_ROOMS_REPLY``: ``!I`` (request id), then a JSON object: room id -> total.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections import defaultdict
from pathlib import Path

__all__ = [
    "OP_PRESENCE",
    "OP_PRESENCE_REPLY",
    "OP_PUB",
    "OP_ROOMS",
    "OP_ROOMS_REPLY",
    "OP_SUB",
    "OP_UNSUB",
    "PRESENCE",
    "PRESENCE_REPLY",
    "REQUEST_ID",
    "LocalHub",
    "frame",
    "parse_pub",
    "pub_body",
    "read_frame",
]

_HEADER = struct.Struct("!IB")
_PUB_HEAD = struct.Struct("!qH")  # seq (-1: none), room length
PRESENCE = struct.Struct("!IiH")  # request id, count, room length
PRESENCE_REPLY = struct.Struct("!Ii")  # request id, total
REQUEST_ID = struct.Struct("!I")  # request id (OP_ROOMS, OP_ROOMS_REPLY)

OP_SUB, OP_UNSUB, OP_PUB, OP_PRESENCE, OP_PRESENCE_REPLY = 1, 2, 3, 4, 5
OP_ROOMS, OP_ROOMS_REPLY = 6, 7


def frame(op: int, body: bytes) -> bytes:
    """One message on the wire: header, then ``body``."""
    return _HEADER.pack(len(body), op) + body


def pub_body(room_id: str, seq: int | None, payload: bytes) -> bytes:
    """The body of an ``OP_PUB``."""
    room = room_id.encode()
    return _PUB_HEAD.pack(-1 if seq is None else seq, len(room)) + room + payload


def parse_pub(body: bytes) -> tuple[str, int | None, bytes]:
    """``(room_id, seq, payload)`` of an ``OP_PUB`` body."""
    seq, n = _PUB_HEAD.unpack_from(body)
    start = _PUB_HEAD.size
    room = body[start : start + n].decode()
    return room, None if seq < 0 else seq, body[start + n :]


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next ``(op, body)``; ``IncompleteReadError`` when the peer has gone."""
    length, op = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return op, await reader.readexactly(length)


class LocalHub:
    """The parent process's relay between workers, listening on the Unix socket ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server: asyncio.Server | None = None
        self._subs: dict[str, set[asyncio.StreamWriter]] = defaultdict(set)
        self._presence: dict[str, dict[asyncio.StreamWriter, int]] = defaultdict(dict)

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                op, body = await read_frame(reader)
                if op == OP_PUB:
                    room, _seq, _payload = parse_pub(body)
                    data = frame(OP_PUB, body)
                    for other in self._subs.get(room, ()):
                        if other is not writer:
                            other.write(data)
                elif op == OP_SUB:
                    self._subs[body.decode()].add(writer)
                elif op == OP_UNSUB:
                    self._subs[body.decode()].discard(writer)
                elif op == OP_PRESENCE:
                    rid, count, n = PRESENCE.unpack_from(body)
                    room = body[PRESENCE.size : PRESENCE.size + n].decode()
                    counts = self._presence[room]
                    counts[writer] = count
                    total = sum(counts.values())
                    writer.write(frame(OP_PRESENCE_REPLY, PRESENCE_REPLY.pack(rid, total)))
                elif op == OP_ROOMS:
                    totals = {r: sum(c.values()) for r, c in self._presence.items()}
                    online = json.dumps({r: n for r, n in totals.items() if n > 0}).encode()
                    writer.write(frame(OP_ROOMS_REPLY, body[: REQUEST_ID.size] + online))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for subs in self._subs.values():
                subs.discard(writer)
            for counts in self._presence.values():
                counts.pop(writer, None)
            writer.close()
