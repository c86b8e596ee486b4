"""Command line: ``python -m rtcsignal <command>``.

Exit codes follow the linter convention: 0 valid / success, 1 invalid input found,
2 usage error (argparse's own).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m rtcsignal", description="rtcsignal: WebRTC signaling tools"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --- subcommand registration: each layer registers its own commands ---
    from rtcsignal import _demo

    _demo.register(sub)
    from rtcsignal import _sdpcli as _sdp_cli

    _sdp_cli.register(sub)
    from rtcsignal import _serve

    _serve.register(sub)
    # --- end of registration ---
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)
