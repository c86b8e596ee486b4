"""``python -m rtcsignal serve``: the demo signaling server.

The ``websockets`` adapter on the runtime, in memory (with ``--fast`` or ``fast = true``:
the ``picows`` adapter, on uvloop where it is installed; ``rtcsignal[fast]``). The WebSocket
is at ``/ws``, a health snapshot at ``/healthz`` and the demo video call page at ``/``
(``rtcsignal/static``: ``index.html``, ``demo.js``, ``demo.css`` and the reusable
``rtcsignal.js`` client with its TypeScript declarations ``rtcsignal.d.ts``). Settings
come from ``--config`` (TOML), then ``RTCSIGNAL_*`` environment variables, then
``--host`` / ``--port``.

Identity: with ``auth_secret`` set (``RTCSIGNAL_AUTH_SECRET`` or ``auth_secret`` in
``--config``) every connection needs a token signed with it (:func:`rtcsignal.auth.mint_token`),
as with the runtime's default hook, and ``GET /demo/identity`` mints its guest tokens with
that secret, so instances sharing it accept each other's tokens. Without one (the demo),
the key is random per process and a connection without a token gets a fresh guest
identity. Either way ``GET /demo/identity`` mints a fresh guest user and returns a token
for it; the page keeps it in ``sessionStorage`` and presents it (``?token=``) on every
connection, so a reload is the same user and can resume its session.

A port already in use ends ``serve`` with one line on stderr and exit status 1.

Metrics: with the ``prometheus`` extra (``prometheus-client``) installed, ``GET /metrics``
answers the runtime's metrics in the Prometheus text format (:class:`PrometheusMetrics`);
without it ``/metrics`` is 404. A startup line says which, and how to enable it.

Webhooks: with a ``[webhooks]`` table (``url``, ``secret``, ...; ``docs/webhooks.md``) the
server POSTs signed JSON events about rooms, participants, calls, recording and moderation
to ``url`` (:class:`rtcsignal.webhooks.WebhookSender`, extra ``rtcsignal[webhooks]``).

Adding pages: :func:`run_server` takes extra ``routes`` (path -> ``(status, content type,
body)`` callable) served for plain HTTP GETs next to the WebSocket.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import logging
import os
import secrets
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from rtcsignal.auth import AuthError, TokenVerifier, extract_token, mint_token
from rtcsignal.core import Identity
from rtcsignal.protocol import UsageError
from rtcsignal.runtime import (
    HandshakeRequest,
    PrometheusMetrics,
    Runtime,
    RuntimeSettings,
    SettingsError,
)
from rtcsignal.webhooks import WebhookSender

if TYPE_CHECKING:
    from rtcsignal.adapters.websockets import Route

__all__ = ["DemoIdentities", "demo_routes", "register", "run_server"]

logger = logging.getLogger("rtcsignal")


STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/rtcsignal.js": ("rtcsignal.js", "text/javascript; charset=utf-8"),
    "/rtcsignal.d.ts": ("rtcsignal.d.ts", "application/typescript; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
}
"""The demo page's files (``rtcsignal/static``) by URL path: file name, content type."""

DEMO_IDENTITY_TTL = 12 * 3600.0
"""How long a demo visitor's token stays valid (a tab open all day keeps its user)."""


class DemoIdentities:
    """Demo visitors that keep their user id across reloads.

    ``GET /demo/identity`` mints a guest user and a token for it; :meth:`authenticate`
    accepts that token (``?token=``), so a reloaded page is the same user and may resume
    its session (the core refuses to resume another user's session). A bad or expired
    token is refused (4003): the page then asks for a new identity.

    Args:
        secret: the HMAC key tokens are signed and verified with. ``None`` (the demo): a
            random key per process, and a connection without a token gets a fresh guest
            identity. Given (``settings.auth_secret``): tokens from
            :func:`rtcsignal.auth.mint_token` with that key are accepted, from the bearer
            header, ``token`` query parameter or cookie as the runtime's default hook
            reads them, and a connection without a token is refused.
        prefix: the guest users' prefix.
        ttl: the guest tokens' lifetime in seconds.
    """

    def __init__(
        self, *, secret: str | None = None, prefix: str = "guest-", ttl: float = DEMO_IDENTITY_TTL
    ) -> None:
        self.anonymous: Final = secret is None
        self._secret = secrets.token_urlsafe(32) if secret is None else secret
        self._verify = TokenVerifier(self._secret)
        self._prefix = prefix
        self._ttl = ttl

    def authenticate(self, request: HandshakeRequest) -> Identity:
        """The runtime's ``authenticate`` hook.

        Raises:
            AuthError: a token was given and is malformed, badly signed or expired; or,
                with a configured secret, no token was given.
        """
        token = extract_token(request)
        if not token:
            if not self.anonymous:
                raise AuthError("no token")
            return self._guest()
        return self._verify(token, time.time())

    def _guest(self) -> Identity:
        return Identity(user=f"{self._prefix}{secrets.token_urlsafe(6)}")

    def route(self, request: HandshakeRequest) -> tuple[int, str, bytes]:
        """``GET /demo/identity``: ``{"user": ..., "token": ..., "ttl": ...}``."""
        user = self._guest().user
        token = mint_token(self._secret, user=user, ttl=self._ttl, now=time.time())
        body = {"user": user, "token": token, "ttl": self._ttl}
        return 200, "application/json", json.dumps(body).encode()


def _static(name: str, content_type: str) -> Route:
    body = resources.files("rtcsignal").joinpath("static", name).read_bytes()

    def route(request: HandshakeRequest) -> tuple[int, str, bytes]:
        return 200, content_type, body

    return route


def demo_routes(runtime: Runtime, identities: DemoIdentities | None = None) -> dict[str, Route]:
    """The demo server's plain HTTP routes.

    ``/healthz`` (JSON health snapshot), the demo page at ``/`` with its ``/demo.js``,
    ``/demo.css``, the JavaScript client ``/rtcsignal.js`` and its declarations
    ``/rtcsignal.d.ts`` (read from the package with :mod:`importlib.resources`), and
    ``/demo/identity`` when ``identities`` is given.
    """

    def healthz(request: HandshakeRequest) -> tuple[int, str, bytes]:
        health = runtime.health()
        status = 200 if health.accepting else 503
        return status, "application/json", json.dumps(health.as_dict()).encode()

    table: dict[str, Route] = {"/healthz": healthz}
    for path, (name, content_type) in STATIC_FILES.items():
        table[path] = _static(name, content_type)
    if identities is not None:
        table["/demo/identity"] = identities.route
    return table


METRICS_PATH = "/metrics"
"""Where the demo server exposes Prometheus metrics (with the ``prometheus`` extra)."""


def _prometheus() -> PrometheusMetrics | None:
    """The exporter behind ``/metrics``, or None when ``prometheus-client`` is missing."""
    try:
        return PrometheusMetrics()
    except ModuleNotFoundError as exc:
        if exc.name != "prometheus_client":
            raise  # a broken install elsewhere is not "the extra is missing"
        return None


def _metrics_routes(metrics: PrometheusMetrics | None) -> dict[str, Route]:
    if metrics is None:
        return {}
    from prometheus_client import CONTENT_TYPE_LATEST

    def route(request: HandshakeRequest) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, metrics.render()

    return {METRICS_PATH: route}


def _metrics_line(metrics: PrometheusMetrics | None, base: str) -> str:
    if metrics is None:
        return (
            f"rtcsignal: {METRICS_PATH} is off: install the prometheus extra "
            "(pip install 'rtcsignal[prometheus]') to serve Prometheus metrics"
        )
    return f"rtcsignal: Prometheus metrics at {base}{METRICS_PATH}"


async def run_server(
    settings: RuntimeSettings,
    *,
    routes: Mapping[str, Route] | None = None,
    ready: Any = None,
) -> None:
    """Run the demo server until SIGINT/SIGTERM, then shut down gracefully.

    Args:
        settings: host, port, limits.
        routes: extra plain HTTP routes (e.g. a demo page at ``/``).
        ready: called with the bound port once listening (tests, scripts).
    """
    if settings.fast:
        from rtcsignal.adapters.picows import serve as serve_fast

        serve: Any = serve_fast
    else:
        from rtcsignal.adapters.websockets import serve  # only the server needs websockets

    identities = DemoIdentities(secret=settings.auth_secret)
    metrics = _prometheus()
    hooks = None if settings.webhooks is None else WebhookSender(settings.webhooks, metrics=metrics)
    runtime = Runtime(
        settings,
        authenticate=identities.authenticate,
        metrics=metrics,
        observers=() if hooks is None else (hooks,),
    )
    async with anyio.create_task_group() as tasks, runtime:
        if hooks is not None:
            tasks.start_soon(hooks.run)
        table = {**demo_routes(runtime, identities), **_metrics_routes(metrics), **(routes or {})}
        async with serve(runtime, routes=table) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            logger.info("listening on ws://%s:%d/ws", settings.host, port)
            print(
                f"rtcsignal: ws://{settings.host}:{port}/ws  (health: /healthz)"
                f"  demo page: http://{settings.host}:{port}/",
                flush=True,
            )
            print(_metrics_line(metrics, f"http://{settings.host}:{port}"), flush=True)
            print(f"rtcsignal: adapter {_adapter_name(settings)}", flush=True)
            print(_backplane_line(runtime), flush=True)
            if hooks is not None:
                print(f"rtcsignal: webhooks to {hooks.settings.url}", flush=True)
            if ready is not None:
                ready(port)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            print("rtcsignal: shutting down", flush=True)
            await runtime.shutdown()
        if hooks is not None:  # what is queued goes out, within the shutdown grace
            hooks.close()
            with anyio.move_on_after(settings.shutdown_grace):
                await hooks.wait_closed()
            tasks.cancel_scope.cancel()


def _backplane_line(runtime: Runtime) -> str:
    plane = runtime.backplane
    if plane is None:
        return "rtcsignal: one instance, in memory (several on one Redis: --redis-url)"
    return f"rtcsignal: instance {plane.node} of a cluster on the {plane.kind} backplane"


def _find(exc: BaseException, wanted: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception in ``exc`` (itself, or inside exception groups, depth first)
    that ``wanted`` accepts."""
    if wanted(exc):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, wanted)
            if found is not None:
                return found
    return None


DEMO_ROOM_CAPACITY = 8
"""The demo page is a mesh call: every member sends to every other, which stops being
usable past about 8. Rooms the demo server creates hold 8 unless configured otherwise
(``RTCSIGNAL_SERVER__DEFAULT_ROOM__CAPACITY`` or ``[server.default_room] capacity``)."""

_CAPACITY_ENV = "RTCSIGNAL_SERVER__DEFAULT_ROOM__CAPACITY"


def _settings(args: argparse.Namespace) -> RuntimeSettings:
    if args.config is not None:
        try:
            data = tomllib.loads(Path(args.config).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings: TOML: {exc}") from None
        room = data.setdefault("server", {}).setdefault("default_room", {})
        if isinstance(room, dict):
            room.setdefault("capacity", DEMO_ROOM_CAPACITY)
        settings = RuntimeSettings.from_dict(data)
    else:
        environ = {_CAPACITY_ENV: str(DEMO_ROOM_CAPACITY), **os.environ}
        settings = RuntimeSettings.from_env(environ=environ)
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    plane: dict[str, Any] = {}
    redis_url, instance_id = getattr(args, "redis_url", None), getattr(args, "instance_id", None)
    if redis_url is not None:
        plane["redis_url"] = redis_url
    if instance_id is not None:
        plane["instance_id"] = instance_id
    if plane:
        try:
            overrides["backplane"] = attrs.evolve(settings.backplane, **plane)
        except ValueError as exc:
            raise SettingsError(f"settings: [backplane] {exc}") from None
    if getattr(args, "fast", False):
        overrides["fast"] = True
    return attrs.evolve(settings, **overrides)


_BIND_ERRORS: Final = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
"""Why a listening socket cannot be opened: the port is taken, the address is not this
host's, or a privileged port without the privilege."""


def _bind_error(exc: BaseException) -> OSError | None:
    """The ``OSError`` of a failed bind in ``exc`` (alone or inside exception groups)."""
    found = _find(exc, lambda e: isinstance(e, OSError) and e.errno in _BIND_ERRORS)
    return found if isinstance(found, OSError) else None


def _main(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        if settings.auth_secret is not None:
            TokenVerifier(settings.auth_secret)  # refuse a short secret before listening
    except (SettingsError, OSError) as exc:
        print(f"rtcsignal serve: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"rtcsignal serve: settings: auth_secret: {exc}", file=sys.stderr)
        return 2
    if settings.webhooks is not None and importlib.util.find_spec("httpx") is None:
        print(
            "rtcsignal serve: [webhooks] needs httpx: pip install 'rtcsignal[webhooks]'",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)  # one line per HTTP GET
    logging.getLogger("picows").setLevel(logging.WARNING)  # two lines per connection
    try:
        anyio.run(run_server, settings, backend_options=_backend_options(settings))
    except (OSError, UsageError, BaseExceptionGroup) as exc:
        usage = _find(exc, lambda e: isinstance(e, UsageError))
        if usage is not None:  # the backplane refused to start: one line, exit 2
            print(f"rtcsignal serve: {usage}", file=sys.stderr)
            return 2
        error = _bind_error(exc)
        if error is None:
            raise
        reason = os.strerror(error.errno) if error.errno is not None else str(error)
        print(
            f"rtcsignal serve: cannot listen on {settings.host}:{settings.port}: {reason}",
            file=sys.stderr,
        )
        return 1
    return 0


def _adapter_name(settings: RuntimeSettings) -> str:
    if not settings.fast:
        return "websockets"
    import asyncio

    loop = type(asyncio.get_running_loop())
    return f"picows on {loop.__module__}.{loop.__qualname__}"


def _backend_options(settings: RuntimeSettings) -> dict[str, Any]:
    """asyncio on uvloop for the fast server, where uvloop is installed (not on Windows)."""
    if not settings.fast:
        return {}
    try:
        import uvloop  # noqa: F401
    except ModuleNotFoundError:
        return {}
    return {"use_uvloop": True}


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the demo signaling server (WebSocket at /ws, health at /healthz, "
        "a multi-party video call demo page at /)",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--config", help="a TOML settings file")
    parser.add_argument(
        "--redis-url",
        help="run as one instance of a cluster on this Redis (also RTCSIGNAL_REDIS_URL, "
        "or redis_url in the [backplane] table); see docs/scaling.md",
    )
    parser.add_argument(
        "--instance-id", help="this instance's id in the cluster (default: a random one)"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="serve with the picows adapter on uvloop (pip install 'rtcsignal[fast]')",
    )
    parser.set_defaults(handler=_main)
