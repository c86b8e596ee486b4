"""The corpus of real descriptions and candidates, and aiortc live.

``tests/sdp/corpus`` (made by ``scripts/gen_sdp_corpus.py`` from Chromium, Firefox ESR
and aiortc on a loopback-only machine, see its ``manifest.json``) must validate as it is:
every offer with ``validate_offer``, every answer with ``validate_answer`` against the
offer it answers, every trickled candidate with ``parse_candidate`` and
``validate_candidate`` against its sender's description, and every text must round-trip
byte for byte. The per-rule mutations of ``test_sdp_mutations.py`` run on every corpus
offer and answer too (``sdp_samples`` loads them); the candidate mutations here run on
every real candidate.

aiortc descriptions are also produced live: RTCPeerConnections with the same scenarios,
their offers validated, answered by aiortc and by the corpus' browser offers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from sdp_samples import CORPUS_DIR, MANIFEST, corpus

from rtcsignal import sdp

ENTRIES = {entry["file"]: entry for entry in MANIFEST}
OFFER_FILES = sorted(name for name, entry in ENTRIES.items() if entry["kind"] == "offer")
ANSWER_FILES = sorted(name for name, entry in ENTRIES.items() if entry["kind"] == "answer")


def _candidates(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if "candidates" not in entry:
        return []
    items: list[dict[str, Any]] = json.loads((CORPUS_DIR / entry["candidates"]).read_text())
    return items


TRICKLED = [
    (entry["file"], item)
    for entry in MANIFEST
    for item in _candidates(entry)
    if item["candidate"]  # "" is Firefox's end-of-candidates
]
CANDIDATE_TEXTS = sorted({item["candidate"] for _, item in TRICKLED})


# -- the manifest --


def test_manifest_lists_every_file_and_pairs_every_answer() -> None:
    listed = set(ENTRIES) | {e["candidates"] for e in MANIFEST if "candidates" in e}
    on_disk = {p.name for p in CORPUS_DIR.iterdir()} - {"manifest.json"}
    assert listed == on_disk
    for entry in MANIFEST:
        assert set(entry) <= {"file", "stack", "version", "scenario", "kind", "offer", "candidates"}
        assert entry["stack"] in ("chromium", "firefox", "aiortc")
        assert entry["version"]
        if entry["kind"] == "offer":
            assert entry["offer"] is None
        else:
            assert entry["kind"] == "answer"
            assert ENTRIES[entry["offer"]]["kind"] == "offer"
            assert ENTRIES[entry["offer"]]["stack"] != entry["stack"]


def test_corpus_covers_the_scenarios_and_stacks() -> None:
    offers = {(e["stack"], e["scenario"]) for e in MANIFEST if e["kind"] == "offer"}
    for stack in ("chromium", "firefox"):
        for scenario in (
            "datachannel",
            "audio",
            "audio_video",
            "simulcast",
            "transceivers",
            "recvonly",
            "ice_restart",
        ):
            assert (stack, scenario) in offers
    answers = {(e["stack"], ENTRIES[e["offer"]]["stack"]) for e in MANIFEST if e["offer"]}
    for pair in [
        ("chromium", "firefox"),
        ("firefox", "chromium"),
        ("chromium", "aiortc"),
        ("firefox", "aiortc"),
        ("aiortc", "chromium"),
        ("aiortc", "firefox"),
    ]:
        assert pair in answers


def test_corpus_holds_what_naive_validators_reject() -> None:
    texts = {name: corpus(name) for name in ENTRIES}
    chromium = texts["chromium_audio_video_offer.sdp"]
    # dynamic payload types below 96 (RFC 3551 §6 leaves 35-95 unassigned)
    pts = [int(f) for m in sdp.parse(chromium).media for f in m.formats]
    assert any(35 <= pt < 96 for pt in pts)
    # vendor candidate extensions (generation, ufrag, network-id)
    assert any(
        dict(sdp.parse_candidate(item["candidate"]).extensions).keys() >= {"generation", "ufrag"}
        for _, item in TRICKLED
    )
    # port-0 bundle-only m-sections listed in BUNDLE (RFC 8843 §6, RFC 9143)
    firefox = sdp.parse(texts["firefox_transceivers_offer.sdp"])
    (bundle,) = firefox.bundle_groups()
    only = [m for m in firefox.media if m.bundle_only and m.port == 0]
    assert only
    assert all(m.mid in bundle.mids for m in only)
    # several fingerprints (aiortc: sha-256, sha-384, sha-512)
    assert len(sdp.parse(texts["aiortc_audio_video_offer.sdp"]).media[0].fingerprints()) == 3
    # minimum-length ICE username fragment (Chromium: 4 characters)
    assert len(sdp.parse(chromium).media[0].ice_ufrag or "") == 4
    # mDNS host candidates (Firefox hides host addresses behind UUID.local names)
    assert any(".local " in item["candidate"] for _, item in TRICKLED)
    # TCP candidates with port 9 and tcptype active
    assert any(" tcptype active" in item["candidate"] for _, item in TRICKLED)
    # Firefox trickles end-of-candidates as an empty candidate
    assert any(not item["candidate"] for e in MANIFEST for item in _candidates(e))


def test_corpus_holds_real_srflx_with_hidden_related_address() -> None:
    # Under mDNS host obfuscation browsers send srflx candidates with raddr 0.0.0.0 rport 0
    # (gathered against the generator's loopback STUN responder): at least one per browser,
    # next to the mDNS host candidate of the same socket, valid in SDP and trickled.
    stacks = set()
    for entry in MANIFEST:
        if "candidates" not in entry:
            continue
        desc = sdp.validate_offer(corpus(entry["file"])) if entry["kind"] == "offer" else None
        items = [i for i in _candidates(entry) if i["candidate"]]
        parsed = [(item, sdp.parse_candidate(item["candidate"])) for item in items]
        hosts = {
            (item["sdpMid"], c.component, c.port)
            for item, c in parsed
            if c.type == "host" and sdp.classify_address(c.address) == "mdns"
        }
        for item, cand in parsed:
            if (cand.type, cand.related_address, cand.related_port) != ("srflx", "0.0.0.0", 0):
                continue
            assert " typ srflx raddr 0.0.0.0 rport 0" in item["candidate"]
            assert (item["sdpMid"], cand.component, cand.port) in hosts
            assert desc is not None
            checked = sdp.validate_candidate(
                item["candidate"],
                sdp_mid=item["sdpMid"],
                sdp_mline_index=item["sdpMLineIndex"],
                username_fragment=item["usernameFragment"],
                description=desc,
            )
            assert checked == cand
            # the same candidate is in the gathered description, without the ufrag extension
            in_sdp = [
                c
                for m in desc.media
                if m.mid == item["sdpMid"]
                for c in m.candidates()
                if c.type == "srflx" and (c.address, c.port) == (cand.address, cand.port)
            ]
            assert [(c.related_address, c.related_port) for c in in_sdp] == [("0.0.0.0", 0)]
            stacks.add(entry["stack"])
    assert stacks == {"chromium", "firefox"}


# -- descriptions --


@pytest.mark.parametrize("name", OFFER_FILES)
def test_offer_validates_and_round_trips(name: str) -> None:
    text = corpus(name)
    desc = sdp.validate_offer(text)
    assert desc.to_sdp() == text
    assert sdp.parse(text.encode()).to_sdp() == text
    assert sdp.validate_offer(desc) is desc or sdp.validate_offer(desc).to_sdp() == text
    for media in desc.media:
        for candidate in media.candidates():
            assert candidate.to_sdp() in text


@pytest.mark.parametrize("name", ANSWER_FILES)
def test_answer_validates_against_its_offer_and_round_trips(name: str) -> None:
    text = corpus(name)
    offer = corpus(ENTRIES[name]["offer"])
    desc = sdp.validate_answer(text, offer=offer)
    assert desc.to_sdp() == text
    assert sdp.validate_answer(text, offer=sdp.validate_offer(offer)).to_sdp() == text
    # an answer is not an offer
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(text)
    assert info.value.rule == "dtls.setup_offer"


def test_ice_restart_offer_starts_a_new_generation() -> None:
    for stack in ("chromium", "firefox"):
        before = sdp.validate_offer(corpus(f"{stack}_audio_video_offer.sdp"))
        after = sdp.validate_offer(corpus(f"{stack}_ice_restart_offer.sdp"))
        assert before.ice_ufrags().isdisjoint(after.ice_ufrags())
        # the candidates trickled before the restart are now stale: dropped, not invalid
        for item in _candidates(ENTRIES[f"{stack}_audio_video_offer.sdp"]):
            with pytest.raises(sdp.CandidateDropped) as info:
                sdp.validate_candidate(
                    item["candidate"],
                    sdp_mid=item["sdpMid"],
                    sdp_mline_index=item["sdpMLineIndex"],
                    username_fragment=item["usernameFragment"],
                    description=after,
                )
            assert info.value.rule == "ice.stale_generation"


# -- trickled candidates --


@pytest.mark.parametrize("name", sorted(e["file"] for e in MANIFEST if "candidates" in e))
def test_trickled_candidates_validate_against_their_description(name: str) -> None:
    entry = ENTRIES[name]
    desc = sdp.parse(corpus(name))
    for item in _candidates(entry):
        kw: dict[str, Any] = {
            "sdp_mid": item["sdpMid"],
            "sdp_mline_index": item["sdpMLineIndex"],
            "username_fragment": item["usernameFragment"],
        }
        checked = sdp.validate_candidate(item["candidate"], description=desc, **kw)
        if not item["candidate"]:
            assert checked == sdp.EndOfCandidates(**kw)
            continue
        parsed = sdp.parse_candidate(item["candidate"])
        assert checked == parsed
        assert parsed.to_sdp() == item["candidate"]
        assert sdp.parse_candidate("a=" + item["candidate"]) == parsed
        # the same candidate without a description: grammar and policy only
        assert sdp.validate_candidate(parsed, description=None, **kw) == parsed


def _trickle_case(name: str, change: Callable[[dict[str, Any]], dict[str, Any]], rule: str) -> None:
    for file, item in TRICKLED:
        desc = sdp.parse(corpus(file))
        kw = change(
            {
                "sdp_mid": item["sdpMid"],
                "sdp_mline_index": item["sdpMLineIndex"],
                "username_fragment": item["usernameFragment"],
                "description": desc,
            }
        )
        with pytest.raises(sdp.SdpError) as info:
            sdp.validate_candidate(item["candidate"], **kw)
        assert info.value.rule == rule, f"{name}: {file}: {info.value}"


def test_trickle_mutations_on_real_candidates() -> None:
    _trickle_case("unknown mid", lambda kw: {**kw, "sdp_mid": "zz9"}, "candidate.unknown_mid")
    _trickle_case(
        "index out of range",
        lambda kw: {
            **kw,
            "sdp_mid": None,
            "sdp_mline_index": len(kw["description"].media),
        },
        "candidate.mline_index",
    )
    _trickle_case(
        "no target",
        lambda kw: {**kw, "sdp_mid": None, "sdp_mline_index": None},
        "candidate.no_target",
    )
    # ice.stale_generation: test_ice_restart_offer_starts_a_new_generation, with the
    # real candidates of the generation before a real restart


def test_ufrag_extension_mismatch_on_real_candidates() -> None:
    with_ufrag = [(f, i) for f, i in TRICKLED if " ufrag " in i["candidate"]]
    assert with_ufrag  # Chromium adds the extension
    for _, item in with_ufrag:
        with pytest.raises(sdp.CandidateError) as info:
            sdp.validate_candidate(
                item["candidate"],
                sdp_mid=item["sdpMid"],
                sdp_mline_index=item["sdpMLineIndex"],
                username_fragment="Zz99",
                description=None,
            )
        assert info.value.rule == "candidate.ufrag_mismatch"


def _field(index: int, value: str) -> Callable[[list[str]], list[str] | None]:
    def change(fields: list[str]) -> list[str]:
        return [*fields[:index], value, *fields[index + 1 :]]

    return change


def _after_type(extra: str) -> Callable[[list[str]], list[str] | None]:
    return lambda f: [*f[:8], *extra.split(" "), *f[8:]]


def _tcptype(fields: list[str]) -> list[str] | None:
    if "tcptype" in fields:
        i = fields.index("tcptype")
        return [*fields[: i + 1], "sideways", *fields[i + 2 :]]
    return _after_type("tcptype active")(fields)


CANDIDATE_MUTATIONS: dict[str, tuple[str, Callable[[list[str]], list[str] | None]]] = {
    "foundation": ("candidate.foundation", lambda f: ["candidate:a-b", *f[1:]]),
    "component": ("candidate.component", _field(1, "0")),
    "transport": ("candidate.transport", _field(2, "sctp")),
    "priority": ("candidate.priority", _field(3, "2147483648")),
    "address": ("candidate.address", _field(4, "300.0.2.1")),
    "port": ("candidate.port", _field(5, "65536")),
    "typ keyword": ("candidate.syntax", _field(6, "type")),
    "type": ("candidate.type", _field(7, "hots")),
    "raddr alone": ("candidate.related", _after_type("raddr 0.0.0.0")),
    "tcptype": ("candidate.tcptype", _tcptype),
    "dangling extension": ("candidate.extension", lambda f: [*f, "generation"]),
    "injected line": ("candidate.syntax", lambda f: [*f[:-1], f[-1] + "\r\na=evil"]),
}


@pytest.mark.parametrize("label", sorted(CANDIDATE_MUTATIONS))
def test_candidate_mutation_raises_its_rule(label: str) -> None:
    rule, change = CANDIDATE_MUTATIONS[label]
    for text in CANDIDATE_TEXTS:
        mutated = change(text.split(" "))
        assert mutated is not None
        with pytest.raises(sdp.CandidateError) as info:
            sdp.parse_candidate(" ".join(mutated))
        assert info.value.rule == rule, f"{text}: {info.value}"
        assert info.value.ref == sdp.RULES[rule][0]


def test_address_policy_on_real_candidates() -> None:
    flags = {
        "mdns": "allow_mdns",
        "private": "allow_private",
        "ipv6_private": "allow_private",
        "loopback": "allow_loopback",
        "link_local": "allow_link_local",
        "ipv6_link_local": "allow_link_local",
    }
    for text in CANDIDATE_TEXTS:
        kind = sdp.classify_address(sdp.parse_candidate(text).address)
        policy = sdp.SdpPolicy(
            candidate_address_policy=sdp.CandidateAddressPolicy(**{flags[kind]: False})
        )
        with pytest.raises(sdp.CandidateError) as info:
            sdp.validate_candidate(
                text,
                sdp_mid="0",
                sdp_mline_index=0,
                username_fragment=None,
                description=None,
                policy=policy,
            )
        assert info.value.rule == "policy.candidate_address"


# -- aiortc, live --

AIORTC_SCENARIOS = ["datachannel", "audio", "audio_video", "transceivers", "recvonly"]
# The corpus' browser offers that aiortc can answer (it does not receive simulcast).
AIORTC_ANSWERABLE = sorted(
    name
    for name, entry in ENTRIES.items()
    if entry["kind"] == "offer" and entry["stack"] != "aiortc" and entry["scenario"] != "simulcast"
)


def _aiortc_pc() -> Any:
    from aiortc import RTCConfiguration, RTCPeerConnection

    # no ICE servers: host candidates only (the default STUN server is not reachable)
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def _aiortc_setup(pc: Any, scenario: str) -> None:
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    if scenario == "datachannel":
        pc.createDataChannel("chat")
    elif scenario == "audio":
        pc.addTrack(AudioStreamTrack())
    elif scenario == "audio_video":
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
    elif scenario == "transceivers":
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="inactive")
        pc.createDataChannel("chat")
    else:
        assert scenario == "recvonly"
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")


async def _aiortc_answer(pc: Any, offer: str) -> str:
    from aiortc import RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.sender.replaceTrack(AudioStreamTrack())
        else:
            transceiver.sender.replaceTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createAnswer())
    text: str = pc.localDescription.sdp
    return text


async def _aiortc_offer_and_answer(scenario: str) -> tuple[str, str]:
    offerer, answerer = _aiortc_pc(), _aiortc_pc()
    try:
        _aiortc_setup(offerer, scenario)
        await offerer.setLocalDescription(await offerer.createOffer())
        offer: str = offerer.localDescription.sdp
        return offer, await _aiortc_answer(answerer, offer)
    finally:
        await offerer.close()
        await answerer.close()


@pytest.mark.parametrize("scenario", AIORTC_SCENARIOS)
def test_aiortc_live_offer_and_answer(scenario: str) -> None:
    offer, answer = asyncio.run(_aiortc_offer_and_answer(scenario))
    desc = sdp.validate_offer(offer)
    assert desc.to_sdp() == offer
    assert len(desc.media) == {"datachannel": 1, "audio": 1, "audio_video": 2}.get(
        scenario, 5 if scenario == "transceivers" else 2
    )
    assert sdp.validate_answer(answer, offer=desc).to_sdp() == answer
    for media in desc.media:
        for candidate in media.candidates():
            assert sdp.parse_candidate(candidate.to_sdp()) == candidate


async def _aiortc_answers(names: list[str]) -> dict[str, str]:
    answers = {}
    for name in names:
        pc = _aiortc_pc()
        try:
            answers[name] = await _aiortc_answer(pc, corpus(name))
        finally:
            await pc.close()
    return answers


def test_aiortc_live_answers_to_browser_offers() -> None:
    answers = asyncio.run(_aiortc_answers(AIORTC_ANSWERABLE))
    for name, answer in answers.items():
        desc = sdp.validate_answer(answer, offer=corpus(name))
        assert desc.to_sdp() == answer
