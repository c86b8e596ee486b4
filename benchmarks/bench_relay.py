"""Relay over real sockets: rtcsignal (runtime + ``websockets`` adapter) against
python-socketio on uvicorn and a bare ``websockets`` relay, measured in the same run.

Each server is a separate process pinned to CPU 0; the load generator
(``benchmarks/relay/loadgen.py``) is another process pinned to CPU 1, and reports its own
CPU use so a saturated generator shows. Each scenario gets a fresh server process.

Measured: relayed candidates per second at saturation (2-peer rooms; one room of 50),
p50/p99 latency at a fixed moderate rate, server CPU per 100k relayed messages, memory
per idle connection (1,000 and 5,000), and the time for 200 peers to join one room at
once. The per-message profile of the rtcsignal server is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("rtcsignal", "socketio", "bare")
SERVER_CPU = 0
GENERATOR_CPU = 1
START_TIMEOUT = 30.0
RUN_TIMEOUT = 180.0


def _pin(cpu: int) -> Any:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
            os.sched_setaffinity(0, {cpu})

    return pin


class _Server:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.relay.servers", kind, "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_pin(SERVER_CPU),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _run(kind: str, scenario: str, *args: object) -> dict[str, Any]:
    server = _Server(kind)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.relay.loadgen",
                kind,
                str(server.port),
                str(server.proc.pid),
                scenario,
                *map(str, args),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            preexec_fn=_pin(GENERATOR_CPU),
            check=False,
        )
    finally:
        server.stop()
    if out.returncode != 0:
        raise RuntimeError(f"loadgen {kind} {scenario} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def main(quick: bool) -> str:
    seconds = 2 if quick else 5
    pairs = 20 if quick else 50
    idle = "1000" if quick else "1000,5000"
    rate = 1000
    results: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        results[kind] = {
            "pairs": _run(kind, "pairs", pairs, seconds),
            "room": _run(kind, "room", 50, seconds),
            "latency": _run(kind, "latency", 10, rate, seconds),
            "idle": _run(kind, "idle", idle),
            "storm": _run(kind, "storm", 200),
        }
    rows = []
    for kind in KINDS:
        r = results[kind]
        mem = r["idle"]
        rows.append(
            f"| {kind} | {_fmt(r['pairs']['rate_median'])} | {_fmt(r['room']['rate_median'])} "
            f"| {_fmt(r['latency']['p50_ms'], 2)} / {_fmt(r['latency']['p99_ms'], 2)} "
            f"| {_fmt(r['pairs']['server_cpu_per_100k'], 2)} "
            f"| {_fmt(mem.get('1000', 0) / 1024, 1)} "
            f"| {_fmt(mem['5000'] / 1024, 1) if '5000' in mem else 'n/a'} "
            f"| {_fmt(r['storm']['seconds'], 3)} "
            f"| {_fmt(r['pairs']['generator_util'] * 100)}% / "
            f"{_fmt(r['pairs']['server_util'] * 100)}% |"
        )
    ours, sio, bare = (results[k]["pairs"]["rate_median"] for k in KINDS)
    mem_ours = results["rtcsignal"]["idle"]["1000"]
    mem_sio = results["socketio"]["idle"]["1000"]
    spread = {k: [round(x) for x in results[k]["pairs"]["rates"]] for k in KINDS}
    return "\n".join(
        [
            "## Relay over loopback (`bench_relay`)",
            "",
            f"Server pinned to CPU {SERVER_CPU}, load generator (separate process) to CPU "
            f"{GENERATOR_CPU}. {pairs} two-peer rooms at saturation ({32} candidates in "
            f"flight per sender), one room of 50 (ring of directed candidates), latency at "
            f"{rate} candidates/s over 10 pairs; medians of 1 s windows over {seconds} s.",
            "",
            "| server | candidates/s (2-peer rooms) | candidates/s (room of 50) "
            "| p50 / p99 latency ms | server CPU s per 100k | KiB per idle conn (1k) "
            "| KiB per idle conn (5k) | 200-peer join storm s | generator / server CPU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Ratios: rtcsignal / python-socketio throughput = {ours / sio:.2f}x (target >= 2x); "
            f"rtcsignal / bare relay = {ours / bare:.0%} (target >= 75%); memory per idle "
            f"connection rtcsignal / python-socketio = {mem_ours / mem_sio:.0%} "
            f"(target <= 50%).",
            "",
            f"Per-window rates (2-peer rooms): {spread}. "
            f"Median of medians: {statistics.median([ours, sio, bare]):,.0f}.",
            "",
        ]
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
