"""Every Python example in ``docs/sdp.md`` runs (each block on its own, as the docs
test of the whole project runs them) and the docstring examples are right."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

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


@pytest.mark.parametrize("module", [_parser, _iceservers])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted >= 1
    assert result.failed == 0
