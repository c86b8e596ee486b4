"""The state diagrams in docs/protocol.md are generated from the transition tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_diagrams", ROOT / "scripts" / "gen_diagrams.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_diagrams", module)
    spec.loader.exec_module(module)
    return module


def test_protocol_diagrams_are_in_sync_with_the_tables() -> None:
    gen = _generator()
    text = gen.DOC.read_text()
    assert gen.render(text) == text, "run: python scripts/gen_diagrams.py --write"


def test_every_negotiation_transition_is_drawn() -> None:
    gen = _generator()
    drawn = gen.negotiation()
    from rtcsignal.core._negotiation import NEGOTIATION_TRANSITIONS

    for (state, event), (nxt, _verdict) in NEGOTIATION_TRANSITIONS.items():
        assert f"{state.value} --> {nxt.value}: {event.value}" in drawn
