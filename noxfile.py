"""Project automation: ``nox -s <session>``.

The README gives two commands, and ``.ci/run`` calls the test one verbatim:

* ``nox -s demo``   – set up and run the demo signaling server (``python -m rtcsignal
  serve``) on the embedded in-memory default; extra arguments go to ``serve``
  (``nox -s demo -- --port 9000``).
* ``nox -s lint typecheck tests fuzz docs package`` – set up and run every check.
* ``nox -s soak`` – the ten-minute soak (manual; the suite runs a minute of it).

System packages that tests need (browsers for the SDP corpus and end-to-end
tests) are installed by ``scripts/install-system-deps.sh``, which the ``tests``
session calls; it is idempotent and a no-op when everything is present.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "fuzz", "docs", "package"]

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
    env = {"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        *(session.posargs or ["-q", "-p", "no:cacheprovider"]),
        env=env,
    )
    if not session.posargs:
        # The core and runtime suites again, every value crossing the edge / room-host
        # seam encoded and decoded on the way (as it will between instances).
        session.run(
            "coverage",
            "run",
            "--append",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--seam",
            "loopback",
            "tests/core",
            "tests/runtime",
            env=env,
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
def soak(session: nox.Session) -> None:
    """The real server under churn (tests/soak/soak.py): 10 minutes unless told
    (``nox -s soak -- --minutes 30``); fails if a table, the open descriptors or the RSS
    grow after warm-up beyond the stated bounds. ``--out FILE`` keeps the samples
    (``scripts/plot_soak.py`` draws docs/benchmarks.md's plot from them)."""
    session.install("-e", ".[test]")
    session.run("python", "tests/soak/soak.py", *session.posargs)


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
    """Build the docs site (the API reference from the docstrings), failing on any warning."""
    # mkdocstrings formats the signatures with ruff
    session.install("mkdocs>=1.6", "mkdocstrings[python]>=1.0", "ruff>=0.5")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", os.path.join(session.create_tmp(), "site")
    )


# Extras checked one by one in the fresh virtualenv, each right after its install: an
# extra that others pull in comes before them (serve before websockets, fastapi before
# starlette), so each is checked on what it installs itself.
PACKAGE_EXTRAS = [
    "asgi",
    "serve",
    "websockets",
    "client",
    "jwt",
    "prometheus",
    "fastapi",
    "starlette",
    "aiohttp",
    "trio",
    "uvicorn",
    "hypercorn",
    "granian",
    "litestar",
    "quart",
    "channels",
]


@nox.session
def package(session: nox.Session) -> None:
    """The package as users install it: build the sdist and wheel, check their metadata
    and contents, install the wheel into a fresh virtualenv outside the source tree,
    and there import each extra, serve the demo and import the examples."""
    session.install("build>=1.2", "twine>=5", "check-wheel-contents>=0.6")
    work = tempfile.mkdtemp(prefix="rtcsignal-package-")  # outside the source tree
    try:
        dist = os.path.join(work, "dist")
        session.run("python", "-m", "build", "--outdir", dist, ".")
        (wheel,) = glob.glob(os.path.join(dist, "rtcsignal-*.whl"))
        (sdist,) = glob.glob(os.path.join(dist, "rtcsignal-*.tar.gz"))
        session.run("twine", "check", "--strict", wheel, sdist)
        session.run("check-wheel-contents", wheel)
        venv = os.path.join(work, "venv")
        session.run("python", "-m", "venv", venv)
        python = os.path.join(venv, "bin", "python")
        check = os.path.abspath(os.path.join("scripts", "check_installed.py"))

        def in_venv(*args: str) -> None:
            session.run(python, *args, external=True, env={"PYTHONPATH": ""}, silent=False)

        with session.chdir(work):  # the source tree is not the current directory
            in_venv("-m", "pip", "install", "--quiet", wheel)
            in_venv(check, "base")
            for extra in PACKAGE_EXTRAS:
                in_venv("-m", "pip", "install", "--quiet", f"rtcsignal[{extra}] @ file://{wheel}")
                in_venv(check, "extra", extra)
            in_venv(check, "serve")
            in_venv(check, "examples")
    finally:
        shutil.rmtree(work, ignore_errors=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, side by side with the anchors, in one run."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
