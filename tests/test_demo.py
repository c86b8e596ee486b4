"""The README's first command runs the scripted demo: it must run and show the story."""

from __future__ import annotations

import io
import subprocess
import sys

from rtcsignal._demo import run_demo


def test_demo_tells_the_whole_story() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    for expected in (
        '"type":"welcome"',
        '"type":"room_snapshot"',
        '"type":"offer"',
        '"type":"answer"',
        '"code":"no_description"',
        '"code":"invalid_sdp"',
        '"code":"forbidden"',
        '"type":"chat"',
        '"type":"participant_updated"',
        '"reason":"disconnected"',
    ):
        assert expected in text, expected
    flood = next(line for line in text.splitlines() if "typing frames" in line)
    delivered = int(flood.split(",")[1].split()[0])
    assert 0 < delivered < 20  # the limiter dropped the excess silently


def test_demo_runs_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rtcsignal", "demo"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "server state:" in done.stdout
