"""Server API: the operator's keys — API keys, and the token signing keys.

The same operations as ``pchat keys`` (the same functions: :func:`~pchat.core.apikeys.
create_api_key`, :func:`~pchat.core.tokens.rotate_signing_key`,
:func:`~pchat.core.tokens.retire_signing_key`), on the node's key store:

- ``POST /keys`` creates an API key; its secret is in this response only (only its hash is
  stored). ``GET /keys`` lists the keys, ``POST /keys/{key}/revoke`` revokes one: this node
  refuses it from the next call, the other nodes sharing the key store as soon as the
  publication reaches them (:mod:`pchat.core.keyring`; at the latest within their cache's
  2 s).
- ``GET /signing-keys`` lists the signing keys (never their secrets); ``POST
  /signing-keys/rotate`` adds a new one that signs from now on — on this node at once — while
  the older ones keep verifying; ``POST /signing-keys/{kid}/retire`` removes an older key,
  whose tokens stop verifying: refused for the key that signs, and, unless ``force``, until
  every token it signed has expired (``retire_after``).

Timestamps are ms since the epoch, as everywhere in the API. Every change is published to
the other nodes and workers that share the key store (PostgreSQL in a cluster), which apply
it at once; one that misses the publication applies it at its next key reload
(``PCHAT_KEYS_RELOAD_INTERVAL``).
"""

from __future__ import annotations

import math
import time
from typing import Any, Final

from aiohttp import web

from pchat.core.apikeys import create_api_key
from pchat.core.tokens import (
    SigningKeyInUse,
    key_retirement_delay,
    retire_signing_key,
    rotate_signing_key,
)
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import request_error
from pchat.storage.base import ApiKeyRecord, SigningKey

from .context import AdminContext
from .errors import json_response, read_body
from .spec import obj, operation, path_param, ref

__all__ = ["PATHS", "SCHEMAS", "routes"]

_TAG: Final = "keys"


def _ms(seconds: int | None) -> int | None:
    return None if seconds is None else seconds * 1000


def _api_key(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "api_key": record.key,
        "created_at": _ms(record.created_at),
        "revoked_at": _ms(record.revoked_at),
    }


def _signing_keys(keys: list[SigningKey], delay: float) -> list[dict[str, Any]]:
    """The keys, oldest first (the last one signs), each with when it may be retired."""
    found = []
    for i, key in enumerate(keys):
        newer = keys[i + 1] if i + 1 < len(keys) else None
        retire_after = None if newer is None else math.ceil(newer.created_at + delay) * 1000
        found.append(
            {
                "kid": key.kid,
                "created_at": _ms(key.created_at),
                "signing": newer is None,
                "retire_after": retire_after,
            }
        )
    return found


def routes(ctx: AdminContext) -> list[web.RouteDef]:
    keys, keyring = ctx.keys, ctx.keyring
    s = ctx.settings
    delay = key_retirement_delay(
        ttl=s.token_ttl, leeway=s.token_leeway, reload_interval=s.keys_reload_interval
    )

    async def create(request: web.Request) -> web.Response:
        key, secret = await create_api_key(keys)
        record = await keys.get_api_key(key)
        assert record is not None
        await keyring.api_key_changed(key)  # a node that cached it as unknown reads it again
        return json_response({**_api_key(record), "api_secret": secret}, status=201)

    async def listing(request: web.Request) -> web.Response:
        records = await keys.list_api_keys()
        return json_response({"api_keys": [_api_key(r) for r in records]})

    async def revoke(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if await keys.get_api_key(key) is not None:
            await keys.revoke_api_key(key, int(time.time()))  # False: revoked before
        record = await keys.get_api_key(key)
        if record is None:
            raise request_error(ErrorCode.NOT_FOUND, "no such API key")
        await keyring.api_key_changed(key)  # refused here at once, on every node at once
        return json_response(_api_key(record))

    async def signing(request: web.Request) -> web.Response:
        found = await keys.signing_keys()
        return json_response({"signing_keys": _signing_keys(found, delay)})

    async def rotate(request: web.Request) -> web.Response:
        key = await rotate_signing_key(keys)
        fresh = await keys.signing_keys()
        await keyring.signing_keys_changed(fresh)  # signs with the new key at once
        listed = _signing_keys(fresh, delay)
        return json_response(next(k for k in listed if k["kid"] == key.kid), status=201)

    async def retire(request: web.Request) -> web.Response:
        kid = request.match_info["kid"]
        body = await read_body(request)
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise request_error(ErrorCode.INVALID_FIELD, "force must be a boolean")
        try:
            key = await retire_signing_key(keys, kid, delay=delay, force=force)
        except LookupError:
            raise request_error(ErrorCode.NOT_FOUND, "no such signing key") from None
        except SigningKeyInUse as exc:
            error = {"name": "signing_key_in_use", "message": str(exc), "until": _ms(exc.until)}
            return json_response({"error": error}, status=409)
        await keyring.signing_keys_changed(await keys.signing_keys())  # refused at once
        return json_response({"kid": key.kid, "created_at": _ms(key.created_at)})

    return [
        web.post("/keys", create),
        web.get("/keys", listing),
        web.post("/keys/{key}/revoke", revoke),
        web.get("/signing-keys", signing),
        web.post("/signing-keys/rotate", rotate),
        web.post("/signing-keys/{kid}/retire", retire),
    ]


_MS: Final = {"type": "integer", "minimum": 0, "description": "ms since the epoch"}
_MS_OR_NULL: Final = {"type": ["integer", "null"], "minimum": 0}

SCHEMAS: Final[dict[str, Any]] = {
    "ApiKey": obj(
        {
            "api_key": {"type": "string"},
            "created_at": _MS,
            "revoked_at": {**_MS_OR_NULL, "description": "null while usable"},
        }
    ),
    "NewApiKey": obj(
        {
            "api_key": {"type": "string"},
            "api_secret": {
                "type": "string",
                "description": "Shown in this response only: only its hash is stored",
            },
            "created_at": _MS,
            "revoked_at": {"type": "null"},
        }
    ),
    "SigningKey": obj(
        {
            "kid": {"type": "string"},
            "created_at": _MS,
            "signing": {"type": "boolean", "description": "The key that signs new tokens"},
            "retire_after": {
                **_MS_OR_NULL,
                "description": "When every token it signed has expired, so that it may be "
                "retired without `force`; null for the key that signs",
            },
        }
    ),
    "RetiredSigningKey": obj({"kid": {"type": "string"}, "created_at": _MS}),
}

_RETIRE_BODY: Final = obj(
    {
        "force": {
            "type": "boolean",
            "default": False,
            "description": "Retire it even while tokens it signed may be valid",
        }
    },
    (),
)


def _retire_operation() -> dict[str, Any]:
    op = operation(
        "retireSigningKey",
        "Retire an older signing key",
        tag=_TAG,
        response=ref("RetiredSigningKey"),
        body=_RETIRE_BODY,
        params=(path_param("kid", "The key's id"),),
        errors=(404, 409),
        description="The tokens it signed stop verifying. Refused (409 "
        "`signing_key_in_use`) for the key that signs (rotate first), and, without "
        "`force`, before its `retire_after` (in `until`).",
    )
    op["requestBody"]["required"] = False
    return op


PATHS: Final[dict[str, Any]] = {
    "/keys": {
        "get": operation(
            "listApiKeys",
            "List the API keys",
            tag=_TAG,
            response=obj({"api_keys": {"type": "array", "items": ref("ApiKey")}}),
            description="Revoked keys included, oldest first; never a secret.",
        ),
        "post": operation(
            "createApiKey",
            "Create an API key",
            tag=_TAG,
            status=201,
            response=ref("NewApiKey"),
            description="The secret is in this response only: keep it safe.",
        ),
    },
    "/keys/{key}/revoke": {
        "post": operation(
            "revokeApiKey",
            "Revoke an API key",
            tag=_TAG,
            response=ref("ApiKey"),
            params=(path_param("key", "The API key (`pk_…`)"),),
            errors=(404,),
            description="Calls with it are refused (401) from now on. Revoking a revoked key "
            "changes nothing.",
        )
    },
    "/signing-keys": {
        "get": operation(
            "listSigningKeys",
            "List the token signing keys",
            tag=_TAG,
            response=obj({"signing_keys": {"type": "array", "items": ref("SigningKey")}}),
            description="Oldest first; the last one signs. Never a secret.",
        )
    },
    "/signing-keys/rotate": {
        "post": operation(
            "rotateSigningKey",
            "Add a signing key that signs from now on",
            tag=_TAG,
            status=201,
            response=ref("SigningKey"),
            description="New tokens carry its `kid`; tokens signed with older keys keep "
            "verifying until those keys are retired.",
        )
    },
    "/signing-keys/{kid}/retire": {"post": _retire_operation()},
}
