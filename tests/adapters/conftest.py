"""Fixtures of the adapter conformance suite (the harness is ``tests/harness_adapters.py``)."""

from __future__ import annotations

from harness_adapters import served

__all__ = ["served"]
