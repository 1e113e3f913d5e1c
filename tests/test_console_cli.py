"""``pchat console``: operators' passwords set from stdin, listed, removed."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.core.passwords import verify_password
from pchat.storage.operators_sqlite import SQLiteOperatorStore


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_password_from_stdin_is_stored_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run(
        monkeypatch, capsys, "console", "password", "--data-dir", data, stdin="s3cret pass\n"
    )
    assert code == 0 and "created console operator admin" in out
    code, out, _ = run(
        monkeypatch,
        capsys,
        "console",
        "password",
        "--operator",
        "ops.bob",
        "--data-dir",
        data,
        stdin="bobs password\r\n",
    )
    assert code == 0
    store = SQLiteOperatorStore(tmp_path / "data" / "keys.sqlite3")
    admin = asyncio.run(store.get_operator("admin"))
    assert admin is not None and "s3cret" not in admin.password_hash
    assert verify_password("s3cret pass", admin.password_hash)
    bob = asyncio.run(store.get_operator("ops.bob"))
    assert bob is not None and verify_password("bobs password", bob.password_hash)
    assert (tmp_path / "data" / "keys.sqlite3").stat().st_mode & 0o077 == 0
    code, out, _ = run(
        monkeypatch, capsys, "console", "password", "--data-dir", data, stdin="another one\n"
    )
    assert code == 0 and "changed" in out
    code, out, _ = run(monkeypatch, capsys, "console", "operators", "--data-dir", data)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "admin", "ops.bob"]
    code, out, _ = run(monkeypatch, capsys, "console", "remove", "ops.bob", "--data-dir", data)
    assert code == 0 and asyncio.run(store.get_operator("ops.bob")) is None
    code, _, err = run(monkeypatch, capsys, "console", "remove", "ops.bob", "--data-dir", data)
    assert code == 1 and "no such console operator" in err


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        ((), "short\n", "at least 8"),
        ((), "", "at least 8"),
        (("--operator", "no spaces"), "long enough\n", "operator names"),
    ],
)
def test_refused_passwords_and_names(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    data = str(tmp_path / "data")
    code, _, err = run(
        monkeypatch, capsys, "console", "password", *argv, "--data-dir", data, stdin=stdin
    )
    assert code == 2 and message in err
    code, out, _ = run(monkeypatch, capsys, "console", "operators", "--data-dir", data)
    assert "no console operators" in out
