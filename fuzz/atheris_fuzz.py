"""Run one target of ``fuzz/targets.py`` under atheris (coverage-guided, libFuzzer).

Usage: ``python fuzz/atheris_fuzz.py TARGET SECONDS [WORKDIR] [-- LIBFUZZER_ARGS...]``

Arguments after ``--`` go to libFuzzer in place of the corpus directories, e.g.
``-- -minimize_crash=1 -runs=10000 crash-abc`` to minimize a crasher.

The committed corpus ``fuzz/corpus/TARGET/`` seeds the run and is only read; new
inputs go to ``WORKDIR/corpus`` and crashers to ``WORKDIR/crash-*`` (a fresh temporary
directory when ``WORKDIR`` is not given), so a CI run never writes into the tree. A
crasher found is minimized with ``-minimize_crash=1`` and committed to the corpus
under a ``regression-*`` name with a named test in ``tests/test_fuzz_corpus.py``.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["rtcsignal", "targets", "tomllib"]):
    import targets


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else None
    argv = argv[: argv.index("--")] if "--" in argv else argv
    name, seconds = argv[0], int(argv[1])
    work = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkdtemp(prefix="fuzz-"))
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    target = targets.TARGETS[name]
    # libFuzzer re-runs argv[0] through the shell for -merge and -minimize_crash: make it
    # this interpreter, this script and the arguments before "--".
    again = [sys.executable, str(Path(__file__).resolve()), name, str(seconds), str(work), "--"]
    args = [
        " ".join(shlex.quote(part) for part in again),
        f"-max_total_time={seconds}",
        "-max_len=4096" if name != "server" else "-max_len=2048",
        "-rss_limit_mb=2048",
        "-timeout=10",
        f"-artifact_prefix={work}{os.sep}",
        "-print_final_stats=1",
        *(extra if extra is not None else [str(work / "corpus"), str(HERE / "corpus" / name)]),
    ]
    atheris.Setup(args, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
