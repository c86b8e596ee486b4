"""Effects: what the core asks the runtime to do. Frozen, complete at construction."""

from __future__ import annotations

import attrs

from ._events import ObserverEvent

__all__ = ["Close", "Effect", "Send"]


@attrs.frozen(kw_only=True, slots=True)
class Send:
    """Write ``data`` to connection ``conn``: a text frame when ``text`` (JSON, UTF-8),
    else a binary frame (MessagePack)."""

    conn: str
    data: bytes
    text: bool


@attrs.frozen(kw_only=True, slots=True)
class Close:
    """Close connection ``conn`` with a WebSocket close ``code`` and ``reason``. The core
    has already forgotten the connection; the runtime must not call ``disconnect`` for it
    (doing so is harmless)."""

    conn: str
    code: int
    reason: str


Effect = Send | Close | ObserverEvent
"""Anything a :class:`~rtcsignal.core.Server` call returns, in the order it happened."""
