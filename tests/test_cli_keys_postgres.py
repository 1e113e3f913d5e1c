"""``pchat keys``, ``pchat token`` and ``pchat console`` with a PostgreSQL ``--store``: the
keys live in the database (the test's own schema), not in the data dir; ``pchat keys import``
copies an old data dir's keys.sqlite3 there."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.core.tokens import TokenSigner
from pchat.storage.base import SigningKey
from pchat.storage.keys_postgres import PostgresKeyStore
from tests.storage.backends import drop_schema, postgres_dsn, require_postgres, unique_name


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    """The ``--store`` URL of this test's schema (dropped at teardown)."""
    asyncio.run(require_postgres())
    schema = unique_name(tmp_path)
    yield f"{postgres_dsn()}?schema={schema}"
    asyncio.run(drop_schema(schema))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _signing_keys(tmp_path: Path) -> list[SigningKey]:
    keys = PostgresKeyStore(postgres_dsn(), schema=unique_name(tmp_path))
    await keys.open()
    try:
        return await keys.signing_keys()
    finally:
        await keys.close()


def signing_kids(tmp_path: Path) -> list[str]:
    return [k.kid for k in asyncio.run(_signing_keys(tmp_path))]


def test_keys_live_in_postgresql(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: str
) -> None:
    data = tmp_path / "data"
    where = ("--data-dir", str(data), "--store", store)
    code, out, _ = run(capsys, "keys", "create", "--json", *where)
    assert code == 0
    key = json.loads(out)["api_key"]
    code, out, _ = run(capsys, "keys", "list", *where)
    assert code == 0 and key in out
    assert not (data / "keys.sqlite3").exists()  # nothing on this machine to copy
    # Another machine (another data dir) sees the same keys.
    assert (
        key
        in run(capsys, "keys", "list", "--data-dir", str(tmp_path / "other"), "--store", store)[1]
    )

    code, out, _ = run(capsys, "keys", "revoke", key, *where)
    assert code == 0 and f"revoked {key}" in out
    listed = run(capsys, "keys", "list", *where)[1].splitlines()
    assert listed[1].startswith(key) and not listed[1].endswith("-")  # a revocation time

    assert run(capsys, "keys", "rotate", *where)[0] == 0
    old, new = signing_kids(tmp_path)
    code, out, _ = run(capsys, "keys", "signing", *where)
    assert out.splitlines()[2].startswith(new) and "(signs new tokens)" in out
    code, _, err = run(capsys, "keys", "retire", new, *where)
    assert code == 1 and "rotate first" in err, err
    code, _, err = run(capsys, "keys", "retire", old, *where)
    assert code == 1 and "may be valid until" in err, err
    code, out, _ = run(capsys, "keys", "retire", old, "--force", *where)
    assert code == 0 and f"retired signing key {old}" in out
    assert signing_kids(tmp_path) == [new]

    code, out, _ = run(capsys, "token", "--sub", "alice", *where)
    assert code == 0
    keys = asyncio.run(_signing_keys(tmp_path))
    claims = TokenSigner(keys, issuer="pchat", ttl=3600).verify(out.strip())
    assert (claims.sub, claims.kid) == ("alice", new)


def test_console_operators_live_in_postgresql(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = ("--data-dir", str(tmp_path / "data"), "--store", store)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    code, out, _ = run(capsys, "console", "password", "--operator", "ops", *where)
    assert code == 0 and "created console operator ops" in out
    code, out, _ = run(capsys, "console", "operators", *where)
    assert code == 0 and out.splitlines()[1].startswith("ops ")
    assert not (tmp_path / "data" / "keys.sqlite3").exists()
    assert run(capsys, "console", "remove", "ops", *where)[0] == 0
    assert "no console operators" in run(capsys, "console", "operators", *where)[1]


def test_keys_import_copies_an_old_data_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: str
) -> None:
    old = str(tmp_path / "old")
    code, out, _ = run(capsys, "keys", "create", "--json", "--data-dir", old)  # keys.sqlite3
    key = json.loads(out)["api_key"]
    assert run(capsys, "keys", "signing", "--data-dir", old)[0] == 0
    code, out, _ = run(capsys, "keys", "import", "--from", old, "--store", store)
    assert code == 0, out
    assert "1 API keys (0 more revoked), 1 signing keys, 0 console operators" in out
    assert key in run(capsys, "keys", "list", "--store", store, "--data-dir", old)[1]
    # Resumable: a second run copies only what changed (a revocation in the old install).
    assert run(capsys, "keys", "revoke", key, "--data-dir", old)[0] == 0
    code, out, _ = run(capsys, "keys", "import", "--from", old, "--store", store)
    assert code == 0 and "0 API keys (1 more revoked), 0 signing keys" in out

    code, _, err = run(capsys, "keys", "import", "--from", old, "--data-dir", old)
    assert code == 2 and "PostgreSQL" in err
    code, _, err = run(capsys, "keys", "import", "--from", str(tmp_path / "none"), "--store", store)
    assert code == 1 and "no keys file" in err
