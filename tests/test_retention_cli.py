"""``pchat retention``, run in-process on a temporary data dir: a room's own rule set, shown
and cleared, ``run`` removing what the rules no longer keep, and the refusals."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from pchat.cli import main
from pchat.protocol.models import User
from pchat.storage.base import RetentionRule
from pchat.storage.store_sqlite import SQLiteStore

ALICE = User("u-alice", "alice", "viewer")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["retention", *argv, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def fill(data: Path, rooms: dict[str, int]) -> None:
    """``rooms[name]`` messages in each room, ids ``{room}-{i}``."""

    async def go() -> None:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        store = SQLiteStore(data / "pchat.sqlite3")
        await store.open()
        try:
            for room, n in rooms.items():
                for i in range(n):
                    await store.append_message(
                        room, message_id=f"{room}-{i}", user=ALICE, text="x", cid=None, ts=1 + i
                    )
        finally:
            await store.close()

    asyncio.run(go())


def kept(data: Path, room: str) -> tuple[list[str], RetentionRule | None]:
    async def go() -> tuple[list[str], RetentionRule | None]:
        store = SQLiteStore(data / "pchat.sqlite3")
        await store.open()
        try:
            ids = [m.id for m in await store.history(room, limit=1000)]
            return ids, await store.room_retention(room)
        finally:
            await store.close()

    return asyncio.run(go())


def test_set_show_run_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    fill(data, {"lobby": 6, "hall": 4})
    code, out, err = run(capsys, data, "set", "lobby", "--messages", "2")
    assert code == 0, err
    assert "lobby keeps the newest 2 messages" in out

    code, out, _ = run(capsys, data, "show", "lobby", "--json")
    assert code == 0
    assert json.loads(out) == {
        "room": "lobby",
        "rule": {"days": None, "messages": 2},
        "effective": {"days": 0.0, "messages": 2},
        "first_seq": 1,
        "last_seq": 6,
    }
    code, out, _ = run(capsys, data, "show", "--json")
    assert json.loads(out) == {
        "server": {"days": 0.0, "messages": 0},
        "rooms": {"lobby": {"days": None, "messages": 2}},
    }
    code, out, _ = run(capsys, data, "show")
    assert out.splitlines() == ["server: keeps forever", "room lobby: keeps the newest 2 messages"]

    code, out, _ = run(capsys, data, "run")
    assert (code, out.strip()) == (0, "removed 4 messages")
    assert kept(data, "lobby") == (["lobby-4", "lobby-5"], RetentionRule(None, 2))
    assert kept(data, "hall")[0] == [f"hall-{i}" for i in range(4)]  # the server keeps forever

    code, out, _ = run(capsys, data, "clear", "lobby")
    assert code == 0 and "follows the server's retention" in out
    assert kept(data, "lobby")[1] is None


def test_run_applies_the_servers_settings_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    fill(data, {"lobby": 5, "hall": 5})
    assert run(capsys, data, "set", "hall", "--messages", "0")[0] == 0  # keeps forever
    monkeypatch.setenv("PCHAT_RETENTION_MESSAGES", "3")
    code, out, _ = run(capsys, data, "run")
    assert (code, out.strip()) == (0, "removed 2 messages")
    assert kept(data, "lobby")[0] == ["lobby-2", "lobby-3", "lobby-4"]
    assert len(kept(data, "hall")[0]) == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", "lobby"], "give --days and/or --messages"),
        (["set", "lobby", "--messages", "-1"], "messages must be from 0"),
        (["set", "lobby", "--days", "nan"], "days must be a number"),
        (["set", "bad room!", "--days", "1"], "room"),
        (["show", "bad room!"], "room"),
    ],
)
def test_refusals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, tmp_path / "data", *argv)
    assert code == 2 and message in err
