"""Settings from dict, TOML and environment, with errors that name the key; metrics."""

from __future__ import annotations

import pytest

from rtcsignal.core import CallRecord, CallState
from rtcsignal.core import events as ev
from rtcsignal.runtime import (
    METRICS,
    EventSamples,
    MemoryMetrics,
    PrometheusMetrics,
    RuntimeSettings,
    SettingsError,
)

TOML = """
host = "0.0.0.0"
port = 9000
origins = ["https://app.example"]
auth_secret = "0123456789abcdef0123456789abcdef"
compression = false

[server]
ping_timeout = 30.0
"""


def test_settings_from_toml() -> None:
    settings = RuntimeSettings.from_toml(TOML)
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.origins == ("https://app.example",)
    assert settings.server.ping_timeout == 30.0
    assert "0123" not in repr(settings)  # the secret stays out of logs


def test_settings_from_env() -> None:
    env = {
        "RTCSIGNAL_PORT": "9001",
        "RTCSIGNAL_ORIGINS": "https://a.example, https://b.example",
        "RTCSIGNAL_COMPRESSION": "true",
        "RTCSIGNAL_SERVER__HANDSHAKE_TIMEOUT": "5",
        "RTCSIGNAL_HOST": "example.internal",
        "OTHER_PORT": "1",
    }
    settings = RuntimeSettings.from_env(environ=env)
    assert settings.port == 9001
    assert settings.origins == ("https://a.example", "https://b.example")
    assert settings.compression is True
    assert settings.server.handshake_timeout == 5.0
    assert settings.host == "example.internal"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"prot": 1}, "prot"),
        ({"port": "eighty"}, "port"),
        ({"port": 70000}, "port"),
        ({"compression": "yes"}, "compression"),
        ({"origins": 5}, "origins"),
        ({"server": {"ping_timeout": -1}}, "ping_timeout"),
        ({"server": {"pnig_timeout": 1}}, "pnig_timeout"),
        ({"server": 3}, "server"),
        ({"rate": []}, "rate"),
        ({"shutdown_grace": -1}, "shutdown_grace"),
    ],
)
def test_settings_errors_name_the_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        RuntimeSettings.from_dict(data)


def test_bad_toml_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="TOML"):
        RuntimeSettings.from_toml("port = = 1")
    with pytest.raises(SettingsError, match="table"):
        RuntimeSettings.from_dict([])  # type: ignore[arg-type]


def _call(state: CallState, at: float, **kw: object) -> ev.CallStateChanged:
    fields: dict[str, object] = {
        "id": "c1",
        "room": "call-c1",
        "caller": "alice",
        "invitees": ("bob",),
        "media": "video",
        "state": state,
        "reason": None,
        "created_at": 0.0,
        "answered_at": None,
        "ended_at": None,
        "answered_by": (),
        "declined_by": (),
        "active": (),
        "ringing": (),
        "duration": None,
    }
    fields.update(kw)
    return ev.CallStateChanged(at=at, call=CallRecord(**fields))  # type: ignore[arg-type]


def test_call_lifecycle_is_counted_once_per_step() -> None:
    samples = EventSamples()
    metrics = MemoryMetrics()
    events = [
        _call(CallState.RINGING, 0.0),
        _call(CallState.RINGING, 1.0),  # another invitee rung: not a new call
        _call(CallState.ACTIVE, 2.0, answered_at=2.0),
        _call(CallState.ACTIVE, 3.0, answered_at=2.0),
        _call(
            CallState.ENDED, 62.0, answered_at=2.0, ended_at=62.0, reason="hangup", duration=60.0
        ),
    ]
    for event in events:
        for kind, name, labels, value in samples(event):
            assert name in METRICS
            if kind == "count":
                metrics.count(name, labels, value)
            else:
                metrics.observe(name, labels, value)
    assert metrics.total("rtcsignal_calls_created_total") == 1
    assert metrics.total("rtcsignal_calls_joined_total") == 1
    assert metrics.total("rtcsignal_calls_ended_total", reason="hangup") == 1
    assert metrics.histograms[("rtcsignal_call_duration_seconds", ())] == [60.0]


@pytest.mark.parametrize(
    ("event", "name", "labels"),
    [
        (
            ev.RequestRejected(
                at=0, connection="c", session=None, message_type="offer", code="invalid_sdp"
            ),
            "rtcsignal_invalid_sdp_total",
            {},
        ),
        (
            ev.RequestRejected(
                at=0, connection="c", session=None, message_type=None, code="stale_candidate"
            ),
            "rtcsignal_invalid_candidates_total",
            {},
        ),
        (
            ev.RequestRejected(
                at=0, connection="c", session=None, message_type="kick", code="forbidden"
            ),
            "rtcsignal_unauthorized_total",
            {"code": "forbidden"},
        ),
        (
            ev.RateLimitDenied(
                at=0, connection="c", message_type="chat", scope="user", action="drop"
            ),
            "rtcsignal_rate_limit_denials_total",
            {"scope": "user", "action": "drop"},
        ),
        (
            ev.DuplicateJoin(at=0, room="r", user="u", outcome="rejected"),
            "rtcsignal_duplicate_joins_total",
            {"outcome": "rejected"},
        ),
        (
            ev.SessionResumed(at=0, session="s", connection="c", replayed=3, gap=True),
            "rtcsignal_resumes_total",
            {"gap": "true"},
        ),
        (
            ev.ConnectionClosed(at=0, connection="c", code=4008, reason="slow"),
            "rtcsignal_connections_closed_total",
            {"code": "4008"},
        ),
        (
            ev.InternalError(at=0, connection="c", message_type="offer", error="boom"),
            "rtcsignal_internal_errors_total",
            {"where": "core"},
        ),
    ],
)
def test_events_map_to_metrics(event: ev.ObserverEvent, name: str, labels: dict[str, str]) -> None:
    produced = {(n, tuple(sorted(lab.items()))) for _, n, lab, _ in EventSamples()(event)}
    assert (name, tuple(sorted(labels.items()))) in produced
    for metric, _ in produced:
        assert metric in METRICS


def test_memory_histograms_are_bounded() -> None:
    metrics = MemoryMetrics()
    for i in range(MemoryMetrics.MAX_OBSERVATIONS + 10):
        metrics.observe("rtcsignal_call_duration_seconds", {}, float(i))
    values = metrics.histograms[("rtcsignal_call_duration_seconds", ())]
    assert len(values) == MemoryMetrics.MAX_OBSERVATIONS
    assert values[-1] == MemoryMetrics.MAX_OBSERVATIONS + 9


def test_prometheus_exporter_declares_and_exports_every_metric() -> None:
    prom = PrometheusMetrics()
    prom.count("rtcsignal_calls_ended_total", {"reason": "missed"})
    prom.count("rtcsignal_sessions_started_total", {}, 2)
    prom.observe("rtcsignal_call_duration_seconds", {}, 42.0)
    text = prom.render().decode()
    assert 'rtcsignal_calls_ended_total{reason="missed"} 1.0' in text
    assert "rtcsignal_sessions_started_total 2.0" in text
    assert "rtcsignal_call_duration_seconds_sum 42.0" in text
    for name, spec in METRICS.items():
        assert f"# HELP {name.removesuffix('_total')}" in text or spec.labels


def test_the_fast_key_selects_the_picows_server() -> None:
    assert RuntimeSettings().fast is False
    assert RuntimeSettings.from_toml("fast = true").fast is True
    assert RuntimeSettings.from_env(environ={"RTCSIGNAL_FAST": "true"}).fast is True
    with pytest.raises(SettingsError, match="fast"):
        RuntimeSettings.from_dict({"fast": "yes"})
