"""Generate the mermaid state diagrams in docs/protocol.md from the transition tables.

Usage: ``python scripts/gen_diagrams.py`` prints the diagrams; ``--write`` rewrites the
blocks between ``<!-- diagram:NAME -->`` markers in docs/protocol.md. A test checks the
docs are in sync.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from rtcsignal.core._call import call_state_diagram
from rtcsignal.core._negotiation import NEGOTIATION_TRANSITIONS
from rtcsignal.core._roompolicy import RECORDING_TRANSITIONS as _RECORDING

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def negotiation() -> str:
    lines = ["stateDiagram-v2", "    [*] --> stable"]
    for (state, event), (nxt, verdict) in NEGOTIATION_TRANSITIONS.items():
        label = event.value if verdict == "relay" else f"{event.value} / {verdict}"
        lines.append(f"    {state.value} --> {nxt.value}: {label}")
    return "\n".join(lines)


def recording() -> str:
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    for (state, action), nxt in _RECORDING.items():
        lines.append(f"    {state} --> {nxt}: {action}")
    return "\n".join(lines)


DIAGRAMS = {"negotiation": negotiation, "recording": recording, "call": call_state_diagram}


def render(text: str) -> str:
    for name, make in DIAGRAMS.items():
        pattern = re.compile(rf"(<!-- diagram:{name} -->\n```mermaid\n)(.*?)(```\n)", re.S)
        text, n = pattern.subn(
            lambda m, make=make: m.group(1) + make().rstrip("\n") + "\n" + m.group(3), text
        )
        if n != 1:
            raise SystemExit(f"docs/protocol.md has {n} blocks for diagram {name}")
    return text


def main() -> int:
    text = DOC.read_text()
    new = render(text)
    if "--write" in sys.argv:
        DOC.write_text(new)
    else:
        for name, make in DIAGRAMS.items():
            print(f"{name}:\n{make()}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
