// Issue 13: the JavaScript client retries a request refused with
// `backplane_unavailable`, with the same id, after `retry_after`, and the request is
// applied once. Against a real cluster that tests/js/test_js_client.py starts (a
// `redis-server` and two `python -m rtcsignal serve` instances with
// `[server] request_timeout = 0.5`) and describes in the environment:
//
//   RTCSIGNAL_A_URL, RTCSIGNAL_A_PID   the instance owning the room (paused here)
//   RTCSIGNAL_B_URL, RTCSIGNAL_B_HTTP  the edge the retrying client is on, its http://
//   RTCSIGNAL_TOKENS                   JSON {user: token}
//
// The owner is paused with SIGSTOP and always continued with SIGCONT. Every wait is
// bounded (WAIT); nothing asserts on a duration.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";

import { SignalingClient } from "../../src/rtcsignal/static/rtcsignal.js";

const WAIT = 10_000;
const REQUEST_TIMEOUT = 500; // the edge's wait for the owner, in ms
const env = process.env;
const TOKENS = JSON.parse(env.RTCSIGNAL_TOKENS ?? "{}");
const A_PID = Number(env.RTCSIGNAL_A_PID);

function newClient(url, user, options = {}) {
  return new SignalingClient(`${url}`, {
    WebSocket,
    storage: null,
    token: TOKENS[user],
    requestTimeout: WAIT,
    ...options,
  });
}

/** How many requests the edge answered `backplane_unavailable` (its metrics). */
async function unavailable() {
  const reply = await fetch(`${env.RTCSIGNAL_B_HTTP}/metrics`);
  const text = await reply.text();
  const match = /^rtcsignal_requests_rejected_total\{code="backplane_unavailable"\} (\S+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** SIGSTOP the owner and wait until the kernel says it is stopped. */
async function stopOwner() {
  process.kill(A_PID, "SIGSTOP");
  for (let i = 0; i < WAIT / 10; i++) {
    const stat = readFileSync(`/proc/${A_PID}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 1).trim().split(" ")[0] === "T") return;
    await sleep(10);
  }
  throw new Error("the owner did not stop");
}

function continueOwner() {
  process.kill(A_PID, "SIGCONT");
}

/** The chat texts `client` receives up to and including `last`. */
function chatsUntil(client, last) {
  return new Promise((resolve, reject) => {
    const texts = [];
    const timer = setTimeout(() => reject(new Error(`no ${last} within ${WAIT} ms: ${texts}`)), WAIT);
    const off = client.on("chat", (m) => {
      texts.push(m.text);
      if (m.text === last) {
        clearTimeout(timer);
        off();
        resolve(texts);
      }
    });
  });
}

async function joined(room, alice, bob) {
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.request({ type: "join", room }); // alice is on a: a owns the room
  const seen = alice.waitFor("participant_joined", (m) => m.room === room, WAIT);
  await bob.request({ type: "join", room }); // bob is on b: an edge of it
  await seen;
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

if (env.RTCSIGNAL_SHORT_GRACE) {
  // The cluster's reconnect_grace is 0.1 s here, so these tests run on their own one.
  describe("a retry and a lost session, against a real cluster", { timeout: 6 * WAIT }, () => {
    test("a retry waiting when the session is lost rejects with connection_lost, unsent", async () => {
      const room = "js-retry-lost";
      const { Tracked, sockets } = trackedWebSocket();
      const alice = newClient(env.RTCSIGNAL_A_URL, "alice");
      // reconnect after about 600 ms (past the grace), retry after about 1.2 s
      const bob = newClient(env.RTCSIGNAL_B_URL, "bob", {
        WebSocket: Tracked,
        minDelay: 600,
        maxDelay: 600,
        random: () => 0.99,
      });
      try {
        await joined(room, alice, bob);
        const before = await unavailable();
        await stopOwner();
        try {
          const sent = bob.request({ type: "chat", room, text: "maybe" });
          sent.catch(() => {}); // awaited below
          for (let i = 0; (await unavailable()) === before; i++) {
            assert.ok(i < WAIT / 10, "no refusal");
            await sleep(10);
          }
          const lost = bob.waitFor("session_lost", () => true, WAIT);
          sockets.at(-1).terminate(); // the network fails while the retry waits
          await lost;
          await assert.rejects(sent, { code: "connection_lost" });
        } finally {
          continueOwner();
        }
        assert.equal(await unavailable(), before + 1); // the retry was never sent
      } finally {
        alice.close();
        bob.close();
      }
    });
  });
} else describe("retries after backplane_unavailable against a real cluster", { timeout: 6 * WAIT }, () => {
  test("a request refused while the owner is paused is retried and applied once", async () => {
    const room = "js-retry-once";
    const alice = newClient(env.RTCSIGNAL_A_URL, "alice");
    const bob = newClient(env.RTCSIGNAL_B_URL, "bob");
    try {
      await joined(room, alice, bob);
      const before = await unavailable();
      const chats = chatsUntil(alice, "after");
      let sent;
      await stopOwner();
      try {
        sent = bob.request({ type: "chat", room, text: "once" });
        sent.catch(() => {}); // awaited below
        await sleep(REQUEST_TIMEOUT + 300); // past the edge's deadline, before the retry
      } finally {
        continueOwner();
      }
      assert.equal(await sent, null); // the request succeeded ...
      assert.ok((await unavailable()) > before); // ... after at least one refusal
      await bob.request({ type: "chat", room, text: "after" });
      assert.deepEqual(await chats, ["once", "after"]); // applied once
    } finally {
      alice.close();
      bob.close();
    }
  });

  test("a retry waiting across a dropped socket goes out after the resume, once", async () => {
    const room = "js-retry-resume";
    const { Tracked, sockets } = trackedWebSocket();
    const alice = newClient(env.RTCSIGNAL_A_URL, "alice");
    const bob = newClient(env.RTCSIGNAL_B_URL, "bob", { WebSocket: Tracked, minDelay: 20, maxDelay: 50 });
    try {
      await joined(room, alice, bob);
      const before = await unavailable();
      const chats = chatsUntil(alice, "after");
      let sent;
      await stopOwner();
      try {
        sent = bob.request({ type: "chat", room, text: "once" });
        sent.catch(() => {}); // awaited below
        for (let i = 0; (await unavailable()) === before; i++) {
          assert.ok(i < WAIT / 10, "no refusal");
          await sleep(10);
        }
        const resumed = bob.waitFor("welcome", (w) => w.resumed, WAIT);
        sockets.at(-1).terminate(); // the network fails while the retry waits
        await resumed;
      } finally {
        continueOwner();
      }
      assert.equal(await sent, null);
      await bob.request({ type: "chat", room, text: "after" });
      assert.deepEqual(await chats, ["once", "after"]); // applied once
    } finally {
      alice.close();
      bob.close();
    }
  });

  test("retries are bounded by retryUnavailable, then the error rejects", async () => {
    const room = "js-retry-bounded";
    const alice = newClient(env.RTCSIGNAL_A_URL, "alice");
    const bob = newClient(env.RTCSIGNAL_B_URL, "bob", { retryUnavailable: 1, random: () => 0 });
    try {
      await joined(room, alice, bob);
      const before = await unavailable();
      const chats = chatsUntil(alice, "after");
      await stopOwner();
      try {
        await assert.rejects(bob.request({ type: "chat", room, text: "maybe" }), (err) => {
          assert.equal(err.code, "backplane_unavailable");
          assert.equal(err.retryAfter, 1);
          return true;
        });
      } finally {
        continueOwner();
      }
      assert.equal(await unavailable(), before + 2); // the first send and one retry
      await bob.request({ type: "chat", room, text: "after" });
      const texts = await chats;
      assert.ok(texts.filter((t) => t === "maybe").length <= 1, String(texts)); // never twice
    } finally {
      alice.close();
      bob.close();
    }
  });

  test("retryUnavailable: 0 rejects at the first refusal", async () => {
    const room = "js-retry-none";
    const alice = newClient(env.RTCSIGNAL_A_URL, "alice");
    const bob = newClient(env.RTCSIGNAL_B_URL, "bob", { retryUnavailable: 0 });
    try {
      await joined(room, alice, bob);
      const before = await unavailable();
      await stopOwner();
      try {
        await assert.rejects(bob.request({ type: "chat", room, text: "maybe" }), { code: "backplane_unavailable" });
      } finally {
        continueOwner();
      }
      assert.equal(await unavailable(), before + 1);
    } finally {
      alice.close();
      bob.close();
    }
  });
});
