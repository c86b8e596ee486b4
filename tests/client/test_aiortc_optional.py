"""``rtcsignal.client.aiortc`` imports without aiortc: the client extra does not need it."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "aiortc" or name.startswith("aiortc."):
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
import rtcsignal.client.aiortc as mesh

assert "aiortc" not in sys.modules
try:
    mesh._aiortc()
except ImportError as exc:
    print(exc)
"""


def test_the_module_imports_without_aiortc_and_says_what_is_missing() -> None:
    out = subprocess.run(
        [sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "rtcsignal.client.aiortc needs aiortc: pip install aiortc"
