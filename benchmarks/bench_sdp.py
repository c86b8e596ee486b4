"""SDP parsing and validation, side by side on real descriptions from the corpus.

Inputs: a Chromium data-channel offer (small), the Chromium audio+video offer with its
gathered candidates (the reference), and that offer with its m-sections repeated 4 and 16
times (fresh mids, one BUNDLE group) to show how each parser grows with the input.

Measured in one run, interleaved so noise hits every parser alike:

* ``rtcsignal.sdp.parse``: RFC 8866 syntax only;
* ``rtcsignal.sdp.validate_offer``: parse and every WebRTC rule;
* the same with the precise pass alone (the validator without its fast pass; what
  ``validate_offer`` falls back to when the fast pass finds anything);
* aiortc's ``SessionDescription.parse`` (parses, barely validates);
* the Python port of ``sdp_transform.parse`` (parses, never validates);
* ``json.loads`` of a JSON document of the same size (one object per line): a floor.

And one trickled ICE candidate (the demo's host candidate): ``sdp.check_candidate`` (the
check the core makes on every relayed ``candidate``), ``sdp.parse_candidate`` (the typed
:class:`~rtcsignal.sdp.Candidate`) against aiortc's ``candidate_from_sdp``.

The output names the build measured (``rtcsignal.build_info()``: pure Python or the
compiled build, docs/install.md).

The scaled inputs lift the policy limits (a 16x offer is ~100 KB, over the 64 KiB default).
Node's sdp-transform is not run here: its anchor (~420 us on the reference offer) comes from
``../shared/bench/anchors.md``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import rtcsignal
from rtcsignal import sdp
from rtcsignal.sdp._validate import validate_precisely

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "sdp" / "corpus"
LIFTED = sdp.SdpPolicy(
    max_bytes=1 << 22, max_line_length=1 << 16, max_media_sections=1024, max_candidates=4096
)


def _read(name: str) -> str:
    with open(CORPUS / name, encoding="utf-8", newline="") as handle:
        return handle.read()


def scale(text: str, times: int) -> str:
    """Repeat every m-section ``times`` times with fresh mids, all in one BUNDLE group."""
    head, *sections = text.split("\r\nm=")
    mids: list[str] = []
    out: list[str] = []
    for copy in range(times):
        for section in sections:
            lines = ("m=" + section).split("\r\n")
            new = []
            for line in lines:
                if line.startswith("a=mid:"):
                    mid = line[6:] if copy == 0 else f"{line[6:]}c{copy}"
                    mids.append(mid)
                    line = "a=mid:" + mid
                new.append(line)
            out.append("\r\n".join(new).rstrip("\r\n"))
    head_lines = [
        "a=group:BUNDLE " + " ".join(mids) if line.startswith("a=group:BUNDLE") else line
        for line in head.split("\r\n")
    ]
    return "\r\n".join([*head_lines, *out]) + "\r\n"


def json_floor(text: str) -> str:
    """A JSON document of about the same size: one ``[type, value]`` pair per line."""
    return json.dumps([[line[:1], line[2:]] for line in text.split("\r\n") if line])


def inputs() -> dict[str, str]:
    offer = _read("chromium_audio_video_offer.sdp")
    return {
        "Chromium data channel offer": _read("chromium_datachannel_offer.sdp"),
        "Chromium audio+video offer (reference)": offer,
        "reference x4 m-sections": scale(offer, 4),
        "reference x16 m-sections": scale(offer, 16),
    }


def parsers(text: str) -> dict[str, Callable[[], object]]:
    import sdp_transform
    from aiortc.sdp import SessionDescription

    doc = json_floor(text)
    return {
        "rtcsignal parse": lambda: sdp.parse(text, policy=LIFTED),
        "rtcsignal validate_offer": lambda: sdp.validate_offer(text, policy=LIFTED),
        "rtcsignal validate_offer, precise pass only": lambda: validate_precisely(
            sdp.parse(text, policy=LIFTED), LIFTED, "offer"
        ),
        "aiortc SessionDescription.parse": lambda: SessionDescription.parse(text),
        "sdp_transform.parse (Python)": lambda: sdp_transform.parse(text),
        "json.loads, same size (floor)": lambda: json.loads(doc),
    }


def _calibrate(fn: Callable[[], object], target_s: float) -> int:
    fn()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < target_s / 4:
        fn()
        n += 1
    return max(1, int(n * 4))


def _sample_us(fn: Callable[[], object], inner: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(inner):
        fn()
    return (time.perf_counter_ns() - start) / inner / 1000


def candidates() -> dict[str, Callable[[], object]]:
    from aiortc.sdp import candidate_from_sdp

    from rtcsignal._demo import CANDIDATE

    value = CANDIDATE.partition(":")[2]  # aiortc takes the value after "candidate:"
    return {
        "rtcsignal check_candidate": lambda: sdp.check_candidate(
            CANDIDATE, sdp_mid="0", sdp_mline_index=0, username_fragment=None, description=None
        ),
        "rtcsignal parse_candidate": lambda: sdp.parse_candidate(CANDIDATE),
        "aiortc candidate_from_sdp": lambda: candidate_from_sdp(value),
    }


CANDIDATE_ROW = "one ICE candidate"


def measure(quick: bool) -> dict[str, dict[str, float]]:
    """input name -> parser name -> median microseconds per call."""
    rounds, target = (5, 0.004) if quick else (15, 0.01)
    out: dict[str, dict[str, float]] = {}
    for name, text in [*inputs().items(), (CANDIDATE_ROW, "")]:
        fns = candidates() if name == CANDIDATE_ROW else parsers(text)
        inner = {label: _calibrate(fn, target) for label, fn in fns.items()}
        samples: dict[str, list[float]] = {label: [] for label in fns}
        for _ in range(rounds):
            for label, fn in fns.items():
                samples[label].append(_sample_us(fn, inner[label]))
        out[name] = {label: statistics.median(s) for label, s in samples.items()}
    return out


def main(quick: bool) -> str:
    texts = inputs()
    results = measure(quick)
    build = "compiled (mypyc)" if rtcsignal.build_info().compiled else "pure Python"
    lines = [
        "## SDP parsing and validation (`benchmarks/bench_sdp.py`)",
        "",
        f"Build: **{build}**. Median microseconds per call; the ratio is to `rtcsignal "
        "validate_offer` on the same input (above 1: slower than validating).",
        "",
    ]
    cand = results.pop(CANDIDATE_ROW)
    for name, row in results.items():
        text = texts[name]
        desc = sdp.parse(text, policy=LIFTED)
        lines += [
            f"### {name}: {len(text.encode()):,} bytes, {len(desc.media)} m-sections, "
            f"{sum(len(m.candidates()) for m in desc.media)} candidates",
            "",
            "| parser | median us | us per KB | vs validate_offer |",
            "| --- | --- | --- | --- |",
        ]
        ours = row["rtcsignal validate_offer"]
        kb = len(text.encode()) / 1000
        for label, med in row.items():
            lines.append(f"| {label} | {med:,.1f} | {med / kb:,.1f} | {med / ours:.2f}x |")
        lines.append("")
    ref = results["Chromium audio+video offer (reference)"]
    lines += [
        f"- reference offer: aiortc parse / rtcsignal validate_offer = "
        f"**{ref['aiortc SessionDescription.parse'] / ref['rtcsignal validate_offer']:.1f}x**; "
        f"Node sdp-transform anchor ~420 us vs validate_offer "
        f"{ref['rtcsignal validate_offer']:.0f} us",
        "",
        "### One ICE candidate (the core's check on every relayed `candidate`)",
        "",
        "| check | median us | aiortc candidate_from_sdp / this |",
        "| --- | --- | --- |",
        *(
            f"| {label} | {med:,.2f} | {cand['aiortc candidate_from_sdp'] / med:.2f}x |"
            for label, med in cand.items()
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick=True))
