"""The Channels adapter beyond the conformance suite: its lifecycle without a lifespan,
its settings from Django's, and the Django-user hook's misuse (the logged-in user as
identity runs in tests/test_examples.py, through the example project's real login)."""

from __future__ import annotations

import pytest

from harness_adapters import django_settings, open_client, serve_adapter

django_settings()

from django.test import override_settings  # noqa: E402

from rtcsignal.adapters.channels import (  # noqa: E402
    default_identity,
    django_user_authenticator,
    runtime_settings,
    stop,
)
from rtcsignal.runtime import SettingsError  # noqa: E402


def test_without_auth_middleware_the_django_user_hook_closes_1011() -> None:
    served = serve_adapter("channels-uvicorn", authenticate=django_user_authenticator())
    try:
        client = open_client(served, "alice")
        assert client.closed() == (1011, "authentication unavailable")
        assert served.metrics.total("rtcsignal_handshake_refused_total", reason="auth_error") == 1
    finally:
        served.stop()


def test_a_lazily_started_runtime_is_stopped_once_and_never_restarted() -> None:
    served = serve_adapter("channels-uvicorn")
    try:
        assert not served.runtime.running  # nothing started it yet
        first = open_client(served, "alice")
        first.request({"type": "hello", "version": 1})
        assert served.runtime.running  # the first connection did
        served.call(lambda: stop(served.runtime))
        assert first.expect("going_away")["reason"].endswith("reconnect")
        assert first.closed()[0] == 1001
        assert not served.runtime.running
        late = open_client(served, "bob")
        assert late.closed() == (1011, "server not running")
    finally:
        served.stop()


def test_runtime_settings_come_from_the_rtcsignal_setting() -> None:
    with override_settings(RTCSIGNAL={"server": {"ping_timeout": 12.5}, "compression": False}):
        loaded = runtime_settings(auth_secret="s" * 32)
    assert loaded.server.ping_timeout == 12.5
    assert loaded.auth_secret == "s" * 32
    assert runtime_settings().server.ping_timeout != 12.5  # absent: the defaults
    with (
        override_settings(RTCSIGNAL={"server": {"ping_timeout": "soon"}}),
        pytest.raises(SettingsError, match=r"\[server\].*ping_timeout"),
    ):
        runtime_settings()


def test_default_identity_maps_a_django_user() -> None:
    class User:  # the three attributes the mapping reads, as on AbstractBaseUser
        pk = 42

        def get_full_name(self) -> str:
            return ""

        def get_username(self) -> str:
            return "ann"

    identity = default_identity(User())
    assert (identity.user, identity.name) == ("42", "ann")
