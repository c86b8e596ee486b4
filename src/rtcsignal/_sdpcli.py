"""``python -m rtcsignal sdp check`` and ``python -m rtcsignal candidate check``: a linter.

Exit status: 0 valid, 1 invalid (the error printed, lint style ``FILE:LINE: message
[rule, ref]``), 2 usage error (argparse's own, or an unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rtcsignal.sdp import (
    Candidate,
    SdpError,
    SessionDescription,
    validate_answer,
    validate_candidate,
    validate_offer,
)

__all__ = ["check_candidate", "check_sdp", "register"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _emit(result: dict[str, Any], text: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(text)


def _summary(desc: SessionDescription) -> tuple[list[str], int]:
    kinds = [m.kind for m in desc.media]
    candidates = sum(len(m.get_all("candidate")) for m in desc.media)
    return kinds, candidates + len(desc.get_all("candidate"))


def check_sdp(path: str, *, answer_to: str | None = None, as_json: bool = False) -> int:
    """Validate the SDP in ``path`` (``-`` for stdin) and print the verdict.

    Args:
        path: the description to check; an offer unless ``answer_to`` is given.
        answer_to: the offer file the description answers (validated as an answer).
        as_json: print one JSON object instead of text.

    Returns:
        0 when valid, 1 when invalid, 2 when a file cannot be read.
    """
    kind = "offer" if answer_to is None else "answer"
    try:
        text = _read(path)
        offer = _read(answer_to) if answer_to is not None else None
    except OSError as err:
        print(f"error: cannot read {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        desc = validate_offer(text) if offer is None else validate_answer(text, offer=offer)
    except SdpError as err:
        where = f"{path}:{err.line}" if err.line is not None else path
        _emit(
            {"valid": False, "file": path, "kind": kind, "errors": [err.to_dict()]},
            f"{where}: {err.message} [{err.rule}, {err.ref}]",
            as_json,
        )
        return EXIT_INVALID
    kinds, candidates = _summary(desc)
    _emit(
        {"valid": True, "file": path, "kind": kind, "media": kinds, "candidates": candidates},
        f"{path}: valid {kind} ({len(kinds)} m-sections: {', '.join(kinds) or 'none'}; "
        f"{candidates} candidates)",
        as_json,
    )
    return EXIT_VALID


def check_candidate(value: str, *, as_json: bool = False) -> int:
    """Validate one ICE candidate string (grammar and default policy) and print the verdict.

    ``value`` is a trickled ``candidate:...`` string, or an ``a=candidate:...`` line
    pasted from SDP (checked as the candidate it carries).

    Returns:
        0 when valid, 1 when invalid.
    """
    try:
        candidate = validate_candidate(
            value.removeprefix("a="),
            sdp_mid=None,
            sdp_mline_index=None,
            username_fragment=None,
            description=None,
        )
    except SdpError as err:
        _emit(
            {"valid": False, "candidate": value, "errors": [err.to_dict()]},
            f"candidate: {err.message} [{err.rule}, {err.ref}]",
            as_json,
        )
        return EXIT_INVALID
    if not isinstance(candidate, Candidate):
        _emit(
            {"valid": True, "candidate": value, "end_of_candidates": True},
            "valid: end-of-candidates (RFC 8838 §4)",
            as_json,
        )
        return EXIT_VALID
    fields = {
        "foundation": candidate.foundation,
        "component": candidate.component,
        "transport": candidate.transport,
        "address": candidate.address,
        "port": candidate.port,
        "type": candidate.type,
    }
    _emit(
        {"valid": True, "candidate": value, **fields},
        f"valid: {candidate.type} candidate {candidate.address}:{candidate.port} "
        f"over {candidate.transport}, component {candidate.component}",
        as_json,
    )
    return EXIT_VALID


def _sdp_check(args: argparse.Namespace) -> int:
    return check_sdp(args.file, answer_to=args.answer_to, as_json=args.json)


def _candidate_check(args: argparse.Namespace) -> int:
    return check_candidate(args.candidate, as_json=args.json)


def register(sub: Any) -> None:
    """Add the ``sdp`` and ``candidate`` commands to the CLI's subparsers ``sub``."""
    sdp_parser = sub.add_parser("sdp", help="check session descriptions")
    sdp_sub = sdp_parser.add_subparsers(dest="sdp_command", required=True, metavar="COMMAND")
    check = sdp_sub.add_parser(
        "check",
        help="validate an offer (or an answer with --answer-to)",
        description="Validate a WebRTC session description. Exit 0 valid, 1 invalid, 2 usage.",
    )
    check.add_argument("file", help="the SDP file ('-' for standard input)")
    check.add_argument(
        "--answer-to", metavar="OFFER_FILE", help="check FILE as the answer to this offer"
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_sdp_check)

    cand_parser = sub.add_parser("candidate", help="check ICE candidates")
    cand_sub = cand_parser.add_subparsers(
        dest="candidate_command", required=True, metavar="COMMAND"
    )
    ccheck = cand_sub.add_parser(
        "check",
        help="validate one ICE candidate string",
        description="Validate an RFC 8839 candidate. Exit 0 valid, 1 invalid, 2 usage.",
    )
    ccheck.add_argument(
        "candidate", metavar="STRING", help="'candidate:...' ('' = end-of-candidates)"
    )
    ccheck.add_argument("--json", action="store_true", help="print one JSON object")
    ccheck.set_defaults(handler=_candidate_check)
