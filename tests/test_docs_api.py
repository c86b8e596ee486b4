"""The API reference (``docs/api.md``, rendered by mkdocstrings in ``nox -s docs``)
documents every public module, once, and nothing else."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from test_exports import PUBLIC

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_the_api_reference_has_a_section_per_public_module() -> None:
    listed = re.findall(r"^::: (\S+)$", API.read_text(), re.MULTILINE)
    assert len(listed) == len(set(listed)), "a module is listed twice"
    public = {name for name in PUBLIC if hasattr(importlib.import_module(name), "__all__")}
    assert set(listed) == public
