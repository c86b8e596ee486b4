"""The shape of ``src/rtcsignal``: no import cycles, no reaching into another package's
private modules or names, no module over the size a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 750


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "rtcsignal").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _package_of(module: str) -> str:
    return module if module in PACKAGES else module.rpartition(".")[0]


def _imports(module: str) -> list[tuple[str, str | None]]:
    """``(module imported, name imported from it or None)`` for every import of
    ``module`` outside ``if TYPE_CHECKING:`` blocks (lazy imports included)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((base, alias.name) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(m, n) for m, n in found if m == "rtcsignal" or m.startswith("rtcsignal.")]


def _edges(module: str) -> set[str]:
    """Modules ``module`` depends on; a package's ``__init__`` (its face, which only
    re-exports) is not followed."""
    out = set()
    for target, name in _imports(module):
        sub = f"{target}.{name}" if name else None
        if sub in MODULES and sub not in PACKAGES:
            out.add(sub)
        elif target in MODULES and target not in PACKAGES:
            out.add(target)
    out.discard(module)
    return out


def _cycles() -> list[list[str]]:
    graph = {m: _edges(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_the_modules_are_found() -> None:
    assert {"rtcsignal.core._server", "rtcsignal.core._edge", "rtcsignal.core._host"} <= set(
        MODULES
    )
    assert "rtcsignal.core._room" in _edges("rtcsignal.core._host")  # relative imports


def test_there_are_no_import_cycles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_reaches_into_another_package_s_private_parts(module: str) -> None:
    """Private modules and names (a leading ``_``) are for their own package; the root
    package's private modules (``rtcsignal._structure``) are shared by every layer."""
    home = _package_of(module)
    for target, name in _imports(module):
        owner = _package_of(target) if target in MODULES else target
        if owner in (home, "rtcsignal"):
            continue
        private_module = any(part.startswith("_") for part in target.split(".")[1:])
        private_name = name is not None and name.startswith("_") and not name.endswith("__")
        assert not (private_module or private_name), f"{module} imports {target} {name or ''}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"
