"""The server client: one async method per endpoint of the server API.

::

    async with ServerClient("http://127.0.0.1:8080", API_KEY, API_SECRET) as api:
        await api.publish("lobby", "The stream starts in 5 minutes", cid="announce-1")
        for room in (await api.rooms()).rooms:
            print(room.id, room.online, room.messages_last_minute)
        await api.ban("lobby", "u-troll", duration=600, reason="spam")

Each method returns the protocol's objects or this package's (:mod:`.models`), and raises
the exception of a refusal (:mod:`.errors`): the protocol's ``NotFoundError``,
``ConflictError``, … for the errors with a code, :class:`~.errors.UnauthorizedError` and
:class:`~.errors.TooManyFailuresError` for the API key's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import aiohttp
import orjson

from pchat.protocol.models import Message, Poll, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, Report, RoomSettings
from pchat.protocol.wordfilter import FilterEntry

from .errors import error_from_response
from .models import (
    ApiKey,
    HistoryPage,
    ModLogPage,
    PollPage,
    PublishResult,
    PurgeResult,
    RoomList,
    RoomRetention,
    RoomState,
    RoomSummary,
    SigningKeyInfo,
    Webhook,
    WebhookTest,
    filter_entry,
)

__all__ = ["BASE_PATH", "ServerClient"]

#: Where the API lives on a pchat server.
BASE_PATH: Final = "/public-chat/admin/v1"


def _seg(value: str) -> str:
    """One path segment, quoted (a filter pattern may hold ``*``, an id anything)."""
    return quote(value, safe="")


def _seconds(value: int | timedelta | None) -> int | None:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return value


def _ms(value: int | datetime | None) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _fields(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class ServerClient:
    """A client of the server API of the pchat server at ``url`` (``http://host:port``).

    ``session``: an aiohttp session to use (not closed by :meth:`close`); else one of its own.
    ``timeout``: seconds per call.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base = url.rstrip("/") + BASE_PATH
        self._headers = {"auth-api-key": api_key, "auth-api-secret": api_secret}
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session this client opened (not one it was given)."""
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """One call: the decoded JSON of a success, or the refusal raised (:mod:`.errors`).
        For endpoints this client has no method for."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        params = {
            k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (query or {}).items()
            if v is not None
        }
        async with self._session.request(
            method,
            self.base + path,
            headers=self._headers,
            params=params,
            data=None if body is None else orjson.dumps(body),
            timeout=self._timeout,
        ) as response:
            raw = await response.read()
            try:
                decoded = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                decoded = None
            if response.status >= 400:
                raise error_from_response(response.status, decoded, dict(response.headers))
            return decoded

    # Rooms --------------------------------------------------------------------------------

    async def rooms(self, *, limit: int | None = None) -> RoomList:
        """The live rooms (connections on any node), the most crowded first."""
        data = await self.call("GET", "/rooms", query={"limit": limit})
        return RoomList([RoomSummary.from_wire(r) for r in data["rooms"]], data["total"])

    async def room(self, room: str) -> RoomState:
        """One room's state; ``NotFoundError`` for a room never used."""
        return RoomState.from_wire(await self.call("GET", f"/rooms/{_seg(room)}"))

    async def room_retention(self, room: str) -> RoomRetention:
        """How much history the room keeps (a room never used has its rule too, if set)."""
        data = await self.call("GET", f"/rooms/{_seg(room)}/retention")
        return RoomRetention.from_wire(data)

    async def set_room_retention(
        self, room: str, *, days: float | None = None, messages: int | None = None
    ) -> RoomRetention:
        """Give the room its own rule: keep the messages of the last ``days`` days and at
        most the newest ``messages``; None follows the server's setting, 0 keeps forever."""
        body = _fields(days=days, messages=messages)
        data = await self.call("PUT", f"/rooms/{_seg(room)}/retention", body=body)
        return RoomRetention.from_wire(data)

    async def remove_room_retention(self, room: str) -> RoomRetention:
        """Remove the room's own rule: the server's settings apply again."""
        data = await self.call("DELETE", f"/rooms/{_seg(room)}/retention")
        return RoomRetention.from_wire(data)

    # Messages -----------------------------------------------------------------------------

    async def publish(
        self,
        room: str,
        text: str,
        *,
        cid: str | None = None,
        reply_to: str | None = None,
        user: User | None = None,
    ) -> PublishResult:
        """Publish a message as the system user, or as ``user`` (its ``role`` included)."""
        body = _fields(text=text, cid=cid, reply_to=reply_to)
        if user is not None:
            body["user"] = user.to_wire()
        data = await self.call("POST", f"/rooms/{_seg(room)}/messages", body=body)
        message = data.get("message")
        held = data.get("held")
        return PublishResult(
            Message.from_wire(message) if message else None,
            Held.from_wire(held) if held else None,
            bool(data["duplicate"]),
        )

    async def history(
        self,
        room: str,
        *,
        before_seq: int | None = None,
        before_ts: int | None = None,
        limit: int | None = None,
    ) -> HistoryPage:
        """The newest ``limit`` messages before ``before_seq``/``before_ts``, oldest first."""
        query = _fields(before_seq=before_seq, before_ts=before_ts, limit=limit)
        data = await self.call("GET", f"/rooms/{_seg(room)}/messages", query=query)
        return HistoryPage([Message.from_wire(m) for m in data["messages"]], data["has_more"])

    async def delete_message(self, room: str, message_id: str) -> int:
        """Delete a message; the position of the delete event."""
        path = f"/rooms/{_seg(room)}/messages/{_seg(message_id)}"
        return int((await self.call("DELETE", path))["seq"])

    # Moderation ---------------------------------------------------------------------------

    async def bans(self, room: str) -> list[Ban]:
        data = await self.call("GET", f"/rooms/{_seg(room)}/bans")
        return [Ban.from_wire(b) for b in data["bans"]]

    async def ban(
        self,
        room: str,
        user_id: str,
        *,
        duration: int | timedelta | None = None,
        reason: str | None = None,
        kick: bool | None = None,
        shadow: bool | None = None,
    ) -> Ban:
        """Ban (``duration``: a timeout, in seconds), kick, or shadow-ban a user."""
        body = _fields(
            user_id=user_id, duration=_seconds(duration), reason=reason, kick=kick, shadow=shadow
        )
        data = await self.call("POST", f"/rooms/{_seg(room)}/bans", body=body)
        return Ban.from_wire(data["ban"])

    async def unban(self, room: str, user_id: str) -> None:
        await self.call("DELETE", f"/rooms/{_seg(room)}/bans/{_seg(user_id)}")

    async def purge(
        self, room: str, user_id: str, *, within: int | timedelta | None = None
    ) -> PurgeResult:
        """Delete every message of a user (or those of the last ``within`` seconds)."""
        body = _fields(user_id=user_id, within=_seconds(within))
        data = await self.call("POST", f"/rooms/{_seg(room)}/purge", body=body)
        return PurgeResult(data["seq"], data["count"])

    async def set_room_mode(
        self,
        room: str,
        *,
        slow_mode: int | None = None,
        unique_chat: bool | None = None,
        max_message_chars: int | None = None,
        mode: str | None = None,
        hold: bool | None = None,
        delay: int | None = None,
    ) -> RoomSettings:
        """Change any of the room's settings; the room's settings after."""
        body = _fields(
            slow_mode=slow_mode,
            unique_chat=unique_chat,
            max_message_chars=max_message_chars,
            mode=mode,
            hold=hold,
            delay=delay,
        )
        data = await self.call("PATCH", f"/rooms/{_seg(room)}/settings", body=body)
        return RoomSettings.from_wire(data["settings"])

    async def pin(
        self, room: str, *, message_id: str | None = None, text: str | None = None
    ) -> Pin:
        """Pin a message (``message_id``) or an announcement (``text``)."""
        body = _fields(message_id=message_id, text=text)
        data = await self.call("PUT", f"/rooms/{_seg(room)}/pin", body=body)
        return Pin.from_wire(data["pin"])

    async def unpin(self, room: str) -> None:
        await self.call("DELETE", f"/rooms/{_seg(room)}/pin")

    async def mod_log(
        self, room: str, *, before: int | None = None, limit: int | None = None
    ) -> ModLogPage:
        """The moderation log, newest first."""
        query = _fields(before=before, limit=limit)
        data = await self.call("GET", f"/rooms/{_seg(room)}/mod-log", query=query)
        return ModLogPage([ModAction.from_wire(e) for e in data["entries"]], data["has_more"])

    async def filters(self, room: str, *, scope: str | None = None) -> list[FilterEntry]:
        """The word filter's entries (``scope`` ``room``, the default, or ``server``)."""
        data = await self.call("GET", f"/rooms/{_seg(room)}/filters", query={"scope": scope})
        return [filter_entry(e) for e in data["entries"]]

    async def add_filter(
        self, room: str, pattern: str, *, action: str | None = None, scope: str | None = None
    ) -> FilterEntry:
        body = _fields(pattern=pattern, action=action, scope=scope)
        data = await self.call("POST", f"/rooms/{_seg(room)}/filters", body=body)
        return filter_entry(data["entry"])

    async def remove_filter(self, room: str, pattern: str, *, scope: str | None = None) -> None:
        path = f"/rooms/{_seg(room)}/filters/{_seg(pattern)}"
        await self.call("DELETE", path, query={"scope": scope})

    async def review_queue(self, room: str, *, limit: int | None = None) -> list[Held]:
        """The held messages, oldest first."""
        data = await self.call("GET", f"/rooms/{_seg(room)}/review", query={"limit": limit})
        return [Held.from_wire(h) for h in data["items"]]

    async def approve(self, room: str, message_id: str) -> Message:
        """Publish a held message now (with its held id)."""
        path = f"/rooms/{_seg(room)}/review/{_seg(message_id)}/approve"
        return Message.from_wire((await self.call("POST", path))["message"])

    async def reject(self, room: str, message_id: str, *, reason: str | None = None) -> None:
        path = f"/rooms/{_seg(room)}/review/{_seg(message_id)}/reject"
        await self.call("POST", path, body=_fields(reason=reason))

    async def reports(self, room: str, *, limit: int | None = None) -> list[Report]:
        """The reported messages not decided yet, most recently reported first."""
        data = await self.call("GET", f"/rooms/{_seg(room)}/reports", query={"limit": limit})
        return [Report.from_wire(r) for r in data["reports"]]

    async def resolve_report(self, room: str, message_id: str, action: str) -> None:
        """``dismiss`` the reports of a message (shown again if hidden) or ``delete`` it."""
        path = f"/rooms/{_seg(room)}/reports/{_seg(message_id)}/resolve"
        await self.call("POST", path, body={"action": action})

    # Polls --------------------------------------------------------------------------------

    async def polls(
        self, room: str, *, before: str | None = None, limit: int | None = None
    ) -> PollPage:
        query = _fields(before=before, limit=limit)
        data = await self.call("GET", f"/rooms/{_seg(room)}/polls", query=query)
        return PollPage([Poll.from_wire(p) for p in data["polls"]], data["has_more"])

    async def create_poll(
        self,
        room: str,
        question: str,
        options: list[str],
        *,
        publish_at: int | datetime | None = None,
    ) -> Poll:
        """Open a poll now, or schedule it (``publish_at``: ms since the epoch, or a
        timezone-aware datetime)."""
        body = _fields(question=question, options=options, publish_at=_ms(publish_at))
        data = await self.call("POST", f"/rooms/{_seg(room)}/polls", body=body)
        return Poll.from_wire(data["poll"])

    async def poll(self, room: str, poll_id: str) -> Poll:
        """A poll and its exact tallies."""
        data = await self.call("GET", f"/rooms/{_seg(room)}/polls/{_seg(poll_id)}")
        return Poll.from_wire(data["poll"])

    async def finish_poll(self, room: str, poll_id: str) -> Poll:
        data = await self.call("POST", f"/rooms/{_seg(room)}/polls/{_seg(poll_id)}/finish")
        return Poll.from_wire(data["poll"])

    # Users and keys -----------------------------------------------------------------------

    async def revoke_user(self, user_id: str) -> int:
        """Refuse every token of ``user_id`` issued before now, at connect and refresh, and
        close the user's open connections (``4507``) on every node; returns the time (ms)
        before which its tokens are refused."""
        data = await self.call("POST", f"/users/{_seg(user_id)}/revoke")
        return int(data["revoked_before"])

    async def create_api_key(self) -> ApiKey:
        """A new API key; its ``secret`` is in this answer only."""
        return ApiKey.from_wire(await self.call("POST", "/keys"))

    async def api_keys(self) -> list[ApiKey]:
        """Every API key (revoked ones with ``revoked_at``), never a secret."""
        data = await self.call("GET", "/keys")
        return [ApiKey.from_wire(k) for k in data["api_keys"]]

    async def revoke_api_key(self, key: str) -> ApiKey:
        return ApiKey.from_wire(await self.call("POST", f"/keys/{_seg(key)}/revoke"))

    async def signing_keys(self) -> list[SigningKeyInfo]:
        """The token signing keys, oldest first (the last one signs)."""
        data = await self.call("GET", "/signing-keys")
        return [SigningKeyInfo.from_wire(k) for k in data["signing_keys"]]

    async def rotate_signing_key(self) -> SigningKeyInfo:
        """Add a signing key that signs from now on; older ones keep verifying."""
        return SigningKeyInfo.from_wire(await self.call("POST", "/signing-keys/rotate"))

    async def retire_signing_key(self, kid: str, *, force: bool = False) -> None:
        """Remove an older signing key (its tokens stop verifying): refused (409) for the
        key that signs and, unless ``force``, while tokens it signed may still be valid."""
        await self.call("POST", f"/signing-keys/{_seg(kid)}/retire", body={"force": force})

    # Webhooks -----------------------------------------------------------------------------

    async def create_webhook(
        self,
        url: str,
        *,
        types: list[str] | None = None,
        secret: str | None = None,
        description: str | None = None,
    ) -> Webhook:
        """Register an endpoint for ``types`` (default: every type); its ``secret`` — made
        by the server unless given — is in this answer only."""
        body = _fields(url=url, types=types, secret=secret, description=description)
        return Webhook.from_wire(await self.call("POST", "/webhooks", body=body))

    async def webhooks(self) -> list[Webhook]:
        data = await self.call("GET", "/webhooks")
        return [Webhook.from_wire(w) for w in data["webhooks"]]

    async def webhook(self, webhook_id: str) -> Webhook:
        return Webhook.from_wire(await self.call("GET", f"/webhooks/{_seg(webhook_id)}"))

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        types: list[str] | None = None,
        secret: str | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> Webhook:
        """Change what is given (an inactive endpoint gets no new events)."""
        body = _fields(url=url, types=types, secret=secret, description=description)
        if active is not None:
            body["active"] = active
        data = await self.call("PATCH", f"/webhooks/{_seg(webhook_id)}", body=body)
        return Webhook.from_wire(data)

    async def remove_webhook(self, webhook_id: str) -> None:
        """Remove the endpoint with its pending deliveries."""
        await self.call("DELETE", f"/webhooks/{_seg(webhook_id)}")

    async def test_webhook(self, webhook_id: str) -> WebhookTest:
        """POST one signed ``webhook.test`` event to the endpoint now (no retry)."""
        data = await self.call("POST", f"/webhooks/{_seg(webhook_id)}/test")
        return WebhookTest.from_wire(data)

    async def retry_webhook(self, webhook_id: str) -> int:
        """Make the endpoint's given-up deliveries due again; how many."""
        data = await self.call("POST", f"/webhooks/{_seg(webhook_id)}/retry")
        return int(data["retried"])

    # The document -------------------------------------------------------------------------

    async def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        result: dict[str, Any] = await self.call("GET", "/openapi.json")
        return result
