"""Fakes shared by the core tests."""

from __future__ import annotations

from pchat.storage.base import ApiKeyRecord, SigningKey, StoreUnavailable


class MemoryKeyStore:
    """A KeyStore in a few dicts, counting lookups; ``down`` makes every call raise
    :class:`StoreUnavailable`."""

    def __init__(self) -> None:
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.signing: list[SigningKey] = []
        self.lookups = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the fake store is down")

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def add_api_key_now(self, record: ApiKeyRecord) -> None:
        """Without a loop (fixtures)."""
        self.api_keys[record.key] = record

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        self._check()
        if record.key in self.api_keys:
            raise ValueError(f"API key {record.key!r} exists")
        self.api_keys[record.key] = record

    async def add_api_key_if_none(self, record: ApiKeyRecord) -> bool:
        self._check()
        if self.api_keys:
            return False
        self.api_keys[record.key] = record
        return True

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        self._check()
        self.lookups += 1
        return self.api_keys.get(key)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        self._check()
        return list(self.api_keys.values())

    async def revoke_api_key(self, key: str, ts: int) -> bool:
        self._check()
        record = self.api_keys.get(key)
        if record is None or record.revoked_at is not None:
            return False
        self.api_keys[key] = ApiKeyRecord(record.key, record.secret_hash, record.created_at, ts)
        return True

    async def signing_keys(self) -> list[SigningKey]:
        self._check()
        return sorted(self.signing, key=lambda k: (k.created_at, k.kid))

    async def add_signing_key(self, key: SigningKey) -> None:
        self._check()
        self.signing.append(key)

    async def add_signing_key_if_none(self, key: SigningKey) -> bool:
        self._check()
        if self.signing:
            return False
        self.signing.append(key)
        return True

    async def remove_signing_key(self, kid: str) -> bool:
        self._check()
        kept = [k for k in self.signing if k.kid != kid]
        removed = len(kept) < len(self.signing)
        self.signing = kept
        return removed
