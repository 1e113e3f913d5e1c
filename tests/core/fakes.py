"""Fakes shared by the core tests."""

from __future__ import annotations

from pchat.storage.base import ApiKeyRecord, SigningKey


class MemoryKeyStore:
    """A KeyStore in a few dicts, counting lookups."""

    def __init__(self) -> None:
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.signing: list[SigningKey] = []
        self.lookups = 0

    def add_api_key(self, record: ApiKeyRecord) -> None:
        self.api_keys[record.key] = record

    def get_api_key(self, key: str) -> ApiKeyRecord | None:
        self.lookups += 1
        return self.api_keys.get(key)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        return list(self.api_keys.values())

    def revoke_api_key(self, key: str, ts: int) -> bool:
        record = self.api_keys.get(key)
        if record is None or record.revoked_at is not None:
            return False
        self.api_keys[key] = ApiKeyRecord(record.key, record.secret_hash, record.created_at, ts)
        return True

    def signing_keys(self) -> list[SigningKey]:
        return list(self.signing)

    def add_signing_key(self, key: SigningKey) -> None:
        self.signing.append(key)

    def remove_signing_key(self, kid: str) -> bool:
        kept = [k for k in self.signing if k.kid != kid]
        removed = len(kept) < len(self.signing)
        self.signing = kept
        return removed
