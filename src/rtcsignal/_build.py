"""Which build of rtcsignal is loaded: pure Python, or the optional compiled build.

The compiled build (``HATCH_BUILD_HOOK_ENABLE_MYPYC=1 pip install rtcsignal
--no-binary rtcsignal``, docs/install.md) compiles the modules of :data:`ACCELERATED`
with mypyc from the same source; everything else, and every module on a machine without
a compiler, is the pure-Python package. :func:`build_info` says which one each module
is.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from typing import Final

import attrs

__all__ = ["ACCELERATED", "BuildInfo", "build_info"]

ACCELERATED: Final = (
    "rtcsignal.protocol._fastpath",
    "rtcsignal.protocol._codec",
    "rtcsignal.sdp._attributes",
    "rtcsignal.sdp._candidate",
    "rtcsignal.sdp._parser",
    "rtcsignal.sdp._validate",
    "rtcsignal.sdp._trickle",
    "rtcsignal.core._server",
    "rtcsignal.core._host",
    "rtcsignal.core._roombase",
    "rtcsignal.core._room",
    "rtcsignal.core._negotiation",
    "rtcsignal.core._edge",
    "rtcsignal.core._session",
    "rtcsignal.core._timers",
)
"""The modules the compiled build compiles (the hot path: the protocol decoder, the SDP
and ICE validator, the core's relay path); pyproject.toml's mypyc hook lists the same."""


@attrs.frozen(kw_only=True)
class BuildInfo:
    """Which build is loaded.

    Attributes:
        compiled: every module of :data:`ACCELERATED` is a compiled extension module.
        modules: each module of :data:`ACCELERATED` and whether it is compiled.

    .. versionadded:: 0.1
    """

    compiled: bool
    modules: tuple[tuple[str, bool], ...]


def _is_extension(name: str) -> bool:
    module = importlib.import_module(name)
    return isinstance(module.__spec__.loader, importlib.machinery.ExtensionFileLoader)  # type: ignore[union-attr]


def build_info() -> BuildInfo:
    """Returns: which build of rtcsignal is loaded (importing the accelerated modules).

    ``rtcsignal.build_info().compiled`` is ``True`` for the compiled build, ``False`` for
    pure Python (the default, and the fallback wherever no compiler was at hand).

    .. versionadded:: 0.1
    """
    modules = tuple((name, _is_extension(name)) for name in ACCELERATED)
    return BuildInfo(compiled=all(c for _, c in modules), modules=modules)
