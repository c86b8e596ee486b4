"""Every Python code block in the README and the docs runs (style rule 11).

A page's blocks run in order in one namespace, as a reader would type them. Blocks in
doctest form (``>>>``) must also print what they show.
"""

from __future__ import annotations

import doctest
import logging
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = [p for p in DOCS if BLOCK.search(p.read_text())]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_code_blocks_run(page: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The page's blocks form a module, importable by name as a reader's file would be
    # (Litestar, for one, resolves a handler's annotations through sys.modules).
    module = types.ModuleType(f"docs_{page.stem}")
    sys.modules[module.__name__] = module
    saved = _logging_state()
    try:
        run_blocks(page, module.__dict__, capsys)
    finally:
        del sys.modules[module.__name__]
        _restore_logging(saved)


_LoggingState = dict[str, tuple[list[logging.Handler], int, bool, bool]]


def _loggers() -> dict[str, logging.Logger]:
    found = {"": logging.getLogger()}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            found[name] = logger
    return found


def _logging_state() -> _LoggingState:
    return {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name, lg in _loggers().items()
    }


def _restore_logging(saved: _LoggingState) -> None:
    """Undo what a page's framework did to logging. Litestar, for one, configures the
    root logger with a queue listener thread writing to the stderr of that moment (the
    test's captured stream): left in place, later tests' log records reach a closed file
    from that thread."""
    for name, logger in _loggers().items():
        handlers, level, propagate, disabled = saved.get(name, ([], logging.NOTSET, True, False))
        for handler in list(logger.handlers):
            if handler not in handlers:
                # removed, not closed: the framework stops its own listener at exit
                logger.removeHandler(handler)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def run_blocks(
    page: Path, namespace: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for index, match in enumerate(BLOCK.finditer(page.read_text())):
        code = match.group(1)
        name = f"{page.name}[{index}]"
        if code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, namespace, name, page.name, 0)
            runner.run(test, clear_globs=False)
            namespace = test.globs
            assert runner.failures == 0, capsys.readouterr().out
        else:
            exec(compile(code, name, "exec"), namespace)
    capsys.readouterr()


def test_there_are_code_blocks() -> None:
    assert len(PAGES) >= 2
