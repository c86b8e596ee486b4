"""``python -m rtcsignal sdp check`` and ``candidate check``: exit codes and output."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sdp_samples import SAMPLES_DIR

from rtcsignal import _sdpcli as _cli

OFFER = str(SAMPLES_DIR / "chrome_offer.sdp")
ANSWER = str(SAMPLES_DIR / "chrome_answer.sdp")
SRFLX = "candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rtcsignal")
    sub = parser.add_subparsers(dest="command", required=True)
    _cli.register(sub)
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def test_valid_offer(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["sdp", "check", OFFER]) == 0
    out = capsys.readouterr().out
    assert out == f"{OFFER}: valid offer (3 m-sections: audio, video, application; 4 candidates)\n"


def test_valid_answer_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["sdp", "check", ANSWER, "--answer-to", OFFER, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "valid": True,
        "file": ANSWER,
        "kind": "answer",
        "media": ["audio", "video", "application"],
        "candidates": 1,
    }


def test_invalid_prints_lint_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.sdp"
    bad.write_bytes(
        Path(OFFER).read_bytes().replace(b"a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1", b"a=ice-pwd:short")
    )
    assert _run(["sdp", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out == (
        f"{bad}:16: a=ice-pwd is 5 characters; RFC 8839 requires 22 to 256 "
        "[ice.pwd_length, RFC 8839 §5.4]\n"
    )
    assert _run(["sdp", "check", str(bad), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is False
    assert result["errors"][0]["rule"] == "ice.pwd_length"
    assert result["errors"][0]["line"] == 16


def test_answer_checked_as_offer_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["sdp", "check", ANSWER]) == 1
    assert "[dtls.setup_offer, RFC 8842 §5.2]" in capsys.readouterr().out


def test_not_utf8_is_invalid_without_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "latin1.sdp"
    bad.write_bytes(b"v=0\r\ns=\xe9\r\n")
    assert _run(["sdp", "check", str(bad)]) == 1
    assert capsys.readouterr().out.startswith(f"{bad}: the description is not UTF-8")


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(Path(OFFER).read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert _run(["sdp", "check", "-"]) == 0
    assert capsys.readouterr().out.startswith("-: valid offer")


def test_unreadable_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _run(["sdp", "check", str(tmp_path / "missing.sdp")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert _run(["sdp", "check", OFFER, "--answer-to", str(tmp_path / "none")]) == 2


def test_usage_errors_exit_2() -> None:
    for argv in (
        ["sdp"],
        ["sdp", "check"],
        ["candidate", "check"],
        ["sdp", "check", OFFER, "--bogus"],
    ):
        with pytest.raises(SystemExit) as info:
            _run(argv)
        assert info.value.code == 2


def test_candidate_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["candidate", "check", SRFLX]) == 0
    assert (
        capsys.readouterr().out
        == "valid: srflx candidate 203.0.113.7:54400 over udp, component 1\n"
    )
    assert _run(["candidate", "check", "a=" + SRFLX, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (
        result["valid"] is True and result["address"] == "203.0.113.7" and result["port"] == 54400
    )
    assert _run(["candidate", "check", ""]) == 0
    assert "end-of-candidates" in capsys.readouterr().out
    assert _run(["candidate", "check", "", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["end_of_candidates"] is True


def test_candidate_check_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["candidate", "check", SRFLX.replace("srflx", "server")]) == 1
    out = capsys.readouterr().out
    assert out == (
        "candidate: typ 'server' is not host, srflx, prflx or relay "
        "[candidate.type, RFC 8839 §5.1]\n"
    )
    assert _run(["candidate", "check", "nonsense", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["rule"] == "candidate.framing"
    assert _run(["candidate", "check", "candidate:nonsense", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["rule"] == "candidate.syntax"


def test_registered_in_the_main_cli() -> None:
    # The real entry point, in a subprocess: the whole CLI as users run it.
    proc = subprocess.run(
        [sys.executable, "-m", "rtcsignal", "candidate", "check", SRFLX],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (
        0,
        "valid: srflx candidate 203.0.113.7:54400 over udp, component 1\n",
    ), proc.stderr
