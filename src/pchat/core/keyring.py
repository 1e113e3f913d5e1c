"""The node's keys, kept in step with the key store that the nodes of a cluster share.

Theory of operation. A node holds the signing keys in its :class:`~pchat.core.tokens.
TokenSigner` (every token it issues or verifies uses them, without I/O) and caches API key
records in its :class:`~pchat.core.apikeys.ApiKeyAuthenticator` (a record lives
``cache_ttl``, 2 s). The keys themselves live in the :class:`~pchat.storage.base.KeyStore`:
``keys.sqlite3`` on one machine, PostgreSQL in a cluster, where every node reads them.

A change made through a node — an API key created or revoked, a signing key added or
retired (the server API, :mod:`pchat.server.admin.keys`) — is stored first, applied on that
node at once, then published on the node-wide channel (:attr:`~pchat.core.node.Push.KEYS`):
each node forgets its cached record of that API key, or reads the signing keys again, as
soon as the publication arrives (well under a second). A publication can be lost (a broker
outage), and the CLI publishes none (it only writes the store), so each node also:

- reads the signing keys again every ``PCHAT_KEYS_RELOAD_INTERVAL`` (:meth:`Keyring.reload`,
  a job of the node);
- reads an API key's record again at its first use after ``cache_ttl``.

A new or revoked API key is therefore seen everywhere within ``cache_ttl`` at the latest, a
rotated or retired signing key within the reload interval, and both at once while the
broker is up.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from pchat.storage.base import KeyStore, SigningKey

from .apikeys import ApiKeyAuthenticator
from .node import Node, Push
from .tokens import TokenSigner, load_or_create_signing_keys

__all__ = ["Keyring"]

log = logging.getLogger(__name__)


class Keyring:
    """This node's signing keys and API-key cache, and the telling of the other nodes."""

    def __init__(
        self, *, store: KeyStore, signer: TokenSigner, auth: ApiKeyAuthenticator, node: Node
    ) -> None:
        self.store = store
        self.signer = signer
        self.auth = auth
        self._node = node
        self._reloads: set[asyncio.Task[None]] = set()
        node.consume(Push.KEYS, self._on_change)

    async def load(self) -> None:
        """Read the signing keys (creating the first on an empty store: of nodes starting at
        once, one creates it) and sign with the newest; before the node serves."""
        self.signer.set_keys(await load_or_create_signing_keys(self.store))

    async def reload(self) -> None:
        """Read the signing keys again; use them if they changed."""
        fresh = await self.store.signing_keys()
        if fresh and frozenset(k.kid for k in fresh) != self.signer.kids:
            self.signer.set_keys(fresh)
            log.info("signing keys reloaded: %d keys, %s signs", len(fresh), fresh[-1].kid)

    async def api_key_changed(self, key: str) -> None:
        """An API key was created or revoked in the store: forget its cached record here,
        and on every node."""
        self.auth.forget(key)
        await self._node.publish_nodes(Push.KEYS, orjson.dumps({"api_key": key}))

    async def signing_keys_changed(self, fresh: list[SigningKey]) -> None:
        """The signing keys were changed in the store (``fresh``, read since): use them here
        at once, and have every node read them again."""
        self.signer.set_keys(fresh)
        await self._node.publish_nodes(Push.KEYS, orjson.dumps({"signing_keys": True}))

    async def close(self) -> None:
        """Wait for the reloads that publications started."""
        for task in list(self._reloads):
            task.cancel()
        await asyncio.gather(*self._reloads, return_exceptions=True)

    def _on_change(self, channel: str, frame: bytes) -> None:
        try:
            body = orjson.loads(frame)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning("a keys publication that is not one: %r", frame[:200])
            return
        key = body.get("api_key")
        if isinstance(key, str):
            self.auth.forget(key)
        if body.get("signing_keys") is True:
            task = asyncio.get_running_loop().create_task(self._reload_now())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    async def _reload_now(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # the periodic reload catches up
            log.warning("reloading the signing keys after a publication failed: %s", exc)
