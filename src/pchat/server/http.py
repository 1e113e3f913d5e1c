"""HTTP endpoints: the token service (the seed's CAS), health, the demo's token helper."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pchat.core.apikeys import ApiKeyGate
from pchat.core.tokens import TokenSigner
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import RequestError
from pchat.protocol.validation import validate_role, validate_user_id

from .admin.auth import api_key_refusal
from .appkeys import SERVICE_KEY
from .edge import TrustedProxies, client_address

__all__ = ["DemoTokens", "TokenService", "client_address", "health_handler", "ready_handler"]


def _error(status: int, name: str, message: str, code: int | None = None) -> web.Response:
    body: dict[str, Any] = {"name": name, "message": message}
    if code is not None:
        body["code"] = code
    return web.json_response({"error": body}, status=status)


class TokenService:
    """``GET /public-chat/token/?sub=USER_ID[&role=ROLE]`` with the API key headers.

    Failed calls are counted by the :class:`~pchat.core.apikeys.ApiKeyGate` per caller
    address (behind ``trusted_proxies``, from ``X-Forwarded-For``) and API key.
    """

    def __init__(
        self,
        signer: TokenSigner,
        gate: ApiKeyGate,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.signer = signer
        self.gate = gate
        self.trusted_proxies = trusted_proxies or TrustedProxies()

    async def handle(self, request: web.Request) -> web.Response:
        refused = await api_key_refusal(request, self.gate, self.trusted_proxies)
        if refused is not None:
            return refused  # 401 unauthorized, 429 too_many_failures: as the server API's
        try:
            sub, role = self.parse(request)
        except RequestError as exc:
            return _error(400, exc.code.slug, exc.message, int(exc.code))
        return web.json_response({"token": self.signer.issue(sub, role)})

    @staticmethod
    def parse(request: web.Request) -> tuple[str, str | None]:
        sub = request.query.get("sub")
        if sub is None:
            raise RequestError(ErrorCode.INVALID_FIELD, "the query parameter sub is required")
        role = request.query.get("role")
        return validate_user_id(sub), validate_role(role) if role is not None else None


class DemoTokens:
    """``GET /demo/token?sub=USER_ID[&role=ROLE]`` for the bundled demo only.

    The demo page must never hold an API key or secret (the seed's warning), so the server
    plays the part of the operator's backend: it issues the token on the server side, as
    the token service would. Anyone who can reach it gets any role, so it is off unless
    ``PCHAT_DEMO_TOKEN_ENDPOINT=true`` (``make run`` sets it for the demo).
    """

    def __init__(self, signer: TokenSigner) -> None:
        self.signer = signer

    async def handle(self, request: web.Request) -> web.Response:
        try:
            sub, role = TokenService.parse(request)
        except RequestError as exc:
            return _error(400, exc.code.slug, exc.message, int(exc.code))
        return web.json_response({"token": self.signer.issue(sub, role)})


async def health_handler(request: web.Request) -> web.Response:
    """``200 {"status": "ok", "broker": true, "store": true}``, or ``503`` with
    ``"status": "degraded"`` while the broker or the store is unhealthy.

    Read from state the backends keep (no I/O here), so it answers at once even while the
    database hangs. Degraded nodes keep serving their own connections (publications are
    queued and recovered; store requests answer ``unavailable``), so probe TCP, not this,
    for liveness, and alert on it (docs/operations.md, Health).
    """
    service = request.app[SERVICE_KEY]
    broker_ok, store_ok = service.broker.healthy, service.store.healthy
    ok = broker_ok and store_ok
    body = {"status": "ok" if ok else "degraded", "broker": broker_ok, "store": store_ok}
    return web.json_response(body, status=200 if ok else 503)


async def ready_handler(request: web.Request) -> web.Response:
    """``/readyz``: ``200 {"ready": true, …}`` while this node should get new clients:
    started, not shutting down, broker and store healthy; ``503`` (``"ready": false``)
    otherwise."""
    service = request.app[SERVICE_KEY]
    checks = {
        "serving": service.serving,
        "broker": service.broker.healthy,
        "store": service.store.healthy,
    }
    ready = all(checks.values())
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)
