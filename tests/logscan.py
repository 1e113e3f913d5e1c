"""Every log the test suite produces is searched for tokens and secrets (issue #13, logs).

pchat must never log a token, an API secret or a webhook or pre-send hook secret. This
plugin (``pytest_plugins`` in tests/conftest.py) looks at:

- every record logged in the test process (the in-process servers of most tests, the SDKs),
  as it is emitted, before any formatting or masking — pchat's own loggers at DEBUG, so
  that no level hides a line: a record with a secret fails the test that logged it;
- after the session, every ``*.log`` file under pytest's base temporary directory: what the
  ``pchat serve`` subprocesses (their stderr), nginx and the other processes the tests start
  wrote there. A secret there fails the session, naming the file.

What counts as a secret (:func:`find_secrets`): a JWT (``eyJ….eyJ…``), an API secret
(``sk_`` and 20 or more characters), a webhook secret (``whsec_…``), and any value given to
:func:`known_secret` (the pre-send hook's secrets of the tests' settings are, by
tests/helpers.py). One exception, on stdout by design: the first start's banner shows a new
API secret once (README); its two lines are not searched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SCANNER", "find_secrets", "known_secret", "log_files", "scan_file"]

_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"  # a JWT's header and payload
    r"|(?<![A-Za-z0-9])sk_[A-Za-z0-9_-]{20,}"  # an API secret (sk_ and 43 characters)
    r"|(?<![A-Za-z0-9])whsec_[A-Za-z0-9_-]{16,}"  # a webhook signing secret
)
#: The first start's banner (stdout, shown once by design: README, docs/operations.md).
_BANNER = re.compile(r"^\s*(API_SECRET=sk_|curl .*--header 'auth-api-secret: sk_)")
_known: set[str] = set()


def known_secret(value: str | None) -> str | None:
    """Search the logs for ``value`` too (a secret a test chose); returns it."""
    if value and len(value) >= 6:
        _known.add(value)
    return value


def find_secrets(text: str) -> list[str]:
    """The tokens and secrets in ``text`` (each clipped, so that a report shows where)."""
    found = [m.group(0) for m in _SHAPES.finditer(text)]
    found += [secret for secret in _known if secret in text]
    return [f[:24] + "…" if len(f) > 24 else f for f in found]


def scan_file(path: Path) -> list[str]:
    """The secrets in one log file, but for the first start's banner lines."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    lines = (line for line in text.splitlines() if not _BANNER.match(line))
    return find_secrets("\n".join(lines))


def log_files(root: Path) -> Iterator[Path]:
    """The log files under ``root`` (``*.log``, as the tests name their processes' logs)."""
    yield from (p for p in sorted(root.rglob("*.log")) if p.is_file())


class _Scanner(logging.Handler):
    """Looks at every record that reaches the root logger; keeps what it found."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.found: list[tuple[str, str, list[str]]] = []  # (test, logger, secrets)
        self.records = 0
        self.test = ""
        self._exc = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            parts = [record.getMessage()]
        except Exception:  # a record that does not format: its parts, then
            parts = [str(record.msg), repr(record.args)]
        parts += [str(v) for k, v in record.__dict__.items() if k not in _STANDARD]
        if record.exc_info:
            parts.append(self._exc.formatException(record.exc_info))
        found = find_secrets("\n".join(parts))
        if found:
            self.found.append((self.test, record.name, found))


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

#: The handler on the root logger for the whole session.
SCANNER = _Scanner()


def pytest_sessionstart(session: pytest.Session) -> None:
    logging.getLogger().addHandler(SCANNER)
    # pchat's lines at every level (the root logger stays at pytest's level for the rest).
    logging.getLogger("pchat").setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def _no_secrets_logged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which a secret was logged in this process."""
    SCANNER.test = request.node.nodeid
    before = len(SCANNER.found)
    yield
    new = SCANNER.found[before:]
    if new:
        del SCANNER.found[before:]
        shown = "; ".join(f"{name}: {', '.join(found)}" for _, name, found in new)
        pytest.fail(f"a token or secret was logged: {shown}")


_file_findings: list[tuple[Path, list[str]]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None and factory._basetemp is not None:  # else no process logs
        for path in log_files(factory.getbasetemp()):
            found = scan_file(path)
            if found:
                _file_findings.append((path, found))
    # Records outside any test (module and session fixtures' teardowns).
    for test, name, found in SCANNER.found:
        _file_findings.append((Path(f"{name} (logged after {test or 'no test'})"), found))
    if _file_findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _file_findings:
        terminalreporter.section("tokens or secrets in log files", red=True)
        for path, found in _file_findings:
            terminalreporter.line(f"{path}: {', '.join(found)}")
