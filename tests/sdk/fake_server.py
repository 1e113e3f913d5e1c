"""An in-process fake pchat server for the SDK tests: aiohttp on port 0, one room in memory.

It speaks the protocol of ``docs/protocol.md`` closely enough to exercise the SDK (it does
not verify JWTs: the token string *is* the user id) and has hooks to misbehave:

- ``omit``: request types that get no reply at all;
- ``delay``: seconds to wait before handling a request type;
- ``drop_on``: request types that are carried out, then the sender's TCP connection is
  dropped before it gets the reply or its own push (a lost ack); each entry is used once;
- ``connect_failures``: ``(error code, close code)`` pairs used by the next connects;
- ``bad_tokens`` / ``expired_tokens``: refused with 202/4500 and 203/4002;
- ``busy_tokens``: refused with 120 (unavailable, temporary) and 1013, so the SDK retries;
- :meth:`drop`, :meth:`close_clients`, :meth:`inject` and :meth:`post` (another user's
  message) act on the live connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import WSMsgType, web

from pchat.protocol.codes import CloseCode, ErrorCode
from pchat.protocol.errors import RequestError, request_error
from pchat.protocol.frames import (
    FrameError,
    decode_client_frame,
    error_frame,
    push_frame,
    reply_frame,
)
from pchat.protocol.models import Message, Poll, PollOption, User

REACTIONS = ("like", "love", "haha", "wow", "sad", "angry", "clap", "fire")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class FakeClient:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    user: User | None = None
    votes: dict[str, int] = field(default_factory=dict)


class FakeServer:
    """One room, kept in memory; see the module docstring for the hooks."""

    def __init__(self, *, epoch: str = "e1", token_ttl: float = 3600.0) -> None:
        self.epoch = epoch
        self.token_ttl = token_ttl
        self.recovery_max = 1000
        self.room_id: str | None = None
        self.messages: dict[str, Message] = {}
        # The stream: ("message", message id) or ("message_delete", push body).
        self.stream: list[tuple[str, Any]] = []
        self.cids: dict[tuple[str, str], str] = {}
        self.polls: dict[str, Poll] = {}
        self.stats: Counter[str] = Counter()
        self.clients: list[FakeClient] = []
        # Hooks.
        self.omit: set[str] = set()
        self.delay: dict[str, float] = {}
        self.drop_on: set[str] = set()
        self.connect_failures: list[tuple[ErrorCode, int]] = []
        self.reply_first = False  # reply before the pushes a request causes (default: after)
        self.bad_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.busy_tokens: set[str] = set()
        # Records.
        self.connects: list[dict[str, Any]] = []
        self.refreshes: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/public-chat/ws", self._ws_handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for client in list(self.clients):
            await client.ws.close(code=CloseCode.NORMAL)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- hooks acting on live connections -------------------------------------------------

    @property
    def seq(self) -> int:
        return len(self.stream)

    async def wait_clients(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` connected (joined) clients."""
        async with asyncio.timeout(timeout):
            while sum(1 for c in self.clients if c.user) != n:
                await asyncio.sleep(0.005)

    def drop(self) -> None:
        """Drop every connection without a close frame (a network failure)."""
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()

    async def close_clients(self, code: int, reason: str = "") -> None:
        """Close every connection with ``code``."""
        for client in list(self.clients):
            await client.ws.close(code=code, message=reason.encode())

    async def inject(self, push: dict[str, Any]) -> None:
        """Send a raw push to every joined client."""
        await self._broadcast(push)

    async def post(self, text: str, user: User | None = None) -> Message:
        """A message from another user, stored and pushed."""
        push = self._append(user or User("u-other", "Other"), text, None)
        await self._broadcast(push)
        return self.messages[push["message"]["id"]]

    async def remove(self, message_id: str, by: User | None = None) -> None:
        """Another user (a moderator) deletes a message: stored and pushed."""
        by = by or User("u-mod", "Mod", "moderator")
        ts = now_ms()
        message = self.messages[message_id]
        self.messages[message_id] = message.as_deleted(by, ts)
        push = {
            "type": "message_delete",
            "seq": self.seq + 1,
            "message_id": message_id,
            "message_seq": message.seq,
            "deleted_by": by.to_wire(),
            "ts": ts,
        }
        self.stream.append(("message_delete", push))
        await self._broadcast(push)

    # -- the WebSocket ----------------------------------------------------------------------

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client = FakeClient(ws, request.transport)
        self.clients.append(client)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._handle(client, msg.data)
        finally:
            self.clients.remove(client)
        return ws

    async def _send(self, client: FakeClient, data: bytes) -> None:
        if not client.ws.closed:
            with contextlib.suppress(ConnectionError):
                await client.ws.send_str(data.decode())

    async def _broadcast(self, push: dict[str, Any], *, skip: FakeClient | None = None) -> None:
        frame = push_frame(push["type"], {k: v for k, v in push.items() if k != "type"})
        for client in list(self.clients):
            if client.user is not None and client is not skip:
                await self._send(client, frame)

    async def _handle(self, client: FakeClient, data: str | bytes) -> None:
        try:
            req = decode_client_frame(data)
        except FrameError as exc:
            await self._send(client, error_frame(exc.request_id, exc))
            return
        self.requests.append((req.type, req.args))
        if req.type in self.delay:
            await asyncio.sleep(self.delay[req.type])
        assert req.id is not None
        if req.type == "connect":
            await self._connect(client, req.id, req.args)
            return
        if client.user is None and req.type != "ping":
            await self._send(client, error_frame(req.id, request_error(ErrorCode.NOT_CONNECTED)))
            return
        drop = req.type in self.drop_on
        self.drop_on.discard(req.type)
        try:
            result, pushes = self._do(client, req.type, req.args)
        except RequestError as exc:
            if req.type not in self.omit:
                await self._send(client, error_frame(req.id, exc))
            return
        reply = req.type not in self.omit and not drop
        if reply and self.reply_first:
            await self._send(client, reply_frame(req.id, result))
        for push in pushes:
            await self._broadcast(push, skip=client if drop else None)
        if drop:
            assert client.transport is not None
            client.transport.abort()
        elif reply and not self.reply_first:
            await self._send(client, reply_frame(req.id, result))

    async def _connect(self, client: FakeClient, request_id: int, args: dict[str, Any]) -> None:
        self.connects.append(args)
        token = args["token"]
        failure: tuple[ErrorCode, int] | None = None
        if self.connect_failures:
            failure = self.connect_failures.pop(0)
        elif token in self.bad_tokens:
            failure = (ErrorCode.TOKEN_BAD_SIGNATURE, CloseCode.BAD_TOKEN)
        elif token in self.expired_tokens:
            failure = (ErrorCode.TOKEN_EXPIRED, CloseCode.TOKEN_EXPIRED)
        elif token in self.busy_tokens:
            failure = (ErrorCode.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
        if failure is not None:
            await self._send(client, error_frame(request_id, request_error(failure[0])))
            await client.ws.close(code=failure[1])
            return
        if "connect" in self.omit:
            return
        self.room_id = args["room"]
        client.user = User(token, args["username"], args.get("role", "viewer"))
        result: dict[str, Any] = {
            "user": client.user.to_wire(),
            "session": f"s{len(self.connects)}",
            "room": {
                "id": self.room_id,
                "epoch": self.epoch,
                "seq": self.seq,
                "online": sum(1 for c in self.clients if c.user),
                "reactions": {"types": list(REACTIONS), "stats": dict(self.stats)},
                "polls": [p.to_wire() for p in self._visible_polls(client)],
            },
            "token_exp": time.time() + self.token_ttl,
            "limits": {"max_message_chars": 2000, "max_frame_bytes": 16384},
        }
        if (recover := args.get("recover")) is not None:
            result["recovery"] = self._recovery(recover)
        await self._send(client, reply_frame(request_id, result))

    def _recovery(self, recover: dict[str, Any]) -> dict[str, Any]:
        if recover.get("epoch") != self.epoch:
            return {"recovered": False, "reason": "epoch_changed"}
        after = int(recover["seq"])
        if self.seq - after > self.recovery_max:
            return {"recovered": False, "reason": "gap_too_large"}
        return {
            "recovered": True,
            "events": [self._replay(s) for s in range(after + 1, self.seq + 1)],
        }

    def _replay(self, seq: int) -> dict[str, Any]:
        kind, value = self.stream[seq - 1]
        if kind == "message":  # as it is now: possibly deleted since
            return {"type": "message", "seq": seq, "message": self.messages[value].to_wire()}
        return dict(value)

    def _visible_polls(self, client: FakeClient) -> list[Poll]:
        moderator = client.user is not None and client.user.role in ("moderator", "admin")
        return [p for p in self.polls.values() if moderator or p.status != "scheduled"]

    # -- requests -------------------------------------------------------------------------

    def _append(self, user: User, text: str, cid: str | None) -> dict[str, Any]:
        """Store a new message; its push."""
        seq = self.seq + 1
        message = Message(f"m{seq}", seq, now_ms(), user, text, cid=cid)
        self.messages[message.id] = message
        self.stream.append(("message", message.id))
        if cid is not None:
            self.cids[(user.id, cid)] = message.id
        return {"type": "message", "seq": seq, "message": message.to_wire()}

    def _do(
        self, client: FakeClient, rtype: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Carry out one request: its result and the pushes it causes."""
        user = client.user
        if rtype == "ping":
            return {"ts": now_ms()}, []
        assert user is not None
        moderator = user.role in ("moderator", "admin")
        if rtype == "send":
            text = args["text"].strip()
            if not text:
                raise request_error(ErrorCode.MESSAGE_EMPTY)
            cid = args.get("cid")
            if cid is not None and (user.id, cid) in self.cids:
                message = self.messages[self.cids[(user.id, cid)]]
                return {"message": message.to_wire(), "duplicate": True}, []
            push = self._append(user, text, cid)
            return {"message": push["message"], "duplicate": False}, [push]
        if rtype == "history":
            found = [
                m
                for m in sorted(self.messages.values(), key=lambda m: m.seq)
                if m.seq < args.get("before_seq", 1 << 62) and m.ts < args.get("before_ts", 1 << 62)
            ]
            limit = args.get("limit", 50)
            page = found[-limit:]
            return {"messages": [m.to_wire() for m in page], "has_more": len(found) > limit}, []
        if rtype == "delete":
            message = self.messages.get(args["message_id"])
            if message is None:
                raise request_error(ErrorCode.NOT_FOUND)
            if message.deleted:
                raise request_error(ErrorCode.ALREADY_DELETED)
            if message.user.id != user.id and not moderator:
                raise request_error(ErrorCode.FORBIDDEN)
            ts = now_ms()
            self.messages[message.id] = message.as_deleted(user, ts)
            seq = self.seq + 1
            push = {
                "type": "message_delete",
                "seq": seq,
                "message_id": message.id,
                "message_seq": message.seq,
                "deleted_by": user.to_wire(),
                "ts": ts,
            }
            self.stream.append(("message_delete", push))
            return {"message_id": message.id, "seq": seq}, [push]
        if rtype == "react":
            if args["reaction"] not in REACTIONS:
                raise request_error(ErrorCode.INVALID_REACTION)
            self.stats[args["reaction"]] += 1
            reaction = {
                "type": "reaction",
                "reaction": args["reaction"],
                "user": user.to_wire(),
                "ts": now_ms(),
            }
            return {}, [reaction, {"type": "reactions_stats", "stats": dict(self.stats)}]
        if rtype == "reactions_stats":
            return {"stats": dict(self.stats)}, []
        if rtype == "polls":
            return {"polls": [p.to_wire() for p in self._visible_polls(client)]}, []
        if rtype == "refresh":
            self.refreshes.append(args["token"])
            return {"exp": time.time() + self.token_ttl}, []
        return self._do_poll(client, user, moderator, rtype, args)

    def _do_poll(
        self, client: FakeClient, user: User, moderator: bool, rtype: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if rtype == "poll_create":
            if not moderator:
                raise request_error(ErrorCode.FORBIDDEN)
            publish_at = args.get("publish_at")
            scheduled = publish_at is not None and publish_at > now_ms()
            poll = Poll(
                id=f"p{len(self.polls) + 1}",
                question=args["question"],
                options=tuple(PollOption(o) for o in args["options"]),
                status="scheduled" if scheduled else "open",
                created_by=user,
                created_at=now_ms(),
                publish_at=publish_at,
                published_at=None if scheduled else now_ms(),
            )
            self.polls[poll.id] = poll
            pushes = [] if scheduled else [{"type": "poll", "poll": poll.to_wire()}]
            return {"poll": poll.to_wire()}, pushes
        poll = self.polls.get(args["poll_id"])
        if poll is None:
            raise request_error(ErrorCode.NOT_FOUND)
        if rtype == "poll_vote":
            if poll.status != "open":
                raise request_error(ErrorCode.POLL_NOT_OPEN)
            if poll.id in client.votes:
                raise request_error(ErrorCode.ALREADY_VOTED)
            option = args["option"]
            if not 0 <= option < len(poll.options):
                raise request_error(ErrorCode.INVALID_FIELD)
            client.votes[poll.id] = option
            options = list(poll.options)
            options[option] = PollOption(options[option].text, options[option].votes + 1)
            poll = replace(poll, options=tuple(options))
            self.polls[poll.id] = poll
            return {"poll": replace(poll, my_vote=option).to_wire()}, [
                {"type": "poll", "poll": poll.to_wire()}
            ]
        if rtype == "poll_finish":
            if not moderator:
                raise request_error(ErrorCode.FORBIDDEN)
            if poll.status == "finished":
                raise request_error(ErrorCode.POLL_NOT_OPEN)
            poll = replace(poll, status="finished", finished_at=now_ms())
            self.polls[poll.id] = poll
            return {"poll": poll.to_wire()}, [{"type": "poll", "poll": poll.to_wire()}]
        raise request_error(ErrorCode.UNKNOWN_TYPE)
