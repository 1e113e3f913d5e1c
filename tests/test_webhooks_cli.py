"""``pchat webhooks``, run in-process on a temporary data dir: add (a secret made once, or
given), list (never the secret), test against a real receiver that checks the signature,
retry, remove, and the refusals."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pchat.cli import main
from pchat.protocol.signing import verify


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PCHAT_")]:
        monkeypatch.delenv(name)


class Receiver(ThreadingHTTPServer):
    """Records each POST: its headers and body; answers ``status``."""

    status = 200

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.got: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.got.append((dict(self.headers), body))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["webhooks", *argv, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_test_retry_remove(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, receiver: Receiver
) -> None:
    data = tmp_path / "data"
    code, out, _ = run(capsys, data, "add", receiver.url, "--type", "message.posted", "--json")
    assert code == 0, out
    added = json.loads(out)
    assert added["secret"].startswith("whsec_") and added["types"] == ["message.posted"]
    assert added["id"].startswith("wh_")

    code, out, _ = run(capsys, data, "add", "https://example.com/other", "--description", "b")
    assert code == 0
    assert "secret:" in out and "shown only this once" in out
    assert "types:    *" in out

    code, out, _ = run(capsys, data, "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert {w["id"]: w["url"] for w in listed}[added["id"]] == receiver.url
    assert {w["url"] for w in listed} == {receiver.url, "https://example.com/other"}
    assert all(w["pending"] == 0 and w["dead"] == 0 and w["active"] for w in listed)
    assert "secret" not in out and added["secret"] not in out
    code, out, _ = run(capsys, data, "list")
    assert code == 0 and added["id"] in out and "types: message.posted" in out
    assert added["secret"] not in out

    code, out, _ = run(capsys, data, "test", added["id"])
    assert code == 0, out
    assert "HTTP 200" in out
    [(headers, body)] = receiver.got
    assert verify(added["secret"], headers["pchat-signature"], body)
    event = json.loads(body)
    assert event["type"] == "webhook.test" and event["data"] == {"webhook_id": added["id"]}
    assert headers["pchat-event-id"] == event["id"] and event["id"] in out

    receiver.status = 500
    code, out, _ = run(capsys, data, "test", added["id"])
    assert code == 1 and "HTTP 500" in out

    code, out, _ = run(capsys, data, "retry", added["id"])
    assert code == 0 and out.startswith("0 given-up deliveries")

    code, out, _ = run(capsys, data, "remove", added["id"])
    assert code == 0 and added["id"] in out
    code, _, err = run(capsys, data, "remove", added["id"])
    assert code == 1 and "no such webhook" in err
    code, out, _ = run(capsys, data, "list", "--json")
    assert [w["url"] for w in json.loads(out)] == ["https://example.com/other"]


def test_a_given_secret_is_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret = "my-own-secret-0123456789"
    code, out, _ = run(
        capsys, tmp_path, "add", "http://127.0.0.1:9/x", "--secret", secret, "--json"
    )
    assert code == 0 and json.loads(out)["secret"] == secret


@pytest.mark.parametrize(
    "argv",
    [
        ("add", "ftp://example.com/x"),
        ("add", "https://example.com/x", "--secret", "short"),
    ],
)
def test_bad_endpoints_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, tmp_path, *argv)
    assert code == 2 and err.startswith("pchat: ")
    code, out, _ = run(capsys, tmp_path, "list")
    assert out.strip() == "no webhooks"


def test_unknown_types_and_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["webhooks", "add", "https://example.com/", "--type", "message.edited"])
    assert code == 2 and "invalid choice" in capsys.readouterr().err
    for action in ("test", "retry", "remove"):
        code, _, err = run(capsys, tmp_path, action, "wh_nope")
        assert code == 1 and "no such webhook" in err, action
