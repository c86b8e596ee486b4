"""Which build is loaded: the suite runs twice in CI, on the pure-Python source (``nox -s
tests``) and on the compiled build (``nox -s compiled``, which sets
``EXPECT_RTCSIGNAL_BUILD=compiled``); each run proves it tested what it says."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import tomllib
from pathlib import Path

import rtcsignal
from rtcsignal._build import ACCELERATED

ROOT = Path(__file__).resolve().parent.parent
EXPECT = os.environ.get("EXPECT_RTCSIGNAL_BUILD", "pure")


def _hook() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    hook: dict[str, object] = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    return hook


def test_the_run_says_which_build_it_expects() -> None:
    assert EXPECT in ("pure", "compiled")


def test_the_build_loaded_is_the_one_expected() -> None:
    info = rtcsignal.build_info()
    assert info.compiled is (EXPECT == "compiled")
    assert [name for name, _ in info.modules] == list(ACCELERATED)
    for name, compiled in info.modules:
        module = importlib.import_module(name)
        origin = module.__spec__.origin if module.__spec__ else None
        assert origin is not None
        extension = isinstance(module.__spec__.loader, importlib.machinery.ExtensionFileLoader)
        assert compiled is extension is (EXPECT == "compiled"), (name, origin)
        if EXPECT == "compiled":
            assert origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), origin
        else:
            assert origin.endswith(".py"), origin


def test_a_compiled_run_tests_an_installed_wheel_and_a_pure_run_the_source() -> None:
    package = Path(rtcsignal.__file__).resolve().parent
    assert (package == ROOT / "src" / "rtcsignal") is (EXPECT == "pure"), package


def test_the_build_hook_compiles_exactly_the_accelerated_modules() -> None:
    hook = _hook()
    include = hook["include"]
    assert isinstance(include, list)
    assert [
        path.removeprefix("src/").removesuffix(".py").replace("/", ".") for path in include
    ] == list(ACCELERATED)


def test_the_compiled_build_is_off_unless_asked_for() -> None:
    """``pip install`` from source needs no compiler: the hook runs only when
    ``HATCH_BUILD_HOOK_ENABLE_MYPYC`` is set."""
    assert _hook()["enable-by-default"] is False
