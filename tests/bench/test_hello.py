"""The hello of the ``ws`` peers and the load generator's source addresses, end to end.

Each ``ws`` peer that is installed here (raw always; picows with ``.venv-bench``; node_ws
with its ``node_modules``) runs with a secret; the C load generator joins it with
``--hello`` and tokens from :mod:`bench.lib.hello`: signed with the secret, every client
joins and messages flow; signed with another secret, expired, or for another room, every
client is refused with 1008. The verifier's own verdicts are checked without a network.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.lib import hello, loadgen
from bench.lib.procs import ServerProcess, free_port
from bench.lib.systems import builtin_systems, unavailable
from tests.helpers import t

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 40
SECRET = "s3cret-for-the-hello-test"
PEERS = ("raw", "picows", "ws-node")

pytestmark = pytest.mark.timeout(t(120))


@pytest.fixture(scope="module")
def binary() -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: the benchmark load generator (C) cannot be built")
    return loadgen.build()


@pytest.fixture(params=PEERS)
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    system = builtin_systems(ROOT)[request.param]
    why = unavailable(system)
    if why:
        pytest.skip(f"{system.name}: {why}")
    port = free_port()
    server = ServerProcess(
        system.argv(port, tmp_path),
        env={**system.environ(port, tmp_path), hello.HELLO_SECRET_ENV: SECRET},
        log_path=tmp_path / "server.log",
        cwd=ROOT,
    )
    try:
        server.wait_ready(port, timeout=t(30), settle=0.1)
        yield port
    finally:
        server.stop()


def run(binary: Path, tokens: Path, port: int, **options: Any) -> dict[str, Any]:
    opts = loadgen.Options(
        port=port,
        proto="ws",
        subscribers=SUBSCRIBERS,
        tokens=tokens,
        hello=True,
        join_timeout=t(20),
        **options,
    )
    done = subprocess.run(
        opts.argv(binary), capture_output=True, text=True, timeout=t(60), check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_valid_tokens_join_and_messages_flow(binary: Path, peer: int, tmp_path: Path) -> None:
    tokens = hello.write_tokens(tmp_path / "tokens.txt", SECRET, SUBSCRIBERS + 1)
    r = run(binary, tokens, peer, rate=20, warmup=0.2, duration=1.0)
    assert r["hello"] is True
    assert r["joined"] == SUBSCRIBERS
    assert r["errors"] == 0, r["error_kinds"]
    assert r["close_codes"] == {}
    assert r["sent"] > 0
    assert r["deliveries"] > 0


@pytest.mark.parametrize("bad", ["other secret", "expired", "other room"])
def test_bad_hellos_are_refused(binary: Path, peer: int, tmp_path: Path, bad: str) -> None:
    secret = "not the peer's" if bad == "other secret" else SECRET
    ttl = -10 if bad == "expired" else 3600
    tokens = hello.write_tokens(tmp_path / "tokens.txt", secret, SUBSCRIBERS, ttl=ttl)
    room = "elsewhere" if bad == "other room" else None
    r = run(binary, tokens, peer, idle=True, duration=0.2, room=room)
    assert r["joined"] == 0
    assert r["close_codes"] == {"1008": SUBSCRIBERS}
    assert r["error_kinds"]["join"] == SUBSCRIBERS


async def test_connections_are_spread_over_source_addresses(binary: Path) -> None:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername")[0])
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        argv = loadgen.Options(
            port=listener.sockets[0].getsockname()[1],
            proto="ws",
            subscribers=9,
            idle=True,
            duration=0.2,
            source_addrs="127.0.0.1-127.0.0.3",
        ).argv(binary)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), t(30))
    finally:
        listener.close()
    assert proc.returncode == 0, err.decode()
    r = json.loads(out)
    assert r["joined"] == 9
    assert r["source_addrs"] == 3
    assert Counter(seen) == {"127.0.0.1": 3, "127.0.0.2": 3, "127.0.0.3": 3}


def test_the_verifier_refuses_what_it_must() -> None:
    verifier = hello.HelloVerifier(SECRET, room="bench")
    good = hello.sign(SECRET, "u7")

    def frame(token: str, room: str = "bench") -> bytes:
        return json.dumps({"type": "hello", "room": room, "token": token}).encode()

    assert verifier.check(frame(good)) == "u7"
    assert verifier.welcome("u7") == b'{"type":"welcome","user":"u7"}'
    head, body, sig = good.split(".")
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    refused = {
        "tampered claims": f"{head}.{body[:-2]}AA.{sig}",
        "tampered signature": f"{head}.{body}.{sig[:-2]}AA",
        "another secret": hello.sign("another", "u7"),
        "expired": hello.sign(SECRET, "u7", ttl=-1),
        "alg none": f"{none_alg}.{body}.",
        "not base64url": f"{head}.{body}.{sig[:10]}+{sig[11:]}",
        "two parts": f"{head}.{body}",
    }
    for why, token in refused.items():
        with pytest.raises(hello.HelloRefused):
            verifier.check(frame(token))
            pytest.fail(f"accepted: {why}")
    for bad_frame in (frame(good, room="other"), b"not json", b'{"type":"connect"}', b"[]"):
        with pytest.raises(hello.HelloRefused):
            verifier.check(bad_frame)
