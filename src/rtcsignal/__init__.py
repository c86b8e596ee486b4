"""rtcsignal: WebRTC signaling as a solved problem.

The pure layers are :mod:`rtcsignal.protocol` (wire messages), :mod:`rtcsignal.sdp`
(SDP and ICE validation), :mod:`rtcsignal.ratelimit` (limits) and :mod:`rtcsignal.core`
(the sans-I/O state machines). Import them by submodule.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
