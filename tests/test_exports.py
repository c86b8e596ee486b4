"""The public surface: every public module says what it exports (``__all__``), lists
each name once, lists only names it has, and never exports a private name."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import rtcsignal


def _public_modules() -> list[str]:
    names = ["rtcsignal"]
    for info in pkgutil.walk_packages(rtcsignal.__path__, "rtcsignal."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue
        names.append(info.name)
    return sorted(names)


PUBLIC = _public_modules()


def test_the_public_modules_are_found() -> None:
    for name in ("rtcsignal.core", "rtcsignal.core.seam", "rtcsignal.protocol", "rtcsignal.sdp"):
        assert name in PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_a_public_module_declares_its_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name} lists a name twice"
    for export in exported:
        private = export.startswith("_") and not export.endswith("__")
        assert not private, f"{name} exports the private name {export}"
        assert hasattr(module, export), f"{name} lists {export}, which it does not have"
        value = getattr(module, export)
        if isinstance(value, types.ModuleType):
            assert not any(p.startswith("_") for p in value.__name__.split(".")), (
                f"{name} exports the private module {value.__name__}"
            )
