"""Fuzz targets for :mod:`rtcsignal.sdp` (hypothesis; run by ``nox -s fuzz``).

Invariant (h11-style): any input parses or raises an :class:`~rtcsignal.sdp.SdpError`
whose rule is in ``RULES``; never another exception. Inputs are arbitrary text and bytes,
and byte-level mutations of real descriptions and candidates, so the fuzzer spends its
time near the grammar instead of being stopped at line 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcsignal import sdp

T = TypeVar("T")
SAMPLES = sorted((Path(__file__).resolve().parents[1] / "tests" / "sdp" / "samples").glob("*.sdp"))
SEEDS = [p.read_bytes().decode("utf-8") for p in SAMPLES] or ["v=0\r\n"]
CANDIDATES = [
    "candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 "
    "generation 0 network-id 1 network-cost 10",
    "candidate:1510613869 1 tcp 1518280447 b2d4c1e5-7f3a-4b6c-9d8e-0a1b2c3d4e5f.local 9 typ "
    "host tcptype active generation 0",
    "candidate:0 1 UDP 2122252543 2001:db8::5 49203 typ host",
]
# A few seconds per target under the fuzz profile: the whole file stays well under 60 s.
FUZZ = settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEED_DESCRIPTION = sdp.validate_offer(next((s for s in SEEDS if "a=setup:actpass" in s), SEEDS[0]))


def _typed(function: Callable[[T], object], value: T) -> None:
    error: sdp.SdpError | None = None
    try:
        function(value)
    except sdp.SdpError as err:
        error = err
    if error is not None:
        assert error.rule in sdp.RULES, error.rule
        assert error.to_dict()["rule"] == error.rule
        assert str(error)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        chunk = draw(st.text(max_size=8))
        if op == "insert":
            text = text[:pos] + chunk + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 16)) :]
        elif op == "replace":
            text = text[:pos] + chunk + text[pos + len(chunk) :]
        else:
            end = text.find("\n", pos)
            text = text[:end] + text[pos:end] + text[end:] if end >= 0 else text
    return text


@FUZZ
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400), mutated(SEEDS)))
def test_fuzz_parse(data: str | bytes) -> None:
    _typed(sdp.parse, data)


@FUZZ
@given(mutated(SEEDS))
def test_fuzz_validate_offer(text: str) -> None:
    _typed(sdp.validate_offer, text)


@FUZZ
@given(mutated(SEEDS))
def test_fuzz_validate_answer(text: str) -> None:
    _typed(lambda t: sdp.validate_answer(t, offer=SEED_DESCRIPTION), text)


@FUZZ
@given(st.one_of(st.text(max_size=200), mutated(CANDIDATES)))
def test_fuzz_parse_candidate(text: str) -> None:
    _typed(sdp.parse_candidate, text)


@FUZZ
@given(
    mutated(CANDIDATES),
    st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["0", "1", "2"])),
    st.one_of(st.none(), st.integers(-2, 5)),
    st.one_of(st.none(), st.text(max_size=6)),
)
def test_fuzz_validate_candidate(
    text: str, mid: str | None, index: int | None, ufrag: str | None
) -> None:
    _typed(
        lambda t: sdp.validate_candidate(
            t, sdp_mid=mid, sdp_mline_index=index, username_fragment=ufrag,
            description=SEED_DESCRIPTION,
        ),
        text,
    )  # fmt: skip


@FUZZ
@given(st.one_of(st.text(max_size=80), mutated(["turn:[2001:db8::1]:3478?transport=udp"])))
def test_fuzz_ice_server_url(text: str) -> None:
    _typed(sdp.validate_ice_server_url, text)
