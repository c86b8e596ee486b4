"""Shared pytest configuration: hypothesis settings profiles.

``HYPOTHESIS_PROFILE`` selects one: ``dev`` (default, quick), ``ci`` (more examples,
no deadline: CI machines are noisy) and ``fuzz`` (many examples, for ``nox -s fuzz``).

``--seam loopback`` runs every :class:`~rtcsignal.core.Server` with its room host behind
the loopback seam (every value crossing it encoded and decoded), as ``nox -s tests`` does
for the core and runtime tests.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from rtcsignal.core import _server

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seam",
        choices=("direct", "loopback"),
        default="direct",
        help="how every Server hands values to its room host: as they are (direct) or "
        "encoded and decoded on the way (loopback, as across instances)",
    )


def pytest_configure(config: pytest.Config) -> None:
    seam = config.getoption("--seam")
    _server._DEFAULT_SEAM = seam


def pytest_report_header(config: pytest.Config) -> str:
    return f"rtcsignal core seam: {config.getoption('--seam')}"
