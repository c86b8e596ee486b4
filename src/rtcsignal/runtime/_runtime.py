"""The anyio runtime: drives one core :class:`~rtcsignal.core.Server` for every adapter.

Theory of operation
-------------------
The runtime is where the clock, the randomness and the tasks live. It owns one ``Server``
(ids from :func:`secrets.token_urlsafe`, ``now`` from :func:`time.monotonic`), one timer
task, and per connection one :class:`Outbound` queue and one writer task.

* **Admission** (:meth:`Runtime.serve`): origin allow-list, then the ``authenticate`` hook,
  then the per-user / per-address connection guards. A refused connection is closed
  (4003 unauthorized, 1008 policy, 1001 shutting down) and never reaches the core. An
  admitted one is handed to the core with its ICE servers, TURN credentials minted for
  its user from the wall clock (``settings.ice``), for its ``welcome``.
* **Frames**: the adapter's read loop hands each frame to the core *synchronously* (no
  await between a frame's arrival and the core seeing it: "join before await"). The
  effects are executed at once: frames go to the recipients' queues, closes are queued
  behind them, observer events go to metrics, observers and :mod:`logging`.
* **Back-pressure**: a queue over ``max_queued_bytes`` means its reader is not reading;
  the connection is aborted with 4008 and its session enters its reconnect grace. The
  core is never blocked and memory never grows with a slow reader.
* **Timers**: one task sleeps until ``next_deadline()`` and calls ``tick``; any call that
  brings a nearer deadline wakes it to re-arm.
* **Faults**: an exception while handling one connection is logged with the connection,
  user and address, and ends only that connection (its session may resume).
* **Shutdown**: stop admitting, ``going_away`` + close 1001 to every connection (queued
  after the replies already accepted), wait for the queues to drain (bounded by
  ``shutdown_grace``), then cancel what remains.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Final, Protocol

import anyio
import anyio.abc
import attrs
import msgspec

from rtcsignal.auth import Authenticate, AuthError, HandshakeRequest, OriginPolicy, TokenVerifier
from rtcsignal.auth import extract_token as _extract_token
from rtcsignal.backplane import Backplane
from rtcsignal.core import Close, Identity, NegotiationValidator, RoomPolicyHook, Send, Server
from rtcsignal.core.events import InternalError, ObserverEvent, RateLimitDenied
from rtcsignal.protocol import MAX_REASON_CHARS, CloseCode
from rtcsignal.ratelimit import ConnectionTracker

from ._admin import Admin
from ._cluster import CLUSTER_EFFECTS, ClusterLink
from ._metrics import EventSamples, Metrics
from ._outbound import Outbound
from ._settings import RuntimeSettings

__all__ = [
    "ID_BYTES",
    "TRANSPORT_FRAME_FACTOR",
    "Health",
    "Runtime",
    "Transport",
    "anonymous_authenticator",
    "token_authenticator",
]

logger: Final = logging.getLogger("rtcsignal")

ID_BYTES: Final = 16
"""128 random bits per id (session, resume token, participant): unguessable (RFC 4086 §8)."""
TRANSPORT_FRAME_FACTOR: Final = 2
"""Frameworks accept frames up to twice the core's ``max_frame_bytes``: the core answers a
typed ``frame_too_large`` and closes 1009; larger frames the framework refuses itself
(also 1009) without buffering them whole."""
WRITER_LINGER: Final = 0.1
"""Seconds a connection's writer task waits for more frames before it may exit (it exits
within twice this): under traffic one task serves many frames; an idle connection holds
no task."""
INTERNAL_ERROR: Final = 1011
"""RFC 6455 §7.4.1: the server hit an unexpected condition."""

_LEVELS: Final[dict[type[ObserverEvent], int]] = {
    InternalError: logging.ERROR,
    RateLimitDenied: logging.INFO,
}


class Transport(Protocol):
    """What an adapter wraps its framework's WebSocket in (three small coroutines).

    A transport may also have ``send_many(frames)``, taking a list of ``(data, text)``
    pairs: the writer then hands it everything queued at once (see :data:`SendMany`),
    so a framework that can write several frames with one system call does.
    """

    async def recv(self) -> str | bytes | None:
        """The next frame (``str`` text, ``bytes`` binary), or ``None`` once closed.
        Closing is not an error: swallow the framework's "connection closed"."""

    async def send(self, data: bytes, text: bool) -> None:
        """Write one frame (a text frame when ``text``: ``data`` is UTF-8). On a closed
        connection, return quietly."""

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason`` (idempotent)."""


SendMany = Callable[[list[tuple[bytes, bool]]], Awaitable[None]]
"""A transport's optional ``send_many``: write every ``(data, text)`` frame in order, as
:meth:`Transport.send` would one by one; on a closed connection, return quietly."""


@attrs.frozen(kw_only=True)
class Health:
    """A snapshot for health endpoints.

    Attributes:
        connections / sessions / reconnecting / rooms / participants: the core's counts.
        active_calls / ringing_calls: the core's call counts.
        queued_bytes: bytes waiting in all outbound queues.
        uptime: seconds since the runtime started.
        accepting: ``False`` once shutdown began.
        tables: the sizes of the core's internal tables
            (:meth:`rtcsignal.core.Server.tables`) and the runtime's own: ``links``
            (admitted connections with their queues) and ``tracked`` (connections the
            admission guards count).
        backplane: the backplane's kind, state, instance id and peers (``None``: a
            single instance).
    """

    connections: int
    sessions: int
    reconnecting: int
    rooms: int
    participants: int
    active_calls: int
    ringing_calls: int
    queued_bytes: int
    uptime: float
    accepting: bool
    tables: dict[str, int] = attrs.field(factory=dict)
    backplane: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data."""
        return attrs.asdict(self)


class _Link:
    """One admitted connection: its queue, its transport, its writer (while one runs)."""

    __slots__ = (
        "address",
        "close_sent",
        "conn",
        "out",
        "parked_at",
        "reader",
        "retire",
        "transport",
        "user",
        "wake",
        "writer",
        "writing",
    )

    def __init__(self, conn: str, identity: Identity, limit: int, transport: Transport) -> None:
        self.conn = conn
        self.user = identity.user
        self.address = identity.address
        self.out = Outbound(limit)
        self.transport = transport
        self.reader: anyio.CancelScope | None = None
        self.writer: anyio.CancelScope | None = None
        self.writing = False
        self.wake: anyio.Event | None = None  # set to wake a lingering writer
        self.parked_at = 0.0  # when the writer started waiting for more frames
        self.retire = False  # the reaper asks a long-idle writer to exit
        self.close_sent = False

    def context(self) -> dict[str, Any]:
        return {"connection": self.conn, "user": self.user, "address": self.address}


def token_authenticator(
    verifier: Callable[[str, float], Identity], *, clock: Callable[[], float] = time.time
) -> Authenticate:
    """An ``authenticate`` hook reading the request's token (bearer header, ``token``
    query parameter or cookie: :func:`rtcsignal.auth.extract_token`).

    Args:
        verifier: :class:`~rtcsignal.auth.TokenVerifier`, :class:`~rtcsignal.auth.JwtVerifier`
            or any ``(token, now) -> Identity`` raising :class:`~rtcsignal.auth.AuthError`.
        clock: wall-clock seconds for expiry checks.
    """

    def authenticate(request: HandshakeRequest) -> Identity:
        token = _extract_token(request)
        if not token:
            raise AuthError("no token")
        return verifier(token, clock())

    return authenticate


def anonymous_authenticator(prefix: str = "guest-") -> Authenticate:
    """An ``authenticate`` hook that mints a fresh anonymous identity per connection
    (demos only: anyone may connect, and nobody can resume as anyone else)."""

    def authenticate(request: HandshakeRequest) -> Identity:
        return Identity(user=f"{prefix}{secrets.token_urlsafe(6)}")

    return authenticate


class Runtime:
    """Runs the core for the adapters. Use as ``async with Runtime(...) as runtime:``.

    Args:
        settings: limits, timeouts, policies (defaults if ``None``).
        authenticate: the handshake hook; default: tokens signed with
            ``settings.auth_secret``.
        metrics: the metrics hook (:class:`MemoryMetrics`, :class:`PrometheusMetrics`).
        observers: callables receiving every observer event (call records, webhooks);
            one that raises is logged and skipped.
        validator: the core's SDP/ICE validator (default: the strict one).
        clock: monotonic seconds for the core.
        wall_clock: UNIX seconds, for the expiry of minted TURN credentials.
        room_policy: chooses the policy of a room a join auto-creates, from its id and
            the joiner (:class:`~rtcsignal.core.seam.Sender`); ``None`` (from it, or
            with no hook) gives ``settings.server.default_room``.
        backplane: run as one instance of a cluster on this backplane
            (:mod:`rtcsignal.backplane`); default: a
            :class:`~rtcsignal.backplane.redis.RedisBackplane` when
            ``settings.backplane.redis_url`` is set, else none (one instance).

    Raises:
        ValueError: neither ``authenticate`` nor ``settings.auth_secret`` is given.
    """

    def __init__(
        self,
        settings: RuntimeSettings | None = None,
        *,
        authenticate: Authenticate | None = None,
        metrics: Metrics | None = None,
        observers: Iterable[Callable[[ObserverEvent], object]] = (),
        validator: NegotiationValidator | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        room_policy: RoomPolicyHook | None = None,
        backplane: Backplane | None = None,
    ) -> None:
        self.settings = settings = settings or RuntimeSettings()
        bp = settings.backplane
        if backplane is None and bp.redis_url is not None:
            from rtcsignal.backplane.redis import RedisBackplane

            backplane = RedisBackplane(
                bp.redis_url,
                bp.instance_id,
                key_prefix=bp.key_prefix,
                lease_ttl=bp.lease_ttl,
                renew_every=bp.renew_every,
                metrics=metrics,
            )
        self.backplane = backplane
        """The backplane (``None``: one instance, in memory)."""
        if authenticate is None:
            if settings.auth_secret is None:
                raise ValueError("give an authenticate hook or settings.auth_secret")
            authenticate = token_authenticator(TokenVerifier(settings.auth_secret))
        self._authenticate = authenticate
        self._origins = OriginPolicy(
            allowed=settings.origins, allow_missing=settings.allow_missing_origin
        )
        self.metrics = metrics
        self._observers = tuple(observers)
        self._samples = EventSamples()
        self._clock = clock
        self._wall_clock = wall_clock
        self._ice = settings.ice
        self.server = Server(
            settings.server,
            id_factory=lambda: secrets.token_urlsafe(ID_BYTES),
            validator=validator,
            rate_policy=settings.rate,
            room_policy=room_policy,
            node=None if backplane is None else backplane.node,
        )
        self._cluster = (
            None
            if backplane is None
            else ClusterLink(self.server, backplane, self._run_admin, clock)
        )
        self.admin = Admin(self.server, self._run_admin, clock, backplane)
        """The admin API: drive rooms and calls from service code (:class:`Admin`)."""
        if self._cluster is not None:
            self._cluster.answered = self.admin.answered
        self._tracker = ConnectionTracker(settings.rate.guards)
        self._queue_limit: int = settings.rate.guards.max_queued_bytes
        self.max_frame_bytes: int = settings.server.max_frame_bytes * TRANSPORT_FRAME_FACTOR
        """The frame size adapters configure their framework with."""
        self._links: dict[str, _Link] = {}
        self._accepting = False
        self._drained: anyio.Event | None = None
        self._armed: float | None = None
        self._seen_arms = -1  # server.timers_armed when _armed was last checked
        self._wake: anyio.Event | None = None
        self._parked: set[_Link] = set()  # links whose writer waits for more frames
        self._started = clock()
        self._tg: anyio.abc.TaskGroup | None = None

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Runtime:
        if self._tg is not None:
            raise RuntimeError("this runtime is already running")
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._started = self._clock()
        self._tg.start_soon(self._timer)
        self._tg.start_soon(self._reaper)
        if self._cluster is not None:
            try:
                await self._cluster.start(self._tg)
            except BaseException:
                tg, self._tg = self._tg, None
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)
                raise
        self._accepting = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        if tg is None:
            return None
        if self._accepting:
            with anyio.CancelScope(shield=True):
                await self.shutdown()
        if self._cluster is not None:
            with anyio.CancelScope(shield=True):
                await self._cluster.stop()
        tg.cancel_scope.cancel()
        return await tg.__aexit__(exc_type, exc, tb)

    @property
    def running(self) -> bool:
        """Whether the runtime is entered (``async with``) and not yet exited."""
        return self._tg is not None

    @property
    def accepting(self) -> bool:
        """Whether new connections are admitted (running and not shutting down)."""
        return self._accepting

    async def shutdown(self, reason: str = "server shutting down; reconnect") -> None:
        """Graceful shutdown: stop admitting, send ``going_away`` and close 1001 to every
        connection after what is already queued, wait for the queues to drain (at most
        ``settings.shutdown_grace``), then cancel the rest. Idempotent."""
        self._accepting = False
        self._execute(self.server.shutdown(self._clock(), reason))
        if self._links:
            drained = self._drained = anyio.Event()
            with anyio.move_on_after(self.settings.shutdown_grace):
                await drained.wait()
        for link in list(self._links.values()):
            if link.reader is not None:
                link.reader.cancel()

    def health(self) -> Health:
        """The health snapshot (core counts, queued bytes, uptime)."""
        stats = msgspec.structs.asdict(self.server.stats())
        return Health(
            **stats,
            queued_bytes=sum(link.out.size for link in self._links.values()),
            uptime=self._clock() - self._started,
            accepting=self._accepting,
            tables={
                **self.server.tables(),
                "links": len(self._links),
                "tracked": len(self._tracker),
            },
            backplane=None if self.backplane is None else self.backplane.health(),
        )

    # ------------------------------------------------------------ connections
    async def serve(self, request: HandshakeRequest, transport: Transport) -> None:
        """Serve one accepted WebSocket until it closes: admission, then the read loop
        and the write loop. Never raises (errors are logged and end this connection).

        Args:
            request: the upgrade request (for the origin and authentication checks).
            transport: the adapter's wrapper around the framework's socket.
        """
        link = await self._admit(request, transport)
        if link is None:
            return
        try:
            with anyio.CancelScope() as link.reader:
                await self._reader(link, transport)
        finally:
            self._drop(link)

    async def _admit(self, request: HandshakeRequest, transport: Transport) -> _Link | None:
        refusal: tuple[int, str, str] | None = None
        identity: Identity | None = None
        if self._tg is None:
            logger.error(
                "Runtime.serve called on a runtime that is not running: enter "
                "`async with runtime:` (or the adapter's lifespan) first",
                extra={"event": "not_running"},
            )
            refusal = (INTERNAL_ERROR, "server not running", "not_running")
        elif not self._accepting:
            refusal = (CloseCode.GOING_AWAY, "server shutting down; reconnect", "shutdown")
        else:
            try:
                identity = await self._identify(request)
            except AuthError as exc:
                refusal = (CloseCode.UNAUTHORIZED, exc.reason, "unauthorized")
            except Exception:
                logger.exception(
                    "authenticate hook failed",
                    extra={"event": "auth_error", "address": request.remote_address},
                )
                refusal = (INTERNAL_ERROR, "authentication unavailable", "auth_error")
        if identity is not None and self._accepting:
            ice = self._ice.for_user(identity.user, self._wall_clock())
            conn = self.server.connect(identity, self._clock(), ice_servers=ice)
            elsewhere = self.server.sessions_elsewhere(identity.user)[1]  # in a cluster
            verdict = self._tracker.admit(
                conn, user=identity.user, address=identity.address, elsewhere=elsewhere
            )
            if verdict.allowed:
                link = _Link(conn, identity, self._queue_limit, transport)
                self._links[conn] = link
                self._count("rtcsignal_connections_opened_total", {})
                self._rearm()
                return link
            self.server.disconnect(conn, self._clock())
            refusal = (
                CloseCode.POLICY_VIOLATION,
                f"too many connections for this {verdict.scope}",
                "connection_limit",
            )
        code, reason, why = refusal or (CloseCode.GOING_AWAY, "server shutting down", "shutdown")
        self._count("rtcsignal_handshake_refused_total", {"reason": why})
        logger.info(
            "handshake refused: %s",
            reason,
            extra={"event": "handshake_refused", "address": request.remote_address, "why": why},
        )
        await self._close_transport(transport, code, reason)
        return None

    async def _identify(self, request: HandshakeRequest) -> Identity:
        self._origins.check(request.origin)
        result = self._authenticate(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Identity):
            raise TypeError(f"authenticate returned {type(result).__name__}, not an Identity")
        if result.address is None and request.remote_address is not None:
            result = attrs.evolve(result, address=request.remote_address)
        return result

    async def _reader(self, link: _Link, transport: Transport) -> None:
        server = self.server
        receive = server.receive
        clock = self._clock
        execute = self._execute
        conn = link.conn
        try:
            while (data := await transport.recv()) is not None:
                # Join before await: the core sees the frame before anything else runs.
                execute(receive(conn, data, clock()))
                # Only an armed timer can bring the next deadline nearer.
                if self._wake is not None and server.timers_armed != self._seen_arms:
                    self._rearm()
        except Exception:
            logger.exception(
                "connection %s failed while reading",
                conn,
                extra={"event": "connection_error", **link.context()},
            )
            self._count("rtcsignal_internal_errors_total", {"where": "reader"})
            link.out.abort(INTERNAL_ERROR, "internal error")
            if not link.close_sent:
                link.close_sent = True
                await self._close_transport(transport, INTERNAL_ERROR, "internal error")

    def _wake_writer(self, link: _Link) -> None:
        """Start the connection's writer unless one runs: it drains the queue and exits
        when it is empty, so an idle connection costs no task."""
        if link.writing:
            wake = link.wake
            if wake is not None:
                link.wake = None  # woken once: the frames pushed before it runs ride along
                wake.set()
        elif not link.close_sent and self._tg is not None:
            link.writing = True
            self._tg.start_soon(self._writer, link)

    async def _writer(self, link: _Link) -> None:
        out, transport = link.out, link.transport
        send_many: SendMany | None = getattr(transport, "send_many", None)
        try:
            with anyio.CancelScope() as link.writer:
                while True:
                    while frames := out.take():
                        if send_many is not None:
                            await send_many(frames)
                        else:
                            for data, text in frames:
                                await transport.send(data, text)
                    if not out.open:
                        break
                    # Linger: a connection that just wrote will likely write again soon,
                    # and waking a waiting writer costs less than a new task per frame.
                    # One that stays quiet is retired by the reaper (no timer per wait):
                    # an idle connection costs no task.
                    wake = link.wake = anyio.Event()
                    link.parked_at = self._clock()
                    self._parked.add(link)
                    await wake.wait()
                    self._parked.discard(link)
                    link.wake = None
                    if link.retire:
                        link.retire = False
                        if not out.pending and out.open:
                            break
        except Exception:
            logger.exception(
                "connection %s failed while writing",
                link.conn,
                extra={"event": "connection_error", **link.context()},
            )
            self._count("rtcsignal_internal_errors_total", {"where": "writer"})
            out.abort(INTERNAL_ERROR, "internal error")
        finally:
            self._parked.discard(link)
            link.writer = None
            link.wake = None
            link.retire = False
            link.writing = False
        if not out.open and not link.close_sent:
            link.close_sent = True
            await self._close_transport(
                transport, out.close_code or CloseCode.NORMAL, out.close_reason
            )

    async def _close_transport(self, transport: Transport, code: int, reason: str) -> None:
        # RFC 6455 §5.5: a close frame's reason must fit 123 bytes of UTF-8.
        data = reason.encode()[:123].decode("utf-8", "ignore")
        with anyio.move_on_after(self.settings.close_timeout + 1, shield=True):
            try:
                await transport.close(code, data)
            except Exception:
                logger.exception("close failed", extra={"event": "close_error"})

    def _drop(self, link: _Link) -> None:
        """The connection is over: tell the core (idempotent, O(1) per connection)."""
        self._links.pop(link.conn, None)
        self._tracker.release(link.conn)
        if link.out.open and link.writer is not None:
            link.writer.cancel()  # the peer is gone: nothing left to write to
        link.close_sent = True
        link.out.abort(CloseCode.GOING_AWAY, "")
        self._execute(self.server.disconnect(link.conn, self._clock()))
        self._rearm()
        if not self._links and self._drained is not None:
            self._drained.set()

    # ------------------------------------------------------------ effects
    def _run_admin(self, effects: list[Any]) -> None:
        """Carry out the effects of an admin call, as a frame's are."""
        self._execute(effects)
        self._rearm()

    def _execute(self, effects: list[Any]) -> None:
        links = self._links
        for effect in effects:
            kind = type(effect)
            if kind is Send:
                link = links.get(effect.conn)
                if link is not None:
                    if not link.out.push(effect.data, effect.text):
                        self._overflow(link)
                    elif not link.writing or link.wake is not None:
                        self._wake_writer(link)
            elif kind is Close:
                link = links.get(effect.conn)
                if link is not None:
                    link.out.close(effect.code, effect.reason[:MAX_REASON_CHARS])
                    self._wake_writer(link)
            elif kind in CLUSTER_EFFECTS:
                assert self._cluster is not None
                self._cluster.handle(effect)
            else:
                self._observe(effect)

    def _overflow(self, link: _Link) -> None:
        if not link.out.open:
            return  # frames after a close are dropped by design
        limit = self._queue_limit
        link.out.abort(CloseCode.SLOW_CONSUMER, f"slow consumer: over {limit} bytes queued")
        if link.writer is not None:
            link.writer.cancel()  # it is blocked in a send; it then closes the transport
        else:
            self._wake_writer(link)
        self._count("rtcsignal_slow_consumer_closes_total", {})
        logger.warning(
            "closing slow consumer %s",
            link.conn,
            extra={"event": "slow_consumer", **link.context()},
        )
        self._execute(self.server.disconnect(link.conn, self._clock()))

    def _observe(self, event: ObserverEvent) -> None:
        metrics = self.metrics
        if metrics is not None:
            try:
                for kind, name, labels, value in self._samples(event):
                    if kind == "count":
                        metrics.count(name, labels, value)
                    else:
                        metrics.observe(name, labels, value)
            except Exception:
                logger.exception("metrics hook failed", extra={"event": "hook_error"})
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                logger.exception("observer %r failed", observer, extra={"event": "hook_error"})
        level = _LEVELS.get(type(event), logging.DEBUG)
        if logger.isEnabledFor(level):
            fields = msgspec.structs.asdict(event)
            logger.log(
                level,
                "%s %s",
                type(event).__name__,
                fields,
                extra={"event": type(event).__name__, "fields": fields},
            )

    def _count(self, name: str, labels: dict[str, str]) -> None:
        if self.metrics is not None:
            try:
                self.metrics.count(name, labels)
            except Exception:
                logger.exception("metrics hook failed", extra={"event": "hook_error"})

    # ------------------------------------------------------------ timers
    async def _reaper(self) -> None:
        """Every ``WRITER_LINGER`` seconds, retire the writers that have waited at least
        that long: idle connections hold no task after at most twice the linger."""
        while True:
            await anyio.sleep(WRITER_LINGER)
            idle_since = self._clock() - WRITER_LINGER
            for link in [x for x in self._parked if x.parked_at <= idle_since]:
                if link.wake is not None:
                    link.retire = True
                    link.wake.set()

    def _rearm(self) -> None:
        """Wake the timer task if the core now has a nearer deadline."""
        wake = self._wake
        if wake is None:
            return
        deadline = self.server.next_deadline()
        self._seen_arms = self.server.timers_armed
        if deadline is not None and (self._armed is None or deadline < self._armed):
            self._wake = None
            wake.set()

    async def _timer(self) -> None:
        while True:
            deadline = self.server.next_deadline()
            self._armed = deadline
            self._seen_arms = self.server.timers_armed
            wake = self._wake = anyio.Event()
            if deadline is None:
                await wake.wait()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                with anyio.move_on_after(delay):
                    await wake.wait()
            now = self._clock()
            if now >= deadline:
                try:
                    self._execute(self.server.tick(now))
                except Exception:
                    logger.exception("timer tick failed", extra={"event": "timer_error"})
                    self._count("rtcsignal_internal_errors_total", {"where": "timer"})
