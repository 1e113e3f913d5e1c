"""``pchat keys signing``, ``pchat keys retire`` and ``pchat users revoke``, run in-process
against a temporary data dir."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.storage.keys_sqlite import SQLiteKeyStore
from pchat.storage.store_sqlite import SQLiteStore


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def kids(data_dir: Path) -> list[str]:
    return [k.kid for k in asyncio.run(SQLiteKeyStore(data_dir / "keys.sqlite3").signing_keys())]


def test_keys_signing_lists_the_keys_and_the_one_that_signs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run(capsys, "keys", "signing", "--data-dir", data)
    assert code == 0
    (first,) = kids(tmp_path / "data")
    assert run(capsys, "keys", "rotate", "--data-dir", data)[0] == 0
    code, out, _ = run(capsys, "keys", "signing", "--data-dir", data)
    lines = out.splitlines()
    old, new = kids(tmp_path / "data")
    assert old == first and lines[0].split() == ["KID", "CREATED"]
    assert lines[1].startswith(old) and "signs" not in lines[1]
    assert lines[2].startswith(new) and lines[2].endswith("(signs new tokens)")


def test_keys_retire_follows_the_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    run(capsys, "keys", "rotate", "--data-dir", data)
    old, new = kids(tmp_path / "data")
    code, _, err = run(capsys, "keys", "retire", new, "--force", "--data-dir", data)
    assert code == 1 and "rotate first" in err
    code, _, err = run(capsys, "keys", "retire", old, "--data-dir", data)
    assert code == 1 and "may be valid until" in err and "--force" in err
    assert kids(tmp_path / "data") == [old, new]
    code, out, _ = run(capsys, "keys", "retire", old, "--force", "--data-dir", data)
    assert code == 0 and f"retired signing key {old}" in out
    assert kids(tmp_path / "data") == [new]
    code, _, err = run(capsys, "keys", "retire", old, "--data-dir", data)
    assert code == 1 and "no such signing key" in err


def test_keys_retire_without_force_once_the_tokens_expired(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCHAT_TOKEN_TTL", "1")
    monkeypatch.setenv("PCHAT_TOKEN_LEEWAY", "0")
    monkeypatch.setenv("PCHAT_KEYS_RELOAD_INTERVAL", "0.1")
    data = str(tmp_path / "data")
    run(capsys, "keys", "rotate", "--data-dir", data)
    old, new = kids(tmp_path / "data")
    store = SQLiteKeyStore(tmp_path / "data" / "keys.sqlite3")
    created = asyncio.run(store.signing_keys())[1].created_at
    time.sleep(max(0.0, created + 2 - time.time()))  # the wall clock past retire_after
    assert run(capsys, "keys", "retire", old, "--data-dir", data)[0] == 0
    assert kids(tmp_path / "data") == [new]


async def _revocations(path: Path) -> dict[str, int]:
    store = SQLiteStore(path)
    await store.open()
    try:
        return await store.revocations(0)
    finally:
        await store.close()


def test_users_revoke_writes_the_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = int(time.time())
    code, out, _ = run(capsys, "users", "revoke", "bob", "--data-dir", str(data))
    assert code == 0 and "revoked the tokens of bob" in out
    found = asyncio.run(_revocations(data / "pchat.sqlite3"))
    assert found.keys() == {"bob"} and before + 1 <= found["bob"] <= int(time.time()) + 1
    code, _, err = run(capsys, "users", "revoke", "bad id", "--data-dir", str(data))
    assert code == 2 and "user id" in err
