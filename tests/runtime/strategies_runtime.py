"""Hypothesis strategies for the runtime area: identities carried by tokens, settings."""

from __future__ import annotations

from hypothesis import strategies as st

from rtcsignal.protocol import Role

users = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=64
)
"""User ids: any non-empty text (tokens carry them as JSON)."""

names = st.none() | st.text(max_size=64)
"""Display names, or none."""

rooms = st.from_regex(r"[A-Za-z0-9_-]{3,64}", fullmatch=True) | st.just("*")
"""Room ids as the protocol allows them, and the every-room wildcard."""

grants = st.dictionaries(rooms, st.sampled_from(list(Role)), max_size=4)
"""Roles per room."""

secrets_ = st.binary(min_size=32, max_size=64)
"""HMAC keys of acceptable length."""
