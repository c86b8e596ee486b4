"""Project automation: ``nox -s <session>``.

The README gives two commands, and ``.ci/run`` calls the test one verbatim:

* ``nox -s demo``   – set up and run the demo signaling server (``python -m rtcsignal
  serve``) on the embedded in-memory default; extra arguments go to ``serve``
  (``nox -s demo -- --port 9000``).
* ``nox -s lint typecheck tests fuzz docs`` – set up and run every check.

System packages that tests need (browsers for the SDP corpus and end-to-end
tests) are installed by ``scripts/install-system-deps.sh``, which the ``tests``
session calls; it is idempotent and a no-op when everything is present.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "fuzz", "docs"]

SRC = ["src", "tests", "benchmarks", "examples", "scripts", "noxfile.py"]


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo signaling server on the embedded, in-memory default (Ctrl-C stops it)."""
    session.install("-e", ".[serve]")
    session.run("python", "-m", "rtcsignal", "serve", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with branch coverage."""
    if os.geteuid() == 0 and shutil.which("bash"):
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        *(session.posargs or ["-q", "-p", "no:cacheprovider"]),
        env={"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")},
    )
    session.run("coverage", "report", "--fail-under=85")


@nox.session
def fuzz(session: nox.Session) -> None:
    """Brief fuzzing of every parser: only typed errors may come out."""
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "fuzz",
        env={"HYPOTHESIS_PROFILE": "fuzz"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", *[p for p in SRC if os.path.exists(p)])
    session.run("ruff", "format", "--check", *[p for p in SRC if os.path.exists(p)])


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "--strict", "src/rtcsignal")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site, failing on any warning."""
    session.install("mkdocs>=1.6")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", os.path.join(session.create_tmp(), "site")
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, side by side with the anchors, in one run."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
