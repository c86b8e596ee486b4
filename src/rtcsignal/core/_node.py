"""One server as an instance of a cluster: ownership, routing and the answers it waits for.

Theory of operation
-------------------
:class:`NodeState` is what a server built with ``node=`` keeps besides its edge and its
room host (see :mod:`rtcsignal.core.cluster` for the envelopes and effects):

* ``owned``: the keys this instance owns, with the epoch the backplane granted;
* ``where``: for sessions other instances hold, the instance that holds them, learned
  from every input those instances route here (a session's latest input wins: a
  resumed session's ``connected`` presence moves it);
* ``moved``: sessions handed to another instance by a resume there, so that what still
  reaches this instance for them is passed on (bounded, and forgotten after the
  reconnect grace);
* ``spread``: how many sessions of each user the other instances hold
  (:mod:`rtcsignal.core._spread`), for the per-user limits;
* ``applied``: as an owner, the routed requests it applied lately, by ``(session,
  request id)``, with their answer: a client told ``backplane_unavailable`` (its answer
  was late) retries with the same id, and gets that answer again instead of the
  request being applied twice (kept for the reconnect grace or 60 s, at most
  :data:`MAX_APPLIED`);
* ``epochs``: the highest owner epoch seen per key, so that a :class:`Tell` from an
  older owner is dropped (fencing), and counted;
* the requests handed to other instances and not answered yet, with their deadlines:
  each ends in exactly one answer, the owner's or ``backplane_unavailable``.

:func:`split` turns a room output into what this instance applies and what each other
instance must apply, in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Final

import msgspec

from ._spread import UserSpread
from ._timers import Deadlines
from .cluster import Ask, Route, encode_envelope
from .seam import (
    CloseSession,
    Deliver,
    Emit,
    HostInput,
    Joined,
    Left,
    Op,
    OpenRoom,
    RoomCall,
    ToUser,
)

__all__ = ["APPLIED_KEEP", "MAX_REMEMBERED", "NodeState", "PendingKey"]

MAX_REMEMBERED: Final = 65_536
"""Entries kept in each of ``where``, ``moved`` and ``epochs`` before the oldest go."""
MAX_APPLIED: Final = 8_192
"""Routed requests an owner remembers having applied (for retries: see ``applied``)."""
APPLIED_KEEP: Final = 60.0
"""Seconds at least that an owner remembers a routed request it applied: longer than a
client's retries (3, at most 10 s apart), whatever the reconnect grace."""

PendingKey = tuple[str, int | str | None]
"""``(connection, request id)`` of a request waiting for its owner's answer; a pending
cross-instance resume is ``(connection, None)``."""

_CREATES: Final = frozenset({"join", "knock", "call_invite"})


def _cap(table: dict[str, object]) -> None:
    while len(table) > MAX_REMEMBERED:
        del table[next(iter(table))]


class NodeState:
    """A server's cluster state. See the module docstring.

    Args:
        node: this instance's id.
        serial: the arming order shared with the server's other timers.
    """

    def __init__(self, node: str, serial: Iterator[int]) -> None:
        self.node = node
        self.owned: dict[str, int] = {}
        self.where: dict[str, str] = {}
        self.moved: dict[str, tuple[str, float]] = {}
        self.epochs: dict[str, int] = {}
        self.peers: tuple[str, ...] = ()
        """The other live instances (for deliveries to every device of a user)."""
        self.timers: Deadlines[PendingKey] = Deadlines(serial=serial)
        """The deadlines of routed requests and of cross-instance resumes."""
        self.requests: dict[PendingKey, object] = {}
        """(connection, request id) -> the routed request, remembered with its answer
        (exactly once across reconnects)."""
        self.hellos: dict[str, object] = {}
        """connection -> its ``hello`` waiting for a session from another instance."""
        self.fenced = 0
        """Tells dropped because an owner with a higher epoch was already seen."""
        self.applied: dict[tuple[str, int | str], tuple[float, object, object]] = {}
        """(session, request id) -> (when, the request, its ``ok`` reply or ``None``)."""
        self.orphaned: dict[str, set[str]] = {}
        """Sessions (with their rooms owned here) whose instance went away, until it
        speaks for them again (their grace timers end them otherwise)."""
        self.lease_until = math.inf
        """Until when this instance may act as an owner (its lease, less a margin, as
        the driver last renewed it); past it, it refuses to (a paused owner that
        resumes must not act on rooms another instance may have taken over)."""
        self.tickets = 0
        """The last ticket given to an application call routed to another instance."""
        self.spread = UserSpread()
        """The sessions each other instance holds, per user (per-user limits)."""

    def tables(self) -> dict[str, int]:
        """The sizes of the cluster tables (for soak tests and diagnostics)."""
        return {
            "owned": len(self.owned),
            "remote_sessions": len(self.where),
            "moved_sessions": len(self.moved),
            "epochs_seen": len(self.epochs),
            "routed_pending": len(self.timers),
            "users_elsewhere": len(self.spread),
            "applied_requests": len(self.applied),
        }

    # ------------------------------------------------------------ routing
    def route(
        self,
        key: str,
        inp: HostInput,
        *,
        conn: str | None = None,
        rid: int | str | None = None,
        fmt: int = 0,
        hops: int = 0,
    ) -> Route:
        """The effect that hands ``inp`` to the owner of ``key``."""
        if type(inp) is RoomCall:
            create = inp.request.__struct_config__.tag in _CREATES
        else:
            create = type(inp) is OpenRoom
        ask = Ask(
            key=key,
            epoch=self.epochs.get(key, 0),
            src=self.node,
            input=inp,
            conn=conn,
            rid=rid,
            fmt=fmt,
            create=create,
            hops=hops,
        )
        return Route(key=key, data=encode_envelope(ask), create=create)

    def learn(self, ask: Ask) -> bool:
        """Remember which instance holds the session of a routed input.

        Returns: whether that is news (the session was held elsewhere, or not known),
        which the room's written state must then say."""
        if ask.src == self.node:
            return False
        inp = ask.input
        session = inp.sender.session if type(inp) is RoomCall else getattr(inp, "session", None)
        if session is None:
            return False
        where = self.where
        before = where.pop(session, None)
        where[session] = ask.src
        _cap(where)  # type: ignore[arg-type]
        if self.orphaned and ask.src in self.peers:  # not a late word from a dead one
            self.orphaned.pop(session, None)  # its instance speaks for it again
        return before != ask.src

    def applied_answer(self, ask: Ask) -> tuple[bool, object]:
        """Whether the routed request in ``ask`` was applied here already (the same
        request, from the same session, under the same id), and its ``ok`` reply."""
        inp = ask.input
        if ask.rid is None or type(inp) is not RoomCall:
            return False, None
        entry = self.applied.get((inp.sender.session, ask.rid))
        if entry is None or entry[1] != inp.request:
            return False, None
        return True, entry[2]

    def remember_applied(self, ask: Ask, reply: object, now: float, keep: float) -> None:
        """Remember that the routed request in ``ask`` was applied, with its ``reply``,
        for ``keep`` seconds (the oldest go first, and beyond :data:`MAX_APPLIED`)."""
        inp = ask.input
        if ask.rid is None or type(inp) is not RoomCall:
            return
        applied = self.applied
        key = (inp.sender.session, ask.rid)
        applied.pop(key, None)
        applied[key] = (now, inp.request, reply)
        while applied:
            oldest = next(iter(applied))
            if len(applied) <= MAX_APPLIED and applied[oldest][0] + keep >= now:
                break
            del applied[oldest]

    def fence(self, key: str, epoch: int) -> bool:
        """Whether a tell from the owner of ``key`` at ``epoch`` may be applied (it is not
        older than an epoch already seen); counts the ones dropped."""
        seen = self.epochs.get(key, 0)
        if epoch < seen:
            self.fenced += 1
            return False
        if epoch > seen:
            self.epochs[key] = epoch
            _cap(self.epochs)  # type: ignore[arg-type]
        return True

    def move(self, session: str, node: str, until: float) -> None:
        """``session`` now lives on ``node`` (until ``until``, its grace)."""
        self.moved[session] = (node, until)
        _cap(self.moved)  # type: ignore[arg-type]

    def moved_to(self, session: str, now: float) -> str | None:
        """The instance ``session`` moved to, while that is remembered."""
        entry = self.moved.get(session)
        if entry is None:
            return None
        if entry[1] < now:
            del self.moved[session]
            return None
        return entry[0]


def split(
    ops: list[Op],
    held: Mapping[str, object],
    holder: Callable[[str], str | None],
    peers: tuple[str, ...],
    me: str,
    missing: set[str] | None = None,
) -> tuple[list[Op], dict[str, list[Op]]]:
    """Split ``ops`` into this instance's and each other instance's, keeping the order.

    Args:
        ops: a room output's ops.
        held: the sessions this instance holds.
        holder: the instance that holds a session this one does not (``None``: it
            ended, skip it).
        peers: every other live instance (a delivery to every device of a user goes to
            each, and here).
        me: this instance.
        missing: when given, collects the sessions of deliveries that nobody holds.
    """
    mine: list[Op] = []
    theirs: dict[str, list[Op]] = {}
    for op in ops:
        kind = type(op)
        if kind is Emit:
            mine.append(op)
        elif kind is Deliver:
            here: list[str] = []
            away: dict[str, list[str]] = {}
            for sid in op.sessions:  # type: ignore[union-attr]
                if sid in held:
                    here.append(sid)
                else:
                    node = holder(sid)
                    if node is not None and node != me:
                        away.setdefault(node, []).append(sid)
                    elif missing is not None:
                        missing.add(sid)
            if len(here) == len(op.sessions):  # type: ignore[union-attr]
                mine.append(op)
                continue
            if here:
                mine.append(msgspec.structs.replace(op, sessions=tuple(here)))
            for node, sids in away.items():
                part = msgspec.structs.replace(op, sessions=tuple(sids))
                theirs.setdefault(node, []).append(part)
        elif kind is ToUser:
            mine.append(op)
            for node in peers:
                theirs.setdefault(node, []).append(op)
        else:
            assert isinstance(op, Joined | Left | CloseSession)
            sid = op.session
            if sid in held:
                mine.append(op)
            else:
                node = holder(sid)
                if node is not None and node != me:
                    theirs.setdefault(node, []).append(op)
    return mine, theirs
