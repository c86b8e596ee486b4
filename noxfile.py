"""Project automation: ``nox -s <session>``.

The README gives two commands, and ``.ci/run`` calls the test one verbatim:

* ``nox -s demo``   – set up and run the demo signaling server (``python -m rtcsignal
  serve``) on the embedded in-memory default; extra arguments go to ``serve``
  (``nox -s demo -- --port 9000``).
* ``nox -s lint typecheck tests compiled fuzz docs package`` – set up and run every check.
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
nox.options.sessions = ["lint", "typecheck", "tests", "compiled", "fuzz", "docs", "package"]

SRC = ["src", "tests", "fuzz", "benchmarks", "examples", "scripts", "noxfile.py"]


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo signaling server on the embedded, in-memory default (Ctrl-C stops it)."""
    session.install("-e", ".[serve]")
    session.run("python", "-m", "rtcsignal", "serve", *session.posargs)


@nox.session
def cluster(session: nox.Session) -> None:
    """Two demo instances (8080 and 8081) on a local ``redis-server``: open one tab on
    each and hold a call across them (Ctrl-C stops all three)."""
    import signal
    import subprocess
    import time

    if os.geteuid() == 0 and shutil.which("bash"):
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("-e", ".[serve,redis]")
    port = os.environ.get("RTCSIGNAL_CLUSTER_REDIS_PORT", "6390")
    url = f"redis://127.0.0.1:{port}/0"
    secret = os.environ.get("RTCSIGNAL_AUTH_SECRET") or os.urandom(24).hex()
    env = {**os.environ, "RTCSIGNAL_AUTH_SECRET": secret}
    bindir = session.bin
    procs = [
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
    ]
    try:
        time.sleep(0.5)
        for http_port, name in (("8080", "a"), ("8081", "b")):
            procs.append(
                subprocess.Popen(
                    [
                        os.path.join(bindir, "python"),
                        "-m",
                        "rtcsignal",
                        "serve",
                        "--port",
                        http_port,
                        "--redis-url",
                        url,
                        "--instance-id",
                        name,
                    ],
                    env=env,
                )
            )
        session.log("cluster: http://127.0.0.1:8080/ and http://127.0.0.1:8081/ (Ctrl-C stops)")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):  # stop what we started, by its pid
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with branch coverage."""
    if os.geteuid() == 0 and shutil.which("bash"):
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    env = {
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci"),
        # tests/test_build.py: the source, pure Python (not RTCSIGNAL_*: those are settings)
        "EXPECT_RTCSIGNAL_BUILD": "pure",
    }
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
            env={**env, "CLUSTER_SIM_EXAMPLES": "300"},  # the simulation ran in full above
        )
    session.run("coverage", "report", "--fail-under=85")


@nox.session
def compiled(session: nox.Session) -> None:
    """The suite again on the compiled build: the wheel built with the mypyc hook on
    (``HATCH_BUILD_HOOK_ENABLE_MYPYC=1``, the modules of ``rtcsignal._build.ACCELERATED``),
    installed (not editable), and every test but the browser end-to-end ones (which
    exercise the adapters and browsers more than the compiled modules, and take half of
    the ``tests`` session) run against it; ``tests/test_build.py`` asserts that each
    accelerated module is an extension module, as the ``tests`` session asserts pure."""
    if os.geteuid() == 0 and shutil.which("bash"):
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("build>=1.2")
    work = tempfile.mkdtemp(prefix="rtcsignal-compiled-")
    try:
        # sdist, then the wheel from the unpacked sdist (as `pip install --no-binary`
        # does): mypyc builds in place, so never in this tree, where the extension
        # modules would shadow the source of the other sessions' editable install.
        session.run(
            "python",
            "-m",
            "build",
            "--outdir",
            work,
            ".",
            env={"HATCH_BUILD_HOOK_ENABLE_MYPYC": "1"},
            silent=True,
        )
        (wheel,) = glob.glob(os.path.join(work, "rtcsignal-*.whl"))
        session.install(f"rtcsignal[test] @ file://{wheel}")
        session.install("--force-reinstall", "--no-deps", wheel)  # over a reused venv's
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env = {
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci"),
        "EXPECT_RTCSIGNAL_BUILD": "compiled",
    }
    args = session.posargs or ["-q", "-p", "no:cacheprovider", "--ignore=tests/e2e", "tests"]
    session.run("python", "-m", "pytest", *args, env=env)


# The atheris targets of fuzz/targets.py and each one's share of a CI run, in seconds
# (with the hypothesis fuzz tests the whole session takes about 4 minutes on CI).
FUZZ_TARGETS = {
    "protocol_json": 20,
    "protocol_msgpack": 20,
    "sdp": 35,
    "candidate": 25,
    "settings": 15,
    "server": 50,
}


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzzing of every parser and of the whole server: only typed errors may come out.

    The hypothesis fuzz tests, then each atheris target (coverage-guided, seeded from
    ``fuzz/corpus/<target>/``) for its fixed CI budget. ``nox -s fuzz -- --long SECONDS``
    skips the hypothesis tests and shares ``SECONDS`` among the atheris targets in
    proportion to their budgets (``--long 3600``: an hour in all); ``-- --target NAME``
    runs one target only. New inputs and crashers go to a temporary directory, printed.
    """
    session.install("-e", ".[fuzz]")
    args = list(session.posargs)
    long = int(args[args.index("--long") + 1]) if "--long" in args else None
    only = args[args.index("--target") + 1] if "--target" in args else None
    chosen = {k: v for k, v in FUZZ_TARGETS.items() if only in (None, k)}
    if not chosen:
        session.error(f"--target: one of {', '.join(FUZZ_TARGETS)}")
    if long is None and only is None:
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
    total = sum(chosen.values())
    work = tempfile.mkdtemp(prefix="rtcsignal-fuzz-")
    session.log(f"new inputs and crashers go to {work}")
    for name, budget in chosen.items():
        seconds = budget if long is None else max(1, long * budget // total)
        session.run("python", "fuzz/atheris_fuzz.py", name, str(seconds), os.path.join(work, name))


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
    "redis",
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
    """Benchmarks, side by side with the anchors, in one run (the relay's Node anchors
    install themselves with `npm ci`; the instruction counts need valgrind)."""
    if os.geteuid() == 0 and shutil.which("bash"):
        session.run("bash", "scripts/install-system-deps.sh", "valgrind", external=True)
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
