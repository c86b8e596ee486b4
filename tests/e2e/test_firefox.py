"""The demo page in Firefox: Debian's ``firefox-esr``, headless, driven by puppeteer-core
over WebDriver BiDi (``tests/e2e/firefox/driver.mjs``), against the real
``python -m rtcsignal serve`` process, next to the playwright-driven chromium of
``test_browser.py`` (its server, browser and helpers are reused here).

(a) a Firefox-Firefox call and a Firefox-Chromium call reach ``connected`` with media
    flowing both ways (``inbound-rtp`` bytes growing in every page's ``getStats``);
(b) an ICE restart between Firefox and Chromium, first from the Firefox side, then from
    the Chromium side: new remote ICE credentials on both, media flowing again;
(c) a Firefox tab reloads and resumes its session (same session and participant id).

Every offer, answer and candidate a Firefox page sends is captured (a wrapper around
``WebSocket.prototype.send``) and validated here with :mod:`rtcsignal.sdp`, answers
against the offers they answer. With ``FIREFOX_E2E_CAPTURE=DIR`` the Firefox-Chromium
exchanges are also written to ``DIR`` (``scripts/firefox_demo_corpus.py`` made
``tests/sdp/corpus/*_demo*`` from them).

puppeteer-core comes from ``tests/e2e/firefox/package-lock.json`` (``npm ci``, run here
when ``node_modules`` is missing or older than the lock file); ``firefox-esr``, Node and
npm are Debian's (``scripts/install-system-deps.sh``). Without them these tests fail,
never skip. Every wait is bounded; Firefox and the server are always stopped.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext
from test_browser import (  # the demo server, chromium and the helpers, shared
    WAIT,
    DemoServer,
    Visitor,
    browser,
    context,
    remote_ufrags,
    room,
    server,
    wait_media,
    wait_until,
)

from rtcsignal import sdp

__all__ = ["browser", "context", "room", "server"]  # fixtures, imported to be used here

HERE = Path(__file__).resolve().parent
DRIVER_DIR = HERE / "firefox"
FIREFOX = "/usr/bin/firefox-esr"
NPM_TIMEOUT = 300.0
FUNCTION = re.compile(r"(?:async\s+)?(?:\([\w\s,]*\)|\w+)\s*=>|function\b")
"""An expression that is a function (playwright calls those with the argument)."""

CAPTURE = """(() => {
  const signals = [];
  window.__signals = signals;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try {
      const m = typeof data === "string" ? JSON.parse(data) : null;
      if (m && ["offer", "answer", "candidate"].includes(m.type)) signals.push(m);
    } catch { /* not JSON: not ours to record */ }
    return send.call(this, data);
  };
})();"""
"""An init script: every offer, answer and candidate the page sends, in order."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the Firefox end-to-end tests need it "
            "(run `sudo bash scripts/install-system-deps.sh`)"
        )
    return path


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``tests/e2e/firefox/node_modules`` as the committed lock file pins it."""
    _tool("node")
    npm = _tool("npm")
    installed = DRIVER_DIR / "node_modules" / ".package-lock.json"
    lock = DRIVER_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=DRIVER_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{(done.stdout + done.stderr)[-4000:]}"
    return DRIVER_DIR / "node_modules"


class Firefox:
    """One headless firefox-esr, driven through ``driver.mjs``'s line protocol."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [_tool("node"), str(DRIVER_DIR / "driver.mjs"), str(profile), FIREFOX],
            cwd=DRIVER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ids = itertools.count()
        first = self._line(WAIT * 3)
        if not first.get("ready"):
            self.close()
            pytest.fail(f"firefox-esr did not start: {first.get('error')}")
        self.version = "Firefox ESR " + str(first["version"]).split("/")[-1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _line(self, timeout: float) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = json.loads(self._lines.get(timeout=timeout))
        except queue.Empty:
            pytest.fail(f"the Firefox driver said nothing in {timeout} s")
        return reply

    def call(self, op: str, **args: Any) -> Any:
        """Run ``op`` in the driver; its result (a failure on its error)."""
        assert self.proc.stdin is not None
        ident = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._line(WAIT * 2)
        assert reply.get("id") == ident, reply
        if "error" in reply:
            raise RuntimeError(f"firefox {op}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # EOF: the driver closes the browser
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        self._reader.join(WAIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class FirefoxPage:
    """The part of playwright's ``Page`` that :class:`Visitor` uses, on a Firefox tab."""

    def __init__(self, firefox: Firefox) -> None:
        self.firefox = firefox
        self.id = firefox.call("new_page", init=CAPTURE)

    def goto(self, url: str) -> None:
        self.firefox.call("goto", page=self.id, url=url)

    def reload(self) -> None:
        self.firefox.call("reload", page=self.id)

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        text = expression.strip()
        if FUNCTION.match(text):
            text = f"({text})({json.dumps(arg)})"  # a function: call it, as playwright does
        return self.firefox.call("eval", page=self.id, expr=text)

    def click(self, selector: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def wait_for_function(self, expression: str, polling: int = 100) -> None:
        wait_until(lambda: self.evaluate(f"({expression})()"), expression)

    def console(self) -> list[str]:
        lines: list[str] = self.firefox.call("console", page=self.id)
        return lines


class FirefoxVisitor(Visitor):
    """One Firefox tab on the demo page (the :class:`Visitor` API)."""

    def __init__(self, firefox: Firefox, server: DemoServer, room: str, name: str) -> None:
        self.name = name
        self.server = server
        self.console = []
        self.page = FirefoxPage(firefox)  # type: ignore[assignment]
        self.page.goto(server.url(room, name))
        self.page.evaluate("window.rtcsignalDemo.ready")

    def diag(self) -> str:
        self.console = self.page.console()  # type: ignore[attr-defined]
        return super().diag()


def chromium_visitor(context: BrowserContext, server: DemoServer, room: str, name: str) -> Visitor:
    """A chromium tab that records what it sends, like the Firefox tabs."""
    context.add_init_script(CAPTURE)
    return Visitor(context, server, room, name)


@pytest.fixture(scope="module")
def firefox(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Firefox]:
    if not os.access(FIREFOX, os.X_OK):
        pytest.fail(
            "firefox-esr is not installed: the Firefox end-to-end tests need Debian's "
            "firefox-esr (run `sudo bash scripts/install-system-deps.sh`)"
        )
    browser = Firefox(tmp_path_factory.mktemp("firefox-profile"))
    try:
        yield browser
    finally:
        browser.close()


def signals(visitor: Visitor) -> list[dict[str, Any]]:
    """What ``visitor``'s page sent since it loaded: offers, answers, candidates."""
    sent: list[dict[str, Any]] = visitor.js("window.__signals")
    return sent


def check_descriptions(
    firefox_sent: list[dict[str, Any]], other_sent: list[dict[str, Any]]
) -> None:
    """Every description and candidate Firefox sent validates with ``rtcsignal.sdp``:
    offers alone, answers against the other side's latest offer before them, candidates
    against Firefox's latest description before them."""
    other_offers = [m["sdp"] for m in other_sent if m["type"] == "offer"]
    assert firefox_sent, "Firefox sent nothing"
    described: sdp.SessionDescription | None = None
    for message in firefox_sent:
        if message["type"] == "offer":
            described = sdp.validate_offer(message["sdp"])
        elif message["type"] == "answer":
            errors = []
            for offer in reversed(other_offers):  # the one it answers: the latest that fits
                try:
                    described = sdp.validate_answer(message["sdp"], offer=offer)
                    break
                except sdp.SdpValidationError as err:
                    errors.append(err)
            else:
                pytest.fail(f"Firefox's answer refused against every offer: {errors!r}")
        elif message["candidate"]:
            assert described is not None
            # (a previous generation's candidate is dropped, not invalid)
            with contextlib.suppress(sdp.CandidateDropped):
                sdp.validate_candidate(
                    message["candidate"],
                    sdp_mid=message.get("sdp_mid"),
                    sdp_mline_index=message.get("sdp_mline_index"),
                    username_fragment=message.get("username_fragment"),
                    description=described,
                )


def capture(name: str, visitors: dict[str, Visitor]) -> None:
    """With ``FIREFOX_E2E_CAPTURE=DIR``, write what each page sent to ``DIR/name.json``."""
    out = os.environ.get("FIREFOX_E2E_CAPTURE")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        data = {stack: signals(v) for stack, v in visitors.items()}
        (Path(out) / f"{name}.json").write_text(json.dumps(data, indent=1))


def restart_ice(visitor: Visitor, peer: Visitor) -> None:
    """``visitor`` restarts ICE on its peer connections: both end up with the other's
    new credentials, stable, and media flows again."""
    before = {v.name: remote_ufrags(v) for v in (visitor, peer)}
    visitor.js("window.rtcsignalDemo.mesh.peers.forEach(p => p.pc.restartIce())")
    for v in (visitor, peer):
        wait_until(
            lambda v=v: (
                all(u not in (None, before[v.name][pid]) for pid, u in remote_ufrags(v).items())
                and all(s["signalingState"] == "stable" for s in v.peer_stats())
            ),
            f"{v.name}: new remote ICE credentials after {visitor.name}'s restart",
            diag=v.diag,
        )


# ---------------------------------------------------------------------- scenarios


def test_firefox_version(firefox: Firefox) -> None:
    assert firefox.version.startswith("Firefox ESR "), firefox.version


def test_firefox_firefox_call_connects_and_media_flows(
    firefox: Firefox, server: DemoServer, room: str
) -> None:
    # (a) two Firefox tabs: connected, inbound RTP growing both ways.
    alice = FirefoxVisitor(firefox, server, room, "Alice")
    a = alice.join()
    bob = FirefoxVisitor(firefox, server, room, "Bob")
    b = bob.join()
    wait_media(alice, {b})
    wait_media(bob, {a})
    check_descriptions(signals(alice), signals(bob))
    check_descriptions(signals(bob), signals(alice))


def test_firefox_chromium_call_and_ice_restarts(
    firefox: Firefox, context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (a) Firefox and Chromium: connected, media both ways.
    fox = FirefoxVisitor(firefox, server, room, "Fox")
    f = fox.join()
    chrome = chromium_visitor(context, server, room, "Chrome")
    c = chrome.join()
    wait_media(fox, {c})
    wait_media(chrome, {f})
    # (b) an ICE restart from each side in turn.
    restart_ice(fox, chrome)
    wait_media(fox, {c})
    wait_media(chrome, {f})
    restart_ice(chrome, fox)
    wait_media(fox, {c})
    wait_media(chrome, {f})
    sent = signals(fox)
    assert sum(m["type"] in ("offer", "answer") for m in sent) >= 3, sent
    check_descriptions(sent, signals(chrome))
    capture("firefox_chromium", {"firefox": fox, "chromium": chrome})


def test_firefox_tab_reloads_and_resumes(
    firefox: Firefox, context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (c) the Firefox tab reloads: same session and participant id, media again.
    chrome = chromium_visitor(context, server, room, "Chrome")
    c = chrome.join()
    fox = FirefoxVisitor(firefox, server, room, "Fox")
    f = fox.join()
    wait_media(fox, {c})
    wait_media(chrome, {f})
    check_descriptions(signals(fox), signals(chrome))  # Firefox joined last: it offered
    capture("firefox_offers", {"firefox": fox, "chromium": chrome})
    session = fox.js("window.rtcsignalDemo.client.session")
    fox.page.reload()
    fox.js("window.rtcsignalDemo.ready")
    fox.page.wait_for_function("() => window.rtcsignalDemo.joined")
    assert fox.js("window.rtcsignalDemo.client.session") == session
    assert fox.js("window.rtcsignalDemo.you()") == f
    assert fox.js("window.rtcsignalDemo.client.welcome.resumed") is True
    wait_media(fox, {c})
    wait_media(chrome, {f})
    left = chrome.js(
        "window.rtcsignalDemo.state.events.filter(e => e.type === 'participant_left').length"
    )
    assert left == 0
    check_descriptions(signals(fox), signals(chrome))
