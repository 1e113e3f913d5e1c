"""Revoked access tokens: refused at connect and refresh, their connections closed, everywhere.

Theory of operation. The operator revokes a user's tokens (the server API, or ``pchat users
revoke``): from then on every token of that user issued before ``revoked_before`` — the next
whole second, :func:`~pchat.core.tokens.revoked_before` — is refused with ``210``
(``token_revoked``), and each of the user's open connections whose token was issued before
closes with ``4507`` (terminal), on every node.

:meth:`Revocations.revoke` stores the revocation (:class:`~pchat.storage.base.RevocationStore`,
shared by the nodes of a cluster), then publishes it on the node-wide channel
(:attr:`~pchat.core.node.Push.REVOCATION`). Every node keeps the revocations that still
matter in memory, in the :class:`~pchat.core.tokens.RevokedTokens` that its token signer
consults — a dict lookup on the connect path, no I/O — and on the publication closes the
user's connections at once.

A publication can be lost (a broker outage), and ``pchat users revoke`` publishes none (it
writes the store only): every :data:`RELOAD_INTERVAL` each node also reads the store's recent
revocations and applies those it did not know the same way. A node reads them before it
serves. "Recent" is the tokens' lifetime plus the leeway (``RevokedTokens.keep``): an older
revocation refuses only tokens that have expired anyway.

A connection is closed when its token — the one of its ``connect``, or of its last
successful ``refresh`` — was issued before the revocation, so the connection a user opened
with a token issued since stays open whichever node hears of the revocation last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import orjson

from pchat.protocol.codes import CloseCode
from pchat.protocol.validation import validate_user_id
from pchat.storage.base import RevocationStore

from .node import Node, Push
from .session import Session
from .tokens import RevokedTokens, revoked_before

__all__ = ["RELOAD_INTERVAL", "Revocations"]

log = logging.getLogger(__name__)

#: Seconds between two reads of the store's recent revocations by a node.
RELOAD_INTERVAL: Final = 1.0


class Revocations:
    """This node's view of the revoked tokens, and the revocation of a user's tokens."""

    def __init__(
        self,
        *,
        node: Node,
        store: RevocationStore,
        revoked: RevokedTokens,
        sessions: Callable[[], Iterable[Session]],
    ) -> None:
        self._node = node
        self._store = store
        self.revoked = revoked
        self._sessions = sessions
        node.consume(Push.REVOCATION, self._on_revocation)

    async def start(self) -> None:
        """Listen to the other nodes, then read the revocations that still matter."""
        await self._node.listen_nodes()
        await self.reload()

    async def revoke(self, user_id: str, now: float | None = None) -> int:
        """Revoke ``user_id``'s tokens issued until now; the user's ``revoked_before``.

        Stored first, so that a node that misses the publication reads it; then every node
        (this one at once) refuses those tokens and closes the connections that used them.
        """
        user_id = validate_user_id(user_id)
        before = revoked_before(time.time() if now is None else now)
        before = await self._store.revoke_tokens(user_id, before)
        body = orjson.dumps({"user_id": user_id, "revoked_before": before})
        await self._node.publish_nodes(Push.REVOCATION, body)
        return before

    async def reload(self) -> None:
        """Apply the store's revocations that this node does not know (a lost publication,
        the CLI's), and forget the ones that no longer matter."""
        now = time.time()
        self.revoked.forget(now)
        found = await self._store.revocations(self.revoked.horizon(now))
        self._apply(found)

    def _on_revocation(self, channel: str, frame: bytes) -> None:
        try:
            body = orjson.loads(frame)
            user_id, before = body["user_id"], body["revoked_before"]
        except (ValueError, KeyError, TypeError):
            log.warning("a revocation publication that is not one: %r", frame[:200])
            return
        if isinstance(user_id, str) and isinstance(before, int):
            self._apply({user_id: before})

    def _apply(self, revocations: dict[str, int]) -> None:
        """Note the revocations; close the connections of tokens they revoke."""
        changed = {u: b for u, b in revocations.items() if self.revoked.add(u, b)}
        if not changed:
            return
        for session in list(self._sessions()):
            user = session.user
            if user is None or session.closing:
                continue
            before = changed.get(user.id)
            if before is None:
                continue
            if session.token_iat is None or session.token_iat < before:
                session.close(CloseCode.REVOKED, "tokens revoked")
