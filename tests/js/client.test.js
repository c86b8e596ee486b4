// The JavaScript client's own tests, under Node's test runner, against a real rtcsignal
// server: `python -m rtcsignal serve` on 127.0.0.1 (a free port), started here and
// stopped by its PID. The WebSocket is the `ws` package's (pinned in package-lock.json):
// Node 20 has no global one.
//
//   npm ci && PYTHON=../../.venv/bin/python node --test client.test.js
//
// Every wait is bounded (WAIT); no test depends on timing to pass.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";

import {
  MAX_EARLY_CANDIDATES,
  PROTOCOL_VERSION,
  SignalingClient,
  SignalingError,
  bufferCandidate,
} from "../../src/rtcsignal/static/rtcsignal.js";

const WAIT = 10_000;
const TURN_SECRET = "node-test-turn-secret";
const ICE = [
  { urls: ["stun:127.0.0.1:3478"] },
  { urls: ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"] },
];

let server;
let port;
const clients = [];

/** Start `python -m rtcsignal serve --port 0` and read its port from the first line. */
function startServer() {
  const python = process.env.PYTHON || "python3";
  const child = spawn(python, ["-m", "rtcsignal", "serve", "--host", "127.0.0.1", "--port", "0"], {
    env: {
      ...process.env,
      RTCSIGNAL_SHUTDOWN_GRACE: "1",
      RTCSIGNAL_ICE__SERVERS: JSON.stringify(ICE),
      RTCSIGNAL_ICE__TURN_SECRET: TURN_SECRET,
      RTCSIGNAL_ICE__TURN_TTL: "600",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port from the server in ${WAIT} ms:\n${log}`)), WAIT);
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}):\n${log}`));
    });
  });
}

function stopServer(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      process.kill(child.pid, "SIGKILL");
    }, WAIT);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    process.kill(child.pid, "SIGTERM");
  });
}

before(async () => {
  ({ child: server, port } = await startServer());
});

after(async () => {
  for (const client of clients) client.close();
  if (server) await stopServer(server);
});

/** A guest identity's token from the demo server (the same user on every connection). */
async function identity() {
  const reply = await fetch(`http://127.0.0.1:${port}/demo/identity`);
  assert.equal(reply.status, 200);
  return reply.json();
}

/** A WebSocket class that remembers its instances, so a test can cut the connection. */
function trackedWebSocket() {
  const sockets = [];
  class Tracked extends WebSocket {
    constructor(url) {
      super(url);
      sockets.push(this);
    }
  }
  return { Tracked, sockets };
}

function newClient(options = {}) {
  const client = new SignalingClient(`ws://127.0.0.1:${port}/ws`, {
    WebSocket,
    storage: null,
    minDelay: 20,
    maxDelay: 200,
    requestTimeout: WAIT,
    ...options,
  });
  clients.push(client);
  return client;
}

function hmacOf(username) {
  return createHmac("sha1", TURN_SECRET).update(username).digest("base64");
}

function roomId() {
  return `node-${Math.random().toString(36).slice(2, 10)}`;
}

describe("SignalingClient against a real server", { timeout: 4 * WAIT }, () => {
  test("connect: the welcome, the session, the limits and the minted ICE servers", async () => {
    const states = [];
    const client = newClient();
    client.on("state", ({ state }) => states.push(state));
    assert.equal(client.state, "idle");
    const welcome = await client.connect();
    assert.equal(welcome.type, "welcome");
    assert.equal(welcome.version, PROTOCOL_VERSION);
    assert.equal(client.state, "open");
    assert.deepEqual(states, ["connecting", "open"]);
    assert.equal(client.session, welcome.session);
    assert.match(client.user, /^guest-/);
    assert.equal(client.limits.ping_interval, welcome.limits.ping_interval);
    // ICE servers in the shape RTCPeerConnection takes; TURN credentials minted for this
    // user (coturn use-auth-secret), verified here independently.
    const [stun, turn] = client.iceServers;
    assert.deepEqual(stun, { urls: ICE[0].urls });
    assert.deepEqual(turn.urls, ICE[1].urls);
    const [expiry, user] = turn.username.split(":");
    assert.equal(user, client.user);
    assert.ok(Number(expiry) > Date.now() / 1000 + 500, turn.username);
    assert.equal(turn.credential, hmacOf(turn.username));
    assert.deepEqual(Object.keys(turn).sort(), ["credential", "urls", "username"]);
    client.close();
    assert.equal(client.state, "closed");
  });

  test("join, room model, events by type, relayed chat with from and seq", async () => {
    const room = roomId();
    const alice = newClient();
    const bob = newClient();
    await Promise.all([alice.connect(), bob.connect()]);
    const snapshot = await alice.request({ type: "join", room, name: "Alice" });
    assert.equal(snapshot.type, "room_snapshot");
    const model = alice.room(room);
    assert.equal(model.you, snapshot.you);
    assert.equal(model.host, snapshot.you);
    assert.equal(model.participants[snapshot.you].name, "Alice");
    const joined = alice.waitFor("participant_joined", (m) => m.room === room);
    const seen = [];
    const off = alice.on("participant_joined", (m) => seen.push(m.participant.name));
    const theirs = await bob.request({ type: "join", room, name: "Bob" });
    const event = await joined;
    off();
    assert.equal(event.participant.id, theirs.you);
    assert.deepEqual(seen, ["Bob"]);
    assert.equal(alice.room(room).participants[theirs.you].name, "Bob");
    assert.equal(alice.lastSeq, event.seq);
    const chat = alice.waitFor("chat");
    assert.equal(await bob.request({ type: "chat", room, text: "<b>hi</b>" }), null);
    const message = await chat;
    assert.equal(message.from, theirs.you);
    assert.equal(message.text, "<b>hi</b>");
    assert.equal(message.seq, event.seq + 1);
    assert.deepEqual(alice.room(room).chat.at(-1), { type: "chat", room, from: theirs.you, text: "<b>hi</b>" });
    // Own media state reaches the others; the sender's model is updated at once.
    const updated = alice.waitFor("participant_updated", (m) => m.participant.id === theirs.you);
    bob.send({ type: "media_state", room, audio: true, hand: true });
    assert.equal(bob.room(room).participants[theirs.you].hand, true);
    assert.equal((await updated).participant.hand, true);
    // A leave removes the model; the others see participant_left.
    const left = alice.waitFor("participant_left");
    await bob.request({ type: "leave", room });
    assert.equal(bob.room(room), undefined);
    assert.equal((await left).reason, "left");
    assert.equal(alice.room(room).participants[theirs.you], undefined);
  });

  test("kick with ban, unban and updateMe: the methods, the events and the models", async () => {
    const room = roomId();
    const host = newClient();
    const bob = newClient();
    await Promise.all([host.connect(), bob.connect()]);
    const mine = await host.request({ type: "join", room, name: "Host" });
    const theirs = await bob.request({ type: "join", room, name: "Bob" });
    // updateMe: the others get participant_updated, the sender's model changes on its ok
    const updated = bob.waitFor("participant_updated", (m) => m.participant.id === mine.you);
    assert.equal(await host.updateMe(room, { name: "Hostess", metadata: { status: "brb" } }), null);
    assert.equal(host.room(room).participants[mine.you].name, "Hostess");
    const seen = (await updated).participant;
    assert.deepEqual([seen.name, seen.metadata], ["Hostess", { status: "brb" }]);
    assert.deepEqual(bob.room(room).participants[mine.you].metadata, { status: "brb" });
    // kick with a timed ban: removed with reason banned, the rejoin fails with retryAfter
    const removed = bob.waitFor("removed");
    await host.kick(room, theirs.you, { reason: "spam", ban: true, duration: 300 });
    const gone = await removed;
    assert.deepEqual([gone.reason, gone.message], ["banned", "spam"]);
    assert.equal(bob.room(room), undefined);
    await assert.rejects(bob.request({ type: "join", room }), (err) => {
      assert.equal(err.code, "banned");
      assert.ok(err.retryAfter > 0 && err.retryAfter <= 300, String(err.retryAfter));
      return true;
    });
    // the banner's model keeps the ban list (as its snapshot would show it); unban lifts it
    assert.deepEqual(
      host.room(room).bans.map((b) => [b.user, b.by, b.expires_in]),
      [[bob.user, mine.you, 300]],
    );
    await assert.rejects(bob.unban(room, bob.user), { code: "not_in_room" });
    assert.equal(await host.unban(room, bob.user), null);
    assert.deepEqual(host.room(room).bans, []);
    const back = await bob.request({ type: "join", room });
    assert.equal(back.type, "room_snapshot");
    assert.equal(back.bans, undefined); // not a moderator: no ban list
  });

  test("error replies reject with SignalingError and the stable code", async () => {
    const client = newClient();
    await client.connect();
    await assert.rejects(client.request({ type: "leave", room: roomId() }), (err) => {
      assert.ok(err instanceof SignalingError);
      assert.equal(err.code, "not_in_room");
      assert.match(err.message, /not in room/);
      return true;
    });
    await assert.rejects(client.request({ type: "join", room: "x" }), { code: "invalid_message" });
    const refused = client.waitFor("server_error");
    client.send({ type: "leave", room: roomId() }); // no id: the error comes as an event
    assert.equal((await refused).code, "not_in_room");
    await assert.rejects(client.waitFor("chat", () => true, 50), { code: "timeout" });
    const pong = await client.request({ type: "ping" });
    assert.equal(pong.type, "pong");
  });

  test("a dropped socket resumes the session: replay, queued sends, fresh credentials", async () => {
    const room = roomId();
    const { Tracked, sockets } = trackedWebSocket();
    const me = await identity();
    const alice = newClient({ WebSocket: Tracked, token: me.token });
    const bob = newClient();
    const first = await alice.connect();
    await bob.connect();
    const mine = await alice.request({ type: "join", room });
    const joined = alice.waitFor("participant_joined");
    await bob.request({ type: "join", room });
    await joined;
    const states = [];
    alice.on("state", ({ state }) => states.push(state));
    const resumed = alice.waitFor("welcome", (w) => w.resumed);
    sockets[0].terminate(); // the network fails: no close frame
    // Sent while the socket is down: queued, sent after the resume, in order.
    const queued = alice.request({ type: "chat", room, text: "queued while away" });
    const got = bob.waitFor("chat", (m) => m.text === "queued while away");
    const missed = bob.request({ type: "chat", room, text: "while you were away" });
    const heard = alice.waitFor("chat", (m) => m.text === "while you were away");
    const welcome = await resumed;
    assert.equal(welcome.session, first.session);
    assert.equal(alice.session, first.session);
    assert.deepEqual(states, ["reconnecting", "open"]);
    assert.equal(sockets.length, 2);
    assert.equal(await queued, null);
    await missed;
    assert.equal((await heard).text, "while you were away"); // replayed or live: once
    assert.equal((await got).from, mine.you);
    // The resume's welcome brought its own ICE servers, minted for the same user.
    assert.equal(alice.welcome, welcome);
    const turn = alice.iceServers[1];
    assert.equal(turn.username.split(":")[1], me.user);
    assert.equal(turn.credential, hmacOf(turn.username));
    assert.deepEqual(alice.iceServers, welcome.ice_servers);
  });

  test("a request whose reply the drop lost is re-sent with its id and applied once", async () => {
    const room = roomId();
    let cut = false;
    class LosesTheReply extends WebSocket {
      send(data, cb) {
        super.send(data, (err) => {
          cb?.(err);
          // once written, the socket dies: the chat reaches the server, its ok never returns
          if (!cut && String(data).includes('"text":"exactly once"')) {
            cut = true;
            this.terminate();
          }
        });
      }
    }
    const me = await identity();
    const alice = newClient({ WebSocket: LosesTheReply, token: me.token });
    const bob = newClient();
    const first = await alice.connect();
    await bob.connect();
    await alice.request({ type: "join", room });
    await bob.request({ type: "join", room });
    const texts = [];
    bob.on("chat", (m) => texts.push(m.text));
    const resumed = alice.waitFor("welcome", (w) => w.resumed);
    assert.equal(await alice.request({ type: "chat", room, text: "exactly once" }), null);
    assert.equal(cut, true);
    assert.equal((await resumed).session, first.session);
    const after = bob.waitFor("chat", (m) => m.text === "after");
    await alice.request({ type: "chat", room, text: "after" });
    await after;
    assert.deepEqual(texts, ["exactly once", "after"]);
  });

  test("request ids go on across a page reload (kept with the resume token)", async () => {
    const data = new Map();
    const storage = {
      getItem: (k) => (data.has(k) ? data.get(k) : null),
      setItem: (k, v) => data.set(k, String(v)),
      removeItem: (k) => data.delete(k),
    };
    const me = await identity();
    const page = newClient({ storage, token: () => me.token });
    await page.connect();
    const room = roomId();
    await page.request({ type: "join", room });
    const used = page._nextId;
    page.close();
    const reloaded = newClient({ storage, token: () => me.token });
    assert.ok(reloaded._nextId >= used);
    await reloaded.connect();
    // a reused id would be answered from memory if the request were the same: this one is fresh
    assert.equal(await reloaded.request({ type: "chat", room, text: "after the reload" }), null);
  });

  test("a new page with the same storage resumes; a stale token starts a fresh session", async () => {
    const room = roomId();
    const data = new Map();
    const storage = {
      getItem: (k) => (data.has(k) ? data.get(k) : null),
      setItem: (k, v) => data.set(k, String(v)),
      removeItem: (k) => data.delete(k),
    };
    const me = await identity();
    const page = newClient({ storage, token: () => me.token });
    const first = await page.connect();
    const snapshot = await page.request({ type: "join", room, name: "Ada" });
    page.close(); // the page goes away; its session waits out the grace period
    const reloaded = newClient({ storage, token: () => me.token });
    assert.equal(reloaded.room(room).you, snapshot.you); // restored from storage
    const welcome = await reloaded.connect();
    assert.equal(welcome.resumed, true);
    assert.equal(welcome.session, first.session);
    assert.equal(reloaded.room(room).participants[snapshot.you].name, "Ada");
    reloaded.close();
    // A token that no longer resumes anything: session_lost, then a fresh session.
    storage.setItem("rtcsignal", JSON.stringify({ token: "stale-resume-token", lastSeq: 3, rooms: [] }));
    const stale = newClient({ storage, token: () => me.token });
    const lost = stale.waitFor("session_lost");
    const fresh = await stale.connect();
    assert.equal((await lost).code, "resume_failed");
    assert.equal(fresh.resumed ?? false, false);
    assert.notEqual(fresh.session, first.session);
    assert.equal(stale.lastSeq, 0);
  });

  test("a refused token is auth_failed; the next token() is asked for and used", async () => {
    const me = await identity();
    const tokens = ["not-a-valid-token", me.token];
    const asked = [];
    const client = newClient({
      token: () => {
        const token = tokens.shift() ?? me.token;
        asked.push(token);
        return token;
      },
    });
    const failed = client.waitFor("auth_failed");
    const welcome = await client.connect();
    assert.equal((await failed).code, 4003);
    assert.deepEqual(asked, ["not-a-valid-token", me.token]);
    assert.equal(welcome.user, me.user);
  });

  test("close rejects what is pending with closed and stops for good", async () => {
    const client = newClient();
    await client.connect();
    const pending = client.request({ type: "join", room: roomId() });
    client.close(true);
    await assert.rejects(pending, { code: "closed" });
    assert.equal(client.state, "closed");
    assert.equal(client.room("anything"), undefined);
  });
});

describe("early candidate buffer", () => {
  test("keeps up to MAX_EARLY_CANDIDATES and drops the newest past it", () => {
    const buffer = [];
    for (let i = 0; i < MAX_EARLY_CANDIDATES; i++) assert.equal(bufferCandidate(buffer, i), true);
    assert.equal(bufferCandidate(buffer, "one too many"), false);
    assert.equal(buffer.length, MAX_EARLY_CANDIDATES);
    assert.equal(buffer.at(-1), MAX_EARLY_CANDIDATES - 1);
    assert.equal(bufferCandidate([1, 2], 3, 2), false);
  });
});
