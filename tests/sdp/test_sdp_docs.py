"""Every Python example in ``docs/sdp.md`` and in the package docstrings runs and is right."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from rtcsignal.sdp import _iceservers, _parser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdp.md"


def _run(source: str, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(source, {}, name, str(DOCS), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    return runner.summarize(verbose=False)


def test_docs_examples() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    result = _run("\n".join(blocks), "sdp.md")
    assert result.attempted >= 20
    assert result.failed == 0


@pytest.mark.parametrize("module", [_parser, _iceservers])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted >= 1
    assert result.failed == 0
