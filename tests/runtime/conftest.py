"""Fixtures of the runtime tests over every adapter (harness: ``tests/harness_adapters.py``)."""

from __future__ import annotations

from harness_adapters import served

__all__ = ["served"]
