"""The asynchronous client: one logical session over as many connections as it takes."""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import anyio
import anyio.abc
import attrs
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from rtcsignal import protocol as p

from ._backoff import Backoff, unavailable_delay
from ._errors import (
    ClientClosed,
    ConnectionLost,
    RequestError,
    RequestTimeout,
    SendQueueFull,
)
from ._events import ClientEvent, Connected, Disconnected, SessionReset, Stopped
from ._transport import Closed, HandshakeRejected, Transport, open_websocket

__all__ = [
    "Client",
    "ClientEvent",
    "Connected",
    "Disconnected",
    "SessionReset",
    "State",
    "Stopped",
    "TransportFactory",
    "connect",
]

logger = logging.getLogger("rtcsignal.client")

State = Literal["connecting", "connected", "reconnecting", "closed"]

#: Close codes after which reconnecting makes sense (everything else is final: auth
#: failure 4003, session taken over 4000, abuse 1008, oversize 1009, protocol errors).
RETRYABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014, 4001, 4002, 4008})

_NORMAL = 1000
_GAVE_UP = "gave up reconnecting"


TransportFactory = Callable[[str], Awaitable[Transport]]


class _Pending:
    __slots__ = ("error", "event", "id", "reply")

    def __init__(self, request_id: int) -> None:
        self.id = request_id
        self.event = anyio.Event()
        self.reply: p.ServerMessage | None = None
        self.error: BaseException | None = None

    def resolve(self, reply: p.ServerMessage | None, error: BaseException | None) -> None:
        if not self.event.is_set():
            self.reply, self.error = reply, error
            self.event.set()


@attrs.define
class _Out:
    frame: str | bytes
    pending: _Pending | None = None


class _Gap(Exception):
    pass


class Client:
    """A signaling client. Make one with :func:`connect`; see ``docs/client.md``.

    Every request method sends a message with a fresh ``id`` and returns the server's
    one reply: the ``ok`` result, or raises :class:`RequestError` for an ``error``.
    Server events are read from :meth:`events`.

    ``retry_unavailable``: how many times a request refused with
    ``backplane_unavailable`` (a cluster's owner of the room did not answer in time) is
    re-sent, with the same ``id``, after the error's ``retry_after``, before the error is
    raised (0: never). The server answers such a retry with its first outcome.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        token: str | None = None,
        binary: bool = False,
        backoff: Backoff | None = None,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_queued: int = 1000,
        max_events: int = 10_000,
        rejoin: bool = True,
        retry_unavailable: int = 3,
        transport: TransportFactory | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        items = list(headers.items() if isinstance(headers, Mapping) else headers)
        if token is not None:
            items.append(("Authorization", f"Bearer {token}"))
        self.url = url
        self.backoff = backoff or Backoff()
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_queued = max_queued
        self.rejoin = rejoin
        if retry_unavailable < 0:
            raise ValueError(f"retry_unavailable must be >= 0, not {retry_unavailable!r}")
        self.retry_unavailable = retry_unavailable
        self._binary = binary
        self._fmt = p.Format.MSGPACK if binary else p.Format.JSON
        self._factory: TransportFactory = transport or (lambda u: open_websocket(u, headers=items))
        self._rand = rand
        #: ``connecting``, ``connected``, ``reconnecting`` or ``closed``.
        self.state: State = "connecting"
        #: The session id, from the first welcome on.
        self.session: str | None = None
        #: The authenticated user id the server gave this client.
        self.user: str | None = None
        #: The latest welcome (limits, resume token ...).
        self.welcome: p.Welcome | None = None
        #: The ``seq`` of the last event delivered to :meth:`events`.
        self.last_seq = 0
        self._resume: str | None = None
        self._resync_until = 0
        self._ids = itertools.count(1)
        self._outbox: deque[_Out] = deque()
        self._wake = anyio.Event()
        self._pending: dict[int, _Pending] = {}
        self._inflight: dict[int, _Out] = {}  # sent on this connection, unanswered, in order
        self._unanswered: set[int] = set()  # sent on an earlier connection, re-sent on resume
        self._rooms: dict[str, p.Join] = {}
        self._send_events: MemoryObjectSendStream[ClientEvent]
        self._recv_events: MemoryObjectReceiveStream[ClientEvent]
        self._send_events, self._recv_events = anyio.create_memory_object_stream[ClientEvent](
            max_events
        )
        self._ws: Transport | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._scope: anyio.CancelScope | None = None
        self._closed: ClientClosed | None = None
        self._heard = 0.0
        self._dropped = False

    # ------------------------------------------------------------------ lifecycle
    async def _start(self, tg: anyio.abc.TaskGroup, ws: Transport) -> None:
        self._tg = tg
        tg.start_soon(self._run, ws)

    async def aclose(self, code: int = _NORMAL, reason: str = "closed by the client") -> None:
        """Close the connection and the client: pending requests raise
        :class:`ClientClosed`, :meth:`events` ends with :class:`Stopped`. Idempotent."""
        if self._closed is not None:
            return
        self._finish(code, reason)
        ws, self._ws = self._ws, None
        if ws is not None:
            with anyio.CancelScope(shield=True):
                await ws.close(code, reason)

    def _finish(self, code: int, reason: str) -> None:
        # The first end wins: the reconnect loop can reach its own end (gave up, refused)
        # before the cancellation of an aclose() that already finished the client.
        if self._closed is not None:
            return
        self._closed = ClientClosed(code, reason)
        self.state = "closed"
        for pending in list(self._pending.values()):
            pending.resolve(None, self._closed)
        self._outbox.clear()
        if self._scope is not None:
            self._scope.cancel()
        with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError):
            self._send_events.send_nowait(Stopped(code, reason))
        self._send_events.close()

    async def _run(self, ws: Transport) -> None:
        with anyio.CancelScope() as self._scope:
            while True:
                code, reason = await self._serve(ws)
                if self._closed is not None:
                    return
                if code not in RETRYABLE_CLOSE_CODES:
                    self._finish(code, reason)
                    return
                next_ws = await self._reconnect(code, reason)
                if next_ws is None:
                    return
                ws = next_ws

    async def _reconnect(self, code: int, reason: str) -> Transport | None:
        self.state = "reconnecting"
        attempt = 0
        while True:
            if self.backoff.gives_up(attempt):
                self._finish(code, f"{_GAVE_UP} after {attempt} attempts: {reason}")
                return None
            delay = self.backoff.delay(attempt, self._rand)
            await self._emit(Disconnected(code, reason, attempt, delay))
            await anyio.sleep(delay)
            try:
                return await self._dial()
            except ClientClosed as exc:
                self._finish(exc.code, exc.reason)
                return None
            except (OSError, Closed, HandshakeRejected, TimeoutError) as exc:
                code = exc.code if isinstance(exc, Closed) else 1006
                reason = str(exc) or type(exc).__name__
                logger.info("rtcsignal client: reconnect attempt %d failed: %s", attempt, reason)
                attempt += 1

    async def _dial(self) -> Transport:
        """One connection with its welcome; raises on failure (ClientClosed when final)."""
        with anyio.fail_after(self.connect_timeout):
            try:
                ws = await self._factory(self.url)
            except HandshakeRejected as exc:
                if 400 <= exc.status < 500:
                    raise ClientClosed(
                        4003 if exc.status in (401, 403) else 1002, str(exc)
                    ) from exc
                raise
            try:
                await self._handshake(ws)
            except Closed as exc:
                with anyio.CancelScope(shield=True):
                    await ws.close()
                if exc.code not in RETRYABLE_CLOSE_CODES:
                    raise ClientClosed(exc.code, exc.reason) from exc
                raise
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await ws.close()
                raise
        return ws

    async def _handshake(self, ws: Transport) -> None:
        while True:
            hello = p.Hello(
                id=next(self._ids),
                version=p.PROTOCOL_VERSION,
                resume=self._resume,
                last_seq=self.last_seq if self._resume is not None else None,
            )
            await ws.send(self._frame(hello))
            while True:
                try:
                    reply = p.decode_server(await ws.receive())
                except p.ProtocolError:
                    continue
                if isinstance(reply, p.Welcome | p.Error) and reply.id == hello.id:
                    break
            if isinstance(reply, p.Welcome):
                await self._welcomed(reply)
                self._ws = ws
                return
            if reply.code == p.ErrorCode.RESUME_FAILED and self._resume is not None:
                await self._reset(reply.message)
                continue
            raise ClientClosed(1002, f"hello refused: {reply.code}: {reply.message}")

    async def _reset(self, reason: str) -> None:
        """The session is gone: start a new one, and join its rooms again."""
        rooms = tuple(self._rooms)
        self._resume = None
        # A new session remembers none of the old one's requests: those sent and
        # unanswered (or waiting to be retried) may or may not have been applied; they
        # are not sent again.
        lost = ConnectionLost("the session ended before the reply came")
        for rid in self._unanswered:
            pending = self._pending.get(rid)
            if pending is not None:
                pending.resolve(None, lost)  # the writer skips it
        self._unanswered.clear()
        self.last_seq = 0
        self._resync_until = 0
        await self._emit(SessionReset(reason, rooms if self.rejoin else ()))
        joins = list(self._rooms.values()) if self.rejoin else []
        self._rooms.clear()
        for join in reversed(joins):  # ahead of whatever was queued meanwhile
            self._rejoin(join)

    def _rejoin(self, join: p.Join) -> None:
        async def rejoin() -> None:
            try:
                result = await self._request(join, front=True)
            except RequestError as exc:
                await self._emit(p.Error(code=exc.code, message=exc.message, details=exc.details))
                return
            except (ClientClosed, ConnectionLost, RequestTimeout):
                return
            if isinstance(result, p.RoomSnapshot):
                self._rooms[join.room] = join  # kept for the next reset too
                await self._emit(result)

        assert self._tg is not None
        self._tg.start_soon(rejoin)

    async def _welcomed(self, welcome: p.Welcome) -> None:
        self.welcome = welcome
        self.session = welcome.session
        self.user = welcome.user
        self._resume = welcome.resume_token
        if not welcome.resumed:
            self.last_seq = welcome.seq
        elif welcome.gap:
            self._resync_until = welcome.seq
        self.state = "connected"
        self._heard = anyio.current_time()
        await self._emit(Connected(welcome.session, welcome.resumed, welcome.gap, welcome))

    # ------------------------------------------------------------------ one connection
    async def _serve(self, ws: Transport) -> tuple[int, str]:
        self._ws = ws
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._writer, ws)
                tg.start_soon(self._pinger, ws)
                try:
                    code, reason = await self._reader(ws)
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._ws = None
            # Requests sent but unanswered go first when the session resumes, with their
            # own id: the server answers a re-send with its first reply (exactly once).
            for rid, item in reversed(self._inflight.items()):
                pending = self._pending.get(rid)
                if pending is not None and not pending.event.is_set():
                    self._outbox.appendleft(item)
                    self._unanswered.add(rid)
            self._inflight.clear()
            with anyio.CancelScope(shield=True):
                await ws.close()
        return code, reason

    async def _reader(self, ws: Transport) -> tuple[int, str]:
        while True:
            try:
                data = await ws.receive()
            except Closed as exc:
                if self._dropped:
                    self._dropped = False
                    return 1006, "dropped by the application"
                return exc.code, exc.reason
            self._heard = anyio.current_time()
            try:
                message = p.decode_server(data)
            except p.ProtocolError as exc:
                logger.warning("rtcsignal client: undecodable frame from the server: %s", exc)
                continue
            try:
                await self._dispatch(message)
            except _Gap as gap:
                logger.info("rtcsignal client: %s; resuming to heal it", gap)
                return 1006, str(gap)

    async def _dispatch(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.Ok | p.Error | p.Pong | p.Welcome) and message.id is not None:
            rid = message.id
            pending = self._pending.get(rid) if isinstance(rid, int) else None
            if pending is not None:
                self._inflight.pop(pending.id, None)
                self._unanswered.discard(pending.id)
                if isinstance(message, p.Error):
                    error = RequestError(
                        message.code, message.message, message.details, message.retry_after
                    )
                    pending.resolve(message, error)
                else:
                    pending.resolve(message, None)
                return
            if not isinstance(message, p.Error) or isinstance(rid, int):
                return  # a late reply to a request that timed out or was cancelled
        seq = getattr(message, "seq", None)
        if isinstance(seq, int) and not isinstance(message, p.Welcome):
            if seq <= self.last_seq:
                return  # already delivered (a replay overlapping what came before)
            if seq <= self._resync_until:
                pass  # fresh snapshots after a gap: numbered, not contiguous with ours
            elif seq != self.last_seq + 1:
                raise _Gap(f"event seq {seq} after {self.last_seq}")
            self.last_seq = seq
        self._track(message)
        await self._emit(message)

    def _track(self, message: p.ServerMessage) -> None:
        """Keep the set of joined rooms (for re-joining after a session reset)."""
        if isinstance(message, p.Removed):
            self._rooms.pop(message.room, None)
        elif isinstance(message, p.RoomSnapshot) and message.room not in self._rooms:
            self._rooms[message.room] = p.Join(room=message.room)

    async def _writer(self, ws: Transport) -> None:
        outbox = self._outbox
        while True:
            if not outbox:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            item = outbox.popleft()
            pending = item.pending
            if pending is not None:
                if pending.event.is_set():
                    continue  # timed out or cancelled before it could be sent
                self._inflight[pending.id] = item
            try:
                await ws.send(item.frame)
            except Closed:
                outbox.appendleft(item)
                if pending is not None:
                    self._inflight.pop(pending.id, None)
                await ws.close()
                return

    async def _pinger(self, ws: Transport) -> None:
        welcome = self.welcome
        assert welcome is not None
        interval = welcome.limits.ping_interval
        timeout = welcome.limits.ping_timeout
        ping = self._frame(p.Ping())
        while True:
            await anyio.sleep(interval)
            if anyio.current_time() - self._heard > timeout:
                logger.info("rtcsignal client: nothing heard for %.1f s; reconnecting", timeout)
                await ws.close(4001, "ping timeout")
                return
            self._enqueue(_Out(ping))

    # ------------------------------------------------------------------ plumbing
    def _frame(self, message: p.Message) -> str | bytes:
        data = p.encode(message, self._fmt)
        return data if self._binary else data.decode()

    def _enqueue(self, item: _Out, *, front: bool = False) -> None:
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._wake.set()

    async def _emit(self, event: ClientEvent) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._send_events.send(event)

    def _check_open(self) -> None:
        if self._closed is not None:
            raise self._closed

    async def _request(
        self, message: p.Request, *, timeout: float | None = None, front: bool = False
    ) -> Any:
        self._check_open()
        if len(self._outbox) >= self.max_queued:
            raise SendQueueFull(f"{len(self._outbox)} messages are already waiting to be sent")
        rid = next(self._ids)
        frame = self._frame(msgspec.structs.replace(message, id=rid))
        limit = self.request_timeout if timeout is None else timeout
        retries, delay = 0, 0.0
        while True:  # bounded: at most 1 + retry_unavailable attempts
            pending = _Pending(rid)
            self._pending[rid] = pending
            try:
                if retries:
                    # Refused with backplane_unavailable: the same frame, the same id, in a
                    # while (never two at once). The wait ends early on a close, or on a
                    # session reset (_reset: a new session would apply it a second time).
                    self._unanswered.add(rid)
                    with anyio.move_on_after(delay):
                        await pending.event.wait()
                if not pending.event.is_set():
                    self._enqueue(_Out(frame, pending), front=front)
                    with anyio.fail_after(limit):
                        await pending.event.wait()
            except TimeoutError:
                raise RequestTimeout(
                    f"no reply to {type(message).__name__} within {limit} s"
                ) from None
            finally:
                pending.event.set()  # a request still queued is dropped by the writer
                self._pending.pop(rid, None)
                self._inflight.pop(rid, None)
                self._unanswered.discard(rid)
            error = pending.error
            if error is None:
                break
            if (
                not isinstance(error, RequestError)
                or error.code != p.ErrorCode.BACKPLANE_UNAVAILABLE
                or retries >= self.retry_unavailable
            ):
                raise error
            retries += 1
            delay = unavailable_delay(error.retry_after, self._rand)
            logger.info(
                "rtcsignal client: %s %s refused with backplane_unavailable; retry %d of %d "
                "in %.2f s", type(message).__name__, rid, retries, self.retry_unavailable, delay,
            )  # fmt: skip
        reply = pending.reply
        return reply.result if isinstance(reply, p.Ok) else reply

    # ------------------------------------------------------------------ public API
    @property
    def ice_servers(self) -> tuple[p.IceServer, ...]:
        """The STUN/TURN servers of the latest ``welcome`` (TURN credentials minted for
        this user at this connection; fresh ones come with every resume), empty before
        the first welcome or when the server configures none. Hand them to your
        ``RTCPeerConnection`` (aiortc: ``RTCIceServer(list(s.urls), s.username,
        s.credential)``).
        """
        return () if self.welcome is None else self.welcome.ice_servers

    def events(self) -> MemoryObjectReceiveStream[ClientEvent]:
        """The stream of events: ``async for event in client.events(): ...``.

        Server events come in ``seq`` order with neither gaps nor duplicates (a gap
        makes the client resume, which replays what was missed), interleaved with the
        client's :class:`Connected`, :class:`Disconnected`, :class:`SessionReset` and,
        last, :class:`Stopped`. One consumer; when it stops reading, the client stops
        reading the socket (the server then closes a reader that stays too slow).
        """
        return self._recv_events

    async def request(self, message: p.Request, *, timeout: float | None = None) -> Any:
        """Send ``message`` with a fresh ``id`` and return its reply's result.

        Returns:
            the ``ok`` reply's ``result`` (a ``RoomSnapshot``, ``LobbyWait``,
            ``CallInfo``, or ``None``); a ``Pong`` for a ``Ping``.

        Raises:
            RequestError: the server replied with an ``error`` (``.code`` says which;
                ``backplane_unavailable`` only once ``retry_unavailable`` re-sends after
                its ``retry_after`` were refused the same way).
            RequestTimeout: no reply within ``timeout`` (default ``request_timeout``;
                each re-send waits that long again).
            ConnectionLost: the request was sent, and the session ended (it could not
                be resumed) before the reply came: it may or may not have been applied.
                (After a mere drop the request is re-sent on resume with its ``id``, and
                the server answers it once.)
            ClientClosed: the client is closed.
            SendQueueFull: ``max_queued`` messages are already waiting.
        """
        if isinstance(message, p.Hello):
            raise ValueError("the client says hello itself")
        result = await self._request(message, timeout=timeout)
        if isinstance(message, p.Join) and isinstance(result, p.RoomSnapshot):
            self._rooms[message.room] = msgspec.structs.replace(message, id=None)
        elif isinstance(message, p.Leave):
            self._rooms.pop(message.room, None)
        return result

    def send(self, message: p.Request) -> None:
        """Queue ``message`` without an ``id``: no ``ok`` comes back, and a refusal
        arrives as an ``error`` event. For high-rate traffic such as candidates.

        Raises:
            ClientClosed: the client is closed.
            SendQueueFull: ``max_queued`` messages are already waiting.
        """
        self._check_open()
        if len(self._outbox) >= self.max_queued:
            raise SendQueueFull(f"{len(self._outbox)} messages are already waiting to be sent")
        self._enqueue(_Out(self._frame(msgspec.structs.replace(message, id=None))))

    async def join(
        self, room: str, *, name: str | None = None, invite: str | None = None
    ) -> p.RoomSnapshot | p.LobbyWait:
        """Join ``room``: its snapshot, or ``LobbyWait`` in a lobby room."""
        result: p.RoomSnapshot | p.LobbyWait = await self.request(
            p.Join(room=room, name=name, invite=invite)
        )
        return result

    async def leave(self, room: str) -> None:
        """Leave ``room``."""
        await self.request(p.Leave(room=room))

    async def offer(self, room: str, to: str, sdp: str, *, negotiation: str | None = None) -> None:
        """Send an SDP offer to participant ``to`` (``negotiation``: its id, if you choose
        it; the server assigns one otherwise, and the relayed offer carries it)."""
        await self.request(p.Offer(room=room, to=to, sdp=sdp, negotiation=negotiation))

    async def answer(self, room: str, to: str, sdp: str, *, negotiation: str | None = None) -> None:
        """Send an SDP answer to participant ``to``. Pass the answered offer's
        ``negotiation``: an answer to an offer replaced meanwhile is then refused
        (``stale_answer``) instead of being applied to the wrong offer."""
        await self.request(p.Answer(room=room, to=to, sdp=sdp, negotiation=negotiation))

    async def candidate(
        self,
        room: str,
        to: str,
        candidate: str,
        *,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
        username_fragment: str | None = None,
    ) -> None:
        """Send one trickled ICE candidate to participant ``to``."""
        await self.request(
            p.Candidate(
                room=room,
                to=to,
                candidate=candidate,
                sdp_mid=sdp_mid,
                sdp_mline_index=sdp_mline_index,
                username_fragment=username_fragment,
            )
        )

    async def end_of_candidates(
        self, room: str, to: str, *, username_fragment: str | None = None
    ) -> None:
        """Tell participant ``to`` that no more candidates follow."""
        await self.request(p.EndOfCandidates(room=room, to=to, username_fragment=username_fragment))

    async def chat(self, room: str, text: str) -> None:
        """Send a chat message to ``room`` (text, never HTML)."""
        await self.request(p.Chat(room=room, text=text))

    async def media_state(
        self,
        room: str,
        *,
        audio: bool | None = None,
        video: bool | None = None,
        screen: bool | None = None,
        hand: bool | None = None,
    ) -> None:
        """Update this participant's own media state (``None``: unchanged)."""
        await self.request(
            p.MediaState(room=room, audio=audio, video=video, screen=screen, hand=hand)
        )

    async def app(self, room: str, app_type: str, payload: Any, *, to: str | None = None) -> None:
        """Send an application message (namespaced ``app_type``, e.g. ``acme.board``)."""
        await self.request(p.App(room=room, app_type=app_type, payload=payload, to=to))

    async def kick(
        self, room: str, target: str, *, reason: str | None = None, ban: bool = False,
        duration: float | None = None,
    ) -> None:  # fmt: skip
        """Remove participant ``target`` from ``room`` (moderators); with ``ban`` keep its
        user (every device) out for ``duration`` seconds, or until the room ends."""
        await self.request(
            p.Kick(room=room, target=target, reason=reason, ban=ban, duration=duration)
        )

    async def unban(self, room: str, user: str) -> None:
        """Lift the ban of ``user`` in ``room`` (moderators)."""
        await self.request(p.Unban(room=room, user=user))

    async def update_me(
        self, room: str, *, name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """Change this participant's display name and/or ``metadata`` (at most
        :data:`~rtcsignal.protocol.MAX_METADATA_BYTES` as JSON) in ``room``."""
        await self.request(p.UpdateMe(room=room, name=name, metadata=metadata))

    async def call_invite(
        self, to: Iterable[str], *, media: Literal["audio", "video"] = "video"
    ) -> p.CallInfo:
        """Ring the users ``to``; returns the new call (its ``id`` and room)."""
        result: p.CallInfo = await self.request(p.CallInvite(to=tuple(to), media=media))
        return result

    async def call_accept(self, call: str) -> p.CallInfo | None:
        """Accept ringing call ``call``."""
        result: p.CallInfo | None = await self.request(p.CallAccept(call=call))
        return result

    async def call_decline(self, call: str) -> None:
        """Decline ringing call ``call``."""
        await self.request(p.CallDecline(call=call))

    async def call_cancel(self, call: str) -> None:
        """Stop ringing (the caller, before anyone accepted)."""
        await self.request(p.CallCancel(call=call))

    async def call_hangup(self, call: str) -> None:
        """Leave call ``call``."""
        await self.request(p.CallHangup(call=call))

    async def ping(self, *, timeout: float | None = None) -> None:
        """A round trip to the server."""
        await self.request(p.Ping(), timeout=timeout)

    async def drop(self) -> None:
        """Drop the current connection without closing the session, as a network failure
        would (the client then reconnects and resumes). For tests and drills."""
        ws = self._ws
        if ws is not None:
            self._dropped = True
            await ws.close(4999, "dropped by the application")


@contextlib.asynccontextmanager
async def connect(url: str, **options: Any) -> AsyncIterator[Client]:
    """Connect to a signaling server and keep the session alive until the block ends.

    The first connection must succeed (errors are raised); later drops are retried
    with :class:`Backoff` and resumed. Options are :class:`Client`'s keyword arguments::

        async with connect("ws://127.0.0.1:8080/ws", token=TOKEN) as client:
            snapshot = await client.join("standup", name="Bot")
            async for event in client.events():
                ...

    Raises:
        ClientClosed: the server refused the connection for good (bad token: 4003).
        OSError: the server could not be reached.
        TimeoutError: no welcome within ``connect_timeout``.
    """
    client = Client(url, **options)
    try:
        ws = await client._dial()  # outside the task group: its errors raise as they are
        async with anyio.create_task_group() as tg:
            await client._start(tg, ws)
            try:
                yield client
            finally:
                await client.aclose()
    finally:
        client._send_events.close()
        client._recv_events.close()
