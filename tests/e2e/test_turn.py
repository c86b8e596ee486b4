"""Calls through a real TURN server: Debian's coturn on loopback, two headless chromium
pages of the demo, ``iceTransportPolicy: "relay"``, and nothing but the ICE servers of
the ``welcome``.

coturn runs with ``use-auth-secret``: it accepts the credentials rtcsignal mints per
user (``username = "<expiry>:<user>"``, ``credential = base64(HMAC-SHA1(secret,
username))``) only when both share the secret.

(a) same secret: the call connects, media flows, and the selected candidate pair is
    relay on both ends (``getStats``);
(b) a different secret: coturn answers every allocation 401 (each page sees an
    ``icecandidateerror`` 401 and gathers no candidate at all), so the call cannot
    connect: with relay-only ICE and no local candidate, no candidate pair can form.

No skips: a missing ``turnserver`` is a failure that says how to install it. Every
wait is bounded; coturn, the server and the browser are stopped by their PIDs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext
from test_browser import (  # the demo server and the browser, shared with the demo's tests
    WAIT,
    DemoServer,
    Visitor,
    browser,
    context,
    wait_media,
    wait_until,
)

__all__ = ["browser", "context"]  # fixtures, imported to be used here

SECRET = "rtcsignal-e2e-" + secrets.token_hex(8)
REALM = "rtcsignal.test"
STUN_MAGIC = 0x2112A442  # RFC 8489 §5


def free_port() -> int:
    """A loopback port free for both UDP and TCP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    pytest.fail("no loopback port free for both UDP and TCP")


def stun_binding(port: int, timeout: float) -> bool:
    """Whether a STUN server answers a Binding request on 127.0.0.1:``port``/UDP."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + transaction  # RFC 8489 §6
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            reply = sock.recv(2048)
        except OSError:
            return False
    return reply[:2] == b"\x01\x01" and reply[8:20] == transaction  # a success response


class Coturn:
    """``turnserver`` on 127.0.0.1 with a shared secret, logging to a file."""

    def __init__(self, tmp: Path, secret: str) -> None:
        executable = shutil.which("turnserver")
        if executable is None:
            pytest.fail(
                "coturn is not installed: the TURN end-to-end tests need Debian's coturn "
                "(run `sudo bash scripts/install-system-deps.sh`, or `apt-get install coturn`)"
            )
        self.port = free_port()
        self.log_path = tmp / "turnserver.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                executable,
                "-n",  # no configuration file: everything is on this command line
                "--no-cli",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--listening-port={self.port}",
                "--use-auth-secret",
                f"--static-auth-secret={secret}",
                f"--realm={REALM}",
                "--allow-loopback-peers",  # both pages' relayed addresses are on loopback
                "--no-tls",
                "--no-dtls",
                "--no-multicast-peers",
                "--log-file=stdout",
                "--simple-log",
                "--verbose",
                f"--pidfile={tmp / 'turnserver.pid'}",
                f"--userdb={tmp / 'turndb'}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT
        while not stun_binding(self.port, 0.25):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"turnserver did not answer STUN on {self.port}:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(WAIT)
        self._log.close()


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    turn = Coturn(tmp_path_factory.mktemp("coturn"), SECRET)
    try:
        yield turn
    finally:
        turn.stop()


@pytest.fixture
def room() -> str:
    return "turn-" + secrets.token_hex(4)


def demo_minting(tmp: Path, coturn: Coturn, secret: str) -> DemoServer:
    """The demo server, minting TURN credentials for ``coturn`` with ``secret``."""
    servers = [{"urls": [coturn.url]}]  # no credentials: minted per user at each hello
    env = {
        "RTCSIGNAL_ICE__SERVERS": json.dumps(servers),
        "RTCSIGNAL_ICE__TURN_SECRET": secret,
        "RTCSIGNAL_ICE__TURN_TTL": "600",
    }
    return DemoServer(tmp / "serve.log", env=env)


SELECTED_PAIRS = """async () => {
  const out = {};
  for (const [id, peer] of window.rtcsignalDemo.mesh.peers) {
    const report = await peer.pc.getStats();
    const stats = [...report.values()];
    const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
    const pair = transport ? report.get(transport.selectedCandidatePairId) : undefined;
    out[id] = pair && pair.state === "succeeded" ? {
      local: report.get(pair.localCandidateId)?.candidateType ?? null,
      remote: report.get(pair.remoteCandidateId)?.candidateType ?? null,
    } : null;
  }
  return out;
}"""

GATHERED = """async () => {
  const out = {};
  for (const [id, peer] of window.rtcsignalDemo.mesh.peers) {
    const report = await peer.pc.getStats();
    const local = [...report.values()].filter((s) => s.type === "local-candidate");
    out[id] = {
      gathering: peer.pc.iceGatheringState,
      connection: peer.pc.connectionState,
      local: local.map((c) => c.candidateType),
      pairs: [...report.values()].filter((s) => s.type === "candidate-pair").length,
    };
  }
  return out;
}"""

PEER_CONFIG = """() => [...window.rtcsignalDemo.mesh.peers.values()].map((p) => {
  const config = p.pc.getConfiguration();
  return { policy: config.iceTransportPolicy, servers: config.iceServers };
})"""


def ice_errors(visitor: Visitor) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = visitor.js(
        "window.rtcsignalDemo.state.events.filter(e => e.type === 'icecandidateerror')"
    )
    return errors


def check_minted(visitor: Visitor, coturn: Coturn, secret: str) -> None:
    """The page holds exactly the welcome's server, with credentials minted for its user
    (verified here, independently, the way coturn verifies them), and uses only it."""
    user = visitor.js("window.rtcsignalDemo.client.user")
    (server,) = visitor.js("window.rtcsignalDemo.iceServers()")
    assert server["urls"] == [coturn.url]
    expiry, _, named = server["username"].partition(":")
    assert named == user and int(expiry) > time.time() + 500  # TURN_TTL = 600 s
    digest = hmac.new(secret.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(digest).decode()
    assert visitor.js("window.rtcsignalDemo.client.welcome.ice_servers") == [server]
    assert visitor.js("window.rtcsignalDemo.rtcConfig") == {"iceTransportPolicy": "relay"}
    for config in visitor.js(PEER_CONFIG):
        assert config["policy"] == "relay"
        assert [s["urls"] for s in config["servers"]] == [[coturn.url]]
        assert config["servers"][0]["username"] == server["username"]


def test_a_call_connects_through_the_turn_relay(
    context: BrowserContext, coturn: Coturn, tmp_path: Path, room: str
) -> None:
    server = demo_minting(tmp_path, coturn, SECRET)
    try:
        alice = Visitor(context, server, room, "Alice", query="&relay=1")
        a = alice.join()
        bob = Visitor(context, server, room, "Bob", query="&relay=1")
        b = bob.join()
        wait_media(alice, {b})
        wait_media(bob, {a})
        for visitor, other in ((alice, b), (bob, a)):
            check_minted(visitor, coturn, SECRET)
            pairs = wait_until(
                lambda v=visitor, o=other: v.js(SELECTED_PAIRS).get(o),
                f"{visitor.name}: a selected candidate pair",
                diag=lambda v=visitor: f"{v.diag()}\ncoturn:\n{coturn.log(2000)}",
            )
            assert pairs == {"local": "relay", "remote": "relay"}, pairs
            assert not [e for e in ice_errors(visitor) if e["code"] == 401]
        # coturn saw the allocations, under the minted user names.
        log = coturn.log(100_000)
        for visitor in (alice, bob):
            username = visitor.js("window.rtcsignalDemo.iceServers()[0].username")
            assert re.search(rf"user <{re.escape(username)}>", log), log[-2000:]
    finally:
        server.stop()


def test_a_wrong_turn_secret_cannot_connect(
    context: BrowserContext, coturn: Coturn, tmp_path: Path, room: str
) -> None:
    wrong = "not-" + SECRET
    server = demo_minting(tmp_path, coturn, wrong)  # minting with another secret
    try:
        alice = Visitor(context, server, room, "Alice", query="&relay=1")
        a = alice.join()
        bob = Visitor(context, server, room, "Bob", query="&relay=1")
        b = bob.join()
        for visitor, other in ((alice, b), (bob, a)):
            check_minted(visitor, coturn, wrong)
            # coturn refuses the credentials: 401 Unauthorized (RFC 8489 §9.2.4).
            wait_until(
                lambda v=visitor: [e for e in ice_errors(v) if e["code"] == 401],
                f"{visitor.name}: a TURN 401",
                diag=lambda v=visitor: f"{v.diag()}\ncoturn:\n{coturn.log(2000)}",
            )
            # Gathering ends with no candidate: relay-only ICE has nothing to pair.
            state = wait_until(
                lambda v=visitor, o=other: (
                    (s := v.js(GATHERED).get(o)) and s["gathering"] == "complete" and s
                ),
                f"{visitor.name}: ICE gathering complete",
                diag=visitor.diag,
            )
            assert state["local"] == [] and state["pairs"] == 0, state
            assert state["connection"] != "connected", state
        for visitor in (alice, bob):
            assert all(s["connectionState"] != "connected" for s in visitor.peer_stats())
    finally:
        server.stop()
