"""Connection bookkeeping for the guards: who is connected, and from where.

Theory of operation
-------------------
The runtime calls :meth:`ConnectionTracker.admit` when a socket is authenticated and
:meth:`ConnectionTracker.release` when it is gone. Counts are plain integers kept per
user and per address; a count that drops to zero is deleted, so memory is proportional
to live connections, and live connections are capped by ``max_connections``. Every
operation is O(1). (Rooms per session are the core's limit,
``ServerConfig.max_rooms_per_session``.)

Denials are :class:`Verdict` values with ``action=CLOSE`` (the runtime closes with 1008,
RFC 6455 §7.4.1); they carry ``retry_after=0.0``, since a count limit frees up on a
release, not with time.
"""

from __future__ import annotations

from typing import Final

from ._inbound import Verdict
from ._policy import ConnectionGuards, OnDeny

__all__ = ["ConnectionTracker"]

_ADMITTED: Final = Verdict(allowed=True, action=None, retry_after=0.0, scope=None, kind="connect")


def _refuse(scope: str) -> Verdict:
    return Verdict(allowed=False, action=OnDeny.CLOSE, retry_after=0.0, scope=scope, kind="connect")


class _Tracked:
    __slots__ = ("address", "user")

    def __init__(self, user: str, address: str | None) -> None:
        self.user = user
        self.address = address


class ConnectionTracker:
    """Counts live connections per user and address.

    Args:
        guards: the caps to enforce.
    """

    __slots__ = ("_by_address", "_by_user", "_conns", "guards")

    def __init__(self, guards: ConnectionGuards) -> None:
        self.guards: Final = guards
        self._conns: dict[str, _Tracked] = {}
        self._by_user: dict[str, int] = {}
        self._by_address: dict[str, int] = {}

    def __len__(self) -> int:
        """The number of admitted connections."""
        return len(self._conns)

    def admit(self, conn_id: str, *, user: str, address: str | None, elsewhere: int = 0) -> Verdict:
        """Admit a new connection, or refuse it when a cap is reached.

        Admitting an id that is already admitted changes nothing and allows it.

        Args:
            conn_id: the connection's id.
            user: the authenticated user.
            address: the remote address (``None``: not known; not counted per address).
            elsewhere: the user's connections on the other instances of a cluster
                (counted against ``max_connections_per_user`` with this instance's).

        Returns:
            an allowed :class:`Verdict` (``kind="connect"``), or a refusal with
            ``action=CLOSE`` and ``scope`` ``"server"``, ``"user"`` or ``"address"``.
        """
        if conn_id in self._conns:
            return _ADMITTED
        g = self.guards
        if len(self._conns) >= g.max_connections:
            return _refuse("server")
        if self._by_user.get(user, 0) + elsewhere >= g.max_connections_per_user:
            return _refuse("user")
        if address is not None and self._by_address.get(address, 0) >= (
            g.max_connections_per_address
        ):
            return _refuse("address")
        self._conns[conn_id] = _Tracked(user, address)
        self._by_user[user] = self._by_user.get(user, 0) + 1
        if address is not None:
            self._by_address[address] = self._by_address.get(address, 0) + 1
        return _ADMITTED

    def release(self, conn_id: str) -> None:
        """Forget a connection (on disconnect). O(1); idempotent; unknown ids are ignored."""
        tracked = self._conns.pop(conn_id, None)
        if tracked is None:
            return
        _decrement(self._by_user, tracked.user)
        if tracked.address is not None:
            _decrement(self._by_address, tracked.address)

    def connections_of_user(self, user: str) -> int:
        """Live connections of ``user``."""
        return self._by_user.get(user, 0)

    def connections_of_address(self, address: str) -> int:
        """Live connections from ``address``."""
        return self._by_address.get(address, 0)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
