"""The edge: connections and sessions, their timers, and every frame written to a socket.

Theory of operation
-------------------
The edge is the half of the core that holds what is bound to a socket. It knows
connections (one per WebSocket), sessions (what survives a dropped connection), resume
tokens, each user's sessions, and the per-connection limits. It numbers every event a
session receives (``seq``), keeps it for replay, and encodes it in the session's codec;
it writes replies and errors; and it keeps each session's seats (room -> participant id)
as the room host reported them (:class:`~rtcsignal.core.seam.Joined` /
:class:`~rtcsignal.core.seam.Left`). It never sees a room's state.

Rules, and why:

* **A dropped connection is not a leave.** :meth:`Edge.close` and :meth:`Edge.drop`
  detach the session and start its reconnect grace; they return the session so that the
  server tells its rooms (``reconnecting``). Only the grace timer, a take-over or a
  duplicate-join replacement ends a session.
* **Resume replays in order, or says there is a gap.** A resume token works once (a new
  one comes with every welcome); the frames after ``last_seq`` are replayed from the
  bounded buffer, or, when some were evicted, the welcome says ``gap`` and the server
  asks the rooms for fresh snapshots.
* **A re-sent request is answered, not applied again.** Every request with an ``id``
  (but ``hello`` and ``ping``) that reaches a handler has its reply remembered in its
  session (:meth:`Edge.remember`), bounded like the replay buffer; the same request with
  the same ``id`` arriving on a *later connection* of the session (a re-send after a
  resume) gets that reply again (:meth:`Edge.recall`) and changes nothing. An id reused
  for a *different* request, or the same request repeated on the *same* connection (its
  reply cannot have been lost there), is a new request as before: applied, and
  remembered in place of the old one. So clients that reuse ids keep working; only a
  re-send across a reconnect is deduplicated. Refusals before the handler (decoding,
  rate limits, handshake) are not remembered: nothing was applied, so a re-send is a
  fresh attempt.
* **A fan-out is encoded once per codec.** A message to many sessions
  (:meth:`Edge.deliver_many`) differs between them only in its ``seq``, so it is encoded
  twice per codec in use, with ``seq`` 0 and 1: the two frames differ in exactly one
  byte (a JSON digit, a MessagePack positive fixint), which splits the frame around its
  ``seq``; each recipient's frame is that head, its own ``seq`` encoded by the same
  encoder, and that tail: the bytes the per-recipient encode would have written.
* **Timers** (handshake, ping, grace) are one :class:`~rtcsignal.core._timers.Deadlines`
  keyed by ``(kind, id)``. Handshake and ping deadlines move by themselves (a frame
  moves ``last_seen``), so they are settled lazily against the connection's state
  rather than re-armed per frame.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import CloseCode, ErrorCode, Format
from rtcsignal.ratelimit import InboundLimiter, OnDeny, Verdict

from . import events as ev
from ._config import ServerConfig
from ._effects import Close, Effect, Send
from ._errors import CoreError
from ._identity import Identity
from ._session import ANSWER_OVERHEAD_BYTES, Connection, Session
from ._timers import Deadlines
from .cluster import SessionState

__all__ = ["Edge", "EdgeTimer"]


class EdgeTimer(enum.Enum):
    """The kinds of the edge's timers (keyed with a connection or session id)."""

    HANDSHAKE = "handshake"
    """A connection must say ``hello`` within ``handshake_timeout`` (key: connection)."""
    PING = "ping"
    """A connection silent for ``ping_timeout`` counts as dropped (key: connection)."""
    GRACE = "grace"
    """A detached session ends after ``reconnect_grace`` (key: session)."""


_HS, _PING, _GRACE = EdgeTimer.HANDSHAKE, EdgeTimer.PING, EdgeTimer.GRACE
_ENCODE_JSON = p.encoder(Format.JSON)
_ENCODE_MSGPACK = p.encoder(Format.MSGPACK)
SPLICE_FROM: Final = 3
"""Recipients from which :meth:`Edge.deliver_many` encodes once and splices each ``seq``
in: splicing costs two encodes per codec up front, which one or two per-recipient
encodes cost as well."""

Parts = tuple[bytes, bytes, Callable[[Any], bytes]]
"""A frame split around its ``seq`` (head, tail), and the encoder of the ``seq`` value."""


def splice_parts(zero: p.Message, one: p.Message, encode: Callable[[Any], bytes]) -> Parts:
    """The frame of ``zero`` (a message with ``seq=0``) split around its ``seq``: the head
    before it and the tail after it, found as the one byte where it differs from the
    frame of ``one`` (the same message with ``seq=1``)."""
    a, b = encode(zero), encode(one)
    # the highest differing bit of the two big-endian numbers is in the first differing byte
    diff = (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()
    i = len(a) - 1 - (diff - 1) // 8
    return a[:i], a[i + 1 :], encode


class Edge:
    """Connections, sessions, seq numbering and replay. See the module docstring.

    Args:
        config: the core's configuration (timeouts, replay bounds, frame size).
        ids: the id factory (connections, sessions, resume tokens).
        limiter: the inbound rate limits (connections are forgotten here on close).
        serial: the arming order shared with the room host's timers.
        token_prefix: put before every resume token (a cluster instance's ``"<node>."``,
            so that any instance knows where a token's session lives).
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        ids: Callable[[], str],
        limiter: InboundLimiter,
        serial: Iterator[int],
        token_prefix: str = "",
    ) -> None:
        self.config = config
        self._ids = ids
        self._prefix = token_prefix
        self.limiter = limiter
        self.conns: dict[str, Connection] = {}
        self.sessions: dict[str, Session] = {}
        self.tokens: dict[str, str] = {}
        """resume token -> session id."""
        self._user_sessions: dict[str, set[str]] = {}
        self.timers: Deadlines[tuple[EdgeTimer, str]] = Deadlines(self._real, serial=serial)
        """Handshake, ping and grace deadlines."""
        self._replay_events = config.replay_events
        self._replay_bytes = config.replay_bytes
        self._limits = p.ServerLimits(
            max_frame_bytes=config.max_frame_bytes,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
            reconnect_grace=config.reconnect_grace,
            max_rooms=config.max_rooms_per_session,
            max_chat_chars=p.MAX_CHAT_CHARS,
        )

    # ================================================================ connections
    def connect(self, identity: Identity, now: float, ice_servers: Sequence[p.IceServer]) -> str:
        """Register a connection; it must ``hello`` within ``handshake_timeout``."""
        conn_id = self._ids()
        self.conns[conn_id] = Connection(conn_id, identity, now, tuple(ice_servers))
        self.timers.arm((_HS, conn_id), now + self.config.handshake_timeout)
        return conn_id

    def close(
        self, conn: Connection, code: int, reason: str, now: float, fx: list[Effect]
    ) -> Session | None:
        """Close ``conn`` now (it is forgotten). Returns: its session, if that now
        enters its reconnect grace (the rooms must hear it is ``reconnecting``)."""
        if self.conns.pop(conn.id, None) is None:
            return None
        fx.append(Close(conn=conn.id, code=int(code), reason=reason))
        fx.append(ev.ConnectionClosed(at=now, connection=conn.id, code=int(code), reason=reason))
        self._forget(conn)
        return self._detach(conn, now)

    def drop(self, conn_id: str, now: float) -> Session | None:
        """The transport dropped ``conn_id`` (idempotent). Returns: as :meth:`close`."""
        conn = self.conns.pop(conn_id, None)
        if conn is None:
            return None
        self._forget(conn)
        return self._detach(conn, now)

    def _forget(self, conn: Connection) -> None:
        self.limiter.forget_connection(conn.id)
        self.timers.disarm((_HS, conn.id))
        self.timers.disarm((_PING, conn.id))

    def _detach(self, conn: Connection, now: float) -> Session | None:
        session = conn.session
        if session is None or session.conn != conn.id:
            return None
        session.conn = None
        session.grace_deadline = now + self.config.reconnect_grace
        self.timers.arm((_GRACE, session.id), session.grace_deadline)
        return session

    def _attach(self, conn: Connection, session: Session, now: float) -> None:
        conn.session = session
        session.conn = conn.id
        session.grace_deadline = None
        self.timers.disarm((_HS, conn.id))
        self.timers.arm((_PING, conn.id), now + self.config.ping_timeout)

    # ================================================================ writing
    def send(self, conn_id: str, message: p.Message, fx: list[Effect]) -> int:
        """Encode ``message`` in the connection's codec and write it (not numbered).

        Returns: the size of the frame written."""
        conn = self.conns[conn_id]
        fmt = conn.session.fmt if conn.session else conn.fmt
        data = p.encode(message, fmt)
        fx.append(Send(conn=conn_id, data=data, text=fmt is Format.JSON))
        return len(data)

    def reply_error(
        self,
        conn: Connection,
        fmt: Format,
        code: ErrorCode,
        message: str,
        request_id: int | str | None,
        details: dict[str, Any] | None,
        now: float,
        fx: list[Effect],
        retry_after: float | None = None,
    ) -> p.Error:
        """Answer a request with one ``error`` (and a :class:`RequestRejected` event).

        Returns: the error sent."""
        if conn.session is None:
            conn.fmt = fmt
        error = p.Error(
            id=request_id,
            code=code.value,
            message=message,
            details=details,
            retry_after=retry_after,
        )
        self.send(conn.id, error, fx)
        fx.append(
            ev.RequestRejected(
                at=now,
                connection=conn.id,
                session=conn.session.id if conn.session else None,
                message_type=None,
                code=code.value,
            )
        )
        return error

    # ================================================================ answered requests
    def deny(
        self,
        conn: Connection,
        fmt: Format,
        msg: p.ClientMessage,
        kind: str,
        verdict: Verdict,
        now: float,
        fx: list[Effect],
    ) -> bool:
        """Answer a message the rate limits denied (a ``rate_limited`` error unless the
        kind drops silently and nothing waits for a reply).

        Returns: whether the connection struck out and must be closed (1008)."""
        action = verdict.action
        assert action is not None
        fx.append(
            ev.RateLimitDenied(
                at=now,
                connection=conn.id,
                message_type=kind,
                scope=verdict.scope,
                action=action.value,
            )
        )
        request_id = getattr(msg, "id", None)
        if action is OnDeny.DROP and request_id is None:
            return False
        self.reply_error(
            conn,
            fmt,
            ErrorCode.RATE_LIMITED,
            f"too many {kind} messages ({verdict.scope} limit); "
            f"retry in {verdict.retry_after:.3f} s",
            request_id,
            {"scope": verdict.scope},
            now,
            fx,
            verdict.retry_after,
        )
        return action is OnDeny.CLOSE

    @staticmethod
    def recall(session: Session, msg: p.Message, conn_id: str) -> p.Ok | p.Error | None:
        """The reply already sent to request ``msg`` of ``session`` if the same request
        (equal once decoded: field order and codec do not matter) is remembered under its
        ``id`` and came on another connection than ``conn_id``; ``None`` otherwise: a
        request to apply. Costs one dict lookup, and a comparison only on a hit."""
        entry = session.answered.get(msg.id)  # type: ignore[attr-defined]
        if entry is None or entry[3] == conn_id or entry[0] != msg:
            return None
        return entry[1]

    def remember(
        self,
        session: Session,
        msg: p.Message,
        size: int,
        reply: p.Ok | p.Error,
        conn_id: str,
    ) -> None:
        """Keep ``reply`` as the answer to request ``msg`` (``size`` bytes of request
        and reply frames) that came on ``conn_id``, in place of an older answer under
        its ``id``, evicting the oldest answers beyond ``replay_events`` entries or
        ``replay_bytes`` bytes (the newest is always kept)."""
        answered = session.answered
        request_id: int | str = msg.id  # type: ignore[attr-defined]
        old = answered.pop(request_id, None)
        if old is not None:
            session.answered_bytes -= old[2]
        cost = size + ANSWER_OVERHEAD_BYTES
        answered[request_id] = (msg, reply, cost, conn_id)
        session.answered_bytes += cost
        while len(answered) > 1 and (
            len(answered) > self._replay_events or session.answered_bytes > self._replay_bytes
        ):
            session.answered_bytes -= answered.pop(next(iter(answered)))[2]

    def deliver(
        self, sid: str, message: p.Message, fx: list[Effect], from_: str | None = None
    ) -> None:
        """Number ``message`` in session ``sid``'s stream (a relayed request stamped
        ``from_``, without its request id, in the same copy), keep it for replay, and
        send it if the session is connected. A session this edge does not hold is
        skipped."""
        session = self.sessions.get(sid)
        if session is None:
            return
        seq = session.seq = session.seq + 1
        fmt = session.fmt
        if from_ is None:
            message = msgspec.structs.replace(message, seq=seq)
        else:
            message = msgspec.structs.replace(message, seq=seq, id=None, from_=from_)
        frame = (_ENCODE_JSON if fmt is Format.JSON else _ENCODE_MSGPACK)(message)
        replay = session.replay  # keep it for replay, within the bounds
        replay.append((seq, frame))
        session.replay_bytes += len(frame)
        if len(replay) > self._replay_events or session.replay_bytes > self._replay_bytes:
            session.trim(self._replay_events, self._replay_bytes)
        if session.conn is not None:
            fx.append(Send(conn=session.conn, data=frame, text=fmt is Format.JSON))

    def deliver_many(
        self,
        sids: Sequence[str],
        message: p.Message,
        fx: list[Effect],
        from_: str | None = None,
    ) -> None:
        """:meth:`deliver` to each of ``sids`` in order, each frame the bytes
        :meth:`deliver` writes, the message encoded once per codec (from
        :data:`SPLICE_FROM` recipients; see the module docstring)."""
        if len(sids) < SPLICE_FROM:
            for sid in sids:
                self.deliver(sid, message, fx, from_)
            return
        if from_ is None:
            zero = msgspec.structs.replace(message, seq=0)
        else:
            zero = msgspec.structs.replace(message, seq=0, id=None, from_=from_)
        one = msgspec.structs.replace(zero, seq=1)
        text_parts: Parts | None = None
        binary_parts: Parts | None = None
        sessions, max_events, max_bytes = self.sessions, self._replay_events, self._replay_bytes
        for sid in sids:
            session = sessions.get(sid)
            if session is None:
                continue
            seq = session.seq = session.seq + 1
            text = session.fmt is Format.JSON
            if text:
                parts = text_parts = text_parts or splice_parts(zero, one, _ENCODE_JSON)
            else:
                parts = binary_parts = binary_parts or splice_parts(zero, one, _ENCODE_MSGPACK)
            frame = b"".join((parts[0], parts[2](seq), parts[1]))
            replay = session.replay  # keep it for replay, within the bounds
            replay.append((seq, frame))
            session.replay_bytes += len(frame)
            if len(replay) > max_events or session.replay_bytes > max_bytes:
                session.trim(max_events, max_bytes)
            if session.conn is not None:
                fx.append(Send(conn=session.conn, data=frame, text=text))

    def deliver_user(
        self, user: str, message: p.Message, fx: list[Effect], *, except_session: str | None = None
    ) -> None:
        """:meth:`deliver` to every session of ``user`` (in session id order)."""
        sids = sorted(self._user_sessions.get(user, ()))
        if except_session in sids:
            sids.remove(except_session)
        self.deliver_many(sids, message, fx)

    # ================================================================ seats
    def seat(self, session_id: str, room: str, pid: str) -> None:
        """Record that ``session_id`` has participant (or lobby entry) ``pid`` in ``room``."""
        session = self.sessions.get(session_id)
        if session is not None:
            session.rooms[room] = pid

    def unseat(self, session_id: str, room: str, pid: str) -> None:
        """Forget ``session_id``'s seat ``pid`` in ``room`` (if it is still that one)."""
        session = self.sessions.get(session_id)
        if session is not None and session.rooms.get(room) == pid:
            del session.rooms[room]

    # ================================================================ sessions
    def counts(self, user: str) -> tuple[int, int]:
        """``(sessions, connected)`` of ``user`` on this edge."""
        sids = self._user_sessions.get(user, ())
        sessions = self.sessions
        return len(sids), sum(1 for sid in sids if sessions[sid].conn is not None)

    def users(self) -> list[str]:
        """Every user with a session on this edge, sorted."""
        return sorted(self._user_sessions)

    def oldest_reconnecting(self, user: str) -> Session | None:
        """``user``'s reconnecting session nearest the end of its grace, if any (the one
        a new session past ``max_sessions_per_user`` ends)."""
        sessions = map(self.sessions.__getitem__, self._user_sessions.get(user, ()))
        ghosts = [s for s in sessions if s.conn is None and not s.ended]
        return min(ghosts, key=lambda s: (s.grace_deadline or 0.0, s.id)) if ghosts else None

    def start_session(self, conn: Connection, now: float, fx: list[Effect]) -> Session:
        """``hello`` without a resume token: a new session on ``conn``."""
        session = Session(self._ids(), conn.identity, self._token(), conn.fmt)
        self.sessions[session.id] = session
        self.tokens[session.token] = session.id
        self._user_sessions.setdefault(session.user, set()).add(session.id)
        self._attach(conn, session, now)
        fx.append(
            ev.SessionStarted(at=now, session=session.id, user=session.user, connection=conn.id)
        )
        return session

    def resume(
        self, conn: Connection, msg: p.Hello, now: float, fx: list[Effect]
    ) -> tuple[Session, int, bool]:
        """``hello`` with a resume token: take the session over on ``conn`` (closing its
        older connection), rotate its token and replay what it missed.

        Returns:
            The session, how many frames were replayed, and whether there is a gap
            (some were evicted, or the codec changed): then the rooms must send fresh
            snapshots.

        Raises:
            CoreError: ``resume_failed`` (unknown token, or another user's session).
        """
        sid = self.tokens.get(msg.resume or "")
        session = self.sessions.get(sid) if sid else None
        if session is None or session.user != conn.identity.user:
            raise CoreError(ErrorCode.RESUME_FAILED, "unknown or expired resume token")
        # ---- checks passed
        fmt = conn.fmt
        if session.conn is not None:
            old = self.conns.get(session.conn)
            session.conn = None
            if old is not None:
                old.session = None
                self.close(old, CloseCode.SESSION_REPLACED, "session taken over", now, fx)
        last = session.seq if msg.last_seq is None else msg.last_seq
        # a last_seq beyond anything sent is a client bug: resynchronize it (a gap)
        missed = session.missed_since(last) if fmt is session.fmt and last <= session.seq else None
        del self.tokens[session.token]
        session.token = self._token()
        self.tokens[session.token] = session.id
        if fmt is not session.fmt:  # the kept frames are in the other codec: never replay them
            session.replay.clear()
            session.replay_bytes = 0
        session.fmt = fmt
        self._attach(conn, session, now)
        for frame in missed or ():
            fx.append(Send(conn=conn.id, data=frame, text=fmt is Format.JSON))
        return session, len(missed or ()), missed is None

    def _token(self) -> str:
        return self._prefix + self._ids()

    def hand_off(self, session: Session, now: float, fx: list[Effect]) -> SessionState:
        """Give ``session`` to another instance (it resumes there): close its connection
        (4000), forget it here without ending it, and return its state."""
        if session.conn is not None:
            conn = self.conns.get(session.conn)
            session.conn = None
            if conn is not None:
                conn.session = None
                self.close(conn, CloseCode.SESSION_REPLACED, "session taken over", now, fx)
        state = SessionState(
            sender=session.sender,
            fmt=0 if session.fmt is Format.JSON else 1,
            seq=session.seq,
            replay=list(session.replay),
            rooms=dict(session.rooms),
            answered=list(session.answered.values()),  # type: ignore[arg-type]
        )
        del self.sessions[session.id]
        self.tokens.pop(session.token, None)
        self._unindex(session)
        self.timers.disarm((_GRACE, session.id))
        return state

    def adopt(self, state: SessionState, token: str, now: float) -> Session:
        """Take over a session another instance handed off (:meth:`hand_off`), detached
        and in its grace, under its resume ``token``, until a connection resumes it."""
        sender = state.sender
        identity = Identity(
            user=sender.user,
            name=sender.name,
            grants=sender.grants,
            hidden=sender.hidden,
            can_update_metadata=sender.can_update_metadata,
        )
        fmt = Format.JSON if state.fmt == 0 else Format.MSGPACK
        session = Session(sender.session, identity, token, fmt)
        session.seq = state.seq
        session.replay.extend(state.replay)
        session.replay_bytes = sum(len(frame) for _, frame in state.replay)
        session.rooms.update(state.rooms)
        for entry in state.answered:
            session.answered[entry[0].id] = entry  # type: ignore[index]
            session.answered_bytes += entry[2]
        self.sessions[session.id] = session
        self.tokens[token] = session.id
        self._user_sessions.setdefault(session.user, set()).add(session.id)
        session.grace_deadline = now + self.config.reconnect_grace
        self.timers.arm((_GRACE, session.id), session.grace_deadline)
        return session

    def _unindex(self, session: Session) -> None:
        users = self._user_sessions.get(session.user)
        if users is not None:
            users.discard(session.id)
            if not users:
                del self._user_sessions[session.user]

    def welcome(self, msg: p.Hello, session: Session, *, resumed: bool, gap: bool) -> p.Welcome:
        """The ``welcome`` answering ``msg`` on the session's (new) connection."""
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
            # session.conn is the connection this welcome answers.
            ice_servers=self.conns[session.conn].ice_servers if session.conn else (),
        )

    def finish_session(self, session: Session, why: str, now: float, fx: list[Effect]) -> None:
        """Forget ``session`` for good, once its rooms have seen it leave: its token, its
        place in the user index, its grace timer, its connection (closed 4000)."""
        session.rooms.clear()
        del self.sessions[session.id]
        self.tokens.pop(session.token, None)
        self._unindex(session)
        self.timers.disarm((_GRACE, session.id))
        if session.conn is not None:
            conn = self.conns.get(session.conn)
            session.conn = None
            if conn is not None:
                conn.session = None
                self.close(conn, CloseCode.SESSION_REPLACED, f"session {why}", now, fx)
        fx.append(ev.SessionEnded(at=now, session=session.id, user=session.user, reason=why))

    # ================================================================ timers
    def _real(self, key: tuple[EdgeTimer, str]) -> float | None:
        kind, ident = key
        if kind is _GRACE:
            session = self.sessions.get(ident)
            return None if session is None or session.conn is not None else session.grace_deadline
        conn = self.conns.get(ident)
        if conn is None:
            return None
        if kind is _HS:
            if conn.session is not None:
                return None
            return conn.opened_at + self.config.handshake_timeout
        if conn.session is None:
            return None
        return conn.last_seen + self.config.ping_timeout

    def reconnecting(self) -> int:
        """Returns: the number of sessions inside their reconnect grace."""
        return sum(1 for s in self.sessions.values() if s.conn is None)
