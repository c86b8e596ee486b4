"""The pure layers import no I/O, clock, event loop or randomness (style rule 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "rtcsignal"
PURE = ["protocol", "sdp", "ratelimit", "core"]
FORBIDDEN = {
    "asyncio",
    "anyio",
    "trio",
    "socket",
    "time",
    "random",
    "secrets",
    "threading",
    "selectors",
    "datetime",
    "uuid",
}


@pytest.mark.parametrize("layer", PURE)
def test_pure_layer_sources_import_nothing_impure(layer: str) -> None:
    for path in sorted((SRC / layer).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN, f"{path}:{node.lineno} imports {name}"
                assert not name.startswith(("rtcsignal.runtime", "rtcsignal.adapters")), name


def test_importing_pure_layers_loads_no_event_loop_or_socket() -> None:
    code = (
        "import sys\n"
        "import rtcsignal.protocol, rtcsignal.sdp, rtcsignal.ratelimit, rtcsignal.core\n"
        "bad = sorted({'asyncio', 'anyio', 'trio', 'socket', 'secrets'} & set(sys.modules))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
