"""Property tests: generated valid descriptions round-trip and validate; generated
invalid ones fail with their rule; arbitrary input only ever raises typed errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_samples import ALL_TEXTS
from strategies_sdp import candidate_texts, invalid_offers, offers

from rtcsignal import sdp

T = TypeVar("T")


def _outcome(function: Callable[[str], T], text: str) -> T | sdp.SdpError:
    try:
        return function(text)
    except sdp.SdpError as err:
        return err


@given(offers())
def test_generated_offers_round_trip_and_validate(text: str) -> None:
    desc = sdp.validate_offer(text)
    assert desc.to_sdp() == text
    assert sdp.parse(text.replace("\r\n", "\n")).to_sdp() == text.replace("\r\n", "\n")
    assert desc.ice_ufrags()


@given(invalid_offers())
def test_generated_invalid_offers_fail_with_their_rule(case: tuple[str, str]) -> None:
    text, rule = case
    with pytest.raises(sdp.SdpError) as info:
        sdp.validate_offer(text)
    assert info.value.rule == rule, str(info.value)


@given(candidate_texts())
def test_generated_candidates_round_trip(text: str) -> None:
    candidate = sdp.parse_candidate(text)
    assert candidate.to_sdp() == text
    assert sdp.parse_candidate("a=" + text) == candidate


@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_typed(text: str) -> None:
    desc = _outcome(sdp.parse, text)
    if isinstance(desc, sdp.SdpError):
        assert desc.rule in sdp.RULES
    else:
        assert sdp.parse(desc.to_sdp()) == desc


@given(st.text(max_size=200))
def test_arbitrary_candidate_text_raises_only_candidate_errors(text: str) -> None:
    candidate = _outcome(sdp.parse_candidate, text)
    if isinstance(candidate, sdp.SdpError):
        assert isinstance(candidate, sdp.CandidateError)
        assert candidate.rule in sdp.RULES
    else:
        assert sdp.parse_candidate(candidate.to_sdp()) == candidate


@given(st.sampled_from(sorted(ALL_TEXTS)), st.data())
def test_every_prefix_and_suffix_garbage_is_typed(name: str, data: st.DataObject) -> None:
    text = ALL_TEXTS[name]
    cut = data.draw(st.integers(0, len(text)))
    garbage = data.draw(st.text(max_size=20))
    for candidate in (text[:cut], text + garbage, text[:cut] + garbage + text[cut:]):
        outcome = _outcome(sdp.validate_offer, candidate)
        assert not isinstance(outcome, sdp.SdpError) or outcome.rule in sdp.RULES
