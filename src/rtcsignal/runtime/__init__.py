"""The anyio runtime: runs the sans-I/O core for the WebSocket adapters.

It owns the clock, the ids, the timer task, the per-connection bounded outbound queues,
admission (origin, authentication, connection limits), graceful shutdown, health and
metrics. Adapters (:mod:`rtcsignal.adapters`) only move frames between their framework's
socket and :meth:`Runtime.serve`. Works on asyncio and trio. See ``docs/runtime.md``.
"""

from __future__ import annotations

from rtcsignal.auth import Authenticate as Authenticate
from rtcsignal.auth import AuthError as AuthError
from rtcsignal.auth import HandshakeRequest as HandshakeRequest

from ._admin import Admin as Admin
from ._admin import RoomInfo as RoomInfo
from ._ice import DEFAULT_TURN_TTL as DEFAULT_TURN_TTL
from ._ice import IceSettings as IceSettings
from ._metrics import CALL_DURATION_BUCKETS as CALL_DURATION_BUCKETS
from ._metrics import METRICS as METRICS
from ._metrics import EventSamples as EventSamples
from ._metrics import MemoryMetrics as MemoryMetrics
from ._metrics import Metrics as Metrics
from ._metrics import MetricSpec as MetricSpec
from ._metrics import PrometheusMetrics as PrometheusMetrics
from ._outbound import Outbound as Outbound
from ._runtime import ID_BYTES as ID_BYTES
from ._runtime import TRANSPORT_FRAME_FACTOR as TRANSPORT_FRAME_FACTOR
from ._runtime import Health as Health
from ._runtime import Runtime as Runtime
from ._runtime import Transport as Transport
from ._runtime import anonymous_authenticator as anonymous_authenticator
from ._runtime import token_authenticator as token_authenticator
from ._settings import DEFAULT_CLOSE_TIMEOUT as DEFAULT_CLOSE_TIMEOUT
from ._settings import DEFAULT_HOST as DEFAULT_HOST
from ._settings import DEFAULT_PORT as DEFAULT_PORT
from ._settings import DEFAULT_SHUTDOWN_GRACE as DEFAULT_SHUTDOWN_GRACE
from ._settings import BackplaneSettings as BackplaneSettings
from ._settings import RuntimeSettings as RuntimeSettings
from ._settings import SettingsError as SettingsError

__all__ = [
    "CALL_DURATION_BUCKETS",
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SHUTDOWN_GRACE",
    "DEFAULT_TURN_TTL",
    "ID_BYTES",
    "METRICS",
    "TRANSPORT_FRAME_FACTOR",
    "Admin",
    "AuthError",
    "Authenticate",
    "BackplaneSettings",
    "EventSamples",
    "HandshakeRequest",
    "Health",
    "IceSettings",
    "MemoryMetrics",
    "MetricSpec",
    "Metrics",
    "Outbound",
    "PrometheusMetrics",
    "RoomInfo",
    "Runtime",
    "RuntimeSettings",
    "SettingsError",
    "Transport",
    "anonymous_authenticator",
    "token_authenticator",
]
