"""The layers of ``src/pchat`` and their imports: no circles, nothing pointing up a layer.

Every import counts, wherever it is written — at the top of a module, inside a function, or
under ``TYPE_CHECKING``: a circle hidden in any of them is still a circle.

Layers, bottom up (docs/architecture.md)::

    protocol  <-  storage  <-  core  <-  server  <-  cli
    protocol  <-  sdk
    protocol  <-  server_client
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: What each layer may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "storage": {"protocol"},
    "core": {"protocol", "storage"},
    "server": {"protocol", "storage", "core"},
    "sdk": {"protocol"},
    "server_client": {"protocol"},
    "cli": {"protocol", "storage", "core", "server", "sdk"},
    "__main__": {"cli"},
    "pchat": {"protocol", "sdk"},  # the package's public names
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """The pchat modules that the module ``name`` (at ``path``) imports, anywhere in it."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from pkg import module`` imports the module too.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "pchat" or m.startswith("pchat.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (SRC / "pchat").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "pchat"
    return parts[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _without_package_roots(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exports its modules; a module importing a sibling through
    the package would make every such pair a circle. Those edges are followed to the
    package only from outside it."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        keep = set()
        for target in targets:
            inside = module.startswith(target + ".")
            if not inside:
                keep.add(target)
        out[module] = keep
    return out


def test_there_are_no_import_circles() -> None:
    cycles = _cycles(_without_package_roots(_graph()))
    assert cycles == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_points_up_a_layer() -> None:
    wrong = []
    for module, targets in _graph().items():
        layer = _layer(module)
        for target in targets:
            other = _layer(target)
            if other != layer and other not in ALLOWED.get(layer, set()):
                wrong.append(f"{module} ({layer}) imports {target} ({other})")
    assert wrong == [], "\n".join(sorted(wrong))


def test_the_walk_sees_hidden_imports(tmp_path: Path) -> None:
    """The check itself: imports inside functions and under TYPE_CHECKING are found."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .service import ChatService\n"
        "def f():\n    from pchat.server.config import Settings\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = _imports(path, "pchat.core.probe")
    assert {"pchat.core.service", "pchat.server.config"} <= found
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
