"""Every Python example in ``docs/sdp.md`` runs (each block on its own, as the docs
test of the whole project runs them) and the docstring examples are right."""

from __future__ import annotations

import doctest
import importlib.machinery
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from rtcsignal.sdp import _iceservers, _parser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdp.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def test_docs_have_examples_of_every_public_function() -> None:
    text = "\n".join(BLOCKS)
    for name in (
        "sdp.parse(", "sdp.validate_offer(", "sdp.validate_answer(", "sdp.parse_candidate(",
        "sdp.validate_candidate(", "sdp.validate_ice_server_url(", "sdp.validate_ice_server(",
        "sdp.mint_turn_credentials(", "sdp.SdpPolicy(",
    ):  # fmt: skip
        assert name in text, name


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_block_runs(index: int) -> None:
    namespace: dict[str, object] = {"__name__": f"sdp_docs_{index}"}
    exec(compile(BLOCKS[index], f"sdp.md[{index}]", "exec"), namespace)


def test_docs_error_examples_cannot_pass_silently() -> None:
    # Each try block in the examples ends with "raise AssertionError", so an example
    # whose call stops raising fails instead of skipping its asserts.
    for block in BLOCKS:
        assert block.count("try:") == block.count('raise AssertionError("not reached')


def _source_module(module: ModuleType) -> ModuleType:
    """``module`` itself, or, in the compiled build (whose functions keep no doctests),
    its Python source loaded beside it under another name."""
    if not isinstance(module.__spec__.loader, importlib.machinery.ExtensionFileLoader):  # type: ignore[union-attr]
        return module
    name = module.__name__
    path = Path(module.__file__ or "").parent / f"{name.rpartition('.')[2]}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_source", path)
    assert spec is not None and spec.loader is not None
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    return source


@pytest.mark.parametrize("module", [_parser, _iceservers])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(_source_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1
    assert result.failed == 0
