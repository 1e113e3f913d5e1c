"""The session state machine, the code ranges, and the no-I/O rule of the protocol core."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pchat.protocol.codes import CloseCode, ErrorCode, close_is_reconnectable
from pchat.protocol.errors import RequestError
from pchat.protocol.session import SessionMachine, SessionState


def test_only_connect_and_ping_before_connect() -> None:
    m = SessionMachine()
    m.check("connect")
    m.check("ping")
    with pytest.raises(RequestError) as info:
        m.check("send")
    assert info.value.code is ErrorCode.NOT_CONNECTED


def test_connect_flow_and_second_connect() -> None:
    m = SessionMachine()
    assert m.advance("connect") is SessionState.CONNECTING
    with pytest.raises(RequestError):
        m.check("send")
    assert m.advance("connected") is SessionState.CONNECTED
    m.check("send")
    with pytest.raises(RequestError) as info:
        m.check("connect")
    assert info.value.code is ErrorCode.ALREADY_CONNECTED
    assert m.advance("close") is SessionState.CLOSED
    with pytest.raises(RequestError):
        m.check("ping")


def test_failed_connect_may_retry_and_illegal_steps_raise() -> None:
    m = SessionMachine()
    m.advance("connect")
    assert m.advance("failed") is SessionState.AWAITING_CONNECT
    with pytest.raises(RuntimeError):
        m.advance("connected")


def test_close_code_ranges() -> None:
    for code in CloseCode:
        if 4000 <= code < 4500:
            assert close_is_reconnectable(code), code
        elif code >= 4500:
            assert not close_is_reconnectable(code), code
    assert close_is_reconnectable(None)
    assert close_is_reconnectable(1006) and close_is_reconnectable(1012)
    assert not close_is_reconnectable(1000) and not close_is_reconnectable(1009)


def test_error_code_ranges() -> None:
    for code in ErrorCode:
        assert 100 <= code < 300
        assert code.slug == code.name.lower()


def test_protocol_core_does_no_io() -> None:
    probe = (
        "import sys, pchat.protocol, pchat.protocol.frames, pchat.protocol.session, "
        "pchat.protocol.validation, pchat.protocol.wsframe\n"
        "bad = {'asyncio', 'socket', 'sqlite3', 'aiohttp', 'pchat.storage', 'pchat.server'}\n"
        "print(sorted(bad & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
