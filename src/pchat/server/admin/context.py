"""What the server API's route modules share: the node's service, the actor, the keys."""

from __future__ import annotations

from dataclasses import dataclass

from pchat.core.apikeys import ApiKeyGate
from pchat.core.keyring import Keyring
from pchat.core.service import ChatService
from pchat.core.tokens import TokenSigner
from pchat.storage.base import KeyStore, OperatorStore

from ..config import Settings
from ..edge import TrustedProxies
from .actor import Actor

__all__ = ["AdminContext"]


@dataclass(frozen=True)
class AdminContext:
    """Handed to each route module's ``routes(ctx)``."""

    settings: Settings
    service: ChatService
    #: Runs the chat core's requests in a room as the system user or a named user.
    actor: Actor
    #: The API keys and the token signing keys (the CLI's store).
    keys: KeyStore
    signer: TokenSigner
    #: The API-key check of every call (shared with the token service).
    gate: ApiKeyGate
    #: Whose ``X-Forwarded-For`` names the caller (failures are counted per caller).
    proxies: TrustedProxies
    #: Tells every node of a key changed here (core/keyring.py).
    keyring: Keyring
    #: The console's operators (beside the keys: keys.sqlite3, or PostgreSQL).
    operators: OperatorStore
