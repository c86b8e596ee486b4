"""The server's side of a cluster: what it does with its backplane's envelopes.

Theory of operation
-------------------
:class:`ClusterSide` is the part of :class:`~rtcsignal.core.Server` that only a server
built with ``node=`` uses (see :mod:`rtcsignal.core.cluster` for the flows). Its entry
points are the backplane driver's: :meth:`~ClusterSide.own`,
:meth:`~ClusterSide.disown`, :meth:`~ClusterSide.set_peers` and
:meth:`~ClusterSide.envelope`. Like every entry point of the core they are pure: an
envelope and ``now`` go in, effects come out, and nothing raises.

* An :class:`~rtcsignal.core.cluster.Ask` for a key this instance owns runs through the
  room host; the output is split (:func:`~rtcsignal.core._node.split`): this instance's
  ops are applied here, each other instance's go to it in one
  :class:`~rtcsignal.core.cluster.Tell`, the asker's with the answer. An ask for a key it
  does not own (or at an epoch newer than its own) bounces.
* A :class:`~rtcsignal.core.cluster.Tell` older than an epoch already seen for its key
  is dropped (fencing); otherwise its answer goes to the waiting connection (if its
  deadline has not passed: one answer per request), then its ops are applied.
* A :class:`~rtcsignal.core.cluster.Spread` updates how many sessions of each user the
  sender holds (:mod:`rtcsignal.core._spread`); this instance sends its own whenever a
  user's sessions here change (:meth:`ClusterSide._spread_out`), and all of them to an
  instance that joins (:meth:`~ClusterSide.set_peers`). An
  :class:`~rtcsignal.core.cluster.Supersede` ends the user's oldest reconnecting session
  here, for a session started past ``max_sessions_per_user`` on the sender.
* After an owner's output changed membership, roles, lobby, locks, calls or settings,
  the room's :class:`~rtcsignal.core.cluster.RoomState` is persisted (fenced by the
  epoch); a room that is gone is released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import ErrorCode, UsageError

from . import events as ev
from ._config import ServerConfig
from ._edge import Edge
from ._effects import Effect
from ._errors import CoreError
from ._host import RoomHost
from ._node import APPLIED_KEEP, NodeState, PendingKey, split
from ._recovery import ORPHAN, Recovery
from ._session import Connection, Session
from ._takeover import room_state
from .cluster import (
    ADMIN_CONN,
    CALLS,
    MAX_HOPS,
    AdminAnswer,
    AdminPending,
    Ask,
    Bounce,
    Gone,
    Hand,
    Held,
    OwnerSeen,
    Persist,
    Post,
    Release,
    RoomState,
    Route,
    Spread,
    Supersede,
    Tell,
    Want,
    decode_envelope,
    decode_state,
    encode_envelope,
)
from .seam import (
    Deliver,
    Emit,
    HostInput,
    Joined,
    Left,
    Op,
    Refusal,
    RoomCall,
    RoomOutput,
)

__all__ = ["ClusterSide"]

RETRY_AFTER: Final = 1.0
"""The ``retry_after`` of ``backplane_unavailable``: about a lease renewal cycle."""
_STATEFUL: Final = (
    ev.RoomCreated,
    ev.RoomClosed,
    ev.MemberBanned,
    ev.MemberUnbanned,
    ev.RoomPolicyChanged,
    ev.MemberJoined,
    ev.MemberLeft,
    ev.MemberRoleChanged,
    ev.HostTransferred,
    ev.RecordingChanged,
    ev.CallStateChanged,
)
"""Observer events that mark a change of what a room's next owner needs."""


def _changes_state(ops: list[Op]) -> bool:
    for op in ops:
        kind = type(op)
        if kind is Joined or kind is Left:
            return True
        if kind is Emit and isinstance(op.event, _STATEFUL):  # type: ignore[union-attr]
            return True
        if kind is Deliver:
            frame = type(op.message)  # type: ignore[union-attr]
            if frame is p.RoomUpdated or frame is p.LobbyUpdated:  # locks, layout, lobby
                return True
    return False


class ClusterSide(Recovery):
    """The cluster entry points of :class:`~rtcsignal.core.Server` (a mixin)."""

    config: ServerConfig
    _edge: Edge
    _host: RoomHost
    _node: NodeState | None
    _link: Callable[[HostInput], RoomOutput]

    if TYPE_CHECKING:  # the server's own methods, which the cluster side calls

        def _apply(self, ops: list[Op], now: float, fx: list[Effect]) -> None: ...

        def _resume(
            self, conn: Connection, msg: p.Hello, now: float, fx: list[Effect]
        ) -> p.Welcome: ...

        def _end_session(
            self, session: Session, why: str, reason: Any, now: float, fx: list[Effect]
        ) -> None: ...

        def _host_in(
            self, inp: HostInput, key: str, now: float, fx: list[Effect]
        ) -> RoomOutput | None: ...

    # ================================================================ entry points
    @property
    def node(self) -> str | None:
        """This instance's id in its cluster (``None``: a single instance)."""
        return None if self._node is None else self._node.node

    def _cluster(self) -> NodeState:
        node = self._node
        if node is None:
            raise UsageError("this server is not an instance of a cluster (no node=)")
        return node

    def own(
        self, key: str, epoch: int, *, state: bytes | None = None, now: float = 0.0
    ) -> list[Effect]:
        """The backplane granted this instance ownership of ``key`` at ``epoch``.

        Args:
            key / epoch: the key and the epoch granted.
            state: the last :class:`~rtcsignal.core.cluster.RoomState` written for
                ``key`` (a takeover: its owner died, or stopped and left members behind),
                which the driver read before handing this instance the key's inputs.
            now: monotonic seconds.

        Returns: the effects of continuing the room (see :meth:`_take_over`).
        """
        node = self._cluster()
        node.owned[key] = epoch
        node.fence(key, epoch)
        fx: list[Effect] = []
        if key != CALLS and self._host.room(key) is not None and state is None and epoch:
            # taken again after a reset (or at once on start): write the room anew
            fx.append(
                Persist(key=key, epoch=epoch, data=encode_envelope(self._state(key, epoch, now)))
            )
        if state is not None and key != CALLS and self._host.room(key) is None:
            try:
                self._take_over(decode_state(state), epoch, now, fx)
            except Exception as exc:  # a state it cannot read: the room starts afresh
                fx.append(
                    ev.InternalError(
                        at=now, connection="", message_type=f"state:{key}", error=repr(exc)
                    )
                )
        return fx

    def disown(self, key: str) -> None:
        """This instance lost ``key`` (its lease lapsed, or another took it over): from
        now on what arrives for it is routed to its owner, and the room this instance
        ran is dropped (the owner continues it from its written state). Then
        :meth:`rejoin` tells the owners where this instance's sessions stand."""
        self._cluster().owned.pop(key, None)
        if key != CALLS:
            self._host.forget(key)

    def owns(self, key: str) -> bool:
        """Whether this instance owns ``key``."""
        node = self._node
        return node is not None and key in node.owned

    def owned(self) -> dict[str, int]:
        """The keys this instance owns, with their epochs (a copy)."""
        return dict(self._cluster().owned)

    def set_peers(self, peers: Iterable[str], now: float | None = None) -> list[Effect]:
        """The other live instances (each gets deliveries to every device of a user).

        Args:
            peers: the live instances (this one may be among them).
            now: monotonic seconds; with it, the members of this instance's rooms whose
                sessions were on an instance now gone become ``reconnecting``, and leave
                when their reconnect grace passes unless that instance comes back.

        Returns: the effects to carry out: each instance new to this one is sent the
        counts of every user's sessions here (a full
        :class:`~rtcsignal.core.cluster.Spread`); the sessions of instances gone are
        forgotten."""
        node = self._cluster()
        old = set(node.peers)
        node.peers = tuple(sorted(n for n in peers if n != node.node))
        gone = old - set(node.peers)
        node.spread.forget(gone)
        fx: list[Effect] = []
        joined = [n for n in node.peers if n not in old]
        if joined:
            edge = self._edge
            users = {user: edge.counts(user) for user in edge.users()}
            data = encode_envelope(Spread(src=node.node, users=users, full=True))
            fx.extend(Post(node=n, data=data) for n in joined)
            self._check_held(joined, fx)
        if gone and now is not None:
            try:
                for key, epoch in list(node.owned.items()):
                    room = self._host.room(key) if key != CALLS else None
                    if room is None:
                        continue
                    orphans = [sid for sid, _ in room.seats() if node.where.get(sid) in gone]
                    if orphans:
                        ops = self._orphan(key, orphans, now)
                        self._owner_apply(key, epoch, RoomOutput(ops=ops), now, fx, None)
            except Exception as exc:  # never let an unexpected error escape the core
                fx.append(
                    ev.InternalError(at=now, connection="", message_type="peers", error=repr(exc))
                )
        return fx

    def _route_admin(self, key: str, inp: HostInput, now: float, fx: list[Effect]) -> bool:
        """In a cluster, hand application input ``inp`` to the owner of ``key`` when that
        is another instance (or nobody yet): its outcome comes as an
        :class:`~rtcsignal.core.cluster.AdminAnswer` for the ticket of the
        :class:`~rtcsignal.core.cluster.AdminPending` put in ``fx``.

        Returns: whether it was routed (else the caller runs it here)."""
        node = self._node
        if node is None or key in node.owned:
            return False
        node.tickets += 1
        ticket = node.tickets
        fx.append(node.route(key, inp, conn=ADMIN_CONN, rid=ticket))
        node.timers.arm((ADMIN_CONN, ticket), now + self.config.request_timeout)
        fx.append(AdminPending(ticket=ticket))
        return True

    def sessions_elsewhere(self, user: str) -> tuple[int, int]:
        """``(sessions, connected)`` of ``user`` on the other instances of the cluster, as
        they last told this one (``(0, 0)`` on a single instance)."""
        return (0, 0) if self._node is None else self._node.spread.elsewhere(user)

    def _spread_out(self, user: str, fx: list[Effect]) -> None:
        """Tell every other instance how many sessions of ``user`` this one holds now."""
        node = self._node
        if node is not None and node.peers:
            spread = Spread(src=node.node, users={user: self._edge.counts(user)})
            fx.append(Post(node=None, data=encode_envelope(spread)))

    def _room_for_session(self, user: str, now: float, fx: list[Effect]) -> None:
        """Before ``user`` starts a new session: past ``max_sessions_per_user`` (counted
        over the whole cluster), end its oldest reconnecting session: this instance's,
        else one on an instance that holds one (:class:`~rtcsignal.core.cluster.Supersede`).

        Raises:
            CoreError: ``too_many_sessions``: every session of the user is connected.
        """
        node, edge = self._node, self._edge
        sessions = edge.counts(user)[0]
        elsewhere = 0 if node is None else node.spread.elsewhere(user)[0]
        limit = self.config.max_sessions_per_user
        if sessions + elsewhere < limit:
            return
        ghost = edge.oldest_reconnecting(user)
        if ghost is not None:  # one user cannot pile up sessions of dropped connections
            self._end_session(ghost, "evicted", "disconnected", now, fx)
            return
        holder = None if node is None else node.spread.reconnecting_on(user)
        if holder is not None:
            assert node is not None
            fx.append(Post(node=holder, data=encode_envelope(Supersede(src=node.node, user=user))))
            return
        raise CoreError(
            ErrorCode.TOO_MANY_SESSIONS,
            f"user has {sessions + elsewhere} connected sessions, the most one user may",
            details={"limit": limit},
        )

    @property
    def fenced_drops(self) -> int:
        """Tells dropped because a newer owner of their key was already seen."""
        return 0 if self._node is None else self._node.fenced

    def room_state(self, key: str, now: float = 0.0) -> RoomState | None:
        """What this instance would persist for ``key`` (which it owns) at ``now``, or
        ``None``."""
        node = self._cluster()
        epoch = node.owned.get(key)
        return None if epoch is None else self._state(key, epoch, now)

    def envelope(self, data: bytes, now: float, *, owner: bool = True) -> list[Effect]:
        """Handle one envelope from the backplane (another instance's, or this one's
        own :class:`~rtcsignal.core.cluster.Ask` handed back by the driver).

        Args:
            data: the encoded envelope.
            now: monotonic seconds.
            owner: ``False`` when the driver found no owner for the ask's key and the
                input cannot create the room: it is answered here, from no room (a
                typed refusal), without taking ownership.
        """
        fx: list[Effect] = []
        node = self._cluster()
        try:
            env = decode_envelope(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            fx.append(
                ev.InternalError(at=now, connection="", message_type="envelope", error=str(err))
            )
            return fx
        try:
            kind = type(env)
            if kind is Ask:
                self._on_ask(env, now, fx, owner)  # type: ignore[arg-type]
            elif kind is Tell:
                self._on_tell(env, now, fx)  # type: ignore[arg-type]
            elif kind is Bounce:
                self._on_bounce(env.ask, env.src, now, fx)  # type: ignore[union-attr]
            elif kind is Want:
                self._on_want(env, now, fx)  # type: ignore[arg-type]
            elif kind is Gone:
                self._on_gone(env, now, fx)  # type: ignore[arg-type]
            elif kind is Held:
                self._on_held(env, fx)  # type: ignore[arg-type]
            elif kind is Spread:
                node.spread.update(env.src, env.users, full=env.full)  # type: ignore[union-attr]
            elif kind is Supersede:
                ghost = self._edge.oldest_reconnecting(env.user)  # type: ignore[union-attr]
                if ghost is not None:
                    self._end_session(ghost, "evicted", "disconnected", now, fx)
            else:
                assert isinstance(env, Hand)
                self._on_hand(env, now, fx)
        except Exception as exc:  # never let an unexpected error escape the core
            fx.append(
                ev.InternalError(
                    at=now, connection="", message_type=f"envelope:{node.node}", error=repr(exc)
                )
            )
        return fx

    # ================================================================ owner side
    def _on_ask(self, ask: Ask, now: float, fx: list[Effect], owner: bool) -> None:
        node = self._node
        assert node is not None
        if owner:
            epoch = node.owned.get(ask.key)
            if epoch is None or ask.epoch > epoch or now >= node.lease_until:
                self._on_bounce(ask, node.node, now, fx)
                return
        else:
            epoch = 0
        moved = node.learn(ask)
        inp = ask.input
        wait = None
        done, reply = node.applied_answer(ask)
        if not done and ask.src != node.node and type(inp) is RoomCall and inp.room is not None:
            kind = str(inp.request.__struct_config__.tag)
            wait = self._edge.limiter.check_room(kind=kind, room=inp.room, now=now)
        if done:  # a retry of a request applied here already: its answer, once more
            out = RoomOutput(reply=reply)  # type: ignore[arg-type]
        elif wait is not None:  # the room's limits hold once, here, for every edge
            refused = Refusal(
                code=ErrorCode.RATE_LIMITED,
                message=f"too many {kind} messages (room limit); retry in {wait:.3f} s",
                details={"scope": "room"},
                retry_after=wait,
            )
            out = RoomOutput(refused=refused)
        else:
            out = self._link(inp)
            if out.refused is None and ask.src != node.node:
                keep = max(self.config.reconnect_grace, APPLIED_KEEP)
                node.remember_applied(ask, out.reply, now, keep)
        if ask.src == node.node:
            if ask.conn is not None:
                self._answer(ask.conn, ask.rid, out.reply, out.refused, now, fx)
            self._owner_apply(ask.key, epoch, out, now, fx, None)
        else:
            self._owner_apply(ask.key, epoch, out, now, fx, ask, moved)

    def _owner_apply(
        self,
        key: str,
        epoch: int,
        out: RoomOutput,
        now: float,
        fx: list[Effect],
        ask: Ask | None,
        moved: bool = False,
    ) -> None:
        """Apply an owner's output: here what is here, a tell to each other instance (the
        asker's with the answer), then persist or release the room (``moved``: a
        member's session is now held by another instance, which the state must say)."""
        node = self._node
        assert node is not None
        me = node.node
        fallback = None if ask is None else ask.src
        where, moved_to = node.where.get, node.moved_to

        def holder(sid: str) -> str | None:
            return where(sid) or moved_to(sid, now) or fallback

        peers = node.peers
        if fallback is not None and fallback not in peers:
            peers = (*peers, fallback)  # an instance this one has not listed yet
        mine, theirs = split(out.ops, self._edge.sessions, holder, peers, me)
        if mine:
            self._apply(mine, now, fx)
        asker = None
        if ask is not None and ask.conn is not None:
            asker = ask.src
            if asker not in theirs and (ask.rid is not None or out.refused is not None):
                theirs[asker] = []
        for dest, ops in theirs.items():
            if dest == asker:
                assert ask is not None
                tell = Tell(
                    key=key,
                    epoch=epoch,
                    src=me,
                    ops=ops,
                    conn=ask.conn,
                    rid=ask.rid,
                    fmt=ask.fmt,
                    answer=True,
                    reply=out.reply,
                    refused=out.refused,
                )
            else:
                tell = Tell(key=key, epoch=epoch, src=me, ops=ops)
            fx.append(Post(node=dest, data=encode_envelope(tell)))
        if not epoch:
            return
        if key != CALLS and self._host.room(key) is None:
            del node.owned[key]  # gone: say so to the next owner, then let go
            closed = RoomState(key=key, epoch=epoch, owner=me, closed=True)
            fx.append(Persist(key=key, epoch=epoch, data=encode_envelope(closed)))
            fx.append(Release(key=key, epoch=epoch))
        elif _changes_state(out.ops) or (moved and key != CALLS):
            state = encode_envelope(self._state(key, epoch, now))
            fx.append(Persist(key=key, epoch=epoch, data=state))

    def _state(self, key: str, epoch: int, now: float) -> RoomState:
        node = self._node
        assert node is not None
        if key == CALLS:
            return RoomState(
                key=key, epoch=epoch, owner=node.node, calls=self._host.calls.records()
            )
        room = self._host.room(key)
        assert room is not None
        where, held, me = node.where, self._edge.sessions, node.node
        nodes = {sid: me if sid in held else where.get(sid, me) for sid, _ in room.seats()}
        return room_state(room, key, epoch, node.node, nodes, now)

    def _on_bounce(self, ask: Ask, by: str, now: float, fx: list[Effect]) -> None:
        """``by`` does not own ``ask.key``: route the ask again (the asker does), or, past
        :data:`MAX_HOPS`, answer ``backplane_unavailable``."""
        node = self._node
        assert node is not None
        if ask.src != node.node:
            fx.append(Post(node=ask.src, data=encode_envelope(Bounce(src=node.node, ask=ask))))
            return
        if ask.hops >= MAX_HOPS:
            if ask.conn is not None:
                refused = Refusal(
                    code=ErrorCode.BACKPLANE_UNAVAILABLE,
                    message=f"no instance owns {ask.key} right now; retry",
                    retry_after=RETRY_AFTER,
                )
                self._answer(ask.conn, ask.rid, None, refused, now, fx)
            return
        again = msgspec.structs.replace(ask, epoch=0, hops=ask.hops + 1)
        fx.append(Route(key=ask.key, data=encode_envelope(again), create=ask.create, bounced=by))

    # ================================================================ edge side
    def _answer(
        self,
        conn_id: str,
        rid: int | str | None,
        reply: p.Ok | None,
        refused: Refusal | None,
        now: float,
        fx: list[Effect],
    ) -> None:
        """The one answer to a routed request, unless its deadline already answered it."""
        node = self._node
        assert node is not None
        request: Any = None
        if rid is not None:
            key: PendingKey = (conn_id, rid)
            if key not in node.timers:
                return
            node.timers.disarm(key)
            request = node.requests.pop(key, None)
        if conn_id == ADMIN_CONN:  # an application call's outcome, for its caller
            fx.append(AdminAnswer(ticket=rid, refused=refused))  # type: ignore[arg-type]
            return
        edge = self._edge
        conn = edge.conns.get(conn_id)
        if conn is None or conn.session is None:
            return
        answer: p.Ok | p.Error
        if refused is not None:
            answer = edge.reply_error(
                conn,
                conn.fmt,
                refused.code,
                refused.message,
                rid,
                refused.details,
                now,
                fx,
                refused.retry_after,
            )
        elif reply is not None or rid is not None:
            answer = reply if reply is not None else p.Ok(id=rid)
            edge.send(conn_id, answer, fx)
        else:
            return
        if request is not None:  # remembered like a local answer: exactly once
            size = p.encoded_size(request) + p.encoded_size(answer)
            edge.remember(conn.session, request, size, answer, conn_id)

    def _on_tell(self, tell: Tell, now: float, fx: list[Effect]) -> None:
        node = self._node
        assert node is not None
        newer = tell.epoch > node.epochs.get(tell.key, 0) and tell.src != node.node
        if not node.fence(tell.key, tell.epoch):
            return
        if newer:  # a takeover: the driver routes to the new owner from now on
            fx.append(OwnerSeen(key=tell.key, node=tell.src, epoch=tell.epoch))
        if tell.answer and tell.conn is not None:
            self._answer(tell.conn, tell.rid, tell.reply, tell.refused, now, fx)
        moved_to = node.moved_to
        missing: set[str] = set()
        mine, theirs = split(
            tell.ops, self._edge.sessions, lambda sid: moved_to(sid, now), (), node.node, missing
        )
        if mine:
            self._apply(mine, now, fx)
        if missing and tell.key != CALLS:  # the owner thinks they are here: they are not
            gone = Gone(src=node.node, key=tell.key, sessions=sorted(missing))
            fx.append(Post(node=tell.src, data=encode_envelope(gone)))
        for dest, ops in theirs.items():  # sessions that resumed elsewhere
            onward = Tell(key=tell.key, epoch=tell.epoch, src=tell.src, ops=ops)
            fx.append(Post(node=dest, data=encode_envelope(onward)))

    def _unanswered(self, key: PendingKey, now: float, fx: list[Effect]) -> None:
        """A routed request (or a cross-instance resume) reached its deadline."""
        node = self._node
        assert node is not None
        edge = self._edge
        conn_id, rid = key
        if conn_id.startswith(ORPHAN):  # a member of a dead instance: its grace is over
            self._orphan_expired(conn_id[len(ORPHAN) :], str(rid), now, fx)
            return
        if conn_id == ADMIN_CONN:
            refused = Refusal(
                code=ErrorCode.BACKPLANE_UNAVAILABLE,
                message="the instance owning this room did not answer in time; the call may "
                "or may not have been applied",
                retry_after=RETRY_AFTER,
            )
            fx.append(AdminAnswer(ticket=rid, refused=refused))  # type: ignore[arg-type]
            return
        conn = edge.conns.get(conn_id)
        node.requests.pop(key, None)
        if rid is None:
            hello: Any = node.hellos.pop(conn_id, None)
            if conn is not None and hello is not None and conn.session is None:
                edge.reply_error(
                    conn,
                    conn.fmt,
                    ErrorCode.BACKPLANE_UNAVAILABLE,
                    "the instance holding this session did not answer in time; retry",
                    hello.id,
                    None,
                    now,
                    fx,
                    RETRY_AFTER,
                )
            return
        if conn is not None and conn.session is not None:
            edge.reply_error(
                conn,
                conn.fmt,
                ErrorCode.BACKPLANE_UNAVAILABLE,
                "the instance owning this room did not answer in time; the request may "
                "or may not have been applied",
                rid,
                None,
                now,
                fx,
                RETRY_AFTER,
            )

    # ================================================================ resume elsewhere
    def _on_want(self, want: Want, now: float, fx: list[Effect]) -> None:
        node = self._node
        assert node is not None
        edge = self._edge
        sid = edge.tokens.get(want.token)
        session = edge.sessions.get(sid) if sid is not None else None
        state = None
        if session is not None and session.user == want.user:
            state = edge.hand_off(session, now, fx)
            node.move(session.id, want.src, now + self.config.reconnect_grace)
            self._spread_out(session.user, fx)
        hand = Hand(src=node.node, token=want.token, conn=want.conn, state=state)
        fx.append(Post(node=want.src, data=encode_envelope(hand)))

    def _on_hand(self, hand: Hand, now: float, fx: list[Effect]) -> None:
        node = self._node
        assert node is not None
        edge = self._edge
        hello: Any = node.hellos.pop(hand.conn, None)
        node.timers.disarm((hand.conn, None))
        conn = edge.conns.get(hand.conn)
        live = conn is not None and hello is not None and conn.session is None
        if hand.state is None:
            if live:
                assert conn is not None
                edge.reply_error(
                    conn,
                    conn.fmt,
                    ErrorCode.RESUME_FAILED,
                    "unknown or expired resume token",
                    hello.id,
                    None,
                    now,
                    fx,
                )
            return
        session = edge.adopt(hand.state, hand.token, now)
        node.moved.pop(session.id, None)
        self._spread_out(session.user, fx)
        for key in session.rooms:  # a room owned here: its state must say where it is now
            epoch = node.owned.get(key)
            if epoch is not None and self._host.room(key) is not None:
                data = encode_envelope(self._state(key, epoch, now))
                fx.append(Persist(key=key, epoch=epoch, data=data))
        if not live:
            return  # the connection went: the session waits here, in its grace
        assert conn is not None
        mark = len(fx)
        try:
            welcome = self._resume(conn, hello, now, fx)
        except Exception as err:  # a CoreError: answer it as the hello's
            code = getattr(err, "code", ErrorCode.INTERNAL_ERROR)
            text = getattr(err, "message", "internal error")
            edge.reply_error(conn, conn.fmt, code, text, hello.id, None, now, fx)
            return
        reply: list[Effect] = []
        edge.send(conn.id, welcome, reply)
        fx.insert(mark, reply[0])  # the welcome first, then what it replays
