"""rtcsignal: WebRTC signaling as a solved problem.

The pure layers are :mod:`rtcsignal.protocol` (wire messages), :mod:`rtcsignal.sdp`
(SDP and ICE validation), :mod:`rtcsignal.ratelimit` (limits) and :mod:`rtcsignal.core`
(the sans-I/O state machines). Import them by submodule.
:func:`build_info` says whether the optional compiled build is loaded.
"""

from __future__ import annotations

from ._build import BuildInfo as BuildInfo
from ._build import build_info as build_info

__version__ = "0.1.0.dev0"

__all__ = ["BuildInfo", "__version__", "build_info"]
