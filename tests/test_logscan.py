"""The search of the suite's logs for tokens and secrets (tests/logscan.py) finds what it
must: planted tokens and secrets, in records of this process and in log files — so that its
silence about the rest of the suite means something."""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
from pathlib import Path

import pytest

from pchat.core.apikeys import create_api_key
from pchat.core.tokens import TokenSigner, load_or_create_signing_keys
from pchat.storage.keys_sqlite import SQLiteKeyStore
from tests.logscan import SCANNER, find_secrets, known_secret, log_files, scan_file


def real_secrets(tmp_path: Path) -> dict[str, str]:
    """A real token, API secret and webhook secret, made as pchat makes them."""
    keys = SQLiteKeyStore(tmp_path / "keys.sqlite3")
    _, api_secret = asyncio.run(create_api_key(keys))
    signing = asyncio.run(load_or_create_signing_keys(keys))
    token = TokenSigner(signing, issuer="pchat", ttl=60).issue("alice", None)
    webhook = "whsec_" + secrets.token_urlsafe(24)  # as core/webhooks.py's new_secret
    return {"token": token, "api": api_secret, "webhook": webhook}


def test_find_secrets_finds_each_kind(tmp_path: Path) -> None:
    for name, secret in real_secrets(tmp_path).items():
        line = f"2025-06-01 INFO pchat.x: something with {secret} in it"
        assert find_secrets(line), name
        assert find_secrets(f'{{"msg":"x","value":"{secret}"}}'), name  # in JSON too
    hook = known_secret("a-hook-secret-chosen-by-a-test")
    assert find_secrets(f"called with {hook}")


def test_find_secrets_leaves_ordinary_lines_alone() -> None:
    lines = [
        "2025-06-01 INFO pchat.server.ws: connection closed code=4000 conn=5f0c3a",
        "bad request from 127.0.0.1: 400 Invalid method encountered",
        "task_name=eyJ short ask_abcdefghijklmnopqrstuvwxyz",  # no secret's shape
        '{"level":"info","msg":"drain: closing 3 connections over 10 s"}',
        "API secret: sk_[secret] (masked by pchat's own logs)",
    ]
    assert find_secrets("\n".join(lines)) == []


def test_a_log_file_with_a_secret_is_found_but_not_the_first_start_banner(
    tmp_path: Path,
) -> None:
    found = real_secrets(tmp_path)
    banner = (
        "First start: created an API key (the secret is shown only this once).\n"
        f"  API_KEY=pk_x\n  API_SECRET={found['api']}\n"
        "  curl -iL --request GET --url 'http://h/public-chat/token/?sub=U' --header "
        f"'auth-api-key: pk_x' --header 'auth-api-secret: {found['api']}'\n"
    )
    # Outside pytest's temporary directories: the session's own search must not see it.
    with tempfile.TemporaryDirectory() as root:
        log = Path(root) / "node" / "serve.log"
        log.parent.mkdir()
        log.write_text(banner + "pchat serving on http://h\n")
        assert list(log_files(Path(root))) == [log]
        assert scan_file(log) == []
        log.write_text(banner + f"INFO pchat.server.ws: leaked {found['token']}\n")
        assert scan_file(log) != []


def test_the_session_search_covers_the_tests_temporary_directories(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path / "process.log"
    log.write_text("INFO nothing secret\n")
    assert log in set(log_files(tmp_path_factory.getbasetemp()))


def test_records_of_this_process_are_searched_at_every_level(tmp_path: Path) -> None:
    token = real_secrets(tmp_path)["token"]
    before = len(SCANNER.found)
    logging.getLogger("pchat.server.ws").debug("connect with %s", token)
    logging.getLogger("pchat.core").info("fields", extra={"token": token})
    try:
        raise RuntimeError(f"a failure that quotes {token}")
    except RuntimeError:
        logging.getLogger("pchat.core").exception("failed")
    planted = SCANNER.found[before:]
    del SCANNER.found[before:]  # planted here on purpose: this test must not fail for them
    assert [name for _, name, _ in planted] == ["pchat.server.ws", "pchat.core", "pchat.core"]
    assert all(test.endswith("test_records_of_this_process_are_searched_at_every_level")
               for test, _, _ in planted)  # fmt: skip
