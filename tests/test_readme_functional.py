"""The README's promise, end to end: `pchat serve` on a fresh data directory prints an API
key, the seed's token request works with it, and the README's Python snippet chats."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import textwrap
from pathlib import Path

import aiohttp

from tests.helpers import free_port, t, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python snippet"
    return textwrap.dedent(str(blocks[0]))


async def test_serve_token_and_readme_snippet(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PCHAT_PORT": str(port), "PCHAT_DATA_DIR": str(tmp_path / "data")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pchat",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(t(20)):
            while not any("serving on" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, f"server exited: {lines}"
                lines.append(line)
        out = "".join(lines)
        key = re.search(r"API_KEY=(\S+)", out)
        secret = re.search(r"API_SECRET=(\S+)", out)
        assert key and secret, out
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, f"{base}/healthz", proc=proc)
            # The seed's request: GET /public-chat/token/?sub=USER_ID with the two headers.
            async with http.get(
                f"{base}/public-chat/token/?sub=USER_ID",
                headers={"auth-api-key": key.group(1), "auth-api-secret": secret.group(1)},
            ) as r:
                assert r.status == 200
                token = (await r.json())["token"]
        script = readme_snippet().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        script += "\nimport sys\nasyncio.run(main(sys.argv[1]))\n"
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            token,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        stdout, _ = await asyncio.wait_for(run.communicate(), t(30))
        printed = stdout.decode()
        assert run.returncode == 0, printed
        assert "connected" in printed and "username: hello" in printed, printed
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), t(10))
