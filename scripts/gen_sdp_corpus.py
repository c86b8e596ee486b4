"""Regenerate ``tests/sdp/corpus``: real offers, answers and trickled candidates from
Chromium, Firefox ESR and aiortc, produced on this machine. Not run in CI; the output is
committed and ``tests/sdp/test_corpus.py`` validates it.

Requirements (none of them are test dependencies):

* Debian's ``chromium`` and ``firefox-esr`` (``apt-get install -y chromium firefox-esr``);
* ``pip install playwright`` (Chromium is driven through ``executable_path``; never run
  ``playwright install``);
* ``PUPPETEER_SKIP_DOWNLOAD=1 npm install puppeteer-core`` in some directory, passed as
  ``--node-modules DIR`` (Firefox is driven through WebDriver BiDi by
  ``scripts/gen_sdp_corpus_firefox.js``).

Both browsers load one page from a loopback HTTP server (``http://127.0.0.1`` is a secure
context, so ``getUserMedia`` works, with fake devices) and run the same page functions:
one ``RTCPeerConnection`` per scenario, ICE gathering to completion (host candidates, mDNS
when the browser hides addresses), candidates recorded as ``RTCIceCandidate.toJSON()``.
Python passes descriptions between the stacks, so answers are real cross-stack answers.

The ``srflx`` scenarios (jobs ``chromium_srflx`` and ``firefox_srflx``) add server-reflexive
candidates: a data channel offer gathered with ``iceServers`` pointing at a STUN Binding
responder run by this script on ``127.0.0.1`` (loopback only). Both browsers then emit
``typ srflx raddr 0.0.0.0 rport 0`` next to their mDNS host candidates; the job checks
that it did before writing anything. Chromium only hides host addresses behind mDNS names
when the page holds no media permission, and ``--use-fake-ui-for-media-stream`` grants it,
so these offers come from a second Chromium launched without the media-stream flags (it
gathers on the any-address sockets, whose source towards the loopback STUN server is
``127.0.0.1``: that is the reflexive address it reports).

Usage: ``python scripts/gen_sdp_corpus.py --node-modules /tmp/ffdrv/node_modules``
rewrites the whole corpus. ``--only JOB[,JOB]`` runs only those jobs (``cross_stack``,
``chromium_srflx``, ``firefox_srflx``), writes only their files and updates their entries
in ``manifest.json``, leaving every other file as it is; ``--node-modules`` is needed only
for Firefox. ``--out DIR`` writes somewhere other than ``tests/sdp/corpus``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "sdp" / "corpus"
HERE = Path(__file__).resolve().parent

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
# Without the media-stream flags the page has no media permission, so Chromium does not
# enumerate interfaces and hides host addresses behind mDNS names (the srflx scenario).
CHROMIUM_MDNS_ARGS = [a for a in CHROMIUM_ARGS if "-for-media-stream" not in a]

# Page functions shared by both browsers. Every entry point returns JSON-able values.
PAGE = r"""<!doctype html><meta charset="utf-8"><title>sdp corpus</title><script>
window.pcs = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function userMedia(audio, video) {
  return navigator.mediaDevices.getUserMedia({audio, video});
}
async function setupOfferer(pc, scenario) {
  if (scenario === "datachannel") {
    pc.createDataChannel("chat");
  } else if (scenario === "audio") {
    const s = await userMedia(true, false);
    s.getTracks().forEach((t) => pc.addTrack(t, s));
  } else if (scenario === "audio_video") {
    const s = await userMedia(true, true);
    s.getTracks().forEach((t) => pc.addTrack(t, s));
  } else if (scenario === "simulcast") {
    const s = await userMedia(true, true);
    pc.addTrack(s.getAudioTracks()[0], s);
    pc.addTransceiver(s.getVideoTracks()[0], {
      direction: "sendonly",
      streams: [s],
      sendEncodings: [
        {rid: "h"},
        {rid: "m", scaleResolutionDownBy: 2},
        {rid: "l", scaleResolutionDownBy: 4},
      ],
    });
  } else if (scenario === "transceivers") {
    const s = await userMedia(true, true);
    s.getTracks().forEach((t) => pc.addTrack(t, s));
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "inactive"});
    pc.addTransceiver("video", {direction: "sendonly"});
    pc.createDataChannel("chat");
  } else if (scenario === "recvonly") {
    pc.addTransceiver("audio", {direction: "recvonly"});
    pc.addTransceiver("video", {direction: "recvonly"});
  } else {
    throw new Error("unknown scenario " + scenario);
  }
}
async function gather(pc, makeDesc) {
  const candidates = [];
  const done = new Promise((resolve) => {
    pc.onicecandidate = (e) => {
      if (e.candidate) candidates.push(e.candidate.toJSON());
      else resolve();
    };
  });
  await pc.setLocalDescription(await makeDesc());
  await Promise.race([done, sleep(10000)]);
  return {sdp: pc.localDescription.sdp, type: pc.localDescription.type, candidates};
}
async function offer(name, scenario) {
  const pc = new RTCPeerConnection();
  window.pcs[name] = pc;
  await setupOfferer(pc, scenario);
  return gather(pc, () => pc.createOffer());
}
async function srflxOffer(name, stunUrl) {
  const pc = new RTCPeerConnection({iceServers: [{urls: stunUrl}]});
  window.pcs[name] = pc;
  await setupOfferer(pc, "datachannel");
  return gather(pc, () => pc.createOffer());
}
async function answer(name, offerSdp) {
  const pc = new RTCPeerConnection();
  window.pcs[name] = pc;
  await pc.setRemoteDescription({type: "offer", sdp: offerSdp});
  const kinds = pc.getTransceivers().map((t) => t.receiver.track.kind);
  const wantAudio = kinds.includes("audio");
  const wantVideo = kinds.includes("video");
  if (wantAudio || wantVideo) {
    const s = await userMedia(wantAudio, wantVideo);
    s.getTracks().forEach((t) => pc.addTrack(t, s));
  }
  return gather(pc, () => pc.createAnswer());
}
async function accept(name, answerSdp) {
  await window.pcs[name].setRemoteDescription({type: "answer", sdp: answerSdp});
  return true;
}
async function restart(name) {
  const pc = window.pcs[name];
  return gather(pc, () => pc.createOffer({iceRestart: true}));
}
async function reanswer(name, offerSdp) {
  const pc = window.pcs[name];
  await pc.setRemoteDescription({type: "offer", sdp: offerSdp});
  return gather(pc, () => pc.createAnswer());
}
function closeAll() {
  for (const pc of Object.values(window.pcs)) pc.close();
  window.pcs = {};
  return true;
}
</script>"""

OFFER_SCENARIOS = ["datachannel", "audio", "audio_video", "simulcast", "transceivers", "recvonly"]
# Cross-stack answers: the offerer's scenarios that the other stacks answer.
ANSWER_SCENARIOS = ["datachannel", "audio_video", "simulcast", "transceivers", "recvonly"]
AIORTC_SCENARIOS = ["datachannel", "audio_video"]
# Jobs, in the order a full run makes them (and their manifest entries).
JOBS = ["cross_stack", "chromium_srflx", "firefox_srflx"]
SRFLX_MARK = " typ srflx raddr 0.0.0.0 rport 0"


class StunResponder:
    """A STUN Binding responder on ``127.0.0.1`` (RFC 8489 §6.3.3), in a thread.

    Each Binding request gets a success response with the request's source address in
    XOR-MAPPED-ADDRESS, and FINGERPRINT; anything else is ignored. ``requests`` records
    the sources, to say what happened when a browser emits no srflx candidate.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"stun:127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from aioice import stun

        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            try:
                request = stun.parse_message(data)
            except ValueError:
                continue
            if (request.message_method, request.message_class) != (
                stun.Method.BINDING,
                stun.Class.REQUEST,
            ):
                continue
            self.requests.append(addr)
            response = stun.Message(
                stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id
            )
            response.attributes["XOR-MAPPED-ADDRESS"] = addr
            response.add_fingerprint()
            self.sock.sendto(bytes(response), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class Firefox:
    """Drives Firefox ESR through the Node helper's line protocol."""

    def __init__(self, url: str, node_modules: str, profile: str) -> None:
        env = {**os.environ, "NODE_PATH": node_modules}
        self.proc = subprocess.Popen(
            ["node", str(HERE / "gen_sdp_corpus_firefox.js"), url, profile],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        first = json.loads(self.proc.stdout.readline())
        if not first.get("ready"):
            raise RuntimeError(f"firefox helper failed: {first}")
        self.version = "Firefox ESR " + str(first["version"]).split("/")[-1]
        self._ids = itertools.count()

    def call(self, expr: str) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        ident = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": ident, "expr": expr}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"firefox: {expr[:60]}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Chromium:
    def __init__(self, pw: Any, url: str, profile: str, args: list[str]) -> None:
        self.context = pw.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, args=args
        )
        self.page = self.context.new_page()
        self.page.goto(url)
        self.version = "Chromium " + str(
            self.context.browser.version if self.context.browser else ""
        )
        if self.version == "Chromium ":
            self.version = "Chromium " + self.page.evaluate(
                "navigator.userAgent.match(/Chrome\\/([\\d.]+)/)[1]"
            )

    def call(self, expr: str) -> Any:
        return self.page.evaluate(f"(async () => {expr})()")

    def close(self) -> None:
        self.context.close()


def js(fn: str, *args: str) -> str:
    return f"{fn}({', '.join(json.dumps(a) for a in args)})"


async def aiortc_offer(scenario: str) -> tuple[Any, dict[str, Any]]:
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    pc = RTCPeerConnection()
    if scenario == "datachannel":
        pc.createDataChannel("chat")
    else:
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc, {"sdp": pc.localDescription.sdp, "type": "offer", "candidates": []}


async def aiortc_answer(offer_sdp: str) -> dict[str, Any]:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(AudioStreamTrack())
            elif transceiver.kind == "video":
                transceiver.sender.replaceTrack(VideoStreamTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": "answer", "candidates": []}
    finally:
        await pc.close()


class Corpus:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.entries: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        stack: str,
        version: str,
        scenario: str,
        result: dict[str, Any],
        offer: str | None = None,
    ) -> str:
        kind = result["type"]
        filename = f"{name}.sdp"
        with open(self.out / filename, "w", encoding="utf-8", newline="") as handle:
            handle.write(result["sdp"])
        entry: dict[str, Any] = {
            "file": filename,
            "stack": stack,
            "version": version,
            "scenario": scenario,
            "kind": kind,
            "offer": offer,
        }
        if result["candidates"]:
            cands = f"{name}.candidates.json"
            (self.out / cands).write_text(json.dumps(result["candidates"], indent=1) + "\n")
            entry["candidates"] = cands
        self.entries.append(entry)
        print(f"{filename}: {len(result['sdp'])} bytes, {len(result['candidates'])} candidates")
        return filename

    def write_manifest(self, merge: bool) -> None:
        """Write ``manifest.json``; with ``merge``, keep the entries of the existing one,
        replacing those of the files written now and appending the new ones."""
        entries = self.entries
        path = self.out / "manifest.json"
        if merge and path.exists():
            new = {entry["file"]: entry for entry in self.entries}
            old = json.loads(path.read_text())["descriptions"]
            kept = [new.pop(entry["file"], entry) for entry in old]
            entries = kept + [entry for entry in self.entries if entry["file"] in new]
        manifest = {
            "generator": "scripts/gen_sdp_corpus.py",
            "descriptions": entries,
        }
        path.write_text(json.dumps(manifest, indent=1) + "\n")


def serve_page() -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def cross_stack(
    corpus: Corpus,
    browsers: dict[str, Chromium | Firefox],
    aiortc_version: str,
    run: Any,
) -> None:
    """The offers of every scenario and the answers across the three stacks."""
    offers: dict[tuple[str, str], dict[str, Any]] = {}
    for stack, browser in browsers.items():
        for scenario in OFFER_SCENARIOS:
            result = browser.call(js("offer", f"{stack}_{scenario}", scenario))
            offers[stack, scenario] = result
            corpus.add(f"{stack}_{scenario}_offer", stack, browser.version, scenario, result)
    # cross-browser answers
    for offerer, answerer in (("chromium", "firefox"), ("firefox", "chromium")):
        for scenario in ANSWER_SCENARIOS:
            result = browsers[answerer].call(
                js(
                    "answer",
                    f"{answerer}_ans_{offerer}_{scenario}",
                    offers[offerer, scenario]["sdp"],
                )
            )
            browsers[offerer].call(js("accept", f"{offerer}_{scenario}", result["sdp"]))
            corpus.add(
                f"{answerer}_answer_to_{offerer}_{scenario}",
                answerer,
                browsers[answerer].version,
                scenario,
                result,
                offer=f"{offerer}_{scenario}_offer.sdp",
            )
        # ICE restart: the offerer restarts the negotiated audio+video session and
        # the answerer answers the restart on its existing connection.
        restart = browsers[offerer].call(js("restart", f"{offerer}_audio_video"))
        offer_file = corpus.add(
            f"{offerer}_ice_restart_offer",
            offerer,
            browsers[offerer].version,
            "ice_restart",
            restart,
        )
        reanswer = browsers[answerer].call(
            js("reanswer", f"{answerer}_ans_{offerer}_audio_video", restart["sdp"])
        )
        corpus.add(
            f"{answerer}_answer_to_{offerer}_ice_restart",
            answerer,
            browsers[answerer].version,
            "ice_restart",
            reanswer,
            offer=offer_file,
        )
    # aiortc offers answered by the browsers, browser offers answered by aiortc
    for scenario in AIORTC_SCENARIOS:
        pc, result = run(aiortc_offer(scenario))
        offer_file = corpus.add(
            f"aiortc_{scenario}_offer", "aiortc", aiortc_version, scenario, result
        )
        for stack, browser in browsers.items():
            answer = browser.call(js("answer", f"{stack}_ans_aiortc_{scenario}", result["sdp"]))
            corpus.add(
                f"{stack}_answer_to_aiortc_{scenario}",
                stack,
                browser.version,
                scenario,
                answer,
                offer=offer_file,
            )
        run(pc.close())
        for stack in browsers:
            answer = run(aiortc_answer(offers[stack, scenario]["sdp"]))
            corpus.add(
                f"aiortc_answer_to_{stack}_{scenario}",
                "aiortc",
                aiortc_version,
                scenario,
                answer,
                offer=f"{stack}_{scenario}_offer.sdp",
            )


def srflx_offer(corpus: Corpus, stack: str, browser: Chromium | Firefox, stun_url: str) -> None:
    """A data channel offer gathered with a STUN server: it must hold a srflx candidate
    with ``raddr 0.0.0.0 rport 0`` next to an mDNS host candidate, or nothing is written."""
    result = browser.call(js("srflxOffer", f"{stack}_srflx", stun_url))
    texts = [item["candidate"] for item in result["candidates"]]
    texts += [line[2:] for line in result["sdp"].split("\r\n") if line.startswith("a=candidate:")]
    if not any(SRFLX_MARK in text for text in texts) or not any(
        ".local " in text and " typ host" in text for text in texts
    ):
        raise RuntimeError(f"{stack}: no srflx {SRFLX_MARK!r} next to an mDNS host: {texts}")
    corpus.add(f"{stack}_srflx_offer", stack, browser.version, "srflx", result)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--node-modules", help="dir holding puppeteer-core (for Firefox)")
    parser.add_argument(
        "--only",
        help=f"comma-separated jobs to run, of {', '.join(JOBS)}; other files are kept",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="corpus directory")
    args = parser.parse_args()
    jobs = JOBS if args.only is None else args.only.split(",")
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown jobs {sorted(unknown)}; choose from {', '.join(JOBS)}")
    jobs = [job for job in JOBS if job in jobs]
    if {"cross_stack", "firefox_srflx"} & set(jobs) and not args.node_modules:
        parser.error("--node-modules is needed for Firefox")
    import aiortc
    from playwright.sync_api import sync_playwright

    out: Path = args.out
    if args.only is None and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    server, url = serve_page()
    stun = StunResponder()
    tmp = tempfile.mkdtemp(prefix="sdp-corpus-")
    pw = sync_playwright().start()
    opened: list[Chromium | Firefox] = []
    # playwright's sync API owns this thread's event loop: aiortc runs in its own thread
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    def firefox() -> Firefox:
        found = [b for b in opened if isinstance(b, Firefox)]
        if found:
            return found[0]
        browser = Firefox(url, args.node_modules, os.path.join(tmp, "firefox"))
        opened.append(browser)
        return browser

    def chromium(name: str, chromium_args: list[str]) -> Chromium:
        browser = Chromium(pw, url, os.path.join(tmp, name), chromium_args)
        opened.append(browser)
        return browser

    try:
        corpus = Corpus(out)
        if "cross_stack" in jobs:
            browsers: dict[str, Chromium | Firefox] = {
                "chromium": chromium("chromium", CHROMIUM_ARGS),
                "firefox": firefox(),
            }
            aiortc_version = f"aiortc {aiortc.__version__}"
            print(
                browsers["chromium"].version, "/", browsers["firefox"].version, "/", aiortc_version
            )
            cross_stack(corpus, browsers, aiortc_version, run)
        if "chromium_srflx" in jobs:
            mdns_chromium = chromium("chromium-mdns", CHROMIUM_MDNS_ARGS)
            print(mdns_chromium.version, "(no media permission, mDNS)")
            srflx_offer(corpus, "chromium", mdns_chromium, stun.url)
        if "firefox_srflx" in jobs:
            print(firefox().version)
            srflx_offer(corpus, "firefox", firefox(), stun.url)
        print(f"STUN Binding requests answered on {stun.url}: {stun.requests}")
        corpus.write_manifest(merge=args.only is not None)
    finally:
        for browser in opened:
            with contextlib.suppress(Exception):
                browser.call("closeAll()")
            browser.close()
        pw.stop()
        loop.call_soon_threadsafe(loop.stop)
        stun.close()
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
