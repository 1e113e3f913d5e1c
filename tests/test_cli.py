"""The ``pchat`` command, run in-process against a temporary data dir."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.core.tokens import TokenSigner
from pchat.server.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir that does not exist yet (the CLI creates it) for the key commands."""
    pytest.importorskip("pchat.storage.keys_sqlite")  # written alongside; skip until it exists
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def create_key(capsys: pytest.CaptureFixture[str], data_dir: Path) -> tuple[str, str]:
    code, out, _ = run(capsys, "keys", "create", "--json", "--data-dir", str(data_dir))
    assert code == 0
    body = json.loads(out)
    assert set(body) == {"api_key", "api_secret"}
    return body["api_key"], body["api_secret"]


def test_keys_create_json_and_list(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    key, secret = create_key(capsys, data_dir)
    assert key.startswith("pk_") and secret.startswith("sk_")
    assert (data_dir / "keys.sqlite3").exists()

    code, out, _ = run(capsys, "keys", "list", "--data-dir", str(data_dir))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(key))
    assert line.split()[-1] == "-"  # not revoked
    assert secret not in out


def test_keys_create_text_says_shown_once(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code, out, _ = run(capsys, "keys", "create", "--data-dir", str(data_dir))
    assert code == 0
    assert "pk_" in out and "sk_" in out
    assert "only this once" in out


def test_secret_is_not_in_the_database(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    key, secret = create_key(capsys, data_dir)
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
    assert key.encode() in stored  # the right files were read
    assert secret.encode() not in stored
    assert secret[3:].encode() not in stored


def test_data_dir_and_key_file_are_private(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    create_key(capsys, data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    keys = data_dir / "keys.sqlite3"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    # A key file copied in readable by others (an older version's, a `cp`) is made private.
    keys.chmod(0o644)
    assert run(capsys, "keys", "list", "--data-dir", str(data_dir))[0] == 0
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600


def test_an_existing_open_data_dir_is_reported_not_changed(
    capsys: pytest.CaptureFixture[str], data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    create_key(capsys, data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o755
    assert any("chmod 700" in r.getMessage() for r in caplog.records)


def test_keys_revoke(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    key, _ = create_key(capsys, data_dir)
    other, _ = create_key(capsys, data_dir)
    code, out, _ = run(capsys, "keys", "revoke", key, "--data-dir", str(data_dir))
    assert code == 0 and key in out

    _, out, _ = run(capsys, "keys", "list", "--data-dir", str(data_dir))
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert rows[key] != "-"
    assert rows[other] == "-"

    code, out, _ = run(capsys, "keys", "revoke", key, "--data-dir", str(data_dir))
    assert code == 0 and "already revoked" in out


def test_keys_revoke_unknown(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, _, err = run(capsys, "keys", "revoke", "pk_nope", "--data-dir", str(data_dir))
    assert code == 1
    assert "pk_nope" in err


def test_keys_list_empty(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run(capsys, "keys", "list", "--data-dir", str(data_dir))
    assert code == 0 and "no API keys" in out


def test_data_dir_from_env(
    capsys: pytest.CaptureFixture[str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCHAT_DATA_DIR", str(data_dir))
    key, _ = create_key(capsys, data_dir)  # --data-dir given: same dir
    _, out, _ = run(capsys, "keys", "list")  # from the environment
    assert key in out


def verify(data_dir: Path, token: str) -> tuple[str, str]:
    from pchat.storage.keys_sqlite import SQLiteKeyStore

    settings = Settings(data_dir=data_dir)
    keys = asyncio.run(SQLiteKeyStore(settings.keys_path).signing_keys())
    signer = TokenSigner(keys, issuer=settings.token_issuer, ttl=settings.token_ttl)
    claims = signer.verify(token)
    return claims.sub, claims.role


def test_token(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run(
        capsys, "token", "--sub", "alice", "--role", "moderator", "--data-dir", str(data_dir)
    )
    assert code == 0
    assert verify(data_dir, out.strip()) == ("alice", "moderator")


def test_token_reuses_signing_keys(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    _, first, _ = run(capsys, "token", "--sub", "alice", "--data-dir", str(data_dir))
    _, second, _ = run(capsys, "token", "--sub", "bob", "--data-dir", str(data_dir))
    assert verify(data_dir, first.strip()) == ("alice", "viewer")
    assert verify(data_dir, second.strip()) == ("bob", "viewer")


def test_token_bad_sub(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(capsys, "token", "--sub", "not valid", "--data-dir", str(data_dir))
    assert code == 2 and not out and "user id" in err


def test_token_bad_role(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, _, err = run(capsys, "token", "--sub", "a", "--role", "root", "--data-dir", str(data_dir))
    assert code == 2 and "invalid choice" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *[])[0] == 2
    assert run(capsys, "keys")[0] == 2
    assert run(capsys, "token")[0] == 2
    assert run(capsys, "--help")[0] == 0


def test_bad_setting_in_env(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCHAT_TOKEN_TTL", "soon")
    code, _, err = run(capsys, "token", "--sub", "a", "--data-dir", str(tmp_path))
    assert code == 2 and err.startswith("pchat:")


def test_serve_builds_settings_and_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []
    fake = types.ModuleType("pchat.server.app")
    fake.run = seen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pchat.server.app", fake)
    monkeypatch.setenv("PCHAT_TOKEN_TTL", "120")

    code, _, _ = run(capsys, "serve", "--port", "0", "--host", "::1", "--data-dir", str(tmp_path))
    assert code == 0
    [settings] = seen
    assert (settings.host, settings.port, settings.data_dir) == ("::1", 0, tmp_path)
    assert settings.token_ttl == 120


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pchat", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0
    assert "keys" in result.stdout and "token" in result.stdout
