"""rtcsignal benchmarks: ``nox -s bench`` or ``python -m benchmarks [NAME ...] [--quick]``.

Each ``benchmarks/bench_<name>.py`` exposes ``main(quick: bool) -> str`` that runs
rtcsignal *and its anchors side by side in the same process run* and returns a
Markdown section. Figures go to ``docs/benchmarks.md`` by hand, with the machine.
"""
