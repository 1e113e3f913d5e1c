"""API keys of the operator's backends, and the throttle on failed attempts to use them.

A backend asks the token service for a user's access token with an API key and secret
(headers ``auth-api-key`` and ``auth-api-secret``). The key is an identifier; the secret is
shown once at creation and stored only as a hash.

:class:`ApiKeyAuthenticator` checks a pair in constant time; :class:`ApiKeyGate` puts a
:class:`FailureLimiter` in front of it, counting failures so that one caller's mistakes
cannot lock out another caller:

- A wrong secret for a usable key counts against the pair (address, key), and only a
  *distinct* wrong secret counts: guessing needs distinct secrets, while a misconfigured
  backend retrying one stale secret is not guessing. Once the pair is blocked, calls with
  that key from that address are refused unchecked (429), the right secret included:
  otherwise the refusal would tell a guesser when it was right.
- A call with an unknown or revoked key, or without a key or secret, counts against the
  address alone, every time. Such a call can never succeed, so blocking it takes nothing
  from anyone; a usable key from a blocked address is still checked.

So a correct key and secret are refused only after ``max_failures`` distinct wrong secrets
*for that same key from that same address* within the window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from enum import Enum

from pchat.storage.base import ApiKeyRecord, KeyStore, StoreUnavailable

__all__ = [
    "API_KEY_CACHE_TTL",
    "API_KEY_PREFIX",
    "API_SECRET_PREFIX",
    "ApiKeyAuthenticator",
    "ApiKeyGate",
    "FailureLimiter",
    "Verdict",
    "create_api_key",
    "create_first_api_key",
    "hash_secret",
]

API_KEY_PREFIX = "pk_"
API_SECRET_PREFIX = "sk_"
#: Seconds an :class:`ApiKeyAuthenticator` caches a key's record by default.
API_KEY_CACHE_TTL = 2.0

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


def _new_api_key() -> tuple[ApiKeyRecord, str]:
    key = API_KEY_PREFIX + secrets.token_urlsafe(18)
    secret = API_SECRET_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(key=key, secret_hash=hash_secret(secret), created_at=int(time.time()))
    return record, secret


async def create_api_key(store: KeyStore) -> tuple[str, str]:
    """Create and store a new API key; return ``(key, secret)``.

    The key is ``pk_`` and 24 url-safe characters (18 random bytes); the secret is ``sk_``
    and 43 url-safe characters (32 random bytes). Only the secret's hash is stored.
    """
    record, secret = _new_api_key()
    await store.add_api_key(record)
    return record.key, secret


async def create_first_api_key(store: KeyStore) -> tuple[str, str] | None:
    """On a store without any API key, create one as :func:`create_api_key` does and return
    it (shown once); None if the store has keys. Of nodes starting at once on an empty
    store, one creates it."""
    if await store.list_api_keys():
        return None
    record, secret = _new_api_key()
    if not await store.add_api_key_if_none(record):
        return None
    return record.key, secret


class ApiKeyAuthenticator:
    """Checks API key and secret pairs against a :class:`KeyStore`.

    Records are cached for ``cache_ttl`` seconds (unknown keys too, so a flood of made-up
    keys does not reach the store each time); a key revoked in the store — by this node, by
    another node of a cluster, or by the CLI — is refused at the latest ``cache_ttl``
    seconds later, and at once where :meth:`forget` is called (the node that revoked it, and
    every node told by :mod:`pchat.core.keyring`). The cache holds at most ``cache_size``
    keys. When the store cannot answer, a record read before is used however old it is;
    without one, :class:`~pchat.storage.base.StoreUnavailable` is raised.
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        cache_ttl: float = API_KEY_CACHE_TTL,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = cache_ttl
        self._size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()
        # Counts forgets: a read that a forget overtook is not cached.
        self._generation = 0

    async def check(self, key: str | None, secret: str | None) -> bool:
        """True if ``key`` exists, is not revoked, and ``secret`` is its secret.

        The secret is compared in constant time, and against a dummy hash when the key is
        unknown or revoked, so timing tells neither the secret nor which keys exist.
        """
        if not key or not secret:
            return False
        record = await self._record(key)
        usable = record is not None and record.revoked_at is None
        expected = record.secret_hash if usable and record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_secret(secret), expected)
        return matches and usable

    def forget(self, key: str) -> None:
        """Drop the cached record of ``key`` (revoked or created: read again at its next
        use; a read under way is not cached)."""
        self._cache.pop(key, None)
        self._generation += 1

    def forget_all(self) -> None:
        """Drop every cached record (a change this node was not told the key of)."""
        self._cache.clear()
        self._generation += 1

    async def usable(self, key: str | None) -> bool:
        """True if ``key`` exists and is not revoked (the cached record)."""
        if not key:
            return False
        record = await self._record(key)
        return record is not None and record.revoked_at is None

    async def _record(self, key: str) -> ApiKeyRecord | None:
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        generation = self._generation
        try:
            record = await self._store.get_api_key(key)
        except StoreUnavailable:
            if cached is None:
                raise
            return cached[1]  # stale, but better than refusing every backend meanwhile
        if generation != self._generation:
            return record  # forgotten meanwhile: what was read may predate the change
        self._cache[key] = (now, record)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return record


class FailureLimiter:
    """Counts failures per subject (an address, or an address and a key) in a sliding window.

    After ``max_failures`` failures within ``window`` seconds a subject is blocked until
    the oldest of them leaves the window. A failure recorded with an ``attempt`` (a digest
    of what was tried) that is already among the subject's counted failures is not counted
    again, only moved to now. ``max_failures=None`` disables the limit. At most
    ``max_subjects`` subjects are remembered; the ones that failed least recently are
    forgotten first, and subjects with no failure in the window are dropped.
    """

    def __init__(
        self, max_failures: int | None, window: float, *, max_subjects: int = 10_000
    ) -> None:
        if max_failures is not None and max_failures < 1:
            raise ValueError("max_failures must be at least 1 (or None)")
        if window <= 0:
            raise ValueError("window must be positive")
        self.max_failures = max_failures
        self.window = window
        self._max_subjects = max_subjects
        # Subject -> (time, attempt) of its latest failures, ordered by the latest failure.
        self._failures: OrderedDict[Hashable, deque[tuple[float, str | None]]] = OrderedDict()

    def blocked(self, subject: Hashable, now: float) -> float | None:
        """Seconds ``subject`` must wait before trying again, or None if it may try now."""
        if self.max_failures is None:
            return None
        failures = self._failures.get(subject)
        if failures is None or len(failures) < self.max_failures:
            return None
        wait = failures[0][0] + self.window - now
        return wait if wait > 0 else None

    def record_failure(self, subject: Hashable, now: float, attempt: str | None = None) -> None:
        """Count one failure of ``subject`` at ``now`` (unless ``attempt`` was counted)."""
        if self.max_failures is None:
            return
        failures = self._failures.get(subject)
        if failures is None:
            failures = self._failures[subject] = deque(maxlen=self.max_failures)
        if attempt is not None:
            for i, (_, earlier) in enumerate(failures):
                if earlier == attempt:
                    del failures[i]
                    break
        failures.append((now, attempt))
        self._failures.move_to_end(subject)
        self._forget(now)

    def _forget(self, now: float) -> None:
        # Entries are ordered by their latest failure, so stale ones are at the front.
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if len(self._failures) <= self._max_subjects and oldest[-1][0] > now - self.window:
                break
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        """The number of subjects remembered."""
        return len(self._failures)


class Verdict(Enum):
    """What :meth:`ApiKeyGate.check` decided."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # wrong, unknown or revoked: 401
    THROTTLED = "throttled"  # not checked: too many failures (see the module docstring)


class ApiKeyGate:
    """An :class:`ApiKeyAuthenticator` behind a :class:`FailureLimiter`, counting failures
    as the module docstring explains."""

    def __init__(self, auth: ApiKeyAuthenticator, limiter: FailureLimiter) -> None:
        self.auth = auth
        self.limiter = limiter

    async def check(
        self, addr: str, key: str | None, secret: str | None, now: float
    ) -> tuple[Verdict, float]:
        """The verdict on a call from ``addr``, and the seconds to wait when throttled.

        Raises :class:`~pchat.storage.base.StoreUnavailable` when the key's record cannot
        be read (the store is down and the key was not read before)."""
        usable = await self.auth.usable(key)
        subject: Hashable = (addr, key) if usable else addr
        wait = self.limiter.blocked(subject, now)
        if wait is not None:
            return Verdict.THROTTLED, wait
        if await self.auth.check(key, secret):
            return Verdict.ACCEPTED, 0.0
        # Distinct wrong secrets only for a usable key; anything else counts every time.
        attempt = hash_secret(secret or "") if usable else None
        self.limiter.record_failure(subject, now, attempt)
        return Verdict.REFUSED, 0.0
