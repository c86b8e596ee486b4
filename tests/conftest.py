"""Shared pytest configuration: hypothesis settings profiles.

``HYPOTHESIS_PROFILE`` selects one: ``dev`` (default, quick), ``ci`` (more examples,
no deadline: CI machines are noisy) and ``fuzz`` (many examples, for ``nox -s fuzz``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
