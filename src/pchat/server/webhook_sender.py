"""Webhook deliveries over HTTP: the chat core's :class:`~pchat.core.webhooks.Poster`.

The chat core claims, signs, retries and records (:mod:`pchat.core.webhooks`); this module
only sends: one ``POST`` per attempt over a pool of kept-alive connections, redirects not
followed, the answer's body read (at most :data:`MAX_ANSWER_BYTES`) and dropped. Any answer
is a status; no answer is :class:`~pchat.core.webhooks.PostFailed` (or ``TimeoutError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

import aiohttp

from pchat.core.webhooks import PostFailed

__all__ = ["MAX_ANSWER_BYTES", "HttpPoster"]

#: The most of an answer's body read (then the connection is dropped, not reused).
MAX_ANSWER_BYTES: Final = 64 * 1024
_USER_AGENT: Final = "pchat-webhooks"


class HttpPoster:
    """Implements :class:`~pchat.core.webhooks.Poster` with aiohttp.

    :meth:`open` in the running loop before the first post, :meth:`close` after the last.
    """

    def __init__(self, *, connections: int = 100) -> None:
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0)
        self._http = aiohttp.ClientSession(connector=connector, headers={"user-agent": _USER_AGENT})

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        if self._http is None:
            raise PostFailed("the webhook sender is not open")
        try:
            async with self._http.post(
                url,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                await response.content.read(MAX_ANSWER_BYTES)
                return response.status
        except aiohttp.ClientError as exc:
            if isinstance(exc, asyncio.TimeoutError):  # aiohttp's own timeouts are both
                raise TimeoutError(str(exc)) from exc
            raise PostFailed(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # a URL aiohttp cannot send to
            raise PostFailed(f"invalid URL: {exc}") from exc
