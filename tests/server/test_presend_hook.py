"""The pre-send hook's settings: read from the environment, checked, the secret kept out of
the settings' repr (no network)."""

from __future__ import annotations

import pytest

from pchat.server.config import Settings
from pchat.server.presend_hook import HttpPresendHook, presend_hook_from


def test_no_url_no_hook() -> None:
    assert presend_hook_from(Settings()) is None
    assert presend_hook_from(Settings.from_env({"PCHAT_PRESEND_HOOK_URL": "none"})) is None


def test_the_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PCHAT_PRESEND_HOOK_URL": "https://mod.example.com/presend",
            "PCHAT_PRESEND_HOOK_SECRET": "s3cret-value",
            "PCHAT_PRESEND_HOOK_TIMEOUT_MS": "250",
            "PCHAT_PRESEND_HOOK_ON_FAILURE": "reject",
            "PCHAT_PRESEND_HOOK_CONNECTIONS": "8",
        }
    )
    assert settings.presend_hook_timeout_ms == 250
    assert settings.core().presend_hook_on_failure == "reject"
    assert settings.presend_hook_connections == 8
    assert isinstance(presend_hook_from(settings), HttpPresendHook)
    assert "s3cret-value" not in repr(settings)


def test_a_url_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        presend_hook_from(Settings(presend_hook_url="http://127.0.0.1:9/presend"))


def test_a_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        presend_hook_from(Settings(presend_hook_url="ftp://x/", presend_hook_secret="s"))
