"""Fixtures of the adapter conformance suite (the harness is ``harness_adapters.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness_adapters import ADAPTERS, Served, serve_adapter


@pytest.fixture(params=ADAPTERS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """Each adapter in turn, freshly started."""
    server = serve_adapter(request.param)
    yield server
    server.stop()
