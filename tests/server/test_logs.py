"""The server's log lines (server/logs.py): the two formats, the ids, the masking, and the
request ids of the HTTP middleware on an in-process server."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pchat.server import logs
from tests.helpers import RunningServer, start_server

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
API_SECRET = "sk_" + "A1b2C3d4" * 5


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("pchat.test", logging.INFO, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger of this test's own (``logger=`` of logs.configure, not the root logger:
    these lines hold planted secrets that the suite's search must not see) and its output."""
    logger = logging.getLogger("pchat.logtest")
    logger.propagate = False
    yield io.StringIO(), logger
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    logger.propagate = True
    logs.redact.known = ()


def test_json_lines_carry_the_event_the_ids_and_the_fields(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    out, logger = captured
    logs.configure("json", "debug", static={"worker": 2}, stream=out, logger=logger)
    log = logging.getLogger("pchat.logtest.json")
    token = logs.bind(conn="c0ffee")
    try:
        log.info("connection closed by the server", extra={"code": 4001, "seconds": 1.5})
        inner = logs.bind(req="r1")
        log.debug("nested")
        logs.unbind(inner)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("a handler failed")
    finally:
        logs.unbind(token)
    log.warning("outside")
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # one line per event, the traceback included
    first, nested, failed, outside = (json.loads(line) for line in lines)
    assert first["msg"] == "connection closed by the server"
    assert first["level"] == "info" and first["logger"] == "pchat.logtest.json"
    assert (first["conn"], first["code"], first["seconds"], first["worker"]) == (
        "c0ffee",
        4001,
        1.5,
        2,
    )
    assert first["ts"].endswith("Z") and len(first["ts"]) == len("2025-06-01T12:00:00.123Z")
    assert (nested["conn"], nested["req"]) == ("c0ffee", "r1")
    assert "Traceback" in failed["exc"] and "ValueError: boom" in failed["exc"]
    assert "conn" not in outside and "req" not in outside


def test_text_lines_append_the_fields(captured: tuple[io.StringIO, logging.Logger]) -> None:
    out, logger = captured
    logs.configure("text", "info", stream=out, logger=logger)
    log = logging.getLogger("pchat.logtest.text")
    token = logs.bind(conn="c0ffee")
    log.info("drain: closing %d connections", 3, extra={"reason": "two words"})
    log.debug("not at info")
    logs.unbind(token)
    [line] = out.getvalue().splitlines()
    assert line.endswith(
        'INFO pchat.logtest.text: drain: closing 3 connections reason="two words" conn=c0ffee'
    )


def test_tokens_and_secrets_are_masked_in_both_formats(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    out, logger = captured
    for fmt in logs.FORMATS:
        text = logs.JsonFormatter() if fmt == "json" else logs.TextFormatter()
        line = text.format(record("got %s and %s", JWT, API_SECRET, extra_field=JWT))
        assert JWT not in line and API_SECRET not in line
        assert "[token]" in line and "sk_[secret]" in line
    logs.configure("json", stream=out, known_secrets=["the-hook-secret", None], logger=logger)
    logger.warning("signed with the-hook-secret")
    assert "the-hook-secret" not in out.getvalue() and "[secret]" in out.getvalue()
    assert logs.redact("whsec_abcdefghijklmnop1234") == "whsec_[secret]"
    assert logs.redact("task_name and ask_me stay") == "task_name and ask_me stay"


def test_configure_refuses_unknown_formats_and_levels() -> None:
    with pytest.raises(ValueError, match="log_format"):
        logs.configure("xml")
    with pytest.raises(ValueError, match="log_level"):
        logs.configure("json", "verbose")


def test_configure_writes_to_stderr_by_default(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    _, logger = captured
    handler = logs.configure("json", logger=logger)
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    assert logger.handlers == [handler] and logger.level == logging.INFO


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[RunningServer]:
    srv = await start_server(tmp_path / "proxied", trusted_proxies=("127.0.0.1",))
    yield srv
    await srv.stop()
    assert srv.http is not None
    await srv.http.close()


async def test_http_requests_get_an_id_a_trusted_proxy_may_give(
    proxied: RunningServer, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pchat.server.http")
    assert proxied.http is not None
    # From a trusted proxy (nginx's $request_id): kept, echoed, logged with the request.
    headers = {"X-Request-Id": "0123abcd" * 4, "X-Forwarded-For": "203.0.113.7"}
    async with proxied.http.get(f"{proxied.url}/healthz", headers=headers) as r:
        assert r.headers["X-Request-Id"] == "0123abcd" * 4
    [line] = [rec for rec in caplog.records if rec.getMessage() == "http request"]
    assert (line.req, line.path, line.status, line.client) == (  # type: ignore[attr-defined]
        "0123abcd" * 4,
        "/healthz",
        200,
        "203.0.113.7",
    )
    # Not from a trusted proxy, or not an id's shape: a new one.
    async with proxied.http.get(f"{proxied.url}/healthz", headers={"X-Request-Id": "a b"}) as r:
        assert r.headers["X-Request-Id"] != "a b" and len(r.headers["X-Request-Id"]) == 16
    assert server.http is not None
    async with server.http.get(f"{server.url}/nope", headers={"X-Request-Id": "mine"}) as r:
        assert r.status == 404
        assert r.headers["X-Request-Id"] not in ("", "mine")
