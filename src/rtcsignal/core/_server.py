"""The Server: one deterministic object composing sessions, rooms, negotiation and calls.

Theory of operation
-------------------
Five entry points, all pure functions of the state and their arguments:
``connect(identity, now)``, ``receive(conn, data, now)``, ``disconnect(conn, now)``,
``tick(now)`` and ``next_deadline()``. Each returns effects in order: :class:`Send`,
:class:`Close` and observer events. There is no clock, socket, task or randomness inside:
ids come from the injected ``id_factory`` and time from ``now``.

Every inbound frame goes through the same pipeline, and the first step that refuses it
answers with exactly one ``error`` reply and changes nothing:

1. frame size (``frame_too_large``, and close 1009), then decoding (typed errors only);
2. the rate limits (every scope checked, then charged only if all allow);
3. the handshake (``hello_required`` before ``hello``);
4. the handler: membership, permissions, negotiation state, SDP/ICE validation. Handlers
   check first and mutate last, so a :class:`CoreError` leaves state untouched.

Rooms speak participant ids; the server maps participant -> session -> connection, numbers
each session's events (``seq``), keeps them for replay, and encodes them in the session's
codec. Timers (handshake, ping, reconnect grace, room expiry, call timers) live in one heap
with lazy invalidation; :meth:`next_deadline` is exact.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs
import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import CloseCode, ErrorCode, Format, ProtocolError
from rtcsignal.ratelimit import InboundLimiter, OnDeny, RatePolicy

from . import events as ev
from ._call import CallBook
from ._callglue import CallGlue
from ._config import ServerConfig
from ._effects import Close, Effect, Send
from ._errors import CoreError
from ._identity import Identity
from ._negotiation import Negotiations
from ._room import Outbox, Room, RoomPolicy
from ._session import Connection, Session
from ._validation import NegotiationValidator, SdpValidator

__all__ = ["Server", "ServerStats"]

_HS: Final = 0  # handshake timer
_PING: Final = 1
_GRACE: Final = 2
_ROOM: Final = 3


def _stricter(config: ServerConfig, policy: RatePolicy) -> ServerConfig:
    """``config`` with the policy's connection guards applied where they are stricter."""
    g = policy.guards
    return attrs.evolve(
        config,
        max_frame_bytes=min(config.max_frame_bytes, g.max_frame_bytes),
        handshake_timeout=min(config.handshake_timeout, g.handshake_timeout),
        max_rooms_per_session=min(config.max_rooms_per_session, g.max_rooms_per_connection),
    )


class ServerStats(msgspec.Struct, frozen=True, kw_only=True):
    """A health snapshot of one server."""

    connections: int
    sessions: int
    reconnecting: int
    rooms: int
    participants: int
    active_calls: int
    ringing_calls: int


class _RoomEntry:
    __slots__ = ("neg", "room")

    def __init__(self, room: Room) -> None:
        self.room = room
        self.neg = Negotiations()


class Server:
    """The signaling server core. See the module docstring.

    Args:
        config: limits and timeouts; ``None`` for the defaults.
        id_factory: returns a fresh unguessable id on every call (participants, sessions,
            resume tokens, calls). The runtime passes ``secrets.token_urlsafe``-based ids;
            tests pass :class:`rtcsignal.testing.CountingIds`.
        validator: checks offers, answers and candidates; default :class:`SdpValidator`.
        rate_policy: the abuse limits; default :meth:`RatePolicy.default`. Its
            connection guards and ``config`` both bound the frame size, the handshake
            timeout and the rooms per session: the stricter of the two applies, and
            ``welcome.limits`` announces it.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        id_factory: Callable[[], str],
        validator: NegotiationValidator | None = None,
        rate_policy: RatePolicy | None = None,
    ) -> None:
        policy = rate_policy or RatePolicy.default()
        self.config = _stricter(config or ServerConfig(), policy)
        self._ids = id_factory
        self._validator: NegotiationValidator = validator or SdpValidator()
        self._limiter = InboundLimiter(policy)
        self._conns: dict[str, Connection] = {}
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, str] = {}
        self._user_sessions: dict[str, set[str]] = {}
        self._rooms: dict[str, _RoomEntry] = {}
        self._pids: dict[str, tuple[str, str]] = {}  # participant id -> (room id, session id)
        self._heap: list[tuple[float, int, int, str]] = []
        self._armed: dict[tuple[int, str], float] = {}
        self._counter = 0
        self.calls = CallBook(
            ring_timeout=self.config.ring_timeout,
            max_duration=self.config.max_call_duration,
            warning_before=self.config.call_warning_before,
        )
        self._glue = CallGlue(self)
        self._replay_events = self.config.replay_events
        self._replay_bytes = self.config.replay_bytes
        c = self.config
        self._limits = p.ServerLimits(
            max_frame_bytes=c.max_frame_bytes,
            ping_interval=c.ping_interval,
            ping_timeout=c.ping_timeout,
            reconnect_grace=c.reconnect_grace,
            max_rooms=c.max_rooms_per_session,
            max_chat_chars=p.MAX_CHAT_CHARS,
        )
        self._handlers: dict[type[Any], Callable[..., p.Ok | p.Pong | p.Welcome | None]] = {
            p.Hello: self._hello,
            p.Ping: self._ping,
            p.Join: self._join,
            p.Leave: self._leave,
            p.MediaState: self._media,
            p.Mute: self._mute,
            p.Kick: self._kick,
            p.TransferHost: self._transfer_host,
            p.SetRole: self._set_role,
            p.Lock: self._lock,
            p.Admit: self._admit,
            p.SetLayout: self._set_layout,
            p.Recording: self._recording,
            p.Offer: self._offer,
            p.Answer: self._answer,
            p.Candidate: self._candidate,
            p.EndOfCandidates: self._end_of_candidates,
            p.Chat: self._chat,
            p.Reaction: self._relay,
            p.Typing: self._relay,
            p.App: self._app,
            p.Stats: self._stats,
            p.CallInvite: self._glue.call_invite,
            p.CallAccept: self._glue.call_accept,
            p.CallDecline: self._glue.call_decline,
            p.CallCancel: self._glue.call_cancel,
            p.CallHangup: self._glue.call_hangup,
        }

    # ================================================================ entry points
    def connect(
        self, identity: Identity, now: float, *, ice_servers: Sequence[p.IceServer] = ()
    ) -> str:
        """Register an authenticated connection; return its id. It must ``hello`` within
        ``handshake_timeout``. ``ice_servers`` (minted by the runtime for this user) are
        announced in this connection's ``welcome``."""
        conn_id = self._ids()
        self._conns[conn_id] = Connection(conn_id, identity, now, tuple(ice_servers))
        self._arm(_HS, conn_id, now + self.config.handshake_timeout)
        return conn_id

    def receive(self, conn_id: str, data: bytes | str, now: float) -> list[Effect]:
        """Handle one frame from ``conn_id``: a text frame (``str``, JSON) or a binary
        frame (``bytes``, MessagePack). Never raises."""
        fx: list[Effect] = []
        conn = self._conns.get(conn_id)
        if conn is None:
            return fx
        conn.last_seen = now
        fmt = Format.JSON if isinstance(data, str) else Format.MSGPACK
        try:
            msg = p.decode_client(data, max_frame_bytes=self.config.max_frame_bytes)
        except ProtocolError as err:
            self._reply_error(
                conn, fmt, err.code, err.message, err.request_id, err.details, fx, now
            )
            if err.close is not None:
                self._close(conn, err.close, err.message, now, fx)
            return fx
        kind: str = msg.__struct_config__.tag  # type: ignore[assignment]
        session = conn.session
        verdict = self._limiter.check(
            kind=kind,
            now=now,
            connection=conn_id,
            user=conn.identity.user,
            address=conn.identity.address,
            room=getattr(msg, "room", None),
        )
        if not verdict.allowed:
            self._denied(conn, fmt, msg, kind, verdict, fx, now)
            return fx
        if session is None:
            conn.fmt = fmt
        if session is None and kind != "hello":
            self._reply_error(
                conn, fmt, ErrorCode.HELLO_REQUIRED, "say hello first", msg.id, None, fx, now
            )
            return fx
        mark = len(fx)
        try:
            result = self._handlers[type(msg)](conn, msg, now, fx)
        except CoreError as err:
            self._reply_error(
                conn, fmt, err.code, err.message, msg.id, err.details, fx, now, err.retry_after
            )
            return fx
        except Exception as exc:  # never let an unexpected error escape the core
            fx.append(
                ev.InternalError(at=now, connection=conn_id, message_type=kind, error=repr(exc))
            )
            self._reply_error(
                conn, fmt, ErrorCode.INTERNAL_ERROR, "internal error", msg.id, None, fx, now
            )
            return fx
        if result is None and msg.id is not None:
            result = p.Ok(id=msg.id)
        if result is not None and conn.id in self._conns:
            # The one reply goes before any event the request caused for its own sender.
            reply: list[Effect] = []
            self._send(conn.id, result, reply)
            fx.insert(mark, reply[0])
        return fx

    def disconnect(self, conn_id: str, now: float) -> list[Effect]:
        """The transport dropped ``conn_id``. Not a leave: its session starts its
        reconnect grace period. Idempotent, O(rooms of the session)."""
        fx: list[Effect] = []
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return fx
        self._forget_conn(conn)
        self._detach(conn, now, fx)
        return fx

    def tick(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``."""
        fx: list[Effect] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, kind, key = heapq.heappop(heap)
            if self._armed.get((kind, key)) != deadline:
                continue
            real = self._real_deadline(kind, key)
            if real is None:
                del self._armed[(kind, key)]
            elif real > now:
                self._arm(kind, key, real)
            else:
                del self._armed[(kind, key)]
                self._fire(kind, key, now, fx)
        self._glue.apply_call_outputs(self.calls.tick(now), now, fx)
        return fx

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or ``None`` when no timer is armed."""
        heap = self._heap
        while heap:
            deadline, _, kind, key = heap[0]
            if self._armed.get((kind, key)) != deadline:
                heapq.heappop(heap)
                continue
            real = self._real_deadline(kind, key)
            if real == deadline:
                break
            heapq.heappop(heap)
            if real is None:
                del self._armed[(kind, key)]
            else:
                self._arm(kind, key, real)
        mine = heap[0][0] if heap else None
        calls = self.calls.next_deadline()
        if mine is None:
            return calls
        return mine if calls is None else min(mine, calls)

    @property
    def timers_armed(self) -> int:
        """A count that grows whenever a timer is armed, here or in the call book (and
        never shrinks). Armed deadlines only move later by themselves, so while this
        count is unchanged :meth:`next_deadline` cannot have come nearer: a runtime that
        remembers it with the deadline it sleeps until need not ask again after a call
        that armed nothing (a relayed candidate arms nothing)."""
        return self._counter + self.calls.timers_armed

    def shutdown(self, now: float, reason: str = "server shutting down") -> list[Effect]:
        """Tell every connection to reconnect elsewhere (``going_away``) and close it with
        1001. Sessions enter their grace period like any drop."""
        fx: list[Effect] = []
        for conn in list(self._conns.values()):
            fmt = conn.session.fmt if conn.session else conn.fmt
            data = p.encode(p.GoingAway(reason=reason[: p.MAX_REASON_CHARS]), fmt)
            fx.append(Send(conn=conn.id, data=data, text=fmt is Format.JSON))
            self._close(conn, CloseCode.GOING_AWAY, reason, now, fx)
        return fx

    def create_room(self, room_id: str, policy: RoomPolicy, now: float) -> list[Effect]:
        """Create a room with ``policy`` (the application's API, not the client's).

        Raises:
            ValueError: the id is malformed or the room exists.
        """
        if room_id in self._rooms:
            raise ValueError(f"room {room_id} already exists")
        msgspec.convert(room_id, p.RoomId)
        fx: list[Effect] = []
        self._new_room(room_id, policy, now, fx)
        return fx

    def close_room(self, room_id: str, now: float) -> list[Effect]:
        """Remove a room and everyone in it (reason ``room_closed``)."""
        fx: list[Effect] = []
        entry = self._rooms.get(room_id)
        if entry is not None:
            out = Outbox()
            entry.room.close(now, out)
            self._flush(entry, out, now, fx)
            self._delete_room(room_id, "closed", now, fx)
        return fx

    def stats(self) -> ServerStats:
        """Counts for health endpoints."""
        ringing, active = self.calls.counts()
        return ServerStats(
            connections=len(self._conns),
            sessions=len(self._sessions),
            reconnecting=sum(1 for s in self._sessions.values() if s.conn is None),
            rooms=len(self._rooms),
            participants=sum(len(e.room.participants) for e in self._rooms.values()),
            active_calls=active,
            ringing_calls=ringing,
        )

    def room(self, room_id: str) -> Room | None:
        """The room ``room_id`` (read it, do not mutate it), if it exists."""
        entry = self._rooms.get(room_id)
        return entry.room if entry else None

    def session_of(self, conn_id: str) -> Session | None:
        """The session attached to ``conn_id``, if any (read-only view)."""
        conn = self._conns.get(conn_id)
        return conn.session if conn else None

    @property
    def connections(self) -> Sequence[str]:
        """Ids of the open connections."""
        return list(self._conns)

    # ================================================================ plumbing
    def _send(self, conn_id: str, message: p.Message, fx: list[Effect]) -> None:
        conn = self._conns[conn_id]
        fmt = conn.session.fmt if conn.session else conn.fmt
        fx.append(Send(conn=conn_id, data=p.encode(message, fmt), text=fmt is Format.JSON))

    def _reply_error(
        self,
        conn: Connection,
        fmt: Format,
        code: ErrorCode,
        message: str,
        request_id: int | str | None,
        details: dict[str, Any] | None,
        fx: list[Effect],
        now: float,
        retry_after: float | None = None,
    ) -> None:
        if conn.session is None:
            conn.fmt = fmt
        error = p.Error(
            id=request_id,
            code=code.value,
            message=message,
            details=details,
            retry_after=retry_after,
        )
        self._send(conn.id, error, fx)
        fx.append(
            ev.RequestRejected(
                at=now,
                connection=conn.id,
                session=conn.session.id if conn.session else None,
                message_type=None,
                code=code.value,
            )
        )

    def _denied(
        self,
        conn: Connection,
        fmt: Format,
        msg: p.Request,
        kind: str,
        verdict: Any,
        fx: list[Effect],
        now: float,
    ) -> None:
        action: OnDeny = verdict.action
        fx.append(
            ev.RateLimitDenied(
                at=now,
                connection=conn.id,
                message_type=kind,
                scope=verdict.scope,
                action=action.value,
            )
        )
        if action is OnDeny.DROP and msg.id is None:
            return
        self._reply_error(
            conn,
            fmt,
            ErrorCode.RATE_LIMITED,
            f"too many {kind} messages ({verdict.scope} limit); "
            f"retry in {verdict.retry_after:.3f} s",
            msg.id,
            {"scope": verdict.scope},
            fx,
            now,
            verdict.retry_after,
        )
        if action is OnDeny.CLOSE:
            self._close(conn, CloseCode.POLICY_VIOLATION, "sustained rate-limit abuse", now, fx)

    def _deliver(
        self, sid: str, message: p.Message, fx: list[Effect], from_: str | None = None
    ) -> None:
        """Number ``message`` in session ``sid``'s stream (a relayed request stamped
        ``from_``, without its request id, in the same copy), keep it for replay, and
        send it if the session is connected."""
        session = self._sessions[sid]
        seq = session.seq = session.seq + 1
        fmt = session.fmt
        if from_ is None:
            message = msgspec.structs.replace(message, seq=seq)
        else:
            message = msgspec.structs.replace(message, seq=seq, id=None, from_=from_)
        frame = p.encode(message, fmt)
        session.remember(seq, frame, self._replay_events, self._replay_bytes)
        if session.conn is not None:
            fx.append(Send(conn=session.conn, data=frame, text=fmt is Format.JSON))

    def _deliver_user(
        self, user: str, message: p.Message, fx: list[Effect], *, except_session: str | None = None
    ) -> None:
        for sid in sorted(self._user_sessions.get(user, ())):
            if sid != except_session:
                self._deliver(sid, message, fx)

    def _close(
        self, conn: Connection, code: int, reason: str, now: float, fx: list[Effect]
    ) -> None:
        """Close ``conn`` now (the core forgets it; its session enters its grace)."""
        if self._conns.pop(conn.id, None) is None:
            return
        fx.append(Close(conn=conn.id, code=int(code), reason=reason))
        fx.append(ev.ConnectionClosed(at=now, connection=conn.id, code=int(code), reason=reason))
        self._forget_conn(conn)
        self._detach(conn, now, fx)

    def _forget_conn(self, conn: Connection) -> None:
        self._limiter.forget_connection(conn.id)
        self._armed.pop((_HS, conn.id), None)
        self._armed.pop((_PING, conn.id), None)

    def _detach(self, conn: Connection, now: float, fx: list[Effect]) -> None:
        session = conn.session
        if session is None or session.conn != conn.id:
            return
        session.conn = None
        session.grace_deadline = now + self.config.reconnect_grace
        self._arm(_GRACE, session.id, session.grace_deadline)
        self._presence(session, "reconnecting", now, fx)

    def _presence(self, session: Session, state: Any, now: float, fx: list[Effect]) -> None:
        for room_id, pid in list(session.rooms.items()):
            entry = self._rooms[room_id]
            out = Outbox()
            entry.room.set_presence(pid, state, out)
            self._flush(entry, out, now, fx)

    # ---------------------------------------------------------------- timers
    def _arm(self, kind: int, key: str, deadline: float) -> None:
        self._armed[(kind, key)] = deadline
        self._counter += 1
        heapq.heappush(self._heap, (deadline, self._counter, kind, key))

    def _real_deadline(self, kind: int, key: str) -> float | None:
        if kind == _HS:
            conn = self._conns.get(key)
            if conn is None or conn.session is not None:
                return None
            return conn.opened_at + self.config.handshake_timeout
        if kind == _PING:
            conn = self._conns.get(key)
            if conn is None or conn.session is None:
                return None
            return conn.last_seen + self.config.ping_timeout
        if kind == _GRACE:
            session = self._sessions.get(key)
            return None if session is None or session.conn is not None else session.grace_deadline
        entry = self._rooms.get(key)
        return None if entry is None else entry.room.expires_at()

    def _fire(self, kind: int, key: str, now: float, fx: list[Effect]) -> None:
        if kind == _HS:
            self._close(self._conns[key], CloseCode.HANDSHAKE_TIMEOUT, "no hello in time", now, fx)
        elif kind == _PING:
            self._close(self._conns[key], CloseCode.PING_TIMEOUT, "ping timeout", now, fx)
        elif kind == _GRACE:
            self._end_session(self._sessions[key], "expired", "disconnected", now, fx)
        else:
            self._delete_room(key, "expired", now, fx)

    # ---------------------------------------------------------------- sessions
    def _end_session(
        self, session: Session, why: str, reason: Any, now: float, fx: list[Effect]
    ) -> None:
        """End ``session`` for good: every participant leaves with ``reason``."""
        if session.ended or session.id not in self._sessions:
            return
        session.ended = True  # re-entrant calls (a flush closing sessions) stop here
        for room_id, pid in list(session.rooms.items()):
            entry = self._rooms.get(room_id)
            if entry is None:
                continue
            out = Outbox()
            entry.room.leave(pid, reason, now, out)
            self._flush(entry, out, now, fx)
            self._pids.pop(pid, None)
        session.rooms.clear()
        del self._sessions[session.id]
        self._tokens.pop(session.token, None)
        users = self._user_sessions.get(session.user)
        if users is not None:
            users.discard(session.id)
            if not users:
                del self._user_sessions[session.user]
        self._armed.pop((_GRACE, session.id), None)
        if session.conn is not None:
            conn = self._conns.get(session.conn)
            session.conn = None
            if conn is not None:
                conn.session = None
                self._close(conn, CloseCode.SESSION_REPLACED, f"session {why}", now, fx)
        fx.append(ev.SessionEnded(at=now, session=session.id, user=session.user, reason=why))

    # ---------------------------------------------------------------- rooms
    def _new_room(
        self, room_id: str, policy: RoomPolicy, now: float, fx: list[Effect]
    ) -> _RoomEntry:
        entry = self._rooms[room_id] = _RoomEntry(Room(room_id, policy, now))
        fx.append(ev.RoomCreated(at=now, room=room_id))
        expires = entry.room.expires_at()
        if expires is not None:
            self._arm(_ROOM, room_id, expires)
        return entry

    def _delete_room(self, room_id: str, reason: str, now: float, fx: list[Effect]) -> None:
        entry = self._rooms.pop(room_id, None)
        if entry is None:
            return
        self._armed.pop((_ROOM, room_id), None)
        fx.append(ev.RoomClosed(at=now, room=room_id, reason=reason))

    def _flush(self, entry: _RoomEntry, out: Outbox, now: float, fx: list[Effect]) -> None:
        """Turn a room's outbox into deliveries and bookkeeping, in order."""
        pids = self._pids
        for recipients, message in out.deliveries:
            for pid in recipients:
                where = pids.get(pid)
                if where is not None:
                    self._deliver(where[1], message, fx)
        fx.extend(out.events)
        room = entry.room
        for pid, sid in out.removed:
            pids.pop(pid, None)
            entry.neg.forget(pid)
            session = self._sessions.get(sid)
            if session is not None and session.rooms.get(room.id) == pid:
                del session.rooms[room.id]
                if room.policy.call is not None:
                    self._glue.call_member_left(room.policy.call, session.user, now, fx)
        for sid in out.close_sessions:
            session = self._sessions.get(sid)
            if session is not None:
                self._end_session(session, "replaced", "replaced", now, fx)
        if room.id in self._rooms:
            expires = room.expires_at()
            if expires is not None and self._armed.get((_ROOM, room.id)) is None:
                self._arm(_ROOM, room.id, expires)
            if (
                room.policy.call is not None
                and room.is_empty()
                and self.calls.get(room.policy.call) is None
            ):
                self._delete_room(room.id, "call_ended", now, fx)

    def _member(self, session: Session, room_id: str) -> tuple[_RoomEntry, str]:
        pid = session.rooms.get(room_id)
        entry = self._rooms.get(room_id)
        if pid is None or entry is None or pid not in entry.room.participants:
            raise CoreError(ErrorCode.NOT_IN_ROOM, f"you are not in room {room_id}")
        return entry, pid

    def _join_room(
        self,
        session: Session,
        entry: _RoomEntry,
        name: str | None,
        invite: str | None,
        now: float,
        fx: list[Effect],
    ) -> p.RoomSnapshot | p.LobbyWait:
        room = entry.room
        if len(session.rooms) >= self.config.max_rooms_per_session and room.id not in session.rooms:
            raise CoreError(
                ErrorCode.TOO_MANY_ROOMS,
                f"a session may be in at most {self.config.max_rooms_per_session} rooms",
            )
        identity = session.identity
        pid = self._ids()
        out = Outbox()
        result = room.join(
            pid=pid,
            session=session.id,
            user=session.user,
            name=name or identity.name,
            grant=identity.grant_for(room.id),
            invite=invite,
            session_pids=session.rooms.values(),
            now=now,
            out=out,
        )
        session.rooms[room.id] = pid
        self._pids[pid] = (room.id, session.id)
        self._flush(entry, out, now, fx)
        return result

    # ================================================================ handlers
    def _hello(
        self, conn: Connection, msg: p.Hello, now: float, fx: list[Effect]
    ) -> p.Welcome | None:
        if conn.session is not None:
            raise CoreError(ErrorCode.ALREADY_WELCOMED, "this connection already said hello")
        if msg.version not in p.SUPPORTED_VERSIONS:
            raise CoreError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {msg.version} is not supported",
                details={"supported": sorted(p.SUPPORTED_VERSIONS)},
            )
        fmt = conn.fmt
        if msg.resume is not None:
            return self._resume(conn, msg, fmt, now, fx)
        identity = conn.identity
        session = Session(self._ids(), identity, self._ids(), fmt)
        self._sessions[session.id] = session
        self._tokens[session.token] = session.id
        self._user_sessions.setdefault(session.user, set()).add(session.id)
        self._attach(conn, session, now)
        fx.append(
            ev.SessionStarted(at=now, session=session.id, user=session.user, connection=conn.id)
        )
        self._glue.ring_pending(session, fx)
        return self._welcome(msg, session, resumed=False, gap=False)

    def _welcome(self, msg: p.Hello, session: Session, *, resumed: bool, gap: bool) -> p.Welcome:
        return p.Welcome(
            id=msg.id,
            version=msg.version,
            session=session.id,
            user=session.user,
            resume_token=session.token,
            limits=self._limits,
            resumed=resumed,
            seq=session.seq,
            gap=gap,
            # After _attach: session.conn is the connection this welcome answers.
            ice_servers=self._conns[session.conn].ice_servers if session.conn else (),
        )

    def _attach(self, conn: Connection, session: Session, now: float) -> None:
        conn.session = session
        session.conn = conn.id
        session.grace_deadline = None
        self._armed.pop((_HS, conn.id), None)
        self._arm(_PING, conn.id, now + self.config.ping_timeout)

    def _resume(
        self, conn: Connection, msg: p.Hello, fmt: Format, now: float, fx: list[Effect]
    ) -> p.Welcome:
        sid = self._tokens.get(msg.resume or "")
        session = self._sessions.get(sid) if sid else None
        if session is None or session.user != conn.identity.user:
            raise CoreError(ErrorCode.RESUME_FAILED, "unknown or expired resume token")
        # ---- checks passed
        if session.conn is not None:
            old = self._conns.get(session.conn)
            session.conn = None
            if old is not None:
                old.session = None
                self._close(old, CloseCode.SESSION_REPLACED, "session taken over", now, fx)
        last = session.seq if msg.last_seq is None else msg.last_seq
        missed = session.missed_since(last) if fmt is session.fmt else None
        gap = missed is None
        del self._tokens[session.token]
        session.token = self._ids()
        self._tokens[session.token] = session.id
        session.fmt = fmt
        self._attach(conn, session, now)
        for frame in missed or ():
            fx.append(Send(conn=conn.id, data=frame, text=fmt is Format.JSON))
        if gap:
            for room_id, pid in session.rooms.items():
                room = self._rooms[room_id].room
                if pid in room.participants:
                    self._deliver(session.id, room.snapshot(pid), fx)
        fx.append(
            ev.SessionResumed(
                at=now, session=session.id, connection=conn.id, replayed=len(missed or ()), gap=gap
            )
        )
        self._presence(session, "connected", now, fx)
        return self._welcome(msg, session, resumed=True, gap=gap)

    def _ping(self, conn: Connection, msg: p.Ping, now: float, fx: list[Effect]) -> p.Pong:
        return p.Pong(id=msg.id)

    def _join(self, conn: Connection, msg: p.Join, now: float, fx: list[Effect]) -> p.Ok:
        session = conn.session
        assert session is not None
        entry = self._rooms.get(msg.room)
        if entry is None:
            if not self.config.auto_create_rooms:
                raise CoreError(ErrorCode.ROOM_NOT_FOUND, f"room {msg.room} does not exist")
            if len(session.rooms) >= self.config.max_rooms_per_session:
                raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
            entry = self._new_room(msg.room, self.config.default_room, now, fx)
        call_id = entry.room.policy.call
        if call_id is not None:
            self._glue.check_call_join(call_id, session.user)
        return p.Ok(
            id=msg.id, result=self._join_room(session, entry, msg.name, msg.invite, now, fx)
        )

    def _leave(self, conn: Connection, msg: p.Leave, now: float, fx: list[Effect]) -> None:
        session = conn.session
        assert session is not None
        pid = session.rooms.get(msg.room)
        entry = self._rooms.get(msg.room)
        if pid is None or entry is None:
            raise CoreError(ErrorCode.NOT_IN_ROOM, f"you are not in room {msg.room}")
        out = Outbox()
        entry.room.leave(pid, "left", now, out)
        if (pid, session.id) not in out.removed:
            out.removed.append((pid, session.id))
        self._flush(entry, out, now, fx)

    def _media(self, conn: Connection, msg: p.MediaState, now: float, fx: list[Effect]) -> None:
        entry, pid = self._member(self._sess(conn), msg.room)
        out = Outbox()
        entry.room.media(
            pid, audio=msg.audio, video=msg.video, screen=msg.screen, hand=msg.hand, out=out
        )
        self._flush(entry, out, now, fx)

    def _moderate(
        self,
        conn: Connection,
        room_id: str,
        now: float,
        fx: list[Effect],
        act: Callable[[Room, str, Outbox], object],
    ) -> None:
        entry, pid = self._member(self._sess(conn), room_id)
        out = Outbox()
        act(entry.room, pid, out)
        self._flush(entry, out, now, fx)

    def _mute(self, conn: Connection, msg: p.Mute, now: float, fx: list[Effect]) -> None:
        self._moderate(
            conn,
            msg.room,
            now,
            fx,
            lambda r, a, o: r.mute(a, msg.target, audio=msg.audio, video=msg.video, out=o),
        )

    def _kick(self, conn: Connection, msg: p.Kick, now: float, fx: list[Effect]) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.kick(a, msg.target, now, o))

    def _transfer_host(
        self, conn: Connection, msg: p.TransferHost, now: float, fx: list[Effect]
    ) -> None:
        self._moderate(
            conn, msg.room, now, fx, lambda r, a, o: r.transfer_host(a, msg.target, now, o)
        )

    def _set_role(self, conn: Connection, msg: p.SetRole, now: float, fx: list[Effect]) -> None:
        role = p.Role(msg.role)
        self._moderate(
            conn, msg.room, now, fx, lambda r, a, o: r.set_role(a, msg.target, role, now, o)
        )

    def _lock(self, conn: Connection, msg: p.Lock, now: float, fx: list[Effect]) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.lock(a, msg.locked, o))

    def _set_layout(self, conn: Connection, msg: p.SetLayout, now: float, fx: list[Effect]) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.set_layout(a, msg.layout, o))

    def _recording(self, conn: Connection, msg: p.Recording, now: float, fx: list[Effect]) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.record(a, msg.action, now, o))

    def _admit(self, conn: Connection, msg: p.Admit, now: float, fx: list[Effect]) -> None:
        self._moderate(
            conn, msg.room, now, fx, lambda r, a, o: r.admit(a, msg.target, msg.allow, now, o)
        )

    def _chat(self, conn: Connection, msg: p.Chat, now: float, fx: list[Effect]) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.chat(a, msg, o))

    def _relay(
        self, conn: Connection, msg: p.Reaction | p.Typing, now: float, fx: list[Effect]
    ) -> None:
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.relay(a, msg, o))

    def _app(self, conn: Connection, msg: p.App, now: float, fx: list[Effect]) -> None:
        size = p.encoded_size(msg.payload)
        if size > p.MAX_APP_PAYLOAD_BYTES:
            raise CoreError(
                ErrorCode.INVALID_MESSAGE,
                f"app payload of {size} bytes exceeds {p.MAX_APP_PAYLOAD_BYTES}",
                details={"field": "payload", "limit": p.MAX_APP_PAYLOAD_BYTES},
            )
        self._moderate(conn, msg.room, now, fx, lambda r, a, o: r.app(a, msg, o))

    def _stats(self, conn: Connection, msg: p.Stats, now: float, fx: list[Effect]) -> None:
        _, pid = self._member(self._sess(conn), msg.room)
        fx.append(ev.StatsReported(at=now, room=msg.room, participant=pid, report=dict(msg.report)))

    @staticmethod
    def _sess(conn: Connection) -> Session:
        session = conn.session
        assert session is not None  # the pipeline guarantees a session past hello
        return session

    # ---------------------------------------------------------------- negotiation
    def _pair(self, conn: Connection, msg: p.Directed) -> tuple[_RoomEntry, str]:
        """The sender's room and participant id, once ``msg.to`` is another member."""
        entry, pid = self._member(self._sess(conn), msg.room)
        if msg.to == pid:
            raise CoreError(ErrorCode.UNKNOWN_PARTICIPANT, "you cannot signal yourself")
        entry.room.member(msg.to)
        return entry, pid

    @staticmethod
    def _polite(entry: _RoomEntry, pid: str, to: str) -> bool:
        """Whether ``pid`` is the polite side of its pair with ``to`` (joined later)."""
        participants = entry.room.participants
        return participants[pid].order > participants[to].order

    def _forward(self, entry: _RoomEntry, pid: str, msg: p.Directed, fx: list[Effect]) -> None:
        self._deliver(self._pids[msg.to][1], msg, fx, from_=pid)

    def _offer(self, conn: Connection, msg: p.Offer, now: float, fx: list[Effect]) -> None:
        entry, pid = self._pair(conn, msg)
        polite = self._polite(entry, pid, msg.to)
        entry.neg.check(pid, msg.to, is_offer=True, sender_polite=polite)
        description = self._validator.offer(msg.sdp)
        entry.neg.record(pid, msg.to, is_offer=True, description=description)
        self._forward(entry, pid, msg, fx)

    def _answer(self, conn: Connection, msg: p.Answer, now: float, fx: list[Effect]) -> None:
        entry, pid = self._pair(conn, msg)
        polite = self._polite(entry, pid, msg.to)
        offer = entry.neg.check(pid, msg.to, is_offer=False, sender_polite=polite)
        description = self._validator.answer(msg.sdp, offer)
        entry.neg.record(pid, msg.to, is_offer=False, description=description)
        self._forward(entry, pid, msg, fx)

    def _described(self, entry: _RoomEntry, pid: str, to: str) -> object:
        description = entry.neg.description_of(pid, to)
        if description is None:
            raise CoreError(
                ErrorCode.NO_DESCRIPTION,
                f"send an offer or answer to {to} before its candidates",
            )
        return description

    def _candidate(self, conn: Connection, msg: p.Candidate, now: float, fx: list[Effect]) -> None:
        entry, pid = self._pair(conn, msg)
        self._validator.candidate(msg, self._described(entry, pid, msg.to))
        self._forward(entry, pid, msg, fx)

    def _end_of_candidates(
        self, conn: Connection, msg: p.EndOfCandidates, now: float, fx: list[Effect]
    ) -> None:
        entry, pid = self._pair(conn, msg)
        self._described(entry, pid, msg.to)
        self._forward(entry, pid, msg, fx)
