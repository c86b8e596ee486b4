"""Effects: what the core asks the runtime to do. Frozen, complete at construction.

:class:`Send` and :class:`Close` are frozen, keyword-only ``msgspec.Struct`` values
rather than ``attrs`` classes (the house style for internal values): one ``Send`` is
built for every frame the server writes, and a frozen ``attrs`` instance, set field by
field through ``object.__setattr__``, cost about four times as much to build (measured:
7.3k against 1.7k instructions, 8% of a whole candidate relay). They behave the same:
keyword-only, immutable, compared and hashed by value.
"""

from __future__ import annotations

import msgspec

from .cluster import AdminAnswer, AdminPending, OwnerSeen, Persist, Post, Release, Route
from .events import ObserverEvent

__all__ = ["Close", "Effect", "Send"]


class Send(msgspec.Struct, frozen=True, kw_only=True):
    """Write ``data`` to connection ``conn``: a text frame when ``text`` (JSON, UTF-8),
    else a binary frame (MessagePack)."""

    conn: str
    data: bytes
    text: bool


class Close(msgspec.Struct, frozen=True, kw_only=True):
    """Close connection ``conn`` with a WebSocket close ``code`` and ``reason``. The core
    has already forgotten the connection; the runtime must not call ``disconnect`` for it
    (doing so is harmless)."""

    conn: str
    code: int
    reason: str


Effect = (
    Send
    | Close
    | ObserverEvent
    | Route
    | Post
    | Persist
    | Release
    | AdminPending
    | AdminAnswer
    | OwnerSeen
)
"""Anything a :class:`~rtcsignal.core.Server` call returns, in the order it happened
(the cluster effects, :mod:`rtcsignal.core.cluster`, only from a server built with
``node=``)."""
