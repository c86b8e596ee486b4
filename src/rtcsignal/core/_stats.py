"""The server's health counts."""

from __future__ import annotations

import msgspec

__all__ = ["ServerStats"]


class ServerStats(msgspec.Struct, frozen=True, kw_only=True):
    """A health snapshot of one server."""

    connections: int
    sessions: int
    reconnecting: int
    rooms: int
    participants: int
    active_calls: int
    ringing_calls: int
