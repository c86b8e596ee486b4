"""Rate limiting: decisions per second and bytes per key, side by side in one run with

* a bare 15-line GCRA (a dict of key -> TAT float): the floor any Python limiter pays;
* the ``limits`` package's in-memory strategies (fixed window, moving window, sliding
  window counter) on ``limits.storage.MemoryStorage``.

Scenarios: one hot key within its limit (the allowed path), one hot key flooding (the
denied path), and 100k distinct keys in rotation. Then rtcsignal's full inbound check
(connection, user, address, room and kind scopes) on the default policy, and bytes per
idle key measured with tracemalloc over 100k keys (key strings created beforehand, so
only the limiter's own state counts; ``limits`` builds its own key strings, which do).

rtcsignal and the bare GCRA take ``now`` as a parameter (the runtime reads the clock
once per frame); ``limits`` reads ``time.time()`` itself. ``MemoryStorage`` runs an
expiry timer thread; it is cancelled after each use so the benchmark exits.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Hashable
from typing import Any

import limits
from limits.storage import MemoryStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from rtcsignal.ratelimit import InboundLimiter, Limiter, RatePolicy

STRATEGIES: dict[str, Any] = {
    "limits fixed window": FixedWindowRateLimiter,
    "limits moving window": MovingWindowRateLimiter,
    "limits sliding window counter": SlidingWindowCounterRateLimiter,
}
MANY_KEYS = 100_000
HUGE = 1_000_000_000  # a limit no loop reaches: measures the allowed path
MOVING_WINDOW_ALLOWED_CALLS = 10_000  # see bench_decisions


def bare_gcra(rate: float, burst: float) -> Callable[[Hashable, float], bool]:
    """The anchor: GCRA in its barest form, a dict of key -> theoretical arrival time."""
    tat: dict[Hashable, float] = {}
    interval = 1.0 / rate
    tolerance = burst * interval

    def check(key: Hashable, now: float) -> bool:
        t = tat.get(key, now)
        if t < now:
            t = now
        new = t + interval
        if new - now > tolerance:
            return False
        tat[key] = new
        return True

    return check


class _Limits:
    """One ``limits`` strategy on its own MemoryStorage, stopped after use."""

    def __init__(self, strategy: Any, spec: str) -> None:
        self.storage = MemoryStorage()
        self.limiter = strategy(self.storage)
        self.item = limits.parse(spec)

    def check(self, key: Hashable, now: float) -> bool:
        return bool(self.limiter.hit(self.item, key))

    def close(self) -> None:
        # stop the expiry timer and wait out a run in progress; it re-arms only on a hit
        timer = self.storage.timer
        timer.cancel()
        if timer.is_alive():
            timer.join()


def _rate(check: Callable[[Hashable, float], object], keys: list[str], n: int) -> float:
    """Decisions per second over ``n`` calls cycling through ``keys``."""
    k = len(keys)
    now = 1_000.0
    start = time.perf_counter()
    for i in range(n):
        check(keys[i % k], now)
        now += 1e-7
    return n / (time.perf_counter() - start)


def _candidates(hot_spec: tuple[float, float]) -> dict[str, Callable[[], Any]]:
    rate, burst = hot_spec
    spec = f"{HUGE}/second" if rate >= HUGE else f"{int(rate)}/second"
    makers: dict[str, Callable[[], Any]] = {
        "rtcsignal Limiter": lambda: Limiter(rate, burst, max_keys=2 * MANY_KEYS),
        "bare GCRA (anchor)": lambda: bare_gcra(rate, burst),
    }
    for name, strategy in STRATEGIES.items():
        makers[name] = lambda s=strategy: _Limits(s, spec)
    return makers


def _as_check(obj: Any) -> Callable[[Hashable, float], object]:
    return obj if callable(obj) and not hasattr(obj, "check") else obj.check  # type: ignore[no-any-return]


def _close(obj: Any) -> None:
    if isinstance(obj, _Limits):
        obj.close()


def bench_decisions(quick: bool) -> dict[str, dict[str, float]]:
    """Median decisions/s per limiter and scenario; candidates interleaved per round."""
    rounds = 3 if quick else 7
    n_hot = 20_000 if quick else 100_000
    keys = [f"key-{i}" for i in range(MANY_KEYS)]
    scenarios = {
        "hot key, allowed": ((float(HUGE), float(HUGE)), ["hot"], n_hot),
        "hot key, flooding": ((10.0, 10.0), ["hot"], n_hot),
        "100k keys": ((10.0, 10.0), keys, MANY_KEYS if not quick else 30_000),
    }
    results: dict[str, dict[str, list[float]]] = {}
    for scenario, (spec, keyset, n) in scenarios.items():
        for _ in range(rounds):
            for name, make in _candidates(spec).items():
                obj = make()
                size = n
                if "moving" in name and scenario == "hot key, allowed":
                    # the moving window keeps one entry per admitted hit and inserts at
                    # the front of a list: O(hits) per hit. Fewer calls keep it finite.
                    size = min(n, MOVING_WINDOW_ALLOWED_CALLS)
                try:
                    rate = _rate(_as_check(obj), keyset, size)
                finally:
                    _close(obj)
                results.setdefault(name, {}).setdefault(scenario, []).append(rate)
    return {
        name: {s: statistics.median(v) for s, v in per.items()} for name, per in results.items()
    }


def bench_inbound(quick: bool) -> dict[str, float]:
    """Full inbound checks/s on the default policy: allowed, flooding, and 100k connections."""
    rounds = 3 if quick else 7
    n = 20_000 if quick else 100_000
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        lim = InboundLimiter(RatePolicy.default())
        now = 1_000.0
        start = time.perf_counter()
        for _ in range(n):  # candidates at 20/s: always allowed
            lim.check(
                kind="candidate", now=now, connection="c1", user="u1", address="a1", room="r1"
            )
            now += 0.05
        out.setdefault("all 5 scopes, allowed", []).append(n / (time.perf_counter() - start))

        lim = InboundLimiter(RatePolicy.default())
        start = time.perf_counter()
        for _ in range(n):  # a chat flood at one instant: denied after the burst
            lim.check(kind="chat", now=now, connection="c1", user="u1", address="a1", room="r1")
        out.setdefault("all 5 scopes, flooding", []).append(n / (time.perf_counter() - start))

        lim = InboundLimiter(RatePolicy.default())
        conns = [f"c{i}" for i in range(MANY_KEYS)]
        start = time.perf_counter()
        m = len(conns) if not quick else 30_000
        for i in range(m):
            lim.check(
                kind="candidate",
                now=now,
                connection=conns[i],
                user=conns[i],
                address="a1",
                room=conns[i],
            )
        out.setdefault("all 5 scopes, 100k connections", []).append(
            m / (time.perf_counter() - start)
        )
    return {k: statistics.median(v) for k, v in out.items()}


def _bytes_per_key(make: Callable[[], Any], keys: list[str]) -> float:
    obj = make()
    check = _as_check(obj)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        check(key, 1_000.0)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    _close(obj)
    return (after - before) / len(keys)


def bench_memory(quick: bool) -> dict[str, float]:
    """Bytes of limiter state per idle key (one request each), over 100k keys."""
    keys = [f"key-{i}" for i in range(MANY_KEYS if not quick else 20_000)]
    out: dict[str, float] = {}
    # a slow rate so no key recovers (nor expires) while the keys are written
    out["rtcsignal Limiter"] = _bytes_per_key(lambda: Limiter(1 / 3600, 10, 2 * MANY_KEYS), keys)
    out["bare GCRA (anchor)"] = _bytes_per_key(lambda: bare_gcra(1 / 3600, 10), keys)
    for name, strategy in STRATEGIES.items():
        out[name] = _bytes_per_key(lambda s=strategy: _Limits(s, "10/hour"), keys)
    return out


def main(quick: bool) -> str:
    decisions = bench_decisions(quick)
    inbound = bench_inbound(quick)
    memory = bench_memory(quick)
    ours = decisions["rtcsignal Limiter"]
    bare = decisions["bare GCRA (anchor)"]
    scenarios = list(ours)
    fastest_limits = {
        s: max(v[s] for name, v in decisions.items() if name.startswith("limits"))
        for s in scenarios
    }
    lines = [
        "## Rate limiting (`benchmarks/bench_ratelimit.py`)",
        "",
        "Decisions per second, median of rounds, every candidate in the same run.",
        "",
        "| limiter | " + " | ".join(scenarios) + " | bytes/idle key |",
        "| --- | " + " | ".join("---" for _ in scenarios) + " | --- |",
    ]
    for name, per in decisions.items():
        cells = " | ".join(f"{per[s]:,.0f}" for s in scenarios)
        lines.append(f"| {name} | {cells} | {memory[name]:,.0f} |")
    lines += [
        "",
        "| ratio | " + " | ".join(scenarios) + " |",
        "| --- | " + " | ".join("---" for _ in scenarios) + " |",
        "| rtcsignal / fastest `limits` | "
        + " | ".join(f"{ours[s] / fastest_limits[s]:.1f}x" for s in scenarios)
        + " |",
        "| rtcsignal / bare GCRA | "
        + " | ".join(f"{ours[s] / bare[s]:.2f}x" for s in scenarios)
        + " |",
        "",
        "| `InboundLimiter.check`, default policy | checks/s |",
        "| --- | --- |",
    ]
    for name, rate in inbound.items():
        lines.append(f"| {name} | {rate:,.0f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick=True))
