"""Write the TypeScript SDK's codes (sdk/js/src/codes.ts) from pchat.protocol.codes.

    .venv/bin/python scripts/gen_codes.py           # write sdk/js/src/codes.ts
    .venv/bin/python scripts/gen_codes.py --check   # exit 1 if it is stale

The Python module is the one source: the members of ``ErrorCode`` and ``CloseCode`` in their
order, their ``#:`` comments (as doc comments) and plain ``#`` comments (as group headings),
``TEMPORARY_ERRORS`` and the standard close codes that are transient. What TypeScript has
beyond it is written here: ``errorCodeName`` (Python's ``ErrorCode.slug``), the close code
``NO_STATUS`` (below), and ``closeIsReconnectable``, whose ranges are checked against
``close_is_reconnectable`` for every code before anything is written.
``tests/protocol/test_codes_ts.py`` fails when the file differs from what this renders.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Iterable
from enum import IntEnum
from pathlib import Path

from pchat.protocol import codes

__all__ = ["COMMAND", "TARGET", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "sdk" / "js" / "src" / "codes.ts"
COMMAND = "python scripts/gen_codes.py"

WIDTH = 100

#: Close codes that only the TypeScript SDK names. 1005 is never sent (RFC 6455 §7.4.1: an
#: endpoint must not put it in a close frame), so the server has no member for it; a browser
#: reports it as ``CloseEvent.code`` when a close frame came without a status code, and the
#: TypeScript SDK has exported the name since its first version.
TS_ONLY_CLOSE_CODES: dict[str, tuple[int, str]] = {
    "NO_STATUS": (
        1005,
        "A close frame without a status code: reported by the browser, never sent. Transient.",
    ),
}

#: The ranges written into closeIsReconnectable; checked against close_is_reconnectable.
RECONNECT_RANGE = (4000, 4499)
TERMINAL_RANGE = (4500, 4999)


def _ts_text(text: str) -> str:
    """Python doc markup to TypeScript's: ````x```` becomes ```x```, ``None`` ``null``."""
    return text.replace("``None``", "`null`").replace("``", "`")


def _doc(text: str, indent: str = "") -> list[str]:
    """A JSDoc comment of ``text``: on one line when it fits, else wrapped."""
    text = " ".join(text.split())
    one = f"{indent}/** {text} */"
    if len(one) <= WIDTH:
        return [one]
    body = textwrap.wrap(text, WIDTH - len(indent) - 3)
    return [f"{indent}/**", *(f"{indent} * {line}" for line in body), f"{indent} */"]


def _comments(body: Iterable[ast.stmt], lines: list[str], start: int) -> dict[str, list[str]]:
    """For each ``NAME = …`` in ``body``: the source lines between it and the statement
    before it (from line ``start``), comments and blank lines, stripped."""
    found: dict[str, list[str]] = {}
    previous_end = start
    for stmt in body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            gap = lines[previous_end : stmt.lineno - 1]
            found[stmt.targets[0].id] = [line.strip() for line in gap]
        previous_end = stmt.end_lineno or stmt.lineno
    return found


def _source_comments() -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """The comments above the module's assignments and above each enum member."""
    source = inspect.getsource(codes)
    lines = source.splitlines()
    tree = ast.parse(source)
    classes = {
        node.name: _comments(node.body, lines, node.body[0].end_lineno or node.lineno)
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    return _comments(tree.body, lines, 0), classes


def _member_lines(gap: list[str]) -> list[str]:
    """A member's comments in TypeScript: a blank line before a group, ``//`` headings, the
    ``#:`` comment as a doc comment."""
    out: list[str] = []
    doc: list[str] = []
    for line in gap:
        if not line:
            out.append("")
        elif line.startswith("#:"):
            doc.append(line[2:].strip())
        elif line.startswith("#"):
            out.append(f"  // {_ts_text(line[1:].strip())}")
    if doc:
        out.extend(_doc(_ts_text(" ".join(doc)), "  "))
    return out


def _enum(
    enum: type[IntEnum],
    comments: dict[str, list[str]],
    extra: dict[str, tuple[int, str]] | None = None,
) -> list[str]:
    """``export const NAME = {…} as const`` and its type, members in ascending order."""
    members: list[tuple[int, str, list[str]]] = [
        (member.value, member.name, _member_lines(comments.get(member.name, []))) for member in enum
    ]
    for member, (value, text) in (extra or {}).items():
        members.append((value, member, _doc(_ts_text(text), "  ")))
    members.sort(key=lambda m: m[0])
    name = enum.__name__
    out = [*_doc(_ts_text(inspect.getdoc(enum) or name)), f"export const {name} = {{"]
    for i, (value, member, lines) in enumerate(members):
        out.extend(lines if i else [line for line in lines if line])  # no blank line first
        out.append(f"  {member}: {value},")
    out += ["} as const;", f"export type {name} = (typeof {name})[keyof typeof {name}];"]
    return out


def _module_doc() -> list[str]:
    doc = _ts_text(inspect.getdoc(codes) or "")
    out = ["/**"]
    out += [f" * {line}".rstrip() for line in doc.splitlines()]
    out += [" * @module", " */"]
    return out


def _model_is_reconnectable(code: int | None) -> bool:
    """What the rendered ``closeIsReconnectable`` answers, in Python."""
    if code is None:
        return True
    if RECONNECT_RANGE[0] <= code <= RECONNECT_RANGE[1]:
        return True
    if TERMINAL_RANGE[0] <= code <= TERMINAL_RANGE[1]:
        return False
    return code in codes._TRANSIENT_STANDARD


def _check_model() -> None:
    """The rendered function must agree with ``close_is_reconnectable`` on every code."""
    for code in [None, *range(0, 65536)]:
        if _model_is_reconnectable(code) != codes.close_is_reconnectable(code):
            raise SystemExit(
                f"closeIsReconnectable({code}) would differ from close_is_reconnectable: "
                "update RECONNECT_RANGE / TERMINAL_RANGE in scripts/gen_codes.py"
            )
    for name, (value, _) in TS_ONLY_CLOSE_CODES.items():
        if value in {c.value for c in codes.CloseCode}:
            raise SystemExit(f"{name} = {value} is in CloseCode now: drop it from TS_ONLY")


def render() -> str:
    """The text of ``sdk/js/src/codes.ts``."""
    _check_model()
    module, classes = _source_comments()
    temporary = sorted(codes.TEMPORARY_ERRORS)
    transient = ", ".join(str(c) for c in sorted(codes._TRANSIENT_STANDARD))
    reconnectable = inspect.getdoc(codes.close_is_reconnectable) or ""
    lines = [
        "// Generated by scripts/gen_codes.py from src/pchat/protocol/codes.py: do not edit.",
        f"// To change a code, change the Python module and run `{COMMAND}`",
        "// (with the venv's python).",
        *_module_doc(),
        "",
        *_enum(codes.ErrorCode, classes["ErrorCode"]),
        "",
        *_doc(_ts_text(" ".join(m[2:].strip() for m in module["TEMPORARY_ERRORS"] if m))),
        "export const TEMPORARY_ERRORS: ReadonlySet<number> = new Set<number>([",
        *(f"  ErrorCode.{code.name}," for code in temporary),
        "]);",
        "",
        "/** The lower-case name sent beside an error code, e.g. `rate_limited` for 108. */",
        "export function errorCodeName(code: number): string {",
        "  for (const [name, value] of Object.entries(ErrorCode)) {",
        "    if (value === code) return name.toLowerCase();",
        "  }",
        "  return 'unknown';",
        "}",
        "",
        *_enum(codes.CloseCode, classes["CloseCode"], TS_ONLY_CLOSE_CODES),
        "",
        f"const TRANSIENT_STANDARD: ReadonlySet<number> = new Set([{transient}]);",
        "",
        "/**",
        *(f" * {line}".rstrip() for line in _ts_text(reconnectable).splitlines() if line),
        " */",
        "export function closeIsReconnectable(code: number | null): boolean {",
        "  if (code === null) return true;",
        f"  if (code >= {RECONNECT_RANGE[0]} && code <= {RECONNECT_RANGE[1]}) return true;",
        f"  if (code >= {TERMINAL_RANGE[0]} && code <= {TERMINAL_RANGE[1]}) return false;",
        "  return TRANSIENT_STANDARD.has(code);",
        "}",
    ]
    text = "\n".join(lines) + "\n"
    too_long = [line for line in text.splitlines() if len(line) > WIDTH]
    if too_long:
        raise SystemExit(f"lines over {WIDTH} characters: {too_long}")
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
