"""The candidate fast paths agree with the full grammar, on every input.

``scan_candidate`` / ``scan_candidate_value`` (fields) and ``match_candidate`` (check
only) take one regular-expression match for the common shape and fall back to the full
check for anything else; ``check_candidate`` is ``validate_candidate`` without building
the result. Each must give what the full path gives: the same fields for what it
accepts, and for everything else the full path's verdict (the same error, rule, field
and message). Checked on generated candidates, mutations of them, hostile shapes, the
candidates of the other candidate tests and every real candidate of the corpus.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_samples import ALL_TEXTS, MANIFEST, corpus, sample
from strategies_sdp import PRINTABLE, candidate_texts
from test_sdp_candidate import INVALID, REAL

from rtcsignal import sdp
from rtcsignal.sdp._candidate import (
    MAX_COMPONENT_ID,
    MAX_PRIORITY,
    _decimals_up_to,
    _scan_candidate_checked,
    classify_address,
    match_candidate,
    scan_candidate,
    scan_candidate_value,
)

# -- what the full path says --


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """``("ok", result)`` or the error as ``(type, rule, field, line, message)``."""
    try:
        return ("ok", fn(*args, **kwargs))
    except sdp.SdpError as err:
        return (type(err), err.rule, err.field, err.line, err.message)


def _first_ufrag(extensions: tuple[tuple[str, str], ...]) -> str | None:
    return next((value for key, value in extensions if key == "ufrag"), None)


OFFER = sdp.validate_offer(sample("chrome_offer"))
MID0_UFRAG = OFFER.ice_ufrag_of(0)
POLICIES = [
    sdp.SdpPolicy(),
    sdp.SdpPolicy(candidate_address_policy=sdp.CandidateAddressPolicy.public_only()),
    sdp.SdpPolicy(candidate_address_policy=sdp.CandidateAddressPolicy(allow_ipv6=False)),
    sdp.SdpPolicy(max_line_length=60),
]
CONTEXTS: list[dict[str, Any]] = [
    {"sdp_mid": "0", "sdp_mline_index": 0, "username_fragment": None, "description": OFFER},
    {
        "sdp_mid": "0",
        "sdp_mline_index": None,
        "username_fragment": MID0_UFRAG,
        "description": OFFER,
    },
    {"sdp_mid": None, "sdp_mline_index": 1, "username_fragment": "EsAw", "description": OFFER},
    {"sdp_mid": "zz9", "sdp_mline_index": 0, "username_fragment": None, "description": OFFER},
    {"sdp_mid": None, "sdp_mline_index": 99, "username_fragment": None, "description": OFFER},
    {"sdp_mid": None, "sdp_mline_index": None, "username_fragment": None, "description": OFFER},
    {"sdp_mid": "0", "sdp_mline_index": 0, "username_fragment": "Zz99", "description": OFFER},
    {"sdp_mid": None, "sdp_mline_index": None, "username_fragment": "x", "description": None},
]


def assert_agrees(text: str, contexts: list[dict[str, Any]] = CONTEXTS) -> None:
    """Every fast path gives the full path's answer for ``text``."""
    full = _outcome(_scan_candidate_checked, text)
    assert _outcome(scan_candidate, text) == full
    if text.startswith("candidate:"):
        fields = scan_candidate_value(text[10:])
        assert fields is None or ("ok", fields) == full
    quick = match_candidate(text)
    if quick is not None:
        assert full[0] == "ok", text
        address = full[1][4]
        assert quick == (classify_address(address), address, _first_ufrag(full[1][10]))
    for policy in POLICIES:
        for kw in contexts:
            fast = _outcome(sdp.check_candidate, text, policy=policy, **kw)
            slow = _outcome(sdp.validate_candidate, text, policy=policy, **kw)
            assert fast == (("ok", None) if slow[0] == "ok" else slow), (text, kw)


# -- inputs --

NUMBERS = [
    "0", "00", "01", "1", "9", "10", "255", "256", "257", "999", "1000", "9999", "65535",
    "65536", "99999", "100000", "2147483647", "2147483648", "2147483650", "9999999999",
    "10000000000", "-1", "+1", "١",
]  # fmt: skip
WORDS = [
    "raddr", "rport", "tcptype", "typ", "ufrag", "generation", "UDP", "udp", "Udp", "TCP",
    "tcp", "host", "srflx", "prflx", "relay", "active", "passive", "so", "0.0.0.0",
    "192.0.2.1", "127.0.0.1", "::", "::1", "fe80::1", "2001:db8::1", "fe80::1%eth0",
    "1.2.3", "192.0.02.1", "a.local", "-bad-.local", "turn.example.com", "224.0.0.1",
    "100.64.0.1", "", "a-b", "é", "\t", "\r\na=x", "x" * 33, "gen@", "a:b", "a/b",
]  # fmt: skip
TOKENS = st.sampled_from(NUMBERS + WORDS) | st.text(PRINTABLE, max_size=6)


@st.composite
def mutated_candidates(draw: st.DrawFn) -> str:
    """Valid candidates with a few tokens replaced, inserted, deleted or respaced."""
    parts = draw(candidate_texts()).split(" ")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(parts)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "space", "case"]))
        if op == "insert" or i == len(parts):
            parts.insert(i, draw(TOKENS))
        elif op == "replace":
            parts[i] = draw(TOKENS) if i else "candidate:" + draw(TOKENS)
        elif op == "delete" and len(parts) > 1:
            del parts[i]
        elif op == "space":
            parts[i] = parts[i] + " "
        else:
            parts[i] = parts[i].swapcase()
    return " ".join(parts)


@given(candidate_texts())
def test_generated_candidates(text: str) -> None:
    assert match_candidate(text) is not None or not _regular(text)
    assert_agrees(text)


def _regular(text: str) -> bool:
    # what the fast path is for: the transport in lower or upper case, an address that
    # is not unspecified or multicast (those go to the full path, which refuses them)
    fields = text.split(" ")
    return fields[2] in ("udp", "UDP", "tcp", "TCP") and classify_address(fields[4]) != "invalid"


@given(mutated_candidates())
def test_mutated_candidates(text: str) -> None:
    assert_agrees(text)


@given(st.text(PRINTABLE + "é\r\n", max_size=120).map(lambda t: "candidate:" + t))
def test_arbitrary_text(text: str) -> None:
    assert_agrees(text, CONTEXTS[:1])


@pytest.mark.parametrize("text", REAL + [text for text, _ in INVALID])
def test_the_candidate_tests_cases(text: str) -> None:
    assert_agrees(text)


HOSTILE = [
    REAL[0] + " a b" * 400,
    REAL[0] + " a b" * 400 + " c",
    REAL[0] + " a" * 801,
    REAL[0] + " ufrag x" * 400 + " raddr 1.2.3.4",
    "candidate:1 1 udp 1 " + "1" * 2000 + " 9 typ host",
    "candidate:" + "a " * 2000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_shapes(text: str) -> None:
    # long inputs with a late flaw: the match is linear (possessive repetitions), and
    # the answer is the full path's
    assert_agrees(text, CONTEXTS[:1])


def _corpus_candidates() -> list[tuple[str, dict[str, Any]]]:
    import json

    from sdp_samples import CORPUS_DIR

    found: list[tuple[str, dict[str, Any]]] = []
    for entry in MANIFEST:
        if "candidates" in entry:
            desc = sdp.parse(corpus(entry["file"]))
            for item in json.loads((CORPUS_DIR / entry["candidates"]).read_text()):
                kw = {
                    "sdp_mid": item["sdpMid"],
                    "sdp_mline_index": item["sdpMLineIndex"],
                    "username_fragment": item["usernameFragment"],
                    "description": desc,
                }
                found.append((item["candidate"], kw))
    for text in ALL_TEXTS.values():
        for line in re.findall(r"^a=(candidate:[^\r\n]*)", text, re.MULTILINE):
            found.append((line, CONTEXTS[0]))
    return found


def test_every_real_candidate() -> None:
    cases = _corpus_candidates()
    assert len(cases) > 20
    accepted = 0
    for text, kw in cases:
        assert_agrees(text, [kw, *CONTEXTS])
        if text:
            accepted += match_candidate(text) is not None
    # the fast path is what real candidates take (only unspecified addresses fall back)
    assert accepted >= 0.9 * sum(1 for text, _ in cases if text)


def test_a_policy_that_changes_identity_but_not_value() -> None:
    # the allowed kinds are remembered by policy identity: equal policies, new objects
    for allow in (True, False, True):
        policy = sdp.SdpPolicy(
            candidate_address_policy=attrs.evolve(
                sdp.CandidateAddressPolicy(), allow_loopback=allow
            )
        )
        text = "candidate:1 1 udp 1 127.0.0.1 9 typ host"
        fast = _outcome(sdp.check_candidate, text, policy=policy, **CONTEXTS[0])
        assert (fast[0] == "ok") is allow


@pytest.mark.parametrize(
    ("limit", "zero"), [(9, True), (10, False), (100, True), (256, False), (65535, True)]
)
def test_decimals_up_to_is_exact(limit: int, zero: bool) -> None:
    pattern = re.compile(_decimals_up_to(limit, zero=zero))
    for n in range(10 * limit + 11):
        assert (pattern.fullmatch(str(n)) is not None) == ((0 if zero else 1) <= n <= limit)
    for text in ("00", "01", "-1", "+1", "", " 1", "1 ", "١"):
        assert pattern.fullmatch(text) is None


@given(st.integers(0, 10 * MAX_PRIORITY))
def test_decimals_up_to_the_priority(n: int) -> None:
    pattern = re.compile(_decimals_up_to(MAX_PRIORITY, zero=False))
    assert (pattern.fullmatch(str(n)) is not None) == (1 <= n <= MAX_PRIORITY)


def test_decimals_up_to_edges() -> None:
    pattern = re.compile(_decimals_up_to(MAX_PRIORITY, zero=False))
    for n in (1, 9, 10, 999999999, 1000000000, 1999999999, 2000000000, 2147483639, 2147483646):
        assert pattern.fullmatch(str(n)), n
    for n in (0, MAX_PRIORITY + 1, 2147483650, 2200000000, 3000000000, 9999999999):
        assert not pattern.fullmatch(str(n)), n
    assert _decimals_up_to(MAX_COMPONENT_ID, zero=False).startswith("(?:256|")
