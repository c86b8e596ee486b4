"""The Server: the edge and the room host, composed into one deterministic object.

Theory of operation
-------------------
Five entry points, all pure functions of the state and their arguments:
``connect(identity, now)``, ``receive(conn, data, now)``, ``disconnect(conn, now)``,
``tick(now)`` and ``next_deadline()``. Each returns effects in order: :class:`Send`,
:class:`Close` and observer events. There is no clock, socket, task or randomness inside:
ids come from the injected ``id_factory`` and time from ``now``.

The server is two machines and the wiring between them, and it calls down only:

* the **edge** (:mod:`rtcsignal.core._edge`): connections, sessions, resume tokens, each
  session's ``seq``, replay buffer and seats, the handshake, ping and grace timers;
* the **room host** (:mod:`rtcsignal.core._host`): rooms, negotiations, calls and their
  timers. It takes one :data:`~rtcsignal.core.seam.HostInput` and returns one
  :class:`~rtcsignal.core.seam.RoomOutput`; the server applies its ops to the edge in
  order (:meth:`Server._apply`). Neither half holds a reference to the other or to the
  server.

Every inbound frame goes through the same pipeline, and the first step that refuses it
answers with exactly one ``error`` reply and changes nothing:

1. frame size (``frame_too_large``, and close 1009), then decoding (typed errors only);
2. the rate limits (every scope checked, then charged only if all allow);
3. the handshake (``hello_required`` before ``hello``);
   then a request with an ``id`` re-sent on a later connection of its session, whose
   reply the session remembers, is answered with that reply and not applied again (see
   :mod:`rtcsignal.core._edge`);
4. ``hello`` and ``ping`` at the edge; every other request crosses the seam as a
   :class:`~rtcsignal.core.seam.RoomCall` (membership, permissions, negotiation state,
   SDP/ICE validation). Handlers check first and mutate last, so a refusal leaves state
   untouched.

With ``seam="loopback"`` every value crossing the seam is encoded and decoded on the way
(MessagePack), as it would be on its way to a room owned by another instance; the test
suite runs once that way to prove that nothing else crosses.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal

import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import CloseCode, ErrorCode, Format, ProtocolError, UsageError
from rtcsignal.ratelimit import InboundLimiter, RatePolicy

from . import events as ev
from ._call import CallBook
from ._calls import call_room_id
from ._clusterside import RETRY_AFTER, ClusterSide
from ._config import ServerConfig
from ._edge import Edge, EdgeTimer
from ._effects import Effect
from ._errors import CoreError
from ._host import RoomHost, RoomPolicyHook
from ._identity import Identity
from ._node import NodeState
from ._room import Room
from ._roompolicy import RoomPolicy
from ._session import Connection, Session
from ._stats import ServerStats
from ._validation import NegotiationValidator, SdpValidator
from .cluster import CALLS, Post, Want, encode_envelope, shard_of, token_node
from .seam import (
    CloseSession,
    Deliver,
    Depart,
    Emit,
    EndCall,
    Evict,
    Expire,
    HostInput,
    Invite,
    Joined,
    Left,
    Op,
    OpenRoom,
    Presence,
    RoomCall,
    RoomOutput,
    Say,
    SetPolicy,
    ShutRoom,
    Snapshot,
    TickCalls,
    ToUser,
    UserSeen,
    decode_input,
    decode_output,
    encode_input,
    encode_output,
)

__all__ = ["Seam", "Server"]

Seam = Literal["direct", "loopback"]
"""How the server hands values to its room host: ``"direct"`` (as they are) or
``"loopback"`` (encoded and decoded on the way, as across instances; for tests)."""

_DEFAULT_SEAM: Seam = "direct"
"""The seam of a server built without ``seam=`` (the test suite's ``--seam`` option sets
it, to run every test through the loopback)."""

_DEFERRED: Final = p.Ok(id="deferred")
"""A handler's result for a request another instance answers (or its deadline does)."""
_FMT: Final = {Format.JSON: 0, Format.MSGPACK: 1}

_HS: Final = EdgeTimer.HANDSHAKE
_PING: Final = EdgeTimer.PING
_GRACE: Final = EdgeTimer.GRACE
_ONCE_EXEMPT: Final = frozenset({"hello", "ping"})
"""Requests whose replies are not remembered for re-sends: ``hello`` has its own resume
rules, and a ``ping`` changes nothing (answered afresh every time)."""


def _loopback(host: RoomHost) -> Callable[[HostInput], RoomOutput]:
    def link(inp: HostInput) -> RoomOutput:
        return decode_output(encode_output(host.handle(decode_input(encode_input(inp)))))

    return link


class Server(ClusterSide):
    """The signaling server core. See the module docstring.

    Args:
        config: limits and timeouts; ``None`` for the defaults.
        id_factory: returns a fresh unguessable id on every call (participants, sessions,
            resume tokens, calls). The runtime passes ``secrets.token_urlsafe``-based ids;
            tests pass :class:`rtcsignal.testing.CountingIds`.
        validator: checks offers, answers and candidates; default :class:`SdpValidator`.
        rate_policy: the message rate limits; default :meth:`RatePolicy.default`.
            (The frame size, handshake timeout and rooms per session are ``config``'s,
            announced in ``welcome.limits``.)
        seam: :data:`Seam`; ``None`` for ``"direct"`` (or what the test suite chose).
        room_policy: chooses the policy of a room a join auto-creates, from the room id
            and the joiner's :class:`~rtcsignal.core.seam.Sender` (``None`` from it, or no
            hook: ``config.default_room``).
        node: this instance's id in a cluster (``None``: a single instance, which owns
            every room). See :mod:`rtcsignal.core.cluster`: the server then emits
            :class:`~rtcsignal.core.cluster.Route`, ``Post``, ``Persist`` and
            ``Release`` effects for its backplane driver, and takes
            :meth:`own`, :meth:`disown`, :meth:`set_peers` and :meth:`envelope` from it.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        id_factory: Callable[[], str],
        validator: NegotiationValidator | None = None,
        rate_policy: RatePolicy | None = None,
        seam: Seam | None = None,
        room_policy: RoomPolicyHook | None = None,
        node: str | None = None,
    ) -> None:
        policy = rate_policy or RatePolicy.default()
        self.config = config = config or ServerConfig()
        serial = itertools.count(1)  # one arming order for the edge's and the host's timers
        if node is not None and (not node or "." in node):
            raise UsageError(f"a node id is a non-empty string without '.', not {node!r}")
        self._node = None if node is None else NodeState(node, serial)
        self._edge = Edge(
            config,
            ids=id_factory,
            limiter=InboundLimiter(policy),
            serial=serial,
            token_prefix="" if node is None else f"{node}.",
        )
        self._validator = validator = validator or SdpValidator()
        self._host = RoomHost(
            config,
            ids=id_factory,
            validator=validator,
            serial=serial,
            room_policy=room_policy,
        )
        seam = seam or _DEFAULT_SEAM
        if seam not in ("direct", "loopback"):
            raise UsageError(f"seam must be 'direct' or 'loopback', not {seam!r}")
        self._link: Callable[[HostInput], RoomOutput] = (
            self._host.handle if seam == "direct" else _loopback(self._host)
        )
        self._handlers: dict[type[Any], Callable[..., p.Ok | p.Pong | p.Welcome | None]] = {
            p.Hello: self._hello,
            p.Ping: self._ping,
        }

    @property
    def calls(self) -> CallBook:
        """The call book (read it, do not mutate it)."""
        return self._host.calls

    # ================================================================ entry points
    def connect(
        self, identity: Identity, now: float, *, ice_servers: Sequence[p.IceServer] = ()
    ) -> str:
        """Register an authenticated connection; return its id. It must ``hello`` within
        ``handshake_timeout``. ``ice_servers`` (minted by the runtime for this user) are
        announced in this connection's ``welcome``."""
        return self._edge.connect(identity, now, ice_servers)

    def receive(self, conn_id: str, data: bytes | str, now: float) -> list[Effect]:
        """Handle one frame from ``conn_id``: a text frame (``str``, JSON) or a binary
        frame (``bytes``, MessagePack). Never raises."""
        fx: list[Effect] = []
        edge = self._edge
        conn = edge.conns.get(conn_id)
        if conn is None:
            return fx
        conn.last_seen = now
        fmt = Format.JSON if isinstance(data, str) else Format.MSGPACK
        try:
            msg = p.decode_client(data, max_frame_bytes=self.config.max_frame_bytes)
        except ProtocolError as err:
            edge.reply_error(conn, fmt, err.code, err.message, err.request_id, err.details, now, fx)
            if err.close is not None:
                self._close(conn, err.close, err.message, now, fx)
            return fx
        kind: str = msg.__struct_config__.tag  # type: ignore[assignment]
        session = conn.session
        room: str | None = getattr(msg, "room", None)
        node = self._node
        key = None if node is None else shard_of(room)  # a call's room: the call book's
        if node is not None and room is not None and key not in node.owned:
            room_scope = None  # the owner checks the room's limits, once for every edge
        else:
            room_scope = room
        user = conn.identity.user
        verdict = edge.limiter.check(
            kind=kind,
            now=now,
            connection=conn_id,
            user=user,
            address=conn.identity.address,
            room=room_scope,
            weight=1 if node is None else node.spread.weight(user),  # instances sharing it
        )
        if not verdict.allowed:
            if edge.deny(conn, fmt, msg, kind, verdict, now, fx):
                self._close(conn, CloseCode.POLICY_VIOLATION, "sustained rate-limit abuse", now, fx)
            return fx
        if session is None:
            conn.fmt = fmt
            if kind != "hello":
                edge.reply_error(
                    conn, fmt, ErrorCode.HELLO_REQUIRED, "say hello first", msg.id, None, now, fx
                )
                return fx
        once = session is not None and msg.id is not None and kind not in _ONCE_EXEMPT
        if once:  # exactly once across reconnects: a re-sent request gets its first reply
            again = edge.recall(session, msg, conn_id)  # type: ignore[arg-type]
            if again is not None:
                edge.send(conn.id, again, fx)
                return fx
        mark = len(fx)
        try:
            result: p.Ok | p.Pong | p.Welcome | None
            handler = self._handlers.get(type(msg))
            if handler is None:
                result = self._to_host(conn, msg, room, key, now, fx)
            else:
                result = handler(conn, msg, now, fx)
        except CoreError as err:
            error = edge.reply_error(
                conn, fmt, err.code, err.message, msg.id, err.details, now, fx, err.retry_after
            )
            if once:
                size = len(data) + p.encoded_size(error)
                edge.remember(session, msg, size, error, conn_id)  # type: ignore[arg-type]
            return fx
        except Exception as exc:  # never let an unexpected error escape the core
            fx.append(
                ev.InternalError(at=now, connection=conn_id, message_type=kind, error=repr(exc))
            )
            error = edge.reply_error(
                conn, fmt, ErrorCode.INTERNAL_ERROR, "internal error", msg.id, None, now, fx
            )
            if once:
                size = len(data) + p.encoded_size(error)
                edge.remember(session, msg, size, error, conn_id)  # type: ignore[arg-type]
            return fx
        if result is _DEFERRED:
            return fx
        if result is None and msg.id is not None:
            result = p.Ok(id=msg.id)
        if result is not None:
            size = 0
            if conn.id in edge.conns:
                # The one reply goes before any event the request caused for its own sender.
                reply: list[Effect] = []
                size = edge.send(conn.id, result, reply)
                fx.insert(mark, reply[0])
            if once and isinstance(result, p.Ok):
                size = len(data) + (size or p.encoded_size(result))
                edge.remember(session, msg, size, result, conn_id)  # type: ignore[arg-type]
        return fx

    def disconnect(self, conn_id: str, now: float) -> list[Effect]:
        """The transport dropped ``conn_id``. Not a leave: its session starts its
        reconnect grace period. Idempotent, O(rooms of the session)."""
        fx: list[Effect] = []
        session = self._edge.drop(conn_id, now)
        if session is not None:
            self._presence(session, "reconnecting", now, fx)
        return fx

    def tick(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, in deadline order (ties in arming order)."""
        fx: list[Effect] = []
        edge, host = self._edge, self._host
        while True:
            mine, theirs = edge.timers.peek(), host.timers.peek()
            if theirs is not None and (mine is None or theirs < mine):
                if theirs[0] > now:
                    break
                room_id = host.timers.pop_due(now)
                assert room_id is not None
                self._host_in(Expire(room=room_id, at=now), shard_of(room_id), now, fx)
                continue
            if mine is None or mine[0] > now:
                break
            key = edge.timers.pop_due(now)
            assert key is not None
            kind, ident = key
            if kind is _HS:
                conn = edge.conns[ident]
                self._close(conn, CloseCode.HANDSHAKE_TIMEOUT, "no hello in time", now, fx)
            elif kind is _PING:
                self._close(edge.conns[ident], CloseCode.PING_TIMEOUT, "ping timeout", now, fx)
            else:
                self._end_session(edge.sessions[ident], "expired", "disconnected", now, fx)
        due = host.calls.next_deadline()
        if due is not None and due <= now:
            self._host_in(TickCalls(at=now), CALLS, now, fx)
        node = self._node
        if node is not None:
            while (late := node.timers.pop_due(now)) is not None:
                self._unanswered(late, now, fx)
        return fx

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or ``None`` when no timer is armed."""
        deadlines = [
            d
            for d in (
                self._edge.timers.next(),
                self._host.timers.next(),
                self._host.calls.next_deadline(),
                None if self._node is None else self._node.timers.next(),
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    @property
    def timers_armed(self) -> int:
        """A count that grows whenever a timer is armed, at the edge, in the rooms or in
        the call book (and never shrinks). Armed deadlines only move later by
        themselves, so while this count is unchanged :meth:`next_deadline` cannot have
        come nearer: a runtime that remembers it with the deadline it sleeps until need
        not ask again after a call that armed nothing (a relayed candidate arms
        nothing)."""
        host, node = self._host, self._node
        arms = self._edge.timers.arms + host.timers.arms + host.calls.timers_armed
        return arms if node is None else arms + node.timers.arms

    def shutdown(self, now: float, reason: str = "server shutting down") -> list[Effect]:
        """Tell every connection to reconnect elsewhere (``going_away``) and close it with
        1001. Sessions enter their grace period like any drop."""
        fx: list[Effect] = []
        going = p.GoingAway(reason=reason[: p.MAX_REASON_CHARS], reconnect=True)
        for conn in list(self._edge.conns.values()):
            self._edge.send(conn.id, going, fx)
            self._close(conn, CloseCode.GOING_AWAY, reason, now, fx)
        return fx

    def create_room(self, room_id: str, policy: RoomPolicy, now: float) -> list[Effect]:
        """Create a room with ``policy`` (the application's API, not the client's).

        Raises:
            UsageError: the room exists (a :class:`ValueError`).
            msgspec.ValidationError: the id is malformed.
        """
        msgspec.convert(room_id, p.RoomId)
        return self._admin(OpenRoom(room=room_id, policy=policy, at=now))

    def close_room(self, room_id: str, now: float) -> list[Effect]:
        """Remove a room and everyone in it (reason ``room_closed``)."""
        return self._admin(ShutRoom(room=room_id, at=now))

    # ---------------------------------------------------------------- the application's
    def remove_participant(
        self, room_id: str, participant: str, now: float, *, message: str | None = None
    ) -> list[Effect]:
        """Remove a member (it gets ``removed`` with reason ``kicked``) or a lobby entry
        (reason ``denied``) from ``room_id``; ``message`` says why (at most
        :data:`~rtcsignal.protocol.MAX_REASON_CHARS` characters).

        Raises:
            UsageError: no such room or participant.
        """
        text = None if message is None else message[: p.MAX_REASON_CHARS]
        return self._admin(Evict(room=room_id, participant=participant, message=text, at=now))

    def end_call(self, call_id: str, now: float, *, reason: str = "hangup") -> list[Effect]:
        """End call ``call_id`` for everyone (``call_updated`` ended with ``reason``:
        ``hangup`` or ``failed``); its room goes once empty.

        Raises:
            UsageError: no such call, or another reason.
        """
        if reason not in ("hangup", "failed"):
            raise UsageError(f"a call ends with reason 'hangup' or 'failed', not {reason!r}")
        return self._admin(EndCall(call=call_id, reason=reason, at=now))  # type: ignore[arg-type]

    def update_room(self, room_id: str, policy: RoomPolicy, now: float) -> list[Effect]:
        """Give room ``room_id`` a new policy (capacity, join policy, duplicate policy,
        invite list): members stay, the next joins obey it.

        Raises:
            UsageError: no such room, or the policy names another call.
        """
        return self._admin(SetPolicy(room=room_id, policy=policy, at=now))

    def invite(
        self, room_id: str, now: float, *, users: Iterable[str] = (), tokens: Iterable[str] = ()
    ) -> list[Effect]:
        """Add ``users`` and invite ``tokens`` to room ``room_id``'s invite list, in one
        step where the room lives (two invites at once both count).

        Raises:
            UsageError: no such room.
        """
        invite = Invite(room=room_id, users=frozenset(users), tokens=frozenset(tokens), at=now)
        return self._admin(invite)

    def say(
        self,
        room_id: str,
        app_type: str,
        payload: Any,
        now: float,
        *,
        to: str | None = None,
    ) -> list[Effect]:
        """Send a server-originated ``app`` message (no ``from``) to every member of
        ``room_id``, or to member ``to``.

        Raises:
            UsageError: no such room or member, a malformed ``app_type``, or a payload
                over :data:`~rtcsignal.protocol.MAX_APP_PAYLOAD_BYTES`.
        """
        try:
            msgspec.convert(
                {"type": "app", "room": room_id, "app_type": app_type, "payload": payload}, p.App
            )
        except msgspec.ValidationError as err:
            raise UsageError(f"server app message: {err}") from None
        size = p.encoded_size(payload)
        if size > p.MAX_APP_PAYLOAD_BYTES:
            raise UsageError(f"app payload of {size} bytes exceeds {p.MAX_APP_PAYLOAD_BYTES}")
        say = Say(room=room_id, app_type=app_type, payload=payload, to=to, at=now)
        return self._admin(say)

    def room_ids(self) -> list[str]:
        """The ids of every room (read views: :meth:`room`)."""
        return self._host.room_ids()

    def _admin(self, inp: HostInput) -> list[Effect]:
        """Run an application input where its room lives (in a cluster, maybe routed:
        then the outcome comes as an ``AdminAnswer``, not raised here)."""
        fx: list[Effect] = []
        key = CALLS if type(inp) is EndCall else shard_of(inp.room)  # type: ignore[union-attr]
        if self._route_admin(key, inp, inp.at, fx):
            return fx
        out = self._host_in(inp, key, inp.at, fx)
        if out is not None and out.refused is not None:
            raise UsageError(out.refused.message)
        return fx

    def stats(self) -> ServerStats:
        """Counts for health endpoints."""
        ringing, active = self._host.calls.counts()
        rooms, participants = self._host.counts()
        return ServerStats(
            connections=len(self._edge.conns),
            sessions=len(self._edge.sessions),
            reconnecting=self._edge.reconnecting(),
            rooms=rooms,
            participants=participants,
            active_calls=active,
            ringing_calls=ringing,
        )

    def tables(self) -> dict[str, int]:
        """The sizes of the server's internal tables, for soak tests and diagnostics:
        ``connections``, ``sessions``, ``users`` (with a session), ``rooms``,
        ``participants``, ``negotiations`` (pairs with negotiation state), ``calls``
        (live), ``replay_frames`` (kept for resumes, over every session),
        ``limiter_keys`` (:meth:`InboundLimiter.keys`), and the armed deadlines:
        ``edge_timers`` (handshake, ping, grace), ``room_timers`` (expiry) and
        ``call_timers``. Every one is bounded by a configured limit times the number of
        connections or rooms; none may grow with the number of connections ever made.

        .. versionadded:: 0.1
        """
        edge, host = self._edge, self._host
        rooms, participants = host.counts()
        return {
            "connections": len(edge.conns),
            "sessions": len(edge.sessions),
            "users": len({s.user for s in edge.sessions.values()}),
            "rooms": rooms,
            "participants": participants,
            "negotiations": host.negotiations(),
            "calls": len(host.calls),
            "replay_frames": sum(len(s.replay) for s in edge.sessions.values()),
            "limiter_keys": edge.limiter.keys(),
            "edge_timers": len(edge.timers),
            "room_timers": len(host.timers),
            "call_timers": host.calls.timers(),
            **({} if self._node is None else self._node.tables()),
        }

    def room(self, room_id: str) -> Room | None:
        """The room ``room_id`` (read it, do not mutate it), if it exists."""
        return self._host.room(room_id)

    def session_of(self, conn_id: str) -> Session | None:
        """The session attached to ``conn_id``, if any (read-only view)."""
        conn = self._edge.conns.get(conn_id)
        return conn.session if conn else None

    @property
    def connections(self) -> Sequence[str]:
        """Ids of the open connections."""
        return list(self._edge.conns)

    # ================================================================ the seam
    def _to_host(
        self,
        conn: Connection,
        msg: Any,
        room: str | None,
        key: str | None,
        now: float,
        fx: list[Effect],
    ) -> p.Ok | None:
        """Hand a request for ``room`` to its host (a cluster's: the owner of ``key``)."""
        session = conn.session
        assert session is not None  # the pipeline guarantees a session past hello
        if room is None:
            call = getattr(msg, "call", None)
            room = None if call is None else call_room_id(call)
        request = RoomCall(room, session.sender, len(session.rooms), msg, now)
        node = self._node
        if node is None:
            out = self._link(request)
            ops = out.ops
            if len(ops) == 1 and type(op := ops[0]) is Deliver and len(op.sessions) == 1:
                # one relayed message to one session (offer, answer, candidate): the hot path
                self._edge.deliver(op.sessions[0], op.message, fx, op.from_)
            else:
                self._apply(out.ops, now, fx)
        else:
            assert key is not None  # a cluster's receive computed it
            epoch = node.owned.get(key)
            if epoch is None:  # another instance's room: its owner answers
                kind = type(msg)
                if kind is p.Candidate:  # the grammar here: junk never crosses
                    self._validator.candidate(msg, None)
                elif kind is p.Offer:
                    self._validator.offer(msg.sdp)
                rid = msg.id
                fx.append(node.route(key, request, conn=conn.id, rid=rid, fmt=_FMT[conn.fmt]))
                if rid is not None:
                    node.timers.arm((conn.id, rid), now + self.config.request_timeout)
                    if type(msg).__struct_config__.tag not in _ONCE_EXEMPT:
                        node.requests[(conn.id, rid)] = msg
                return _DEFERRED
            if now >= node.lease_until:  # it may have been taken over: do not act
                raise CoreError(
                    ErrorCode.BACKPLANE_UNAVAILABLE,
                    "this instance's hold on the room lapsed; retry",
                    retry_after=RETRY_AFTER,
                )
            out = self._link(request)
            ops = out.ops
            if (
                len(ops) == 1
                and type(op := ops[0]) is Deliver
                and len(op.sessions) == 1
                and op.sessions[0] in self._edge.sessions
            ):
                self._edge.deliver(op.sessions[0], op.message, fx, op.from_)
            else:
                self._owner_apply(key, epoch, out, now, fx, None)
        refused = out.refused
        if refused is not None:
            raise CoreError(
                refused.code,
                refused.message,
                details=refused.details,
                retry_after=refused.retry_after,
            )
        return out.reply

    def _host_in(self, inp: HostInput, key: str, now: float, fx: list[Effect]) -> RoomOutput | None:
        """Hand ``inp`` (not a client request) to the owner of ``key``: the room host here,
        or, in a cluster, the instance that owns it. Returns: the output, when here."""
        node = self._node
        if node is None:
            out = self._link(inp)
            self._apply(out.ops, now, fx)
            return out
        epoch = node.owned.get(key)
        if epoch is None or now >= node.lease_until:  # its owner's (maybe not this one)
            fx.append(node.route(key, inp))
            return None
        out = self._link(inp)
        self._owner_apply(key, epoch, out, now, fx, None)
        return out

    def _apply(self, ops: list[Op], now: float, fx: list[Effect]) -> None:
        """Carry out a room output's ops at the edge, in order."""
        edge = self._edge
        for op in ops:
            kind = type(op)
            if kind is Deliver:
                edge.deliver_many(op.sessions, op.message, fx, op.from_)  # type: ignore[union-attr]
            elif kind is Emit:
                fx.append(op.event)  # type: ignore[union-attr]
            elif kind is Joined:
                edge.seat(op.session, op.room, op.pid)  # type: ignore[union-attr]
            elif kind is Left:
                edge.unseat(op.session, op.room, op.pid)  # type: ignore[union-attr]
            elif kind is ToUser:
                edge.deliver_user(
                    op.user,  # type: ignore[union-attr]
                    op.message,  # type: ignore[union-attr]
                    fx,
                    except_session=op.except_session,  # type: ignore[union-attr]
                )
            else:
                assert isinstance(op, CloseSession)
                session = edge.sessions.get(op.session)
                if session is not None:
                    self._end_session(session, "replaced", "replaced", now, fx)

    # ================================================================ sessions
    def _close(
        self, conn: Connection, code: int, reason: str, now: float, fx: list[Effect]
    ) -> None:
        """Close ``conn`` now (the core forgets it; its session enters its grace)."""
        session = self._edge.close(conn, code, reason, now, fx)
        if session is not None:
            self._presence(session, "reconnecting", now, fx)

    def _presence(self, session: Session, state: Any, now: float, fx: list[Effect]) -> None:
        self._spread_out(session.user, fx)
        for room_id in list(session.rooms):
            presence = Presence(room=room_id, session=session.id, state=state, at=now)
            self._host_in(presence, shard_of(room_id), now, fx)

    def _end_session(
        self, session: Session, why: str, reason: Any, now: float, fx: list[Effect]
    ) -> None:
        """End ``session`` for good: every participant leaves with ``reason``."""
        if session.ended or session.id not in self._edge.sessions:
            return
        session.ended = True  # re-entrant calls (a leave closing sessions) stop here
        for room_id in list(session.rooms):
            depart = Depart(room=room_id, session=session.id, reason=reason, at=now)
            self._host_in(depart, shard_of(room_id), now, fx)
        self._edge.finish_session(session, why, now, fx)
        self._spread_out(session.user, fx)

    # ================================================================ edge requests
    def _hello(
        self, conn: Connection, msg: p.Hello, now: float, fx: list[Effect]
    ) -> p.Welcome | p.Ok | None:
        if conn.session is not None:
            raise CoreError(ErrorCode.ALREADY_WELCOMED, "this connection already said hello")
        if msg.version not in p.SUPPORTED_VERSIONS:
            raise CoreError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {msg.version} is not supported",
                details={"supported": sorted(p.SUPPORTED_VERSIONS)},
            )
        edge = self._edge
        if msg.resume is not None:
            node = self._node
            if node is not None:
                holder = token_node(msg.resume)
                if holder is not None and holder != node.node and msg.resume not in edge.tokens:
                    if holder not in node.peers:  # its instance is gone, and the session
                        raise CoreError(ErrorCode.RESUME_FAILED, "its instance is gone")
                    # the session lives on another instance: ask it to hand it over
                    node.hellos[conn.id] = msg
                    node.timers.arm((conn.id, None), now + self.config.request_timeout)
                    user = conn.identity.user
                    want = Want(src=node.node, token=msg.resume, user=user, conn=conn.id)
                    fx.append(Post(node=holder, data=encode_envelope(want)))
                    return _DEFERRED
            return self._resume(conn, msg, now, fx)
        self._room_for_session(conn.identity.user, now, fx)  # max_sessions_per_user
        session = edge.start_session(conn, now, fx)
        self._spread_out(session.user, fx)
        seen = UserSeen(user=session.user, session=session.id, at=now)
        self._host_in(seen, CALLS, now, fx)  # calls ringing for the user ring here too
        return edge.welcome(msg, session, resumed=False, gap=False)

    def _resume(self, conn: Connection, msg: p.Hello, now: float, fx: list[Effect]) -> p.Welcome:
        edge = self._edge
        session, replayed, gap = edge.resume(conn, msg, now, fx)
        if gap:
            for room_id in list(session.rooms):
                snap = Snapshot(room=room_id, session=session.id, at=now)
                self._host_in(snap, shard_of(room_id), now, fx)
        fx.append(
            ev.SessionResumed(
                at=now, session=session.id, connection=conn.id, replayed=replayed, gap=gap
            )
        )
        self._presence(session, "connected", now, fx)
        return edge.welcome(msg, session, resumed=True, gap=gap)

    def _ping(self, conn: Connection, msg: p.Ping, now: float, fx: list[Effect]) -> p.Pong:
        return p.Pong(id=msg.id)
