"""Add a Firefox-Chromium demo call to ``tests/sdp/corpus`` (not run in CI).

``tests/e2e/test_firefox.py`` run with ``FIREFOX_E2E_CAPTURE=DIR`` writes what each page
sent through the demo server (offers, answers, candidates, in order):
``DIR/firefox_offers.json``, a call Firefox joined last (so it offered), and
``DIR/firefox_chromium.json``, a call Chromium joined last, then two ICE restarts
(Firefox's, then Chromium's). This script turns them into corpus files and
``manifest.json`` entries:

* the calls: ``firefox_demo_offer.sdp`` / ``chromium_answer_to_firefox_demo.sdp`` and
  ``chromium_demo_offer.sdp`` / ``firefox_answer_to_chromium_demo.sdp``;
* Firefox's restart: ``firefox_demo_ice_restart_offer.sdp`` /
  ``chromium_answer_to_firefox_demo_ice_restart.sdp``;
* Chromium's restart: ``chromium_demo_ice_restart_offer.sdp`` /
  ``firefox_answer_to_chromium_demo_ice_restart.sdp``;

each with the candidates its sender trickled after it (``*.candidates.json``, in the
``RTCIceCandidate.toJSON()`` shape of the rest of the corpus). Entries of the same files
are replaced; the rest of the manifest is left as it is.

Usage: ``python scripts/firefox_demo_corpus.py DIR "Firefox ESR 153.8.0"
"Chromium 156.0.8078.114"``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "sdp" / "corpus"

# (capture, stack, type, ordinal of that type among the stack's descriptions)
# -> (file, scenario)
NAMES = {
    # firefox_offers.json: Firefox joins last, so it makes the offer
    ("firefox_offers", "firefox", "offer", 0): ("firefox_demo_offer", "demo_call"),
    ("firefox_offers", "chromium", "answer", 0): ("chromium_answer_to_firefox_demo", "demo_call"),
    # firefox_chromium.json: Chromium joins last, then the two ICE restarts
    ("firefox_chromium", "chromium", "offer", 0): ("chromium_demo_offer", "demo_call"),
    ("firefox_chromium", "firefox", "answer", 0): ("firefox_answer_to_chromium_demo", "demo_call"),
    ("firefox_chromium", "firefox", "offer", 0): (
        "firefox_demo_ice_restart_offer",
        "demo_ice_restart",
    ),
    ("firefox_chromium", "chromium", "answer", 0): (
        "chromium_answer_to_firefox_demo_ice_restart",
        "demo_ice_restart",
    ),
    ("firefox_chromium", "chromium", "offer", 1): (
        "chromium_demo_ice_restart_offer",
        "demo_ice_restart",
    ),
    ("firefox_chromium", "firefox", "answer", 1): (
        "firefox_answer_to_chromium_demo_ice_restart",
        "demo_ice_restart",
    ),
}
ANSWERS = {
    "chromium_answer_to_firefox_demo": "firefox_demo_offer",
    "firefox_answer_to_chromium_demo": "chromium_demo_offer",
    "firefox_answer_to_chromium_demo_ice_restart": "chromium_demo_ice_restart_offer",
    "chromium_answer_to_firefox_demo_ice_restart": "firefox_demo_ice_restart_offer",
}


def main(capture_dir: str, firefox_version: str, chromium_version: str) -> None:
    versions = {"firefox": firefox_version, "chromium": chromium_version}
    entries: list[dict[str, Any]] = []
    runs = [
        (run, stack, messages)
        for run in ("firefox_offers", "firefox_chromium")
        for stack, messages in json.loads((Path(capture_dir) / f"{run}.json").read_text()).items()
    ]
    for run, stack, messages in runs:
        counts = {"offer": 0, "answer": 0}
        current: tuple[str, list[dict[str, Any]]] | None = None
        groups: list[tuple[str, str, list[dict[str, Any]]]] = []
        for message in messages:
            if message["type"] in counts:
                name, scenario = NAMES[(run, stack, message["type"], counts[message["type"]])]
                counts[message["type"]] += 1
                current = (name, [])
                groups.append((name, scenario, current[1]))
                with open(OUT / f"{name}.sdp", "w", encoding="utf-8", newline="") as out:
                    out.write(message["sdp"])
            elif current is not None:
                current[1].append(
                    {
                        "candidate": message["candidate"],
                        "sdpMLineIndex": message.get("sdp_mline_index"),
                        "sdpMid": message.get("sdp_mid"),
                        "usernameFragment": message.get("username_fragment"),
                    }
                )
        for name, scenario, candidates in groups:
            entry: dict[str, Any] = {
                "file": f"{name}.sdp",
                "stack": stack,
                "version": versions[stack],
                "scenario": scenario,
                "kind": "answer" if name in ANSWERS else "offer",
                "offer": f"{ANSWERS[name]}.sdp" if name in ANSWERS else None,
            }
            if candidates:
                entry["candidates"] = f"{name}.candidates.json"
                text = json.dumps(candidates, indent=1) + "\n"
                (OUT / entry["candidates"]).write_text(text)
            entries.append(entry)
    manifest = json.loads((OUT / "manifest.json").read_text())
    files = {e["file"] for e in entries}
    kept = [e for e in manifest["descriptions"] if e["file"] not in files]
    manifest["descriptions"] = kept + sorted(entries, key=lambda e: str(e["file"]))
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(entries)} descriptions written to {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
