"""Draw a soak report (``tests/soak/soak.py --out FILE``) as an SVG of small multiples:
the server's RSS, open descriptors and every table size over time, one panel each, with
the end of the warm-up marked. Plain SVG written here: no plotting dependency.

Usage: ``python scripts/plot_soak.py REPORT.json docs/img/soak.svg``
"""

from __future__ import annotations

import json
import math
import sys
from html import escape
from pathlib import Path
from typing import Any

SERIES = [
    ("rss_kib", "RSS (MiB)", 1 / 1024),
    ("fds", "open descriptors", 1),
    ("connections", "connections", 1),
    ("sessions", "sessions", 1),
    ("users", "users", 1),
    ("rooms", "rooms", 1),
    ("participants", "participants", 1),
    ("negotiations", "negotiations", 1),
    ("calls", "calls", 1),
    ("replay_frames", "replay frames", 1),
    ("limiter_keys", "limiter keys", 1),
    ("edge_timers", "edge timers", 1),
    ("room_timers", "room timers", 1),
    ("call_timers", "call timers", 1),
    ("links", "runtime links", 1),
    ("tracked", "tracked connections", 1),
]
COLUMNS = 4
PANEL_W, PANEL_H = 240, 130
PAD_L, PAD_R, PAD_T, PAD_B = 44, 10, 22, 22


def _panel(
    samples: list[dict[str, Any]], key: str, title: str, scale: float, warmup: float, end: float
) -> list[str]:
    values = [s[key] * scale for s in samples]
    top = (max(values) or 1.0) * 1.1
    if scale == 1:
        top = float(math.ceil(top))  # counts: a whole number at the top
    w = PANEL_W - PAD_L - PAD_R
    h = PANEL_H - PAD_T - PAD_B

    def x(t: float) -> float:
        return PAD_L + w * t / end

    def y(v: float) -> float:
        return PAD_T + h * (1 - v / top)

    points = " ".join(f"{x(s['t']):.1f},{y(v):.1f}" for s, v in zip(samples, values, strict=True))
    fmt = "{:.0f}" if top >= 10 else "{:.1f}"
    span = f"{end / 60:.0f} min" if end >= 120 else f"{end:.0f} s"
    return [
        f'<text x="{PAD_L}" y="14" class="title">{escape(title)}</text>',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" class="frame"/>',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{x(warmup) - PAD_L:.1f}" height="{h}" '
        'class="warm"/>',
        f'<polyline points="{points}" class="line"/>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" class="tick" text-anchor="end">'
        f"{fmt.format(top)}</text>",
        f'<text x="{PAD_L - 4}" y="{PAD_T + h}" class="tick" text-anchor="end">0</text>',
        f'<text x="{PAD_L}" y="{PAD_T + h + 14}" class="tick">0</text>',
        f'<text x="{PAD_L + w}" y="{PAD_T + h + 14}" class="tick" text-anchor="end">{span}</text>',
    ]


def render(report: dict[str, Any]) -> str:
    """The SVG text for ``report``."""
    samples = report["samples"]
    end = max(samples[-1]["t"], 1.0)
    rows = -(-len(SERIES) // COLUMNS)
    width, height = COLUMNS * PANEL_W, rows * PANEL_H + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        "<style>.title{font-size:12px}.tick{font-size:9px;fill:#555}"
        ".frame{fill:none;stroke:#bbb}.warm{fill:#eee}"
        ".line{fill:none;stroke:#1f77b4;stroke-width:1.2}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for index, (key, title, scale) in enumerate(SERIES):
        col, row = index % COLUMNS, index // COLUMNS
        out.append(f'<g transform="translate({col * PANEL_W},{row * PANEL_H})">')
        out.extend(_panel(samples, key, title, scale, report["warmup"], end))
        out.append("</g>")
    out.append(
        f'<text x="8" y="{height - 10}" class="tick">soak of {report["seconds"] / 60:.0f} min, '
        f"seed {report['seed']}, one sample a second; grey: the warm-up</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(source: str, target: str) -> None:
    report = json.loads(Path(source).read_text())
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(render(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
