"""The server client's webhook calls against a real server and a real receiver: register
(the secret once), list, test (a signed POST), change, deliver a room event, remove."""

from __future__ import annotations

import pytest

from pchat.protocol.errors import InvalidRequestError, NotFoundError
from pchat.server_client import ServerClient
from tests.helpers import RunningServer
from tests.webhook_receiver import Receiver


async def test_webhooks_through_the_client(server: RunningServer) -> None:
    receiver = await Receiver().start()
    try:
        async with ServerClient(server.url, server.api_key, server.api_secret) as api:
            hook = await api.create_webhook(
                receiver.url, types=["message.posted"], description="bridge"
            )
            assert hook.secret is not None and hook.types == ["message.posted"]
            receiver.secret = hook.secret
            listed = await api.webhooks()
            assert [(w.id, w.secret) for w in listed] == [(hook.id, None)]

            tested = await api.test_webhook(hook.id)
            assert tested.ok and tested.status == 200
            await receiver.until(lambda: len(receiver.got) == 1, what="the test event")
            assert receiver.got[0].type == "webhook.test" and receiver.got[0].signed

            await api.publish("lobby", "to the webhook", cid="c-1")
            await receiver.until(
                lambda: len(receiver.delivered("message.posted")) == 1, what="message.posted"
            )
            assert receiver.delivered("message.posted")[0].signed

            paused = await api.update_webhook(hook.id, active=False, description="paused")
            assert not paused.active and paused.description == "paused"
            assert (await api.webhook(hook.id)).active is False
            assert await api.retry_webhook(hook.id) == 0
            with pytest.raises(InvalidRequestError):
                await api.create_webhook("ftp://example.com/hooks")
            await api.remove_webhook(hook.id)
            with pytest.raises(NotFoundError):
                await api.webhook(hook.id)
    finally:
        await receiver.stop()
