"""Rule ids, exports and purity of :mod:`rtcsignal.sdp`.

Every rule id the code can raise is in ``RULES``, raised somewhere, asserted by a test,
and documented in ``docs/sdp.md``; every public name is exported once and documented;
the package imports no I/O, clock or randomness.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

from rtcsignal import sdp

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "rtcsignal" / "sdp"
DOCS = ROOT / "docs" / "sdp.md"
TESTS = Path(__file__).parent
PREFIXES = {r.split(".")[0] for r in sdp.RULES}
RULE_SHAPE = re.compile(r"^[a-z_]+\.[a-z_]+$")


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _rule_literals(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        found |= {
            s
            for s in _string_constants(path)
            if RULE_SHAPE.match(s) and s.split(".")[0] in PREFIXES
        }
    return found


SOURCES = [p for p in PACKAGE.glob("*.py") if p.name != "_errors.py"]


def test_every_rule_used_in_code_is_in_rules() -> None:
    assert _rule_literals(SOURCES) - set(sdp.RULES) == set()


def test_every_rule_is_raised_somewhere() -> None:
    assert set(sdp.RULES) - _rule_literals(SOURCES) == set()


def test_every_rule_is_asserted_by_a_test() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.glob("test_sdp_*.py"))
    missing = [rule for rule in sdp.RULES if f'"{rule}"' not in text]
    assert missing == []


def test_every_rule_is_documented_with_its_reference() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for rule, (ref, _) in sdp.RULES.items():
        row = next((line for line in docs.splitlines() if f"`{rule}`" in line), None)
        assert row is not None, rule
        assert ref in row, (rule, ref)


def test_rules_table_shape() -> None:
    for rule, (ref, description) in sdp.RULES.items():
        assert RULE_SHAPE.match(rule), rule
        assert ref and description, rule


def test_exports() -> None:
    names = sdp.__all__
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(
        n for n in vars(sdp) if not n.startswith("_") and n != "annotations"
    )
    for name in names:
        obj = getattr(sdp, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
            assert obj.__module__.startswith("rtcsignal.sdp."), name


FORBIDDEN = {"asyncio", "anyio", "trio", "socket", "time", "random", "secrets", "datetime", "os"}


def test_pure_imports() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN, (path.name, roots & FORBIDDEN)


def test_importing_loads_no_event_loop_socket_or_randomness() -> None:
    code = (
        "import sys, rtcsignal.sdp\n"
        "bad = {'asyncio', 'anyio', 'trio', 'socket', 'random', 'secrets'} & set(sys.modules)\n"
        "print(sorted(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "[]"
