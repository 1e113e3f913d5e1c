"""deploy/pchat.service: ``systemd-analyze verify`` finds nothing to say, the offline security
review rates it at most 2.0 ("OK"), it has the hardening the issue asks for, and it waits
for the whole drain before killing pchat.

Only ExecStart's path is changed for the checks (verify wants an executable there: this
environment's ``pchat``). scripts/debian-tools.sh installs systemd-analyze for ``make test``;
these tests skip without it (and fail when ``CI`` is set). No systemd runs the unit here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pchat.server.config import Settings
from pchat.server.runner import stop_timeout
from tests.helpers import t

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "pchat.service"
SHIPPED_EXEC = "ExecStart=/opt/pchat/bin/pchat serve"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is not installed — CI is set, so this test must run")
        pytest.skip("systemd-analyze is not installed (bash scripts/debian-tools.sh)")
    return found


def settings_of(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, by key (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value.strip())
    return found


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The shipped unit, its ExecStart pointing at this environment's pchat."""
    pchat = Path(sys.executable).parent / "pchat"
    assert pchat.exists(), pchat
    text = UNIT.read_text()
    assert text.count(SHIPPED_EXEC) == 1
    copy = tmp_path / "pchat.service"
    copy.write_text(text.replace(SHIPPED_EXEC, f"ExecStart={pchat} serve"))
    return copy


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), *args], capture_output=True, text=True, timeout=t(60), check=False
    )


def test_systemd_analyze_verify_has_nothing_to_say(unit: Path) -> None:
    result = run("verify", str(unit))
    # Unknown keys and bad values are warnings with exit status 0: any output fails too.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result


def test_systemd_analyze_verify_would_catch_a_mistake(unit: Path) -> None:
    broken = unit.with_name("broken.service")
    broken.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    result = run("verify", str(broken))
    assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr


def test_the_offline_security_review_rates_it_ok(unit: Path) -> None:
    result = run("security", "--offline=yes", "--threshold=20", "--json=short", str(unit))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr  # exposure <= 2.0
    checks = {c["name"]: c["set"] for c in json.loads(result.stdout)}
    for name in (
        "User=/DynamicUser=",
        "NoNewPrivileges=",
        "ProtectSystem=",
        "ProtectHome=",
        "PrivateTmp=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "RestrictAddressFamilies=~AF_PACKET",
        "SystemCallFilter=~@privileged",
    ):
        assert checks[name] is True, name


def test_the_unit_has_the_hardening_and_the_limits() -> None:
    unit = settings_of(UNIT.read_text())
    assert unit["User"] == ["pchat"] and unit["Group"] == ["pchat"]
    assert unit["StateDirectory"] == ["pchat"] and unit["StateDirectoryMode"] == ["0700"]
    assert unit["Environment"].count("PCHAT_DATA_DIR=/var/lib/pchat") == 1
    expected = {
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "CapabilityBoundingSet": [""],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
        "UMask": ["0077"],
    }
    for key, value in expected.items():
        assert unit[key] == value, key
    assert int(unit["LimitNOFILE"][0]) >= 65536


def test_the_unit_waits_for_the_drain() -> None:
    unit = settings_of(UNIT.read_text())
    environment = dict(v.partition("=")[::2] for v in unit["Environment"])
    settings = Settings.from_env(environment)  # the unit's own PCHAT_* settings
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["KillMode"] == ["mixed"]  # SIGTERM to pchat, which passes it to its workers
    assert float(unit["TimeoutStopSec"][0]) > stop_timeout(settings) + 5
