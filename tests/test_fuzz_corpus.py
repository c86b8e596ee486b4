"""Every committed fuzz input replayed through its target, in the normal suite.

``fuzz/corpus/<target>/`` holds the seeds (``seed-*``, from ``fuzz/seed_corpus.py``)
and the minimized crashers fuzzing found (``regression-*``); ``fuzz/targets.py`` says
what each target checks. A target raises only on a bug, so each file here is a test.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def _targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rtcsignal_fuzz_targets", FUZZ / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


targets = _targets()
FILES = sorted((FUZZ / "corpus").glob("*/*"))


def test_every_target_has_a_corpus() -> None:
    assert {path.parent.name for path in FILES} == set(targets.TARGETS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input_passes_its_target(path: Path) -> None:
    targets.TARGETS[path.parent.name](path.read_bytes())


def test_the_server_seeds_reach_rooms_calls_and_negotiations() -> None:
    """The seeds start the fuzzer deep in the server, not at the handshake."""
    reached = {"participants": 0, "calls": 0, "negotiations": 0}
    for path in FILES:
        if path.parent.name != "server":
            continue
        prog = targets._Program(path.read_bytes())
        run = targets.ServerRun(wide=prog.byte() % 4 != 0)
        while not prog.done():
            run.step(prog)
        stats = run.server.stats()
        reached["participants"] += stats.participants
        reached["calls"] += stats.active_calls + stats.ringing_calls
        reached["negotiations"] += run.server._host.negotiations()
    assert all(reached.values()), reached
