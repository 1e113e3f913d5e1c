"""Server API: the operator's webhook endpoints (docs/server-api.md, "Webhooks").

The same operations as ``pchat webhooks`` (:func:`pchat.core.webhooks.register` and the
store's :class:`~pchat.storage.base.WebhookStore`):

- ``POST /webhooks`` registers an endpoint: its URL (``http``/``https``), the event types it
  gets (default ``*``: all) and optionally its secret; the secret — made here unless given —
  is in this response only.
- ``GET /webhooks`` lists them, ``GET /webhooks/{id}`` shows one, each with its outbox:
  deliveries ``pending`` and ``dead`` (given up), and the last error.
- ``PATCH /webhooks/{id}`` changes its URL, types, description, secret or ``active``
  (an inactive endpoint gets no new events; its pending ones wait).
- ``DELETE /webhooks/{id}`` removes it with its pending deliveries.
- ``POST /webhooks/{id}/test`` POSTs one ``webhook.test`` event to it now (signed, no
  retry) and answers what the endpoint answered.
- ``POST /webhooks/{id}/retry`` makes its dead deliveries due again.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from pchat.core import webhooks
from pchat.core.clock import now_ms
from pchat.protocol import webhooks as events
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.storage.base import WebhookEndpoint, WebhookStore

from .context import AdminContext
from .errors import json_response, read_body
from .spec import obj, operation, path_param, ref

__all__ = ["PATHS", "SCHEMAS", "routes"]

_TAG: Final = "webhooks"
_FIELDS: Final = {"url", "types", "secret", "description", "active"}


async def _listed(store: WebhookStore, endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secret; with its outbox."""
    backlog = await store.webhook_backlog(endpoint.id)
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "types": list(endpoint.types),
        "description": endpoint.description,
        "active": endpoint.active,
        "created_at": endpoint.created_at,
        "pending": backlog.pending,
        "dead": backlog.dead,
        "last_error": backlog.last_error,
    }


def _check_fields(body: dict[str, Any]) -> None:
    unknown = set(body) - _FIELDS
    if unknown:
        raise request_error(ErrorCode.INVALID_FIELD, f"unknown field {sorted(unknown)[0]!r}")


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    store: WebhookStore = ctx.service.store
    hooks = ctx.service.webhooks

    async def found(request: web.Request) -> WebhookEndpoint:
        endpoint = await store.get_webhook(request.match_info["id"])
        if endpoint is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such webhook")
        return endpoint

    async def create(request: web.Request) -> web.Response:
        body = await read_body(request)
        _check_fields(body)
        if "url" not in body:
            raise request_error(ErrorCode.MISSING_FIELD, "url is required")
        if "active" in body:
            raise request_error(ErrorCode.INVALID_FIELD, "a new webhook is active")
        endpoint = await webhooks.register(
            store,
            body["url"],
            body.get("types", [events.ALL_TYPES]),
            secret=body.get("secret"),
            description=body.get("description", ""),
        )
        shown = await _listed(store, endpoint)
        return json_response({**shown, "secret": endpoint.secret}, status=201)

    async def listing(request: web.Request) -> web.Response:
        return json_response(
            {"webhooks": [await _listed(store, e) for e in await store.webhooks()]}
        )

    async def show(request: web.Request) -> web.Response:
        return json_response(await _listed(store, await found(request)))

    async def change(request: web.Request) -> web.Response:
        endpoint = await found(request)
        body = await read_body(request)
        _check_fields(body)
        active = body.get("active")
        if active is not None and not isinstance(active, bool):
            raise request_error(ErrorCode.INVALID_FIELD, "active must be a boolean")
        changed = await store.update_webhook(
            endpoint.id,
            url=webhooks.validate_url(body["url"]) if "url" in body else None,
            types=webhooks.validate_types(body["types"]) if "types" in body else None,
            secret=webhooks.validate_secret(body["secret"]) if "secret" in body else None,
            description=(
                webhooks.validate_description(body["description"])
                if "description" in body
                else None
            ),
            active=active,
        )
        if changed is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such webhook")
        return json_response(await _listed(store, changed))

    async def remove(request: web.Request) -> web.Response:
        endpoint_id = request.match_info["id"]
        if not await store.remove_webhook(endpoint_id):
            raise request_error(ErrorCode.NOT_FOUND, "no such webhook")
        return json_response({"id": endpoint_id})

    async def test(request: web.Request) -> web.Response:
        result = await hooks.send_test(await found(request))
        return json_response(
            {
                "event_id": result.event_id,
                "ok": result.ok,
                "status": result.status,
                "error": result.error,
                "ms": result.ms,
            }
        )

    async def retry(request: web.Request) -> web.Response:
        endpoint = await found(request)
        return json_response({"retried": await store.retry_dead_webhooks(endpoint.id, now_ms())})

    return [
        web.post("/webhooks", create),
        web.get("/webhooks", listing),
        web.get("/webhooks/{id}", show),
        web.patch("/webhooks/{id}", change),
        web.delete("/webhooks/{id}", remove),
        web.post("/webhooks/{id}/test", test),
        web.post("/webhooks/{id}/retry", retry),
    ]


_MS: Final = {"type": "integer", "minimum": 0, "description": "ms since the epoch"}
_URL: Final = {
    "type": "string",
    "pattern": "^https?://",
    "maxLength": webhooks.MAX_URL_CHARS,
    "description": "Where events are POSTed: an http:// or https:// URL, without credentials",
}
_TYPES: Final = {
    "type": "array",
    "minItems": 1,
    "items": {"enum": [*events.EVENT_TYPES, events.ALL_TYPES]},
    "description": "The event types it gets; `*`: every type, those added later too",
}
_SECRET: Final = {
    "type": "string",
    "minLength": 16,
    "maxLength": 256,
    "description": "What requests to it are signed with (`pchat-signature`)",
}
_DESCRIPTION: Final = {"type": "string", "maxLength": 200}
_WEBHOOK: Final[dict[str, Any]] = {
    "id": {"type": "string"},
    "url": {"type": "string"},
    "types": {"type": "array", "items": {"type": "string"}},
    "description": {"type": "string"},
    "active": {"type": "boolean", "description": "An inactive one gets no new events"},
    "created_at": _MS,
    "pending": {
        "type": "integer",
        "minimum": 0,
        "description": "Deliveries waiting (or being made)",
    },
    "dead": {
        "type": "integer",
        "minimum": 0,
        "description": "Deliveries given up after the last attempt (kept 7 days)",
    },
    "last_error": {
        "type": ["string", "null"],
        "description": "What the newest failed attempt got",
    },
}

SCHEMAS: Final[dict[str, Any]] = {
    "Webhook": obj(_WEBHOOK),
    "NewWebhook": obj(
        {
            **_WEBHOOK,
            "secret": {
                "type": "string",
                "description": "Shown in this response only: keep it to check signatures",
            },
        }
    ),
    "WebhookTest": obj(
        {
            "event_id": {"type": "string"},
            "ok": {"type": "boolean", "description": "The endpoint answered 2xx"},
            "status": {"type": ["integer", "null"], "description": "null: no answer"},
            "error": {"type": ["string", "null"], "description": "Why there was no answer"},
            "ms": {"type": "integer", "minimum": 0},
        }
    ),
}

_ID: Final = path_param("id", "The webhook's id (`wh_…`)", example="wh_0123456789abcdef")

PATHS: Final[dict[str, Any]] = {
    "/webhooks": {
        "get": operation(
            "listWebhooks",
            "List the webhook endpoints",
            tag=_TAG,
            response=obj({"webhooks": {"type": "array", "items": ref("Webhook")}}),
            description="Oldest first, each with its outbox; never a secret.",
        ),
        "post": operation(
            "createWebhook",
            "Register a webhook endpoint",
            tag=_TAG,
            status=201,
            response=ref("NewWebhook"),
            body=obj(
                {"url": _URL, "types": _TYPES, "secret": _SECRET, "description": _DESCRIPTION},
                ("url",),
            ),
            example={
                "url": "https://example.com/pchat-events",
                "types": ["message.posted", "user.banned"],
            },
            description="It gets the events of its types from now on (from other nodes "
            "within 2 s). The secret, made here unless given, is in this response only.",
        ),
    },
    "/webhooks/{id}": {
        "get": operation(
            "getWebhook",
            "One webhook endpoint",
            tag=_TAG,
            response=ref("Webhook"),
            params=(_ID,),
            errors=(404,),
        ),
        "patch": operation(
            "updateWebhook",
            "Change a webhook endpoint",
            tag=_TAG,
            response=ref("Webhook"),
            params=(_ID,),
            body=obj(
                {
                    "url": _URL,
                    "types": _TYPES,
                    "secret": _SECRET,
                    "description": _DESCRIPTION,
                    "active": {"type": "boolean"},
                },
                (),
            ),
            example={"active": False},
            errors=(404,),
            description="Any of the fields. Pending deliveries go to the new URL, signed "
            "with the new secret; an inactive endpoint gets no new events and its pending "
            "ones wait until it is active again.",
        ),
        "delete": operation(
            "deleteWebhook",
            "Remove a webhook endpoint",
            tag=_TAG,
            response=obj({"id": {"type": "string"}}),
            params=(_ID,),
            errors=(404,),
            description="Its pending and dead deliveries go with it.",
        ),
    },
    "/webhooks/{id}/test": {
        "post": operation(
            "testWebhook",
            "Send a test event now",
            tag=_TAG,
            response=ref("WebhookTest"),
            params=(_ID,),
            errors=(404,),
            description="One signed `webhook.test` event, whatever its types and even if "
            "inactive, outside the outbox (no retry); what the endpoint answered.",
        ),
    },
    "/webhooks/{id}/retry": {
        "post": operation(
            "retryWebhook",
            "Retry the dead deliveries",
            tag=_TAG,
            response=obj({"retried": {"type": "integer", "minimum": 0}}),
            params=(_ID,),
            errors=(404,),
            description="Deliveries given up are due again now, with a fresh count of attempts.",
        ),
    },
}
