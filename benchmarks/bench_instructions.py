"""Instructions per relayed candidate, per layer, counted by callgrind.

Wall-clock time on a shared machine moves by 5% between runs; instruction counts do not.
Each layer's loop (``benchmarks/instr.py``) runs under ``valgrind --tool=callgrind``
with ``PYTHONHASHSEED=0`` twice, for ``N`` and ``2N`` iterations, and the difference of
the two totals divided by ``N`` is that layer's count per candidate (start-up and setup
cancel out). Layers:

* ``decode``: ``protocol.decode_client`` of the candidate frame (typed, validated);
* ``limiter``: the inbound rate-limit check across every scope, as ``Server.receive``
  makes it;
* ``encode``: encoding the stamped candidate for its recipient;
* ``relay``: the whole of ``Server.receive`` (the three above, plus the core: membership,
  negotiation state, the candidate's RFC 8839 check, stamping, the replay buffer), so
  ``core`` = ``relay`` - ``decode`` - ``limiter`` - ``encode``;
* ``fanout2``, ``fanout16``: a chat message through ``Server.receive`` to a room of 1 + 2
  and 1 + 16 JSON peers; their difference over 14 is the cost of one more recipient of
  a fan-out (the frame is encoded once per codec, each ``seq`` spliced in);
* ``adapter``: a real server process (``benchmarks.relay.servers``, ``rtcsignal`` and
  ``rtcsignal-fast``) relaying candidates between two peers one at a time (so no
  batching), counted in the server process; minus ``relay``, what the runtime, the
  adapter, the WebSocket library and the event loop cost per candidate.

Needs valgrind (``apt-get install valgrind``; ``scripts/install-system-deps.sh``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import rtcsignal

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("decode", "limiter", "encode", "relay")
TIMEOUT = 900.0


def _valgrind() -> list[str]:
    exe = shutil.which("valgrind")
    if exe is None:
        raise RuntimeError("bench_instructions needs valgrind: scripts/install-system-deps.sh")
    return [exe, "--tool=callgrind", "--quiet"]


def _total(path: str) -> int:
    text = Path(path).read_text()
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {path}")
    return int(match.group(1))


def _env() -> dict[str, str]:
    src = str(Path(rtcsignal.__file__).resolve().parent.parent)  # the build imported here
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": f"{src}:{ROOT}"}


def count(layer: str, n: int) -> int:
    """Instructions ``layer`` spends per iteration (callgrind, ``n`` vs ``2n``)."""
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (n, 2 * n):
            out = os.path.join(tmp, f"{layer}-{k}.out")
            subprocess.run(
                [
                    *_valgrind(),
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    "-m",
                    "benchmarks.instr",
                    layer,
                    str(k),
                ],
                cwd=ROOT,
                env=_env(),
                check=True,
                timeout=TIMEOUT,
            )
            totals.append(_total(out))
    return round((totals[1] - totals[0]) / n)


def count_server(kind: str, n: int) -> int:
    """Instructions the ``kind`` server process spends per relayed candidate."""
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (n, 2 * n):
            out = os.path.join(tmp, f"{kind}-{k}.out")
            server = subprocess.Popen(
                [
                    *_valgrind(),
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    "-m",
                    "benchmarks.relay.servers",
                    kind,
                    "0",
                ],
                cwd=ROOT,
                env=_env(),
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert server.stdout is not None
                line = server.stdout.readline()
                if not line.startswith("READY "):
                    raise RuntimeError(f"{kind} did not start under callgrind: {line!r}")
                port = line.split()[1]
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.relay.loadgen",
                        kind,
                        port,
                        str(server.pid),
                        "sequential",
                        str(k),
                    ],
                    cwd=ROOT,
                    env=_env(),
                    check=True,
                    timeout=TIMEOUT,
                    capture_output=True,
                )
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(TIMEOUT)
                if server.stdout is not None:
                    server.stdout.close()
            totals.append(_total(out))
    return round((totals[1] - totals[0]) / n)


def main(quick: bool) -> str:
    n = 500 if quick else 2000
    counts = {layer: count(layer, n) for layer in LAYERS}
    core = counts["relay"] - counts["decode"] - counts["limiter"] - counts["encode"]
    fan = {k: count(f"fanout{k}", n // 4) for k in (2, 16)}
    per_server = n // 4  # a server under callgrind relays a few hundred candidates a second
    servers = {kind: count_server(kind, per_server) for kind in ("rtcsignal", "rtcsignal-fast")}
    rows = [
        f"| decode (`protocol.decode_client`) | {counts['decode']:,} |",
        f"| limiter (inbound check, every scope) | {counts['limiter']:,} |",
        f"| encode (the stamped candidate) | {counts['encode']:,} |",
        f"| core (the rest of `Server.receive`) | {core:,} |",
        f"| **`Server.receive` in all** | **{counts['relay']:,}** |",
    ]
    rows += [
        f"| fan-out: a chat to 2 recipients (`Server.receive`) | {fan[2]:,} |",
        f"| fan-out: a chat to 16 recipients (`Server.receive`) | {fan[16]:,} |",
        f"| **fan-out: per extra recipient** | **{(fan[16] - fan[2]) // 14:,}** |",
    ]
    for kind, total in servers.items():
        label = "websockets" if kind == "rtcsignal" else "picows on uvloop"
        rows.append(f"| runtime + adapter + event loop ({label}) | {total - counts['relay']:,} |")
        rows.append(f"| **server process per candidate ({label})** | **{total:,}** |")
    return "\n".join(
        [
            "## Instructions per relayed candidate (`bench_instructions`)",
            "",
            f"Build: {'compiled (mypyc)' if rtcsignal.build_info().compiled else 'pure Python'}.",
            "",
            f"callgrind, `PYTHONHASHSEED=0`; each layer {n:,} and {2 * n:,} times, the "
            f"difference divided by {n:,}; the server processes relaying {per_server:,} and "
            f"{2 * per_server:,} candidates one at a time between two peers.",
            "",
            "| layer | instructions |",
            "| --- | ---: |",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
