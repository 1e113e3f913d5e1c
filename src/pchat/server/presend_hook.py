"""The pre-send hook over HTTP: a signed ``POST`` of each message to the operator's URL.

The chat core decides what an answer means, bounds the time and applies the failure policy
(:mod:`pchat.core.presend`); this module only asks. Each check is one ``POST`` of the
:class:`~pchat.core.presend.Draft` as JSON to ``PCHAT_PRESEND_HOOK_URL`` with the header
``pchat-signature: t=<unix s>,v1=<hex>`` (:mod:`pchat.protocol.signing`, the same scheme as
the webhooks'), over a pool of kept-alive connections. The answer must be ``200`` with a
JSON body of at most :data:`MAX_ANSWER_BYTES`; anything else — a connection error, another
status, a redirect, a body that is not a decision — is a :class:`HookError`.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp
import orjson

from pchat.core.presend import Decision, Draft, HookError
from pchat.protocol.signing import SIGNATURE_HEADER, signature_header

from .config import Settings

__all__ = ["MAX_ANSWER_BYTES", "HttpPresendHook", "presend_hook_from"]

#: The largest answer read; a longer one is a failure (a rewrite fits in a few KB).
MAX_ANSWER_BYTES: Final = 64 * 1024


class HttpPresendHook:
    """Implements :class:`~pchat.core.presend.PresendHook` with signed HTTP ``POST``\\ s.

    :meth:`open` in the running loop before the first check, :meth:`close` after the last.
    """

    def __init__(self, url: str, secret: str, *, timeout: float, connections: int) -> None:
        self._url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0)
        self._http = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"user-agent": "pchat-presend-hook"},
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def check(self, draft: Draft) -> Decision:
        """Ask the operator's endpoint; raise :class:`HookError` when it gives no decision
        (a timeout raises :class:`TimeoutError`)."""
        if self._http is None:
            raise HookError("the pre-send hook is not open")
        body = orjson.dumps(draft.to_wire())
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature_header(self._secret, body),
        }
        try:
            async with self._http.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise HookError(f"HTTP {response.status}")
                answer = await _read_bounded(response)
        except aiohttp.ClientError as exc:
            if isinstance(exc, asyncio.TimeoutError):  # aiohttp's own timeouts are both
                raise TimeoutError(str(exc)) from exc
            raise HookError(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = orjson.loads(answer)
        except orjson.JSONDecodeError as exc:
            raise HookError("the answer is not JSON") from exc
        return Decision.from_wire(data)


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None:
        if length > MAX_ANSWER_BYTES:
            raise HookError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        return await response.read()
    chunks: list[bytes] = []  # chunked: read no more than the limit
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise HookError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def presend_hook_from(settings: Settings) -> HttpPresendHook | None:
    """The hook the settings configure, or None (no ``presend_hook_url``)."""
    url = settings.presend_hook_url
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"presend_hook_url must be an http:// or https:// URL, not {url!r}")
    if not settings.presend_hook_secret:
        raise ValueError("presend_hook_secret must be set with presend_hook_url")
    return HttpPresendHook(
        url,
        settings.presend_hook_secret,
        # The core bounds each check with the same budget; this one also frees the pool's
        # connection of a check that ran over.
        timeout=settings.presend_hook_timeout_ms / 1000,
        connections=settings.presend_hook_connections,
    )
