"""Run every benchmark module (or the ones named) and print Markdown tables."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys

import benchmarks


def _machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", choices=[*names, []], help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    args = parser.parse_args(argv)
    print(f"# rtcsignal benchmarks\n\nMachine: {_machine()}\n")
    for name in args.names or names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(module.main(quick=args.quick))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
