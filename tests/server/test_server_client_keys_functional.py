"""The server client's calls for users and keys against a real server: what the API answers
comes back as typed objects, and refusals as the typed errors."""

from __future__ import annotations

import pytest

from pchat.protocol.errors import NotFoundError
from pchat.server_client import ServerClient, UnauthorizedError
from pchat.server_client.errors import ServerAPIError
from tests.helpers import RunningServer


async def test_keys_and_revocation_through_the_client(server: RunningServer) -> None:
    async with ServerClient(server.url, server.api_key, server.api_secret) as api:
        created = await api.create_api_key()
        assert created.secret is not None and created.revoked_at is None
        listed = {k.key: k for k in await api.api_keys()}
        assert created.key in listed and listed[created.key].secret is None
        async with ServerClient(server.url, created.key, created.secret) as other:
            assert [k.key for k in await other.api_keys()] == list(listed)
            revoked = await api.revoke_api_key(created.key)
            assert revoked.revoked_at is not None
            with pytest.raises(UnauthorizedError):
                await other.api_keys()
        with pytest.raises(NotFoundError):
            await api.revoke_api_key("pk_nope")

        before = await api.signing_keys()
        assert [k.signing for k in before] == [False] * (len(before) - 1) + [True]
        fresh = await api.rotate_signing_key()
        after = await api.signing_keys()
        assert after[-1] == fresh and fresh.signing and fresh.kid != before[-1].kid
        with pytest.raises(ServerAPIError) as refused:
            await api.retire_signing_key(fresh.kid)  # the key that signs
        assert refused.value.status == 409 and refused.value.name == "signing_key_in_use"
        await api.retire_signing_key(before[-1].kid, force=True)
        assert [k.kid for k in await api.signing_keys()] == [
            k.kid for k in after if k.kid != before[-1].kid
        ]

        revoked_before = await api.revoke_user("bob")
        assert revoked_before > 0
