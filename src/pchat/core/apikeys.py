"""API keys of the operator's backends, and the throttle on failed attempts to use them.

A backend asks the token service for a user's access token with an API key and secret
(headers ``auth-api-key`` and ``auth-api-secret``). The key is an identifier; the secret is
shown once at creation and stored only as a hash.

:class:`ApiKeyAuthenticator` checks a pair in constant time; :class:`FailureLimiter` makes a
client address that keeps failing wait before it may try again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from pchat.storage.base import ApiKeyRecord, KeyStore

__all__ = [
    "API_KEY_PREFIX",
    "API_SECRET_PREFIX",
    "ApiKeyAuthenticator",
    "FailureLimiter",
    "create_api_key",
    "hash_secret",
]

API_KEY_PREFIX = "pk_"
API_SECRET_PREFIX = "sk_"

# The hash no secret has: compared against when the key is unknown or revoked, so a refusal
# costs the same whether or not the key exists.
_DUMMY_HASH = hashlib.sha256(b"pchat: no such api key").hexdigest()


def hash_secret(secret: str) -> str:
    """The stored form of an API secret: its SHA-256, hex-encoded.

    A fast hash is right here, unlike for passwords: secrets are 256 bits from
    :func:`secrets.token_urlsafe`, so there is nothing to guess and no need for a slow,
    salted KDF; a fast hash also keeps every token request cheap.
    """
    # surrogatepass: any str from a header hashes instead of raising.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_api_key(store: KeyStore) -> tuple[str, str]:
    """Create and store a new API key; return ``(key, secret)``.

    The key is ``pk_`` and 24 url-safe characters (18 random bytes); the secret is ``sk_``
    and 43 url-safe characters (32 random bytes). Only the secret's hash is stored.
    """
    key = API_KEY_PREFIX + secrets.token_urlsafe(18)
    secret = API_SECRET_PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(
        ApiKeyRecord(key=key, secret_hash=hash_secret(secret), created_at=int(time.time()))
    )
    return key, secret


class ApiKeyAuthenticator:
    """Checks API key and secret pairs against a :class:`KeyStore`.

    Records are cached for ``cache_ttl`` seconds (unknown keys too, so a flood of made-up
    keys does not reach the store each time); a key revoked in the store is refused at the
    latest ``cache_ttl`` seconds later. The cache holds at most ``cache_size`` keys.
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        cache_ttl: float = 2.0,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = cache_ttl
        self._size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()

    def check(self, key: str | None, secret: str | None) -> bool:
        """True if ``key`` exists, is not revoked, and ``secret`` is its secret.

        The secret is compared in constant time, and against a dummy hash when the key is
        unknown or revoked, so timing tells neither the secret nor which keys exist.
        """
        if not key or not secret:
            return False
        record = self._record(key)
        usable = record is not None and record.revoked_at is None
        expected = record.secret_hash if usable and record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_secret(secret), expected)
        return matches and usable

    def _record(self, key: str) -> ApiKeyRecord | None:
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        record = self._store.get_api_key(key)
        self._cache[key] = (now, record)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return record


class FailureLimiter:
    """Counts failures per client address in a sliding window.

    After ``max_failures`` failures within ``window`` seconds an address is blocked until
    the oldest of them leaves the window. ``max_failures=None`` disables the limit. At most
    ``max_addresses`` addresses are remembered; the ones that failed least recently are
    forgotten first, and addresses with no failure in the window are dropped.
    """

    def __init__(
        self, max_failures: int | None, window: float, *, max_addresses: int = 10_000
    ) -> None:
        if max_failures is not None and max_failures < 1:
            raise ValueError("max_failures must be at least 1 (or None)")
        if window <= 0:
            raise ValueError("window must be positive")
        self.max_failures = max_failures
        self.window = window
        self._max_addresses = max_addresses
        # Address -> times of its latest failures, ordered by the latest failure.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, addr: str, now: float) -> float | None:
        """Seconds ``addr`` must wait before trying again, or None if it may try now."""
        if self.max_failures is None:
            return None
        times = self._failures.get(addr)
        if times is None or len(times) < self.max_failures:
            return None
        wait = times[0] + self.window - now
        return wait if wait > 0 else None

    def record_failure(self, addr: str, now: float) -> None:
        """Count one failure of ``addr`` at ``now``."""
        if self.max_failures is None:
            return
        times = self._failures.get(addr)
        if times is None:
            times = self._failures[addr] = deque(maxlen=self.max_failures)
        times.append(now)
        self._failures.move_to_end(addr)
        self._forget(now)

    def _forget(self, now: float) -> None:
        # Entries are ordered by their latest failure, so stale ones are at the front.
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if len(self._failures) <= self._max_addresses and oldest[-1] > now - self.window:
                break
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        """The number of addresses remembered."""
        return len(self._failures)
