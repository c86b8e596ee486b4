"""Metrics: a small hook (counters and histograms) fed from the core's observer events.

The runtime turns every observer event (and its own happenings: handshake refusals,
slow-consumer closes) into named samples through one table, :data:`METRICS`, and hands
them to a :class:`Metrics` hook. :class:`MemoryMetrics` keeps them in dictionaries (tests,
health pages); :class:`PrometheusMetrics` exports them with ``prometheus-client``
(extra ``rtcsignal[prometheus]``, imported only when constructed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import attrs

from rtcsignal.core import events as ev

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "CALL_DURATION_BUCKETS",
    "METRICS",
    "EventSamples",
    "MemoryMetrics",
    "MetricSpec",
    "Metrics",
    "PrometheusMetrics",
]

Labels = Mapping[str, str]


class Metrics(Protocol):
    """The metrics hook. Implementations must be cheap and must not raise (a raising
    hook is caught and logged by the runtime, never propagated)."""

    def count(self, name: str, labels: Labels, value: float = 1.0) -> None:
        """Add ``value`` to counter ``name`` (a name of :data:`METRICS`)."""

    def observe(self, name: str, labels: Labels, value: float) -> None:
        """Record ``value`` in histogram ``name``."""


@attrs.frozen(kw_only=True)
class MetricSpec:
    """One metric: its kind, help text and label names."""

    kind: Literal["counter", "histogram", "gauge"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    """A histogram's buckets (``None``: :data:`CALL_DURATION_BUCKETS`)."""


CALL_DURATION_BUCKETS: Final = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)
"""Call durations: 10 s (a misdial) to 4 h (an all-day room), roughly log-spaced."""
HOP_BUCKETS: Final = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)
"""Backplane hop latency: 0.2 ms (loopback Redis) to 2 s (an outage), log-spaced."""

METRICS: Final[Mapping[str, MetricSpec]] = {
    "rtcsignal_connections_opened_total": MetricSpec(
        kind="counter", help="WebSocket connections admitted to the core"
    ),
    "rtcsignal_connections_closed_total": MetricSpec(
        kind="counter", help="Connections closed by the server, by close code", labels=("code",)
    ),
    "rtcsignal_handshake_refused_total": MetricSpec(
        kind="counter",
        help="Handshakes refused before the core (origin, auth, connection limits)",
        labels=("reason",),
    ),
    "rtcsignal_slow_consumer_closes_total": MetricSpec(
        kind="counter", help="Connections closed because their outbound queue overflowed"
    ),
    "rtcsignal_sessions_started_total": MetricSpec(kind="counter", help="New sessions"),
    "rtcsignal_resumes_total": MetricSpec(
        kind="counter", help="Sessions resumed, by whether events were lost", labels=("gap",)
    ),
    "rtcsignal_sessions_ended_total": MetricSpec(
        kind="counter", help="Sessions ended, by reason", labels=("reason",)
    ),
    "rtcsignal_rooms_created_total": MetricSpec(kind="counter", help="Rooms created"),
    "rtcsignal_rooms_closed_total": MetricSpec(
        kind="counter", help="Rooms removed, by reason", labels=("reason",)
    ),
    "rtcsignal_participants_joined_total": MetricSpec(
        kind="counter", help="Participants joined, by role", labels=("role",)
    ),
    "rtcsignal_participants_left_total": MetricSpec(
        kind="counter", help="Participants left, by reason", labels=("reason",)
    ),
    "rtcsignal_duplicate_joins_total": MetricSpec(
        kind="counter", help="Joins by a user already in the room", labels=("outcome",)
    ),
    "rtcsignal_calls_created_total": MetricSpec(kind="counter", help="Calls created (ringing)"),
    "rtcsignal_calls_joined_total": MetricSpec(
        kind="counter", help="Calls answered (became active)"
    ),
    "rtcsignal_calls_ended_total": MetricSpec(
        kind="counter", help="Calls ended, by reason", labels=("reason",)
    ),
    "rtcsignal_call_duration_seconds": MetricSpec(
        kind="histogram", help="Duration of answered calls"
    ),
    "rtcsignal_requests_rejected_total": MetricSpec(
        kind="counter", help="Requests answered with an error, by code", labels=("code",)
    ),
    "rtcsignal_unauthorized_total": MetricSpec(
        kind="counter",
        help="Requests refused for lack of permission or invitation",
        labels=("code",),
    ),
    "rtcsignal_invalid_sdp_total": MetricSpec(
        kind="counter", help="Offers and answers refused by SDP validation"
    ),
    "rtcsignal_invalid_candidates_total": MetricSpec(
        kind="counter", help="ICE candidates refused by validation (invalid or stale)"
    ),
    "rtcsignal_rate_limit_denials_total": MetricSpec(
        kind="counter", help="Messages denied by rate limits", labels=("scope", "action")
    ),
    "rtcsignal_internal_errors_total": MetricSpec(
        kind="counter", help="Unexpected exceptions (core or runtime), by where", labels=("where",)
    ),
    "rtcsignal_webhooks_delivered_total": MetricSpec(
        kind="counter", help="Webhook events delivered (answered 2xx), by rtcsignal.webhooks"
    ),
    "rtcsignal_webhooks_dropped_total": MetricSpec(
        kind="counter",
        help="Webhook events dropped: queue_full, failed (retries exhausted) or closed",
        labels=("reason",),
    ),
    # -- the backplane (a cluster of instances: docs/scaling.md) --
    "rtcsignal_backplane_messages_out_total": MetricSpec(
        kind="counter", help="Envelopes sent to other instances"
    ),
    "rtcsignal_backplane_messages_in_total": MetricSpec(
        kind="counter", help="Envelopes received from other instances"
    ),
    "rtcsignal_backplane_hop_seconds": MetricSpec(
        kind="histogram",
        help="Seconds from an envelope's send to its receipt on another instance",
        buckets=HOP_BUCKETS,
    ),
    "rtcsignal_backplane_ownership_acquired_total": MetricSpec(
        kind="counter", help="Rooms (and the call book) this instance took ownership of"
    ),
    "rtcsignal_backplane_takeovers_total": MetricSpec(
        kind="counter", help="Ownerships taken over from an instance whose lease lapsed"
    ),
    "rtcsignal_backplane_resets_total": MetricSpec(
        kind="counter",
        help="Resets: the cluster generation was gone or changed (Redis lost its data)",
    ),
    "rtcsignal_backplane_fenced_drops_total": MetricSpec(
        kind="counter", help="Frames and state writes of an owner with a stale epoch, dropped"
    ),
    "rtcsignal_backplane_redis_errors_total": MetricSpec(
        kind="counter", help="Redis commands that failed, by operation", labels=("op",)
    ),
    "rtcsignal_backplane_publish_failures_total": MetricSpec(
        kind="counter", help="Envelopes that could not be sent to another instance (alert)"
    ),
    "rtcsignal_backplane_subscribe_failures_total": MetricSpec(
        kind="counter", help="Failed reads of this instance's inbox (alert)"
    ),
    "rtcsignal_backplane_reconnects_total": MetricSpec(
        kind="counter", help="Reconnections of the inbox reader"
    ),
    "rtcsignal_backplane_state": MetricSpec(
        kind="gauge", help="Backplane state: 1 for the current one", labels=("state",)
    ),
}
"""Every metric the runtime emits; :class:`PrometheusMetrics` declares exactly these."""

_UNAUTHORIZED: Final = frozenset(
    {"forbidden", "not_invited", "room_locked", "call_not_found", "resume_failed"}
)

Sample = tuple[Literal["count", "observe"], str, dict[str, str], float]


class EventSamples:
    """Turns observer events into samples (the translation table, as code). It remembers
    the state of each live call (bounded by the live calls: forgotten when one ends) so a
    call is counted created, answered and ended exactly once."""

    def __init__(self) -> None:
        self._calls: dict[str, str] = {}

    def __call__(self, event: ev.ObserverEvent) -> Iterator[Sample]:
        """The samples ``event`` produces."""
        if isinstance(event, ev.CallStateChanged):
            yield from self._call(event)
        else:
            yield from _plain(event)

    def _call(self, event: ev.CallStateChanged) -> Iterator[Sample]:
        call = event.call
        state = call.state.value
        before = self._calls.get(call.id)
        if before is None and state != "ended":
            yield "count", "rtcsignal_calls_created_total", {}, 1.0
        if state == "active" and before != "active":
            yield "count", "rtcsignal_calls_joined_total", {}, 1.0
        if state == "ended":
            if self._calls.pop(call.id, None) is not None or before is None:
                reason = str(call.reason) if call.reason is not None else ""
                yield "count", "rtcsignal_calls_ended_total", {"reason": reason}, 1.0
                if call.duration is not None:
                    yield "observe", "rtcsignal_call_duration_seconds", {}, call.duration
        else:
            self._calls[call.id] = state


def _plain(event: ev.ObserverEvent) -> Iterator[Sample]:
    if isinstance(event, ev.RequestRejected):
        yield "count", "rtcsignal_requests_rejected_total", {"code": event.code}, 1.0
        if event.code in _UNAUTHORIZED:
            yield "count", "rtcsignal_unauthorized_total", {"code": event.code}, 1.0
        elif event.code == "invalid_sdp":
            yield "count", "rtcsignal_invalid_sdp_total", {}, 1.0
        elif event.code in ("invalid_candidate", "stale_candidate"):
            yield "count", "rtcsignal_invalid_candidates_total", {}, 1.0
    elif isinstance(event, ev.MemberJoined):
        yield "count", "rtcsignal_participants_joined_total", {"role": str(event.role)}, 1.0
    elif isinstance(event, ev.MemberLeft):
        yield "count", "rtcsignal_participants_left_total", {"reason": str(event.reason)}, 1.0
    elif isinstance(event, ev.RateLimitDenied):
        labels = {"scope": event.scope or "", "action": event.action}
        yield "count", "rtcsignal_rate_limit_denials_total", labels, 1.0
    elif isinstance(event, ev.DuplicateJoin):
        yield "count", "rtcsignal_duplicate_joins_total", {"outcome": event.outcome}, 1.0
    elif isinstance(event, ev.SessionStarted):
        yield "count", "rtcsignal_sessions_started_total", {}, 1.0
    elif isinstance(event, ev.SessionResumed):
        yield "count", "rtcsignal_resumes_total", {"gap": "true" if event.gap else "false"}, 1.0
    elif isinstance(event, ev.SessionEnded):
        yield "count", "rtcsignal_sessions_ended_total", {"reason": event.reason}, 1.0
    elif isinstance(event, ev.ConnectionClosed):
        yield "count", "rtcsignal_connections_closed_total", {"code": str(event.code)}, 1.0
    elif isinstance(event, ev.RoomCreated):
        yield "count", "rtcsignal_rooms_created_total", {}, 1.0
    elif isinstance(event, ev.RoomClosed):
        yield "count", "rtcsignal_rooms_closed_total", {"reason": event.reason}, 1.0
    elif isinstance(event, ev.InternalError):
        yield "count", "rtcsignal_internal_errors_total", {"where": "core"}, 1.0


class MemoryMetrics:
    """A :class:`Metrics` hook that keeps totals in memory (tests, simple health pages).

    Attributes:
        counters: ``(name, sorted label items) -> total``.
        histograms: ``(name, sorted label items) -> observed values`` (the last
            :data:`MAX_OBSERVATIONS` of each).
        gauges: ``(name, sorted label items) -> value``.
    """

    MAX_OBSERVATIONS: Final = 1000
    """Bounded: a long-running process must not grow a list per observation."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def set(self, name: str, labels: Labels, value: float) -> None:
        """Set gauge ``name`` to ``value``."""
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def count(self, name: str, labels: Labels, value: float = 1.0) -> None:
        """Add ``value`` to counter ``name``."""
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0.0) + value

    def observe(self, name: str, labels: Labels, value: float) -> None:
        """Record ``value`` in histogram ``name``."""
        values = self.histograms.setdefault((name, tuple(sorted(labels.items()))), [])
        values.append(value)
        del values[: -self.MAX_OBSERVATIONS]

    def total(self, name: str, **labels: str) -> float:
        """The sum of counter ``name`` over every label set matching ``labels``."""
        want = set(labels.items())
        return sum(v for (n, items), v in self.counters.items() if n == name and want <= set(items))


class PrometheusMetrics:
    """Export :data:`METRICS` with ``prometheus-client`` (extra ``rtcsignal[prometheus]``).

    Args:
        registry: where to register; a fresh :class:`CollectorRegistry` by default (pass
            ``prometheus_client.REGISTRY`` to expose them with the default handler).

    Raises:
        ModuleNotFoundError: ``prometheus-client`` is not installed.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        import prometheus_client as prom  # optional extra: imported only when used

        self.registry = registry if registry is not None else prom.CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        for name, spec in METRICS.items():
            if spec.kind == "counter":
                self._metrics[name] = prom.Counter(
                    name.removesuffix("_total"), spec.help, spec.labels, registry=self.registry
                )
            elif spec.kind == "gauge":
                self._metrics[name] = prom.Gauge(
                    name, spec.help, spec.labels, registry=self.registry
                )
            else:
                self._metrics[name] = prom.Histogram(
                    name,
                    spec.help,
                    spec.labels,
                    registry=self.registry,
                    buckets=spec.buckets or CALL_DURATION_BUCKETS,
                )

    def _child(self, name: str, labels: Labels) -> Any:
        metric = self._metrics[name]
        return metric.labels(**labels) if labels else metric

    def count(self, name: str, labels: Labels, value: float = 1.0) -> None:
        """Add ``value`` to counter ``name``."""
        self._child(name, labels).inc(value)

    def observe(self, name: str, labels: Labels, value: float) -> None:
        """Record ``value`` in histogram ``name``."""
        self._child(name, labels).observe(value)

    def set(self, name: str, labels: Labels, value: float) -> None:
        """Set gauge ``name`` to ``value``."""
        self._child(name, labels).set(value)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        import prometheus_client as prom

        return bytes(prom.generate_latest(self.registry))
