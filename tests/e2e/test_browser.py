"""The demo page in real browsers: Debian's chromium driven by playwright, against the
real ``python -m rtcsignal serve`` process.

Every scenario runs real ``RTCPeerConnection``s between pages of one headless chromium
(fake camera and microphone), through the server's WebSocket and its SDP validation:

(a) two pages join a room; their peer connections reach ``connected`` and media flows;
(b) a third page joins and connects to both;
(c) a page reloads and resumes: same session and participant id, nobody sees it leave,
    and media flows again;
(d) the host kicks a participant: gone from every page's list and tiles;
(e) a 1:1 call from the page: ring, accept, connected, a separate call view (display
    names on the call tiles, the room on hold: nobody appears twice), hang up (the room
    back, media flowing); then a declined call;
(f) chat markup renders as literal text.

No skips: a missing chromium is a failure that says how to install it. Every wait is
bounded (at most ``WAIT`` seconds); the server and the browser are always stopped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from rtcsignal._serve import DemoIdentities, demo_routes
from rtcsignal.auth import AuthError, HandshakeRequest
from rtcsignal.runtime import Runtime, RuntimeSettings

WAIT = 20.0
"""The longest any single wait may take, in seconds."""

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

NOTICES = "window.rtcsignalDemo.notices()"

CAPACITY = 3
"""The demo server's room capacity in these tests."""

DENY_MEDIA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""
"""An init script: the page behaves as if the user refused camera and microphone."""

VISIBLE_TILE_NAMES = """[...document.querySelectorAll('.tile')]
    .filter(t => t.checkVisibility()).map(t => t.querySelector('.name').textContent)"""
"""The names on the page's visible video tiles (room and call), in page order."""

ROOM_TILES_MUTED = """[...document.querySelectorAll('#tiles .tile:not(.local) video')]
    .every(v => v.muted)"""

ROOM_SENDER_TRACKS = """[...window.rtcsignalDemo.mesh.peers.values()]
    .flatMap(p => p.pc.getSenders()).filter(s => s.track).map(s => s.track.kind)"""
"""The kinds of the tracks the page sends to the room (none while it is on hold)."""

MEDIA_FLAGS = """(pid) => { const p = window.rtcsignalDemo.participants().find(x => x.id === pid);
    return p ? [Boolean(p.audio), Boolean(p.video)] : null; }"""

XSS = '<img src=x onerror="window.__xss = 1"><b>bold</b> & <script>window.__xss = 2</script>'


# ---------------------------------------------------------------------- fixtures


class DemoServer:
    """``python -m rtcsignal serve --port 0`` as a subprocess."""

    def __init__(self, log: Path, port: int = 0, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = log.open("w")
        env = {
            **os.environ,
            "RTCSIGNAL_SHUTDOWN_GRACE": "1",
            # Rooms of three: a fourth visitor is refused with room_full.
            "RTCSIGNAL_SERVER__DEFAULT_ROOM__CAPACITY": str(CAPACITY),
            # A connection silent for 8 s is dropped: the pages must ping (every 1 s).
            "RTCSIGNAL_SERVER__PING_INTERVAL": "1",
            "RTCSIGNAL_SERVER__PING_TIMEOUT": "8",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rtcsignal",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            line = self._lines.get(timeout=WAIT)
        except queue.Empty:
            self.stop()
            pytest.fail(f"the demo server printed nothing in {WAIT} s:\n{self.log_tail()}")
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", line)
        if not match:
            self.stop()
            pytest.fail(f"unexpected first line from the server: {line!r}\n{self.log_tail()}")
        self.port = int(match.group(1))
        assert self.port != 0, line
        assert f"http://127.0.0.1:{self.port}/" in line, line  # the demo page's URL

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def url(self, room: str, name: str, extra: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/?room={room}&name={quote(name)}{extra}"

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        self._reader.join(WAIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    demo = DemoServer(tmp_path_factory.mktemp("serve") / "server.log")
    try:
        yield demo
    finally:
        demo.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if executable is None:
        pytest.fail(
            "chromium is not installed: the browser end-to-end tests need Debian's chromium "
            "(run `sudo bash scripts/install-system-deps.sh`, or `apt-get install chromium`)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=WAIT * 1000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(WAIT * 1000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def room() -> str:
    return "e2e-" + secrets.token_hex(4)


# ---------------------------------------------------------------------- helpers


def wait_until(
    check: Callable[[], Any], what: str, timeout: float = WAIT, diag: Callable[[], Any] = str
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; last: {last!r}; {diag()}")


class Visitor:
    """One browser tab on the demo page."""

    def __init__(
        self,
        context: BrowserContext,
        server: DemoServer,
        room: str,
        name: str,
        *,
        deny_media: bool = False,
        query: str = "",
    ) -> None:
        self.name = name
        self.server = server
        self.console: list[str] = []
        self.page: Page = context.new_page()
        if deny_media:
            self.page.add_init_script(DENY_MEDIA)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(server.url(room, name, query))
        self.page.evaluate("window.rtcsignalDemo.ready")

    def join(self) -> str:
        self.page.click("#join-button")
        self.page.wait_for_function("() => window.rtcsignalDemo.joined", polling=100)
        pid = self.js("window.rtcsignalDemo.you()")
        assert isinstance(pid, str)
        return pid

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def peer_stats(self, mesh: str = "peerStats") -> list[dict[str, Any]]:
        stats: list[dict[str, Any]] = self.js(f"window.rtcsignalDemo.{mesh}()")
        return stats

    def participant_ids(self) -> set[str]:
        return set(self.js("window.rtcsignalDemo.participants().map(p => p.id)"))

    def tile_ids(self) -> set[str]:
        return set(
            self.js(
                "[...document.querySelectorAll('#tiles .tile')].map(t => t.dataset.participant)"
            )
        )

    def diag(self) -> str:
        return (
            f"[{self.name}] notices={self.js('window.rtcsignalDemo.notices()')!r} "
            f"stats={self.peer_stats()!r} console={self.console[-10:]!r}\n"
            f"server log:\n{self.server.log_tail(2000)}"
        )


def media_flowing(
    visitor: Visitor, peers: set[str], mesh: str = "peerStats", before: dict[str, int] | None = None
) -> dict[str, int] | None:
    """Each peer in ``peers`` is ``connected`` and received media (more than ``before``)."""
    stats = {s["id"]: s for s in visitor.peer_stats(mesh)}
    if set(stats) != peers:
        return None
    for pid, s in stats.items():
        if s["connectionState"] != "connected":
            return None
        if s["bytesReceived"] <= (before or {}).get(pid, 0):
            return None
    return {pid: s["bytesReceived"] for pid, s in stats.items()}


def wait_media(visitor: Visitor, peers: set[str], mesh: str = "peerStats") -> None:
    """Connected to exactly ``peers``, and the bytes received keep growing."""
    first = wait_until(
        lambda: media_flowing(visitor, peers, mesh),
        f"{visitor.name}: media from {sorted(peers)}",
        diag=visitor.diag,
    )
    wait_until(
        lambda: media_flowing(visitor, peers, mesh, before=first),
        f"{visitor.name}: media still flowing from {sorted(peers)}",
        diag=visitor.diag,
    )


def wait_notice(visitor: Visitor, text: str) -> None:
    """Until ``visitor``'s page shows a notice containing ``text``."""
    wait_until(
        lambda: any(text in n for n in visitor.js(NOTICES)),
        f"the notice {text!r}",
        diag=visitor.diag,
    )


def connected_pair(
    context: BrowserContext, server: DemoServer, room: str
) -> tuple[Visitor, str, Visitor, str]:
    """Alice and Bob join ``room`` and their media flows both ways; with their ids."""
    alice = Visitor(context, server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, server, room, "Bob")
    b = bob.join()
    wait_media(alice, {b})
    wait_media(bob, {a})
    return alice, a, bob, b


def remote_ufrags(visitor: Visitor) -> dict[str, str | None]:
    """Each peer connection's current remote ICE username fragment."""
    ufrags: dict[str, str | None] = visitor.js(
        """() => Object.fromEntries([...window.rtcsignalDemo.mesh.peers].map(([id, p]) => {
            const sdp = p.pc.currentRemoteDescription?.sdp ?? "";
            return [id, /a=ice-ufrag:(\\S+)/.exec(sdp)?.[1] ?? null];
        }))"""
    )
    return ufrags


# ---------------------------------------------------------------------- scenarios


def test_the_server_serves_the_demo_page_from_the_package(server: DemoServer) -> None:
    static = resources.files("rtcsignal").joinpath("static")
    for path, name, content_type in (
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/rtcsignal.js", "rtcsignal.js", "text/javascript; charset=utf-8"),
        ("/rtcsignal.d.ts", "rtcsignal.d.ts", "application/typescript; charset=utf-8"),
        ("/demo.js", "demo.js", "text/javascript; charset=utf-8"),
        ("/demo.css", "demo.css", "text/css; charset=utf-8"),
    ):
        url = f"http://127.0.0.1:{server.port}{path}"
        with urllib.request.urlopen(url, timeout=WAIT) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"] == content_type
            assert reply.read() == static.joinpath(name).read_bytes()
    url = f"http://127.0.0.1:{server.port}/demo/identity"
    with urllib.request.urlopen(url, timeout=WAIT) as reply:
        first = json.loads(reply.read())
    with urllib.request.urlopen(url, timeout=WAIT) as reply:
        second = json.loads(reply.read())
    assert first["user"].startswith("guest-")
    assert first["user"] != second["user"]  # one identity per visitor
    assert first["token"] != second["token"]


def test_demo_identities_keep_a_visitor_across_connections() -> None:
    identities = DemoIdentities()
    status, content_type, body = identities.route(
        HandshakeRequest.build("/demo/identity", [], None)
    )
    assert (status, content_type) == (200, "application/json")
    minted = json.loads(body)
    request = HandshakeRequest.build(f"/ws?token={minted['token']}", [], "127.0.0.1")
    assert identities.authenticate(request).user == minted["user"]  # a reload: same user
    assert identities.authenticate(request).user == minted["user"]
    anonymous = identities.authenticate(HandshakeRequest.build("/ws", [], None)).user
    assert anonymous.startswith("guest-")
    assert anonymous != minted["user"]
    other = DemoIdentities()  # another server process: another key
    with pytest.raises(AuthError):
        other.authenticate(request)
    runtime = Runtime(RuntimeSettings(), authenticate=identities.authenticate)
    routes = demo_routes(runtime, identities)
    assert set(routes) == {
        "/",
        "/rtcsignal.js",
        "/rtcsignal.d.ts",
        "/demo.js",
        "/demo.css",
        "/healthz",
        "/demo/identity",
    }
    assert "/demo/identity" not in demo_routes(runtime)
    page = routes["/"](HandshakeRequest.build("/", [], None))
    assert page[:2] == (200, "text/html; charset=utf-8")
    assert b'<script type="module" src="/demo.js">' in page[2]


def test_two_pages_connect_and_media_flows_then_a_third_joins(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (a) two pages in one room: connected peer connections, inbound RTP growing.
    alice, a, bob, b = connected_pair(context, server, room)
    assert alice.tile_ids() == {a, b}
    names = set(
        alice.js("[...document.querySelectorAll('#participants .name')].map(n => n.textContent)")
    )
    assert names == {"Alice", "Bob"}
    # Both sides restart ICE at once: the offers cross (perfect negotiation resolves the
    # glare), both end up with the other's new ICE credentials, media keeps flowing.
    before = {v.name: remote_ufrags(v) for v in (alice, bob)}
    for visitor in (alice, bob):
        visitor.js("window.rtcsignalDemo.mesh.peers.forEach(p => p.pc.restartIce())")
    for visitor in (alice, bob):
        wait_until(
            lambda v=visitor: (
                all(u not in (None, before[v.name][pid]) for pid, u in remote_ufrags(v).items())
                and all(s["signalingState"] == "stable" for s in v.peer_stats())
            ),
            f"{visitor.name}: new remote ICE credentials after the restart",
            diag=visitor.diag,
        )
    wait_media(alice, {b})
    wait_media(bob, {a})
    # Own media state reaches the others (media_state -> participant_updated): mute the
    # microphone, stop the camera, raise a hand, share the screen (replaceTrack).
    alice_info = f"window.rtcsignalDemo.participants().find(p => p.id === '{a}')"
    wait_until(lambda: bob.js(alice_info).get("audio") is True, "Alice's microphone on")
    alice.page.click("#toggle-mic")
    alice.page.click("#toggle-cam")
    alice.page.click("#toggle-hand")
    wait_until(
        lambda: (lambda i: not i.get("audio") and not i.get("video") and i.get("hand"))(
            bob.js(alice_info)
        ),
        "Alice muted, camera off, hand up, as Bob sees it",
        diag=bob.diag,
    )
    assert "✋" in (bob.page.text_content(f"#tiles .tile[data-participant='{a}'] .flags") or "")
    alice.page.click("#toggle-cam")
    alice.page.click("#toggle-screen")
    wait_until(lambda: bob.js(alice_info).get("screen") is True, "Alice sharing her screen")
    wait_media(bob, {a})  # the screen track replaced the camera's: media still flows
    alice.page.click("#toggle-screen")
    wait_until(lambda: not bob.js(alice_info).get("screen"), "Alice's screen share ended")
    # (b) a third page joins and connects to both; both connect to it.
    carol = Visitor(context, server, room, "Carol")
    c = carol.join()
    wait_media(carol, {a, b})
    wait_media(alice, {b, c})
    wait_media(bob, {a, c})
    for visitor in (alice, bob, carol):
        assert visitor.tile_ids() == {a, b, c}, visitor.diag()
    assert alice.js("window.rtcsignalDemo.participants().find(p => p.role === 'host').id") == a
    # A fourth visitor finds the room full (capacity 3) and is told so.
    dave = Visitor(context, server, room, "Dave")
    dave.page.click("#join-button")
    wait_notice(dave, "This room is full (3 people)")
    assert not dave.js("window.rtcsignalDemo.joined")
    assert alice.participant_ids() == {a, b, c}
    # Keep-alive: over the whole scenario (longer than the 8 s ping timeout) no page lost
    # its connection; each said hello once.
    assert alice.js("window.rtcsignalDemo.client.limits.ping_interval") == 1
    for visitor in (alice, bob, carol, dave):
        welcomes = visitor.js("window.rtcsignalDemo.state.events.filter(e => e.type === 'welcome')")
        assert welcomes == [{"type": "welcome", "resumed": False, "gap": False}], visitor.diag()


def test_reload_resumes_the_same_session(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (c) a reload resumes: same session and participant id, nobody sees a leave.
    alice, a, bob, b = connected_pair(context, server, room)
    alice.page.fill("#chat-input", "before the reload")
    alice.page.click("#chat-send")
    bob.page.wait_for_function(
        "() => document.querySelectorAll('#chat-log .text').length === 1", polling=100
    )
    session = bob.js("window.rtcsignalDemo.client.session")
    user = bob.js("window.rtcsignalDemo.client.user")
    bob.page.reload()
    bob.js("window.rtcsignalDemo.ready")
    bob.page.wait_for_function("() => window.rtcsignalDemo.joined", polling=100)
    assert bob.js("window.rtcsignalDemo.client.session") == session
    assert bob.js("window.rtcsignalDemo.client.user") == user
    assert bob.js("window.rtcsignalDemo.you()") == b
    assert bob.js("window.rtcsignalDemo.client.welcome.resumed") is True
    assert "Reconnected to the room (session resumed)." in bob.js("window.rtcsignalDemo.notices()")
    # Fresh peer connections on the reloaded page; the other side replaced its old one.
    wait_media(bob, {a})
    wait_media(alice, {b})
    assert bob.js("window.rtcsignalDemo.participants().map(p => p.id).sort()") == sorted([a, b])
    left = alice.js(
        "window.rtcsignalDemo.state.events.filter(e => e.type === 'participant_left').length"
    )
    assert left == 0
    assert alice.participant_ids() == {a, b}
    assert alice.tile_ids() == {a, b}
    # The chat history survives the reload (kept with the resumed session's state), and
    # chat goes on.
    alice.page.fill("#chat-input", "after the reload")
    alice.page.click("#chat-send")
    bob.page.wait_for_function(
        "() => document.querySelectorAll('#chat-log .text').length === 2", polling=100
    )
    chat = bob.js("[...document.querySelectorAll('#chat-log .text')].map(t => t.textContent)")
    assert chat == ["before the reload", "after the reload"]


def test_host_kicks_a_participant(context: BrowserContext, server: DemoServer, room: str) -> None:
    # (d) the host kicks one participant: gone for everyone, lists and tiles.
    alice = Visitor(context, server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, server, room, "Bob")
    b = bob.join()
    carol = Visitor(context, server, room, "Carol")
    c = carol.join()
    for visitor, others in ((alice, {b, c}), (bob, {a, c}), (carol, {a, b})):
        wait_until(
            lambda v=visitor, o=others: v.tile_ids() == o | {v.js("window.rtcsignalDemo.you()")},
            f"{visitor.name}'s tiles",
            diag=visitor.diag,
        )
    # Bob is no host: he has no kick buttons. Alice (first in, host) has one per tile.
    assert bob.page.locator("#tiles button[data-action='kick']").count() == 0
    alice.page.click(f"#tiles .tile[data-participant='{b}'] button[data-action='kick']")
    bob.page.wait_for_function("() => !window.rtcsignalDemo.joined", polling=100)
    assert any("removed from the room" in n for n in bob.js("window.rtcsignalDemo.notices()"))
    assert bob.page.locator("#join-view").is_visible()
    for visitor in (alice, carol):
        wait_until(
            lambda v=visitor: v.participant_ids() == {a, c} and v.tile_ids() == {a, c},
            f"{visitor.name} sees Bob gone",
            diag=visitor.diag,
        )
        names = visitor.js(
            "[...document.querySelectorAll('#participants .name')].map(n => n.textContent)"
        )
        assert "Bob" not in names
        wait_until(
            lambda v=visitor: b not in {s["id"] for s in v.peer_stats()},
            f"{visitor.name} closed the peer connection to Bob",
            diag=visitor.diag,
        )
    kicked = alice.js(
        "window.rtcsignalDemo.state.events.filter(e => e.type === 'participant_left')"
    )
    assert kicked == [
        {
            "type": "participant_left",
            "room": room,
            "participant": b,
            "reason": "kicked",
            "seq": kicked[0]["seq"],
        }
    ]
    wait_media(alice, {c})
    wait_media(carol, {a})
    # The host locks the room: Bob cannot come back, and is told why.
    alice.page.click("#toggle-lock")
    alice.page.wait_for_function(
        "() => window.rtcsignalDemo.client.room(window.rtcsignalDemo.room).locked", polling=100
    )
    bob.page.click("#join-button")
    wait_notice(bob, "This room is locked")
    assert not bob.js("window.rtcsignalDemo.joined")
    assert carol.participant_ids() == {a, c}
    assert carol.js("window.rtcsignalDemo.client.room(window.rtcsignalDemo.room).locked")
    assert "The room is locked." in carol.js(NOTICES)
    # The other host controls on Carol's tile: mute, make moderator, transfer host.
    tile = f"#tiles .tile[data-participant='{c}']"
    carol_info = f"window.rtcsignalDemo.participants().find(p => p.id === '{c}')"
    alice.page.click(f"{tile} button[data-action='mute']")
    carol.page.wait_for_function(
        "() => document.querySelector('#toggle-mic').textContent === 'Unmute mic'", polling=100
    )
    wait_until(lambda: not alice.js(carol_info).get("audio"), "Carol shown muted to Alice")
    alice.page.click(f"{tile} button[data-action='set-role']")
    carol.page.wait_for_selector("#toggle-lock", state="visible")  # moderators may lock
    wait_until(lambda: alice.js(carol_info)["role"] == "moderator", "Carol a moderator")
    alice.page.click(f"{tile} button[data-action='transfer-host']")
    wait_until(
        lambda: (
            carol.js("window.rtcsignalDemo.participants().find(p => p.role === 'host')?.id") == c
        ),
        "Carol the host",
        diag=carol.diag,
    )
    assert "You are now the host." in carol.js(NOTICES)
    wait_until(  # Alice, now a moderator, may not act on the host
        lambda: alice.page.locator("#tiles button[data-action='kick']").count() == 0,
        "Alice without a kick button on the host's tile",
        diag=alice.diag,
    )


def test_host_bans_a_participant_and_a_member_renames(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # Issue 16: the host's Ban button keeps a user out; the rename field reaches the others.
    alice = Visitor(context, server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, server, room, "Bob")
    b = bob.join()
    carol = Visitor(context, server, room, "Carol")
    c = carol.join()
    wait_until(lambda: alice.tile_ids() == {a, b, c}, "Alice's tiles", diag=alice.diag)
    # Carol renames herself: Alice's list and tile show the new name, and her own model.
    carol.page.fill("#rename-input", "Caroline")
    carol.page.click("#rename-button")
    carol_name = f"window.rtcsignalDemo.participants().find(p => p.id === '{c}')?.name"
    wait_until(lambda: alice.js(carol_name) == "Caroline", "Alice sees Caroline", diag=alice.diag)
    wait_until(lambda: carol.js(carol_name) == "Caroline", "Carol's own model renamed")
    tile_name = (
        f"document.querySelector(\"#tiles .tile[data-participant='{c}'] .name\").textContent"
    )
    wait_until(lambda: alice.js(tile_name) == "Caroline", "Alice's tile renamed", diag=alice.diag)
    # Only the host has Ban buttons; Alice bans Bob.
    assert bob.page.locator("#tiles button[data-action='ban']").count() == 0
    alice.page.click(f"#tiles .tile[data-participant='{b}'] button[data-action='ban']")
    bob.page.wait_for_function("() => !window.rtcsignalDemo.joined", polling=100)
    wait_notice(bob, "banned from the room")
    for visitor in (alice, carol):
        wait_until(
            lambda v=visitor: v.participant_ids() == {a, c} and v.tile_ids() == {a, c},
            f"{visitor.name} sees Bob gone",
            diag=visitor.diag,
        )
    left = alice.js("window.rtcsignalDemo.state.events.filter(e => e.type === 'participant_left')")
    assert [(e["participant"], e["reason"]) for e in left] == [(b, "banned")]
    bans = alice.js("window.rtcsignalDemo.client.room(window.rtcsignalDemo.room).bans")
    assert [ban["by"] for ban in bans] == [a]
    # Bob's page cannot come back in (the room is not locked: the ban keeps him out).
    bob.page.click("#join-button")
    wait_notice(bob, "You are banned from this room")
    assert not bob.js("window.rtcsignalDemo.joined")
    assert carol.participant_ids() == {a, c}
    # The host's ban list shows Bob; Unban lets him back in.
    alice.page.wait_for_selector("#bans", state="visible")
    assert alice.js("[...document.querySelectorAll('#ban-list li')].length") == 1
    assert carol.page.locator("#bans").is_hidden()  # not a moderator
    alice.page.click("#ban-list button[data-action='unban']")
    alice.page.wait_for_selector("#bans", state="hidden")
    bob.join()
    wait_until(lambda: len(carol.participant_ids()) == 3, "Carol sees Bob back", diag=carol.diag)


def test_one_to_one_call_ring_accept_hangup_and_decline(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (e) a 1:1 call between two users found in a room.
    alice = Visitor(context, server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, server, room, "Bob")
    b = bob.join()
    call_button = f"#tiles .tile[data-participant='{b}'] button[data-action='call']"
    alice.page.click(call_button)
    bob.page.wait_for_selector("#call-incoming", state="visible")
    assert "Alice is calling you." in (bob.page.text_content("#call-status") or "")
    assert alice.js("window.rtcsignalDemo.call().state") == "ringing"
    assert alice.page.locator("#call-cancel").is_visible()
    bob.page.click("#call-accept")
    for visitor in (alice, bob):  # each page sees it active in its own time
        visitor.page.wait_for_function(
            "() => window.rtcsignalDemo.call()?.state === 'active'", polling=100
        )
    call_room = alice.js("window.rtcsignalDemo.call().room")
    assert bob.js("window.rtcsignalDemo.call().room") == call_room
    a_in_call = alice.js(f"window.rtcsignalDemo.client.room('{call_room}').you")
    b_in_call = bob.js(f"window.rtcsignalDemo.client.room('{call_room}').you")
    wait_media(alice, {b_in_call}, mesh="callPeerStats")
    wait_media(bob, {a_in_call}, mesh="callPeerStats")
    # The call is its own view: the call tile has the display name, the room is on hold
    # (its tiles hidden and muted, our media not sent to it), so each person shows once.
    for visitor, other, other_in_call in ((alice, "Bob", b_in_call), (bob, "Alice", a_in_call)):
        tile = f"#call-tiles .tile[data-participant='{other_in_call}']"
        assert visitor.page.text_content(f"{tile} .name") == other
        assert visitor.js(VISIBLE_TILE_NAMES) == [other]
        assert visitor.page.locator("#call-hold").is_visible()
        assert visitor.js("window.rtcsignalDemo.onHold()") is True
        assert visitor.js(ROOM_TILES_MUTED) is True
        assert visitor.js(ROOM_SENDER_TRACKS) == []
    for visitor, other in ((alice, b), (bob, a)):
        wait_until(
            lambda v=visitor, o=other: v.js(MEDIA_FLAGS, o) == [False, False],
            f"{visitor.name}: the other's room media flags off while on hold",
            diag=visitor.diag,
        )
    assert alice.page.locator("#call-hangup").is_visible()
    alice.page.click("#call-hangup")
    for visitor in (alice, bob):
        visitor.page.wait_for_function(
            "() => window.rtcsignalDemo.call() === null && window.rtcsignalDemo.callMesh === null",
            polling=100,
        )
        assert not visitor.page.locator("#call-panel").is_visible()
        assert "Call ended." in visitor.js("window.rtcsignalDemo.notices()")
        # Off hold: the room's tiles are back, heard, and get our camera and microphone.
        assert visitor.js("window.rtcsignalDemo.onHold()") is False
        assert visitor.js(ROOM_TILES_MUTED) is False
        assert sorted(visitor.js(ROOM_SENDER_TRACKS)) == ["audio", "video"]
    assert alice.js(VISIBLE_TILE_NAMES) == ["Alice (you)", "Bob"]
    wait_media(alice, {b})
    wait_media(bob, {a})
    # A second call, declined.
    alice.page.click(call_button)
    bob.page.wait_for_selector("#call-incoming", state="visible")
    bob.page.click("#call-decline")
    alice.page.wait_for_function("() => window.rtcsignalDemo.call() === null", polling=100)
    assert "Bob declined the call." in alice.js("window.rtcsignalDemo.notices()")
    assert not alice.page.locator("#call-panel").is_visible()
    assert not bob.page.locator("#call-panel").is_visible()
    ended = alice.js(
        "window.rtcsignalDemo.state.events.filter(e => e.type === 'call_updated'"
        " && e.call.state === 'ended').map(e => e.call.reason)"
    )
    assert ended == ["hangup", "declined"]


def test_chat_markup_is_rendered_as_text(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # (f) chat and names are text: markup shows literally, nothing runs.
    alice = Visitor(context, server, room, "Alice")
    alice.join()
    bob = Visitor(context, server, room, "<b>Bob</b>")
    bob.join()
    alice.page.wait_for_function(
        "() => [...document.querySelectorAll('#participants .name')]"
        ".some(n => n.textContent === '<b>Bob</b>')",
        polling=100,
    )
    alice.page.fill("#chat-input", XSS)
    alice.page.click("#chat-send")
    for visitor in (alice, bob):
        visitor.page.wait_for_function(
            "() => document.querySelectorAll('#chat-log .text').length === 1", polling=100
        )
        texts = visitor.js(
            "[...document.querySelectorAll('#chat-log .text')].map(t => t.textContent)"
        )
        assert texts == [XSS]
        assert (
            visitor.js(
                "document.querySelectorAll('#chat-log img, #chat-log b, #chat-log script').length"
            )
            == 0
        )
        assert visitor.js("document.querySelectorAll('#participants b, #tiles b').length") == 0
        time.sleep(0.3)  # a broken image's onerror would have fired by now
        assert visitor.js("window.__xss") is None
    assert bob.js("document.querySelector('#chat-log .from').textContent") == "Alice:"


def test_camera_denied_falls_back_to_receive_only(
    context: BrowserContext, server: DemoServer, room: str
) -> None:
    # The camera is refused: the page says so, joins receive-only and still gets media.
    alice = Visitor(context, server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, server, room, "Bob", deny_media=True)
    b = bob.join()
    notices = bob.js(NOTICES)
    assert any("access was denied: you are receive-only" in n for n in notices), notices
    assert bob.page.is_disabled("#toggle-mic")
    assert bob.page.is_disabled("#toggle-cam")
    wait_media(bob, {a})
    wait_until(
        lambda: [s["connectionState"] for s in alice.peer_stats()] == ["connected"],
        "Alice connected to the receive-only Bob",
        diag=alice.diag,
    )
    assert {s["id"] for s in alice.peer_stats()} == {b}
    flags = alice.js(f"window.rtcsignalDemo.participants().find(p => p.id === '{b}')")
    assert not flags.get("audio") and not flags.get("video")
    # Sharing the screen from a receive-only page renegotiates: now Alice gets media too.
    bob.page.click("#toggle-screen")
    wait_media(alice, {b})
    wait_media(bob, {a})


def test_server_restart_new_identity_and_rejoin(
    context: BrowserContext, tmp_path: Path, room: str
) -> None:
    # The server restarts: the old identities' tokens are refused (4003), the pages get
    # new identities, reconnect (backoff) with fresh sessions and join the room again.
    first = DemoServer(tmp_path / "first.log")
    second: DemoServer | None = None
    try:
        alice = Visitor(context, first, room, "Alice")
        a = alice.join()
        bob = Visitor(context, first, room, "Bob")
        b = bob.join()
        wait_media(alice, {b})
        users = {v.name: v.js("window.rtcsignalDemo.client.user") for v in (alice, bob)}
        first.stop()
        second = DemoServer(tmp_path / "second.log", port=first.port)
        for visitor in (alice, bob):
            wait_until(
                lambda v=visitor: (
                    v.js("window.rtcsignalDemo.client.user") not in (None, users[v.name])
                    and v.js("window.rtcsignalDemo.joined")
                    and v.js("window.rtcsignalDemo.participants().length") == 2
                ),
                f"{visitor.name} back in the room as a new guest",
                diag=visitor.diag,
            )
            assert any("rejoining the room" in n for n in visitor.js(NOTICES))
        a2, b2 = alice.js("window.rtcsignalDemo.you()"), bob.js("window.rtcsignalDemo.you()")
        assert {a2, b2}.isdisjoint({a, b})
        wait_media(alice, {b2})
        wait_media(bob, {a2})
    finally:
        first.stop()
        if second is not None:
            second.stop()
