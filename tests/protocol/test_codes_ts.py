"""One source for the codes: the TypeScript SDK's codes.ts is what scripts/gen_codes.py renders
from pchat.protocol.codes, and docs/protocol.md lists the same error codes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pchat.protocol.codes import CloseCode, ErrorCode

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_codes.py"
    spec = importlib.util.spec_from_file_location("gen_codes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_codes", module)
    spec.loader.exec_module(module)
    return module


gen_codes = _generator()


def test_codes_ts_is_generated_from_the_python_codes() -> None:
    text = gen_codes.TARGET.read_text()
    assert text == gen_codes.render(), f"sdk/js/src/codes.ts is stale: run `{gen_codes.COMMAND}`"


def test_every_code_and_its_comment_reach_typescript() -> None:
    text = gen_codes.render()
    for code in [*ErrorCode, *CloseCode]:
        assert re.search(rf"^  {code.name}: {code.value},$", text, re.MULTILINE), code
    assert "  /** A second vote. */\n  ALREADY_VOTED: 113," in text
    assert "  // 4500–4999: terminal, do not reconnect.\n  /** The token was refused. */" in text


def test_the_generator_refuses_ranges_that_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen_codes, "RECONNECT_RANGE", (4000, 4498))
    with pytest.raises(SystemExit, match="closeIsReconnectable\\(4499\\)"):
        gen_codes.render()


def test_check_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "codes.ts"
    stale.write_text("// old\n")
    monkeypatch.setattr(gen_codes, "TARGET", stale)
    monkeypatch.setattr(gen_codes, "ROOT", tmp_path)
    assert gen_codes.main(["--check"]) == 1
    assert gen_codes.main([]) == 0
    assert gen_codes.main(["--check"]) == 0


def test_protocol_doc_lists_every_error_code() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    section = doc.split("## 7. Error codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d{3}) \| `([a-z0-9_]+)` \|", section, re.MULTILINE))
    assert rows == {str(code.value): code.slug for code in ErrorCode}
