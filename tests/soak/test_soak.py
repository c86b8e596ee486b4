"""The soak in the normal suite: about a minute of ``tests/soak/soak.py``'s churn against
the real server, with the same bounds on table sizes and descriptors as ``nox -s soak``
(counts, not times: RSS is bounded only in the long run). Also :meth:`Server.tables` and
``/healthz``'s ``tables`` on their own."""

from __future__ import annotations

from pathlib import Path

import soak
from rtcsignal._serve import DemoIdentities
from rtcsignal.core import Server
from rtcsignal.ratelimit._limiter import SWEEP_MIN_INSERTS
from rtcsignal.runtime import Runtime, RuntimeSettings
from rtcsignal.testing import CountingIds

CI_SECONDS = 60.0


def test_a_minute_of_churn_leaves_every_table_bounded_and_then_empty(tmp_path: Path) -> None:
    report = soak.run(CI_SECONDS, tmp_path / "server.log", seed=15)
    assert soak.check(report) == [], soak.summary(report)
    # Every scenario ran, and each reached the server's edge it aims at.
    assert set(report["done"]) == {name for name, _ in soak.Load.SCENARIOS}, report
    outcomes = report["outcomes"]
    # A scenario may fail only by waiting too long on a loaded machine, and rarely.
    failed = {k: n for k, n in outcomes.items() if ":failed:" in k}
    assert all(k.endswith(":failed:TimeoutError") for k in failed), report["errors"]
    assert sum(failed.values()) * 20 <= sum(report["done"].values()), report["errors"]
    assert outcomes.get("oversize:close:1009", 0) >= 1, outcomes
    assert outcomes.get("silent:close:4002", 0) >= 1, outcomes
    assert outcomes.get("visit:resume", 0) >= 1, outcomes
    assert outcomes.get("visit:vanish", 0) >= 1, outcomes
    assert outcomes.get("flood:rate_limited", 0) >= 1, outcomes
    # While it ran the tables were not empty: the churn really exercised them.
    peak = soak.summary(report)["peak_after"]
    for key in ("sessions", "rooms", "participants", "negotiations", "calls", "edge_timers"):
        assert peak[key] > 0, (key, peak)


def test_the_sweep_slack_matches_the_limiter() -> None:
    assert soak.SWEEP_MIN_INSERTS == SWEEP_MIN_INSERTS


def test_tables_of_an_idle_server_are_empty() -> None:
    tables = Server(id_factory=CountingIds()).tables()
    assert set(tables) == {
        "connections",
        "sessions",
        "users",
        "rooms",
        "participants",
        "negotiations",
        "calls",
        "replay_frames",
        "limiter_keys",
        "edge_timers",
        "room_timers",
        "call_timers",
    }
    assert set(tables.values()) == {0}
    runtime = Runtime(RuntimeSettings(), authenticate=DemoIdentities().authenticate)
    health = runtime.health().as_dict()
    assert health["tables"] == {**tables, "links": 0, "tracked": 0}


def _report(warm: list[tuple[int, int]], after: list[tuple[int, int]]) -> dict[str, object]:
    """A soak report of (sessions, replay frames) samples, every other table at 1."""
    base = dict.fromkeys(soak.TABLE_KEYS, 1)
    samples = [
        {**base, "t": t, "sessions": n, "replay_frames": f}
        for t, (n, f) in enumerate([*warm, *after])
    ]
    drained = dict.fromkeys(soak.ZERO_AFTER_DRAIN, 0)
    return {
        "samples": samples,
        "warmup": len(warm) - 1,
        "drained": {**drained, "fds": 1},
        "idle": {"fds": 1},
    }


def test_replay_frames_are_bounded_per_live_session() -> None:
    """More sessions alive keep more frames (not a leak); more frames per session are."""
    warm = [(30, 60), (37, 98)]
    assert soak.check(_report(warm, [(51, 183)])) == []  # 3.6 per session, 51 alive
    grown = soak.check(_report(warm, [(37, 400)]))  # 10.8 per session
    assert grown and grown[0].startswith("replay_frames grew to 400 for 37 sessions")
