"""The public surface is exactly what ``__all__`` says, and every name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pchat

MODULES = [
    "pchat",
    "pchat.protocol",
    "pchat.protocol.codes",
    "pchat.protocol.errors",
    "pchat.protocol.frames",
    "pchat.protocol.models",
    "pchat.protocol.session",
    "pchat.protocol.validation",
    "pchat.protocol.wsframe",
    "pchat.protocol.wordfilter",
    "pchat.protocol.moderation",
    "pchat.protocol.signing",
    "pchat.sdk",
    "pchat.storage.base",
    "pchat.storage.store_sqlite",
    "pchat.storage.store_sqlite_schema",
    "pchat.storage.broker_memory",
    "pchat.storage.keys_sqlite",
    "pchat.storage.broker_local",
    "pchat.storage.hub_local",
    "pchat.storage.poll_rules",
    "pchat.storage.sql_rows",
    "pchat.storage.store_health",
    "pchat.storage.private_files",
    "pchat.core.room",
    "pchat.core.service",
    "pchat.core.node",
    "pchat.core.connect",
    "pchat.core.messages",
    "pchat.core.reactions",
    "pchat.core.polls",
    "pchat.core.live",
    "pchat.core.jobs",
    "pchat.core.limits",
    "pchat.core.settings",
    "pchat.core.stream",
    "pchat.core.permissions",
    "pchat.core.clock",
    "pchat.core.moderation",
    "pchat.sdk.moderation",
    "pchat.sdk.polls",
    "pchat.sdk.reviews",
    "pchat.sdk.mutes",
    "pchat.core.tokens",
    "pchat.core.apikeys",
    "pchat.server.config",
    "pchat.server.http",
    "pchat.server.ws",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_resolve(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_seed_names_at_top_level() -> None:
    from pchat import Events, PChatSDK, States

    assert PChatSDK.__name__ == "PChatSDK"
    assert {"ERROR", "CONNECT", "DISCONNECT", "MESSAGE", "MESSAGE_DELETE", "REACTION"} <= set(
        Events.__members__
    )
    assert {"REACTIONS_STATS", "POLL", "HISTORY_LOAD"} <= set(Events.__members__)
    assert {"CONNECTED", "DISCONNECTED"} <= set(States.__members__)
    assert sorted(pchat.__all__) == pchat.__all__
    with pytest.raises(AttributeError):
        pchat.nothing_here  # noqa: B018


def test_importing_pchat_does_not_load_the_sdk() -> None:
    probe = "import sys, pchat; print('aiohttp' in sys.modules, 'pchat.sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
