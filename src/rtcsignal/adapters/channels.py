"""The Django Channels adapter: rtcsignal next to a Django project's views.

Example (``asgi.py`` of the project)::

    import django
    from django.core.asgi import get_asgi_application

    django.setup()  # or get_asgi_application() first, before the imports below
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter

    from rtcsignal.adapters.channels import (
        django_user_authenticator, lifespan, rtcsignal_urlpatterns, runtime_settings)
    from rtcsignal.runtime import Runtime

    runtime = Runtime(runtime_settings(), authenticate=django_user_authenticator())
    application = ProtocolTypeRouter({
        "http": get_asgi_application(),
        "websocket": AuthMiddlewareStack(URLRouter(rtcsignal_urlpatterns(runtime))),
        "lifespan": lifespan(runtime),  # uvicorn, hypercorn; Daphne never sends it
    })

Theory of operation
-------------------
* **The consumer** (:class:`RtcsignalConsumer`) is a plain ASGI application, which is
  what a Channels consumer is: ``URLRouter``, ``AuthMiddlewareStack`` and
  ``AllowedHostsOriginValidator`` wrap it like any other. It does not subclass
  ``AsyncConsumer`` or ``AsyncWebsocketConsumer``: their dispatch loop awaits one
  handler per event and runs ``close_old_connections`` in a worker thread before each
  (a thread hop per signaling frame), and it would put a queue and a second task
  between the socket and the runtime, whose transport pulls frames itself. Frames go
  straight from the ASGI ``receive`` to the core, as in :mod:`rtcsignal.adapters.asgi`.
* **Identity**: with :func:`django_user_authenticator` as the runtime's ``authenticate``
  hook, the identity is Django's authenticated user (``scope["user"]``, set by
  ``AuthMiddlewareStack`` from the session cookie); an anonymous user is refused with
  4003. The consumer hands the scope to the hook through a context variable, so the
  runtime's own order holds: origin check, then the hook, then the connection limits.
* **Lifecycle**: Daphne (Channels' server) does not speak the ASGI lifespan protocol.
  A runtime that nothing started is started on the first connection, in a task the
  adapter owns for the life of the process; :func:`stop` shuts it down. Under uvicorn
  or hypercorn, route ``"lifespan"`` to :func:`lifespan` instead: the runtime starts
  with the server and a shutdown is graceful (``going_away``, 1001).
* **Settings**: ``RTCSIGNAL = {...}`` in Django settings, the layout of
  :meth:`RuntimeSettings.from_dict <rtcsignal.runtime.RuntimeSettings.from_dict>`
  (:func:`runtime_settings`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final

from django.conf import settings as django_settings
from django.urls import URLPattern
from django.urls import path as url_path

from rtcsignal.adapters.asgi import ASGIApp, Receive, Scope, Send, serve_websocket
from rtcsignal.adapters.asgi import lifespan as asgi_lifespan
from rtcsignal.auth import Authenticate, AuthError, HandshakeRequest
from rtcsignal.core import Identity
from rtcsignal.runtime import Runtime, RuntimeSettings

__all__ = [
    "DEFAULT_PATH",
    "SETTINGS_NAME",
    "RtcsignalConsumer",
    "default_identity",
    "django_user_authenticator",
    "lifespan",
    "rtcsignal_urlpatterns",
    "runtime_settings",
    "stop",
]

DEFAULT_PATH: Final = "ws/rtcsignal/"
"""Where :func:`rtcsignal_urlpatterns` puts the WebSocket (Channels' ``ws/`` habit)."""
SETTINGS_NAME: Final = "RTCSIGNAL"
"""The Django setting holding the runtime settings table."""

_SCOPE: contextvars.ContextVar[Scope] = contextvars.ContextVar("rtcsignal_channels_scope")

UserIdentity = Callable[[Any], Identity | Awaitable[Identity]]
"""Maps an authenticated Django user to an :class:`~rtcsignal.core.Identity`."""


def runtime_settings(**overrides: Any) -> RuntimeSettings:
    """:class:`~rtcsignal.runtime.RuntimeSettings` from the ``RTCSIGNAL`` Django setting
    (a dict in the layout of ``RuntimeSettings.from_dict``; absent: the defaults).

    Args:
        overrides: top-level keys that win over the setting (``auth_secret=...``).

    Raises:
        SettingsError: naming the bad key.
    """
    table = dict(getattr(django_settings, SETTINGS_NAME, None) or {})
    table.update(overrides)
    return RuntimeSettings.from_dict(table)


def default_identity(user: Any) -> Identity:
    """The default mapping: the user's primary key as the rtcsignal user id (stable
    across renames), the full name (or the username) as the display name, and no grants
    (an application maps staff or groups to grants in its own mapping)."""
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return Identity(user=str(user.pk), name=name or user.get_username())


def django_user_authenticator(identity: UserIdentity = default_identity) -> Authenticate:
    """An ``authenticate`` hook making Django's authenticated user the identity.

    The consumer must be wrapped in ``channels.auth.AuthMiddlewareStack`` (it sets
    ``scope["user"]`` from the session cookie). An anonymous user is refused with 4003
    ``login required``.

    Args:
        identity: maps the user to an :class:`~rtcsignal.core.Identity` (may be async,
            e.g. to read groups through ``channels.db.database_sync_to_async``).

    Raises (to the runtime, which logs it and closes 1011): ``RuntimeError`` when used
    outside :class:`RtcsignalConsumer` or without ``AuthMiddlewareStack``.
    """

    async def authenticate(request: HandshakeRequest) -> Identity:
        scope = _SCOPE.get(None)
        if scope is None:
            raise RuntimeError("django_user_authenticator serves RtcsignalConsumer only")
        if "user" not in scope:
            raise RuntimeError(
                'scope has no "user": wrap the consumer in channels.auth.AuthMiddlewareStack'
            )
        user = scope["user"]
        if not user.is_authenticated:
            raise AuthError("login required")
        result = identity(user)
        if inspect.isawaitable(result):
            result = await result
        return result

    return authenticate


class _Host:
    """A runtime started by the first connection, run in a task of its own."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.ready = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async with self.runtime:
                self.ready.set()
                await asyncio.Event().wait()  # until stop() cancels it
        finally:
            self.ready.set()


_hosts: weakref.WeakKeyDictionary[Runtime, _Host | None] = weakref.WeakKeyDictionary()
"""Per runtime: the host that started it, or ``None`` once seen run by something else
(a lifespan): a runtime is started lazily at most once, and never restarted."""


async def _ensure_running(runtime: Runtime) -> None:
    if runtime.running:
        _hosts.setdefault(runtime, None)
        return
    if runtime in _hosts:
        host = _hosts[runtime]
        if host is None or host.task.done():
            return  # it ran and stopped: the runtime refuses (1011 not running)
    else:
        host = _hosts[runtime] = _Host(runtime)
    await host.ready.wait()


async def stop(runtime: Runtime) -> None:
    """Shut down a runtime that the adapter started lazily (graceful: ``going_away``,
    1001) and end its task. Does nothing for a runtime run by something else."""
    host = _hosts.get(runtime)
    if host is None or host.task.done():
        return
    host.task.cancel()
    await asyncio.wait([host.task])


class RtcsignalConsumer:
    """The rtcsignal consumer: one WebSocket connection served by ``runtime``.

    Route it with ``URLRouter([path("ws/rtcsignal/", RtcsignalConsumer.as_asgi(
    runtime=runtime))])`` (or :func:`rtcsignal_urlpatterns`).

    Args:
        runtime: the :class:`~rtcsignal.runtime.Runtime`; started on the first
            connection unless already running.
    """

    def __init__(self, *, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    def as_asgi(cls, *, runtime: Runtime) -> ASGIApp:
        """The ASGI application for ``URLRouter`` (as with Channels' consumers)."""
        consumer = cls(runtime=runtime)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await consumer(scope, receive, send)

        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"RtcsignalConsumer serves WebSockets, not {scope['type']!r}")
        await _ensure_running(self.runtime)
        token = _SCOPE.set(scope)
        try:
            await serve_websocket(self.runtime, scope, receive, send)
        finally:
            _SCOPE.reset(token)


def rtcsignal_urlpatterns(runtime: Runtime, path: str = DEFAULT_PATH) -> list[URLPattern]:
    """URL patterns for ``channels.routing.URLRouter``: the consumer at ``path``
    (Django ``path()`` syntax, without the leading slash)."""
    return [url_path(path, RtcsignalConsumer.as_asgi(runtime=runtime), name="rtcsignal")]


def lifespan(runtime: Runtime) -> ASGIApp:
    """The ``"lifespan"`` entry of ``ProtocolTypeRouter``: the runtime starts with the
    server and stops gracefully with it (uvicorn, hypercorn; Daphne sends no lifespan
    events, and the runtime starts on the first connection instead)."""
    run = asgi_lifespan(runtime)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        _hosts.setdefault(runtime, None)  # the lifespan runs it: never start it lazily
        await run(scope, receive, send)

    return app
