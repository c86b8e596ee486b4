/**
 * rtcsignal.js: a dependency-free browser client for the rtcsignal wire protocol v1.
 *
 * Two classes, both plain ES module exports (no build step, no globals):
 *
 * - {@link SignalingClient}: one WebSocket to the server, JSON text frames. It says
 *   `hello` (or resumes with the resume token and `last_seq` kept in `sessionStorage`,
 *   so a page reload resumes the same session), matches replies to requests by `id`
 *   (promises rejected with a {@link SignalingError} carrying `.code`), delivers events
 *   by `type`, pings at the server's `limits.ping_interval`, reconnects with exponential
 *   backoff and jitter, queues sends while reconnecting, re-sends requests left
 *   unanswered by a dropped socket with their `id` after the resume (the server applies
 *   each once and answers the re-send with its first reply), re-sends a request refused
 *   with `backplane_unavailable` (a cluster's owner of the room did not answer in time)
 *   after its `retry_after`, with its `id`, a bounded number of times, checks `seq` for
 *   gaps, and keeps a model of every room it is in (snapshot + events), persisted with
 *   `last_seq`.
 * - {@link PeerMesh}: one `RTCPeerConnection` per remote participant of a room, with W3C
 *   *perfect negotiation* (politeness from the join order, exactly as the server decides
 *   glare), candidate buffering until the remote description is set, ICE restart when
 *   ICE fails, peer replacement when a remote page reloaded, and cleanup on leave.
 *
 * Text fields (names, chat, reasons) are text, never HTML: render them with
 * `textContent`. Nothing in this module touches the DOM.
 *
 * @example
 *   import { SignalingClient, PeerMesh } from "/rtcsignal.js";
 *   const client = new SignalingClient("wss://example.com/ws", { token: () => getToken() });
 *   await client.connect();
 *   const snapshot = await client.request({ type: "join", room: "standup", name: "Ada" });
 *   const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 *   const mesh = new PeerMesh(client, "standup", { stream: local });
 *   mesh.addEventListener("track", (e) => showVideo(e.detail.id, e.detail.stream));
 *   mesh.start();
 *
 * @module rtcsignal
 */

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/** Close codes after which the client does not reconnect on its own. */
const FINAL_CLOSE_CODES = new Set([
  4000, // session taken over by a newer connection (another tab) or replaced
]);

/** Chat messages kept in a room's model (the server's history is the last 100 too). */
const CHAT_KEEP = 100;

/**
 * ICE candidates a `PeerMesh` keeps per peer while they cannot be used yet: remote ones
 * that arrive before the remote description, and its own ones gathered before its
 * description was sent. A browser gathers a few dozen per connection; past this many the
 * newest are dropped (and counted in the peer's `droppedCandidates`, logged once), so a
 * peer that floods candidates cannot grow the page's memory without bound.
 */
export const MAX_EARLY_CANDIDATES = 200;

/**
 * Append `candidate` to `buffer` unless it holds `limit` already.
 * @returns {boolean} whether it was kept.
 */
export function bufferCandidate(buffer, candidate, limit = MAX_EARLY_CANDIDATES) {
  if (buffer.length >= limit) return false;
  buffer.push(candidate);
  return true;
}

/** Request ids reserved in storage at a time (one storage write per this many requests). */
const ID_BLOCK = 64;
/** Close codes this client uses itself (4000-4999 is the application range). */
const CLOSE_NO_PONG = 4901;
const CLOSE_SEQ_GAP = 4902;
/**
 * Re-sending a request refused with `backplane_unavailable`: the wait when the error
 * has no `retry_after` (the server's own value, about one lease renewal cycle), the
 * longest wait whatever it says (a bounded request beats a huge value), and the
 * fraction of it added at random (clients refused together by one stalled owner do not
 * all come back in the same instant).
 */
const UNAVAILABLE_RETRY_AFTER = 1000;
const MAX_UNAVAILABLE_WAIT = 10000;
const UNAVAILABLE_JITTER = 0.2;

/**
 * An `error` reply from the server (or a local failure such as a timeout).
 * `code` is the protocol's stable error code (`room_full`, `glare`, ...), or one of the
 * local codes `timeout`, `connection_lost`, `closed`, `queue_full`.
 */
export class SignalingError extends Error {
  /**
   * @param {string} code stable error code
   * @param {string} message human-readable text (text, not HTML)
   * @param {object} [extra] `details` and `retry_after` of the server's error
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "SignalingError";
    /** @type {string} */
    this.code = code;
    /** @type {object|undefined} */
    this.details = extra.details;
    /** @type {number|undefined} */
    this.retryAfter = extra.retry_after;
  }
}

function emptyStorage() {
  const data = new Map();
  return {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
}

/** `welcome.ice_servers` in the shape of `RTCConfiguration.iceServers`. */
function iceServersOf(welcome) {
  return (welcome.ice_servers ?? []).map(({ urls, username, credential }) => {
    const server = { urls: [...urls] };
    if (username !== undefined) server.username = username;
    if (credential !== undefined) server.credential = credential;
    return server;
  });
}

function defaultStorage() {
  try {
    return globalThis.sessionStorage ?? emptyStorage();
  } catch {
    return emptyStorage(); // sessionStorage can throw in sandboxed frames
  }
}

/**
 * The signaling connection.
 *
 * Events (use `client.on(type, fn)`, which passes the message itself, or
 * `addEventListener(type, e => e.detail)`):
 *
 * - every server event by its `type`: `participant_joined`, `offer`, `chat`,
 *   `incoming_call`, `room_snapshot`, ... (after the room model is updated);
 * - `message`: every event and reply, as received;
 * - `welcome`: after each successful `hello` (`detail.resumed`, `detail.gap`);
 * - `gap`: the server could not replay what was missed; a `room_snapshot` per room follows;
 * - `session_lost`: resuming failed (`detail.rooms`: the rooms the old session was in);
 *   a fresh session was started, re-join what you need;
 * - `state`: `detail.state` is `connecting`, `open`, `reconnecting` or `closed`;
 * - `disconnected`: the socket closed (`detail.code`, `detail.reason`, `detail.retryIn`);
 * - `auth_failed`: the server refused the credentials (close 4003);
 * - `server_error`: an `error` without an `id` (a refused request sent without one).
 */
export class SignalingClient extends EventTarget {
  /**
   * @param {string} url the WebSocket URL, e.g. `wss://host/ws`
   * @param {object} [options]
   * @param {string|function():(string|null|Promise<string|null>)} [options.token]
   *   a token (or a function returning one, called for every connection attempt),
   *   sent as the `token` query parameter
   * @param {Storage|null} [options.storage] where the resume state lives
   *   (default `sessionStorage`: per tab, survives reloads); `null` keeps it in memory
   * @param {string} [options.storageKey] the storage key (default `"rtcsignal"`)
   * @param {boolean} [options.reconnect] reconnect automatically (default true)
   * @param {number} [options.minDelay] first reconnect delay in ms (default 250)
   * @param {number} [options.maxDelay] largest reconnect delay in ms (default 10000)
   * @param {number} [options.requestTimeout] ms before a request rejects with `timeout`
   *   (default 15000)
   * @param {number} [options.maxQueued] most messages queued while disconnected (500)
   * @param {number} [options.retryUnavailable] times a request refused with
   *   `backplane_unavailable` is re-sent (same `id`, after `retry_after`) before it
   *   rejects (default 3; 0: never)
   * @param {function():number} [options.random] a number in [0, 1) for the jitter of
   *   retries and reconnects (default `Math.random`; tests)
   * @param {function} [options.WebSocket] WebSocket constructor (tests)
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = {
      token: null,
      storageKey: "rtcsignal",
      reconnect: true,
      minDelay: 250,
      maxDelay: 10000,
      requestTimeout: 15000,
      maxQueued: 500,
      retryUnavailable: 3,
      random: Math.random,
      WebSocket: globalThis.WebSocket,
      ...options,
    };
    this.storage = options.storage === undefined ? defaultStorage() : options.storage ?? emptyStorage();
    /** `idle`, `connecting`, `open`, `reconnecting` or `closed`. */
    this.state = "idle";
    /** The last `welcome` (`resumed`, `gap`, ...), and its session id, user id and limits. */
    this.welcome = null;
    this.session = null;
    this.user = null;
    this.limits = null;
    /**
     * The STUN/TURN servers of the last `welcome`, as `RTCPeerConnection` takes them
     * (`[{urls, username, credential}]`, TURN credentials minted for this connection);
     * `[]` before it or when the server configures none. {@link PeerMesh} uses them.
     */
    this.iceServers = [];
    /** The highest `seq` processed. */
    this.lastSeq = 0;
    /** Room models by room id: see {@link SignalingClient#room}. */
    this.rooms = new Map();
    this._resumeToken = null;
    this._resync = false;
    this._ws = null;
    this._welcomed = false;
    this._nextId = 1;
    this._idsReserved = 1; // ids below it are persisted as used (a reloaded page starts there)
    this._pending = new Map();
    this._queue = [];
    this._attempt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._wanted = false;
    this._connectWaiters = [];
    this._restore();
  }

  // ------------------------------------------------------------------ public API

  /**
   * Connect (or resume the session kept in storage). Resolves with the first `welcome`;
   * later reconnects happen on their own.
   * @returns {Promise<object>} the `welcome` message
   */
  connect() {
    this._wanted = true;
    const done = new Promise((resolve, reject) => this._connectWaiters.push({ resolve, reject }));
    if (this._ws === null && this._retryTimer === null) this._open();
    if (this._welcomed) this._settleConnect(null, this.welcome);
    return done;
  }

  /**
   * Close for good: no reconnect; pending requests reject with `closed`.
   * @param {boolean} [forget] also drop the stored resume state (the session ends
   *   on the server after its grace period)
   */
  close(forget = false) {
    this._wanted = false;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._stopPing();
    const ws = this._ws;
    this._ws = null;
    this._welcomed = false;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
    this._failPending("closed", "the client was closed");
    for (const item of this._queue) item.reject?.(new SignalingError("closed", "the client was closed"));
    this._queue = [];
    if (forget) {
      this._resumeToken = null;
      this.rooms.clear();
      this.storage.removeItem(this.options.storageKey);
    }
    this._setState("closed");
  }

  /**
   * Send a request and wait for its reply. An `id` is assigned. Queued while the
   * connection is down; sent after the next `welcome`. Refused with
   * `backplane_unavailable`, it is re-sent with the same `id` after `retry_after`, up to
   * `options.retryUnavailable` times, before it rejects with that error.
   * @param {object} message e.g. `{type: "join", room: "standup", name: "Ada"}`
   * @param {object} [opts]
   * @param {number} [opts.timeout] ms each send waits for its reply (default `options.requestTimeout`)
   * @returns {Promise<object|null>} the `ok`'s `result` (or `null`), or the `pong`
   * @throws {SignalingError} on an `error` reply (`.code`), a timeout or a lost connection
   */
  request(message, opts = {}) {
    const id = this._takeId();
    const frame = { ...message, id };
    return new Promise((resolve, reject) => {
      const timeout = opts.timeout ?? this.options.requestTimeout;
      const entry = { frame, resolve, reject, timer: null, sent: false, retries: 0, waiting: false };
      entry.arm = () => {
        // Each send (the first, and each retry) waits `timeout` for its reply.
        entry.timer = setTimeout(() => {
          this._pending.delete(id);
          const at = this._queue.indexOf(entry);
          if (at >= 0) this._queue.splice(at, 1);
          reject(new SignalingError("timeout", `no reply to ${message.type} within ${timeout} ms`));
        }, timeout);
      };
      entry.arm();
      this._pending.set(id, entry);
      this._enqueue(entry);
    });
  }

  /**
   * Moderator: remove participant `target` from `roomId`. With `ban` its user (every
   * device) is kept out, for `duration` seconds or until the room ends; the banned
   * user's later joins fail with `banned` (`retryAfter` for a timed ban).
   * @param {string} roomId
   * @param {string} target participant id
   * @param {{reason?: string, ban?: boolean, duration?: number}} [options]
   * @returns {Promise<null>}
   */
  kick(roomId, target, options = {}) {
    const frame = { type: "kick", room: roomId, target };
    if (options.reason !== undefined) frame.reason = options.reason;
    if (options.ban) frame.ban = true;
    if (options.duration !== undefined) frame.duration = options.duration;
    return this.request(frame);
  }

  /**
   * Moderator: lift the ban of user `user` in `roomId`.
   * @param {string} roomId
   * @param {string} user the banned user's id (see the snapshot's `bans`)
   * @returns {Promise<null>}
   */
  unban(roomId, user) {
    return this.request({ type: "unban", room: roomId, user });
  }

  /**
   * Change this participant's display `name` and/or application `metadata` (an object
   * of at most 1,024 bytes as JSON) in `roomId`; omitted fields are unchanged. The others
   * get `participant_updated`; this client's room model is updated on the `ok`.
   * @param {string} roomId
   * @param {{name?: string, metadata?: object}} changes
   * @returns {Promise<null>}
   */
  updateMe(roomId, changes) {
    const frame = { type: "update_me", room: roomId };
    if (changes.name !== undefined) frame.name = changes.name;
    if (changes.metadata !== undefined) frame.metadata = changes.metadata;
    return this.request(frame);
  }

  /**
   * Send a message without waiting for a reply (no `id`: the server replies only with an
   * `error`, delivered as a `server_error` event). Queued while disconnected.
   * @param {object} message
   */
  send(message) {
    const frame = { ...message };
    this._enqueue({ frame, resolve: null, reject: null, sent: false });
    if (this._applyOwn(frame)) this._persist(); // no ok to wait for: apply it now
  }

  /**
   * Listen to one message type (or a lifecycle event). The listener gets the message.
   * @param {string} type
   * @param {function(object):void} listener
   * @returns {function():void} call it to stop listening
   */
  on(type, listener) {
    const wrapped = (event) => listener(event.detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * Resolve with the next message of `type` that satisfies `predicate`.
   * @param {string} type
   * @param {function(object):boolean} [predicate]
   * @param {number} [timeout] ms (default `options.requestTimeout`)
   * @returns {Promise<object>}
   */
  waitFor(type, predicate = () => true, timeout = this.options.requestTimeout) {
    return new Promise((resolve, reject) => {
      const off = this.on(type, (msg) => {
        if (!predicate(msg)) return;
        clearTimeout(timer);
        off();
        resolve(msg);
      });
      const timer = setTimeout(() => {
        off();
        reject(new SignalingError("timeout", `no ${type} within ${timeout} ms`));
      }, timeout);
    });
  }

  /**
   * The model of a room this session is in, kept up to date from the join snapshot and
   * the room's events (and restored after a reload):
   * `{room, you, host, locked, capacity, join_policy, layout, recording, call, lobby,
   *   bans, chat, waiting, participants: {[id]: {id, user, name, role, order, state,
   *   audio, video, screen, hand, metadata?, hidden?}}}`. `waiting` is true while in the
   *   lobby; `lobby`, `bans` and hidden participants are filled for hosts and moderators.
   * @param {string} roomId
   * @returns {object|undefined}
   */
  room(roomId) {
    return this.rooms.get(roomId);
  }

  /**
   * Drop a room's model (e.g. a call's room once the call has ended).
   * @param {string} roomId
   */
  forgetRoom(roomId) {
    if (this.rooms.delete(roomId)) this._persist();
  }

  /**
   * Forget the stored session (a fresh `hello` on the next connection).
   */
  forgetSession() {
    this._resumeToken = null;
    this.lastSeq = 0;
    this.rooms.clear();
    this.storage.removeItem(this.options.storageKey);
  }

  // ------------------------------------------------------------------ connection

  async _open() {
    this._setState(this._attempt === 0 && this.state !== "reconnecting" ? "connecting" : "reconnecting");
    let url = this.url;
    try {
      const token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
      if (token) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
    } catch (err) {
      this._scheduleReconnect(0, `token unavailable: ${err}`);
      return;
    }
    if (!this._wanted) return;
    let ws;
    try {
      ws = new this.options.WebSocket(url);
    } catch (err) {
      this._scheduleReconnect(0, String(err));
      return;
    }
    this._ws = ws;
    this._welcomed = false;
    ws.onopen = () => this._hello();
    ws.onmessage = (event) => {
      if (typeof event.data === "string") this._receive(event.data);
    };
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._onClosed(event.code, event.reason);
    };
    ws.onerror = () => {
      /* a close event always follows */
    };
  }

  _hello(fresh = false) {
    const hello = { type: "hello", version: PROTOCOL_VERSION, id: this._takeId() };
    if (this._resumeToken && !fresh) {
      hello.resume = this._resumeToken;
      hello.last_seq = this.lastSeq;
    }
    this._helloId = hello.id;
    this._helloResumed = Boolean(hello.resume);
    this._rawSend(hello);
  }

  /**
   * The next request id. Ids stay unique within a session across its connections and
   * page reloads (the server answers a re-sent id with its first reply): blocks of
   * `ID_BLOCK` are reserved in storage before they are used.
   */
  _takeId() {
    const id = this._nextId++;
    if (id >= this._idsReserved) {
      this._idsReserved = id + ID_BLOCK;
      this._persist();
    }
    return id;
  }

  _rawSend(frame) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  _onWelcome(welcome) {
    const resumedOk = welcome.resumed;
    if (!resumedOk) {
      // A fresh session: room memberships of any previous session are gone.
      this.rooms.clear();
      this.lastSeq = 0;
      this._resync = false;
    } else if (welcome.gap) {
      // Whatever was missed is not replayed: a fresh room_snapshot per room follows.
      this._resync = true;
    }
    this.welcome = welcome;
    this.session = welcome.session;
    this.user = welcome.user;
    this.limits = welcome.limits ?? null;
    this.iceServers = iceServersOf(welcome);
    this._resumeToken = welcome.resume_token;
    this._welcomed = true;
    this._attempt = 0;
    this._persist();
    this._setState("open");
    this._startPing();
    this._dispatch("welcome", welcome);
    if (resumedOk && welcome.gap) this._dispatch("gap", welcome);
    this._settleConnect(null, welcome);
    this._flush();
  }

  _onClosed(code, reason) {
    this._welcomed = false;
    this._stopPing();
    // Replies to requests already sent may be lost with the socket: after the resume
    // they are re-sent first, in order, with their own id; the server answers a request
    // it already applied with its first reply (exactly once).
    const unanswered = [];
    for (const entry of this._pending.values()) {
      if (!entry.sent) continue;
      entry.sent = false;
      entry.resent = true;
      unanswered.push(entry);
    }
    unanswered.sort((a, b) => a.frame.id - b.frame.id);
    this._queue = [...unanswered, ...this._queue.filter((e) => !unanswered.includes(e))];
    if (code === 4003) this._dispatch("auth_failed", { code, reason });
    const final = FINAL_CLOSE_CODES.has(code) || !this.options.reconnect || !this._wanted;
    if (final) {
      this._loseResent(); // no resume follows
      this._dispatch("disconnected", { code, reason, retryIn: null });
      this._wanted = false;
      this._settleConnect(new SignalingError("closed", `closed (${code}) ${reason || ""}`.trim()));
      this._setState("closed");
      return;
    }
    // Abuse (1008) waits longer before trying again.
    this._scheduleReconnect(code, reason, code === 1008 ? 4 : 1);
  }

  _scheduleReconnect(code, reason, factor = 1) {
    if (!this._wanted) return;
    const { minDelay, maxDelay } = this.options;
    const base = Math.min(maxDelay, minDelay * 2 ** this._attempt) * factor;
    // "Equal jitter": half fixed, half random, so a server restart is not a stampede.
    const delay = Math.round(base / 2 + this.options.random() * (base / 2));
    this._attempt += 1;
    this._setState("reconnecting");
    this._dispatch("disconnected", { code, reason, retryIn: delay });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this._wanted) this._open();
    }, delay);
  }

  _settleConnect(error, welcome) {
    const waiters = this._connectWaiters;
    this._connectWaiters = [];
    for (const w of waiters) (error ? w.reject(error) : w.resolve(welcome));
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._dispatch("state", { state });
  }

  _startPing() {
    this._stopPing();
    const interval = (this.limits?.ping_interval ?? 20) * 1000;
    const timeout = (this.limits?.ping_timeout ?? 45) * 1000;
    this._pingTimer = setInterval(() => {
      if (!this._welcomed) return;
      const ws = this._ws;
      this.request({ type: "ping" }, { timeout: Math.max(1000, timeout - interval) }).catch((err) => {
        // No pong: the socket is dead without knowing it. Drop it and resume.
        if (err.code === "timeout" && this._ws === ws && ws) this._drop(CLOSE_NO_PONG, "no pong");
      });
    }, interval);
  }

  /** Give up on the current socket now (without waiting for its closing handshake) and reconnect. */
  _drop(code, reason) {
    const ws = this._ws;
    if (!ws) return;
    this._ws = null;
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
    this._onClosed(code, reason);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _enqueue(entry) {
    if (this._welcomed && this._queue.length === 0 && this._rawSend(entry.frame)) {
      entry.sent = true;
      return;
    }
    if (this._queue.length >= this.options.maxQueued) {
      const err = new SignalingError("queue_full", "too many messages queued while disconnected");
      if (entry.reject) {
        this._pending.delete(entry.frame.id);
        clearTimeout(entry.timer);
        entry.reject(err);
      }
      return;
    }
    this._queue.push(entry);
  }

  _flush() {
    while (this._queue.length && this._welcomed) {
      const entry = this._queue[0];
      if (!this._rawSend(entry.frame)) return;
      entry.sent = true;
      this._queue.shift();
    }
  }

  /**
   * A new session remembers nothing: requests re-queued for the resume, and those
   * waiting to be retried after `backplane_unavailable` (the old session's owner may
   * have applied them), fail instead of being applied a second time.
   */
  _loseResent() {
    const lost = this._queue.filter((e) => e.resent);
    this._queue = this._queue.filter((e) => !e.resent);
    for (const entry of this._pending.values()) if (entry.waiting) lost.push(entry);
    for (const entry of lost) {
      this._pending.delete(entry.frame.id);
      clearTimeout(entry.timer);
      entry.reject(new SignalingError("connection_lost", "the session ended before the reply"));
    }
  }

  _failPending(code, message) {
    for (const [id, entry] of this._pending) {
      this._pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new SignalingError(code, message));
    }
  }

  // ------------------------------------------------------------------ receiving

  _receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    if (msg.id !== undefined && msg.id === this._helloId && (msg.type === "welcome" || msg.type === "error")) {
      this._helloId = undefined;
      if (msg.type === "welcome") {
        this._onWelcome(msg);
      } else if (msg.code === "resume_failed" && this._helloResumed) {
        // The session expired (or the identity changed): start a fresh one.
        const rooms = [...this.rooms.keys()];
        this._loseResent();
        this.forgetSession();
        this._dispatch("session_lost", { rooms, code: msg.code, message: msg.message });
        this._hello(true);
      } else {
        this._wanted = false;
        this._settleConnect(new SignalingError(msg.code, msg.message, msg));
        this._ws?.close(1000, "hello refused");
      }
      return;
    }
    if (msg.type === "ok" || msg.type === "error" || msg.type === "pong") {
      const entry = msg.id === undefined ? undefined : this._pending.get(msg.id);
      if (entry) {
        this._pending.delete(msg.id);
        clearTimeout(entry.timer);
        if (msg.type === "error" && this._retry(entry, msg)) {
          // re-sent later, with its id: nothing settles yet
        } else if (msg.type === "error") {
          entry.reject(new SignalingError(msg.code, msg.message, msg));
        } else {
          this._applyReply(entry.frame, msg.result ?? null);
          entry.resolve(msg.type === "pong" ? msg : msg.result ?? null);
        }
        this._dispatch("message", msg);
        return;
      }
      if (msg.type === "error") {
        this._dispatch("server_error", msg);
        this._dispatch("message", msg);
        return;
      }
    }
    if (typeof msg.seq === "number") {
      if (this._resync) {
        this._resync = false;
      } else if (msg.seq <= this.lastSeq) {
        return; // already processed (replayed twice)
      } else if (msg.seq > this.lastSeq + 1) {
        // Frames were lost: resume from the last one processed (the server replays).
        this._drop(CLOSE_SEQ_GAP, "seq gap");
        return;
      }
      this.lastSeq = msg.seq;
      this._applyEvent(msg);
      this._persist();
    }
    this._dispatch(msg.type, msg);
    this._dispatch("message", msg);
  }

  /**
   * Re-send `entry` later if `error` is a `backplane_unavailable` it may still retry:
   * after `retry_after` (plus jitter), with the same frame and `id` (the server answers
   * a retry of a request it applied meanwhile with its first outcome), never two at once.
   * @returns {boolean} whether a retry is scheduled
   */
  _retry(entry, error) {
    const { retryUnavailable } = this.options;
    const limit = Number.isFinite(retryUnavailable) ? retryUnavailable : 3; // never unbounded
    if (error.code !== "backplane_unavailable" || entry.retries >= limit) return false;
    entry.retries += 1;
    entry.sent = false;
    entry.waiting = true;
    entry.resent = true; // a session reset while it is queued: connection_lost, not re-applied
    this._pending.set(entry.frame.id, entry);
    const asked =
      typeof error.retry_after === "number" && error.retry_after > 0 ? error.retry_after * 1000 : UNAVAILABLE_RETRY_AFTER;
    const wait = Math.min(asked, MAX_UNAVAILABLE_WAIT) * (1 + UNAVAILABLE_JITTER * this.options.random());
    entry.timer = setTimeout(() => {
      entry.waiting = false;
      entry.arm();
      this._enqueue(entry);
    }, wait);
    return true;
  }

  _dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // ------------------------------------------------------------------ room models

  /**
   * The server tells the *others* about a sender's own `media_state`, `update_me`,
   * `lock`, `set_layout` and `recording` (the sender's confirmation is its `ok`): apply
   * them to the sender's model here. Returns whether the model changed.
   */
  _applyOwn(frame) {
    const room = frame.room === undefined ? undefined : this.rooms.get(frame.room);
    if (!room) return false;
    switch (frame.type) {
      case "media_state": {
        const me = room.participants[room.you];
        if (!me) return false;
        for (const key of ["audio", "video", "screen", "hand"]) if (typeof frame[key] === "boolean") me[key] = frame[key];
        return true;
      }
      case "update_me": {
        const me = room.participants[room.you];
        if (!me) return false;
        if (frame.name !== undefined) me.name = frame.name;
        if (frame.metadata !== undefined) me.metadata = frame.metadata;
        return true;
      }
      case "lock":
        room.locked = Boolean(frame.locked);
        return true;
      case "set_layout":
        room.layout = frame.layout;
        return true;
      case "recording":
        room.recording = { start: "recording", resume: "recording", pause: "paused", stop: "idle" }[frame.action] ?? room.recording;
        return true;
      default:
        return false;
    }
  }

  _applyReply(frame, result) {
    if (this._applyOwn(frame)) {
      this._persist();
      return;
    }
    if (result && result.type === "room_snapshot") {
      this._applySnapshot(result);
    } else if (result && result.type === "lobby_wait") {
      this.rooms.set(result.room, { ...this._blankRoom(result.room), you: result.you, waiting: true });
    } else if (frame.type === "leave") {
      this.rooms.delete(frame.room);
    } else if (frame.type === "call_invite" && result && result.type === "call") {
      // The caller joins the call's room without a snapshot. A new call's caller joined
      // first (order 0 < everyone else's); answering a crossing invitation, order unknown.
      if (!this.rooms.has(result.room)) {
        const room = this._blankRoom(result.room);
        room.call = result.id;
        room.myOrder = result.caller === this.user ? 0 : null;
        this.rooms.set(result.room, room);
      }
    } else {
      return;
    }
    this._persist();
  }

  _blankRoom(roomId) {
    return {
      room: roomId,
      you: null,
      host: null,
      locked: false,
      capacity: null,
      join_policy: "open",
      layout: null,
      recording: "idle",
      call: null,
      lobby: [],
      bans: [],
      chat: [],
      waiting: false,
      myOrder: null,
      participants: {},
    };
  }

  _applySnapshot(snap) {
    const room = this._blankRoom(snap.room);
    Object.assign(room, {
      you: snap.you,
      host: snap.host ?? null,
      locked: snap.locked,
      capacity: snap.capacity,
      join_policy: snap.join_policy,
      layout: snap.layout ?? null,
      recording: snap.recording,
      call: snap.call ?? null,
      lobby: snap.lobby ?? [],
      bans: snap.bans ?? [],
      chat: (snap.chat ?? []).slice(-CHAT_KEEP),
    });
    for (const p of snap.participants ?? []) room.participants[p.id] = p;
    room.myOrder = room.participants[snap.you]?.order ?? null;
    this.rooms.set(snap.room, room);
  }

  _applyEvent(msg) {
    if (msg.type === "room_snapshot") {
      this._applySnapshot(msg);
      return;
    }
    const room = msg.room === undefined ? undefined : this.rooms.get(msg.room);
    if (!room) return;
    switch (msg.type) {
      case "participant_joined":
      case "participant_updated":
        room.participants[msg.participant.id] = msg.participant;
        break;
      case "participant_left":
        delete room.participants[msg.participant];
        break;
      case "role_changed":
        if (room.participants[msg.participant]) room.participants[msg.participant].role = msg.role;
        break;
      case "host_changed":
        room.host = msg.host;
        break;
      case "room_updated":
        room.locked = msg.locked;
        room.layout = msg.layout ?? null;
        room.recording = msg.recording;
        break;
      case "lobby_updated":
        room.lobby = msg.lobby ?? [];
        break;
      case "bans_updated":
        room.bans = msg.bans ?? [];
        break;
      case "chat":
        room.chat.push({ type: "chat", room: msg.room, from: msg.from, text: msg.text });
        if (room.chat.length > CHAT_KEEP) room.chat.splice(0, room.chat.length - CHAT_KEEP);
        break;
      case "removed":
        this.rooms.delete(msg.room);
        break;
      default:
        break;
    }
  }

  /**
   * Record a chat message this client sent (the server does not echo it) in the room
   * model, so it survives a reload.
   * @param {string} roomId
   * @param {string} text
   */
  recordOwnChat(roomId, text) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.chat.push({ type: "chat", room: roomId, from: room.you, text });
    if (room.chat.length > CHAT_KEEP) room.chat.splice(0, room.chat.length - CHAT_KEEP);
    this._persist();
  }

  _persist() {
    try {
      this.storage.setItem(
        this.options.storageKey,
        JSON.stringify({
          token: this._resumeToken,
          session: this.session,
          user: this.user,
          lastSeq: this.lastSeq,
          nextId: this._idsReserved,
          rooms: [...this.rooms.values()],
        }),
      );
    } catch {
      /* storage full or unavailable: resume still works in memory */
    }
  }

  _restore() {
    let saved = null;
    try {
      saved = JSON.parse(this.storage.getItem(this.options.storageKey) || "null");
    } catch {
      saved = null;
    }
    if (!saved || typeof saved.token !== "string") return;
    this._resumeToken = saved.token;
    this.session = saved.session ?? null;
    this.user = saved.user ?? null;
    this.lastSeq = Number.isInteger(saved.lastSeq) ? saved.lastSeq : 0;
    if (Number.isInteger(saved.nextId) && saved.nextId > 0) this._nextId = this._idsReserved = saved.nextId;
    for (const room of saved.rooms ?? []) if (room && typeof room.room === "string") this.rooms.set(room.room, room);
  }
}

// ====================================================================== PeerMesh

const KINDS = ["audio", "video"];

function sdpSessionId(sdp) {
  const match = /^o=\S+ (\d+) /m.exec(sdp || "");
  return match ? match[1] : null;
}

/**
 * One `RTCPeerConnection` per remote participant of a room, negotiated over a
 * {@link SignalingClient} with the W3C *perfect negotiation* pattern.
 *
 * - **Politeness** comes from the join order, as the server decides glare: in each pair
 *   the later joiner (higher `order`) is polite. The polite side rolls back its own offer
 *   when offers cross (also when the server answers its offer with `glare`); the
 *   impolite side ignores the polite side's crossing offer.
 * - **Who offers**: the newcomer (and a page that reloaded and resumed) creates its peer
 *   connections at {@link PeerMesh#start} and offers; members already in the room create
 *   theirs when the newcomer's offer arrives. Renegotiation (ICE restart, tracks added
 *   later) may come from either side.
 * - **Candidates** received before the remote description is set are buffered and added
 *   right after it.
 * - **ICE restart**: when `iceConnectionState` becomes `failed`, `restartIce()`.
 * - **Reloads**: an offer from a new remote `RTCPeerConnection` (a different SDP session
 *   id) replaces the old connection to that participant.
 * - **Cleanup**: a participant who leaves (or is kicked) loses its connection; being
 *   removed from the room closes them all.
 * - **ICE servers** are the client's (`welcome.ice_servers`, read when each connection
 *   is made, so one made after a resume gets the fresh TURN credentials), unless
 *   `options.rtcConfig.iceServers` says otherwise.
 *
 * Events (`addEventListener`, `e.detail`):
 * `track` `{id, stream, track}`, `peerstate` `{id, state, iceState}`,
 * `peeradded` `{id}`, `peerremoved` `{id}`, `error` `{id, error}`,
 * `icecandidateerror` `{id, url, errorCode, errorText}` (e.g. 401: TURN refused the
 * credentials).
 */
export class PeerMesh extends EventTarget {
  /**
   * @param {SignalingClient} client a connected client that has joined `room`
   * @param {string} room the room id
   * @param {object} [options]
   * @param {MediaStream|null} [options.stream] local media to send (null: receive only)
   * @param {RTCConfiguration} [options.rtcConfig] e.g. `{iceTransportPolicy: "relay"}`;
   *   its `iceServers` (when given) replace the client's `iceServers` from `welcome`
   * @param {function(...any):void} [options.log] debug logger
   */
  constructor(client, room, options = {}) {
    super();
    this.client = client;
    this.room = room;
    this.rtcConfig = options.rtcConfig ?? {};
    this.log = options.log ?? (() => {});
    /** @type {Map<string, object>} peers by participant id */
    this.peers = new Map();
    this.stream = options.stream ?? null;
    /** The tracks sent, by kind (a screen share replaces `video`). */
    this.tracks = { audio: null, video: null };
    for (const kind of KINDS) this.tracks[kind] = this.stream?.getTracks().find((t) => t.kind === kind) ?? null;
    this._presence = new Map();
    this._offs = [];
    this._closed = false;
  }

  /**
   * Start: listen to the room's events and offer to every participant already there.
   * Call it once, after the join (or after a resumed page restored the room).
   */
  start() {
    const on = (type, fn) => this._offs.push(this.client.on(type, fn));
    const mine = (msg) => msg.room === this.room;
    on("offer", (m) => mine(m) && this._onDescription(m.from, { type: "offer", sdp: m.sdp }, m.negotiation));
    on("answer", (m) => mine(m) && this._onDescription(m.from, { type: "answer", sdp: m.sdp }));
    on("candidate", (m) => mine(m) && this._onCandidate(m.from, m));
    on("end_of_candidates", (m) => mine(m) && this._onCandidate(m.from, null));
    on("participant_left", (m) => mine(m) && this.removePeer(m.participant));
    on("participant_updated", (m) => mine(m) && this._onPresence(m.participant));
    on("removed", (m) => mine(m) && this.close());
    on("room_snapshot", (m) => mine(m) && this._reconcile());
    const model = this.client.room(this.room);
    for (const p of Object.values(model?.participants ?? {})) this._presence.set(p.id, p.state);
    this._reconcile();
  }

  /** Close every peer connection and stop listening. */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const off of this._offs) off();
    this._offs = [];
    for (const id of [...this.peers.keys()]) this.removePeer(id);
  }

  /**
   * Send `track` as this kind on every connection (`replaceTrack`: no renegotiation,
   * unless the connection was receive-only for this kind). Used for screen sharing
   * (`video` := the screen track) and back.
   * @param {"audio"|"video"} kind
   * @param {MediaStreamTrack|null} track
   */
  async replaceTrack(kind, track) {
    this.tracks[kind] = track;
    await Promise.all(
      [...this.peers.values()].map(async (peer) => {
        const tr = peer.transceivers[kind];
        if (!tr || !tr.sender) return;
        await tr.sender.replaceTrack(track).catch((e) => this.log("replaceTrack", e));
        // A receive-only connection starts sending: renegotiate (negotiationneeded).
        if (track && (tr.direction === "recvonly" || tr.direction === "inactive")) tr.direction = "sendrecv";
      }),
    );
  }

  /**
   * Per-peer connection state and received media, from `getStats()`.
   * @returns {Promise<Array<{id: string, connectionState: string, iceConnectionState:
   *   string, signalingState: string, bytesReceived: number, bytesSent: number}>>}
   */
  async stats() {
    const out = [];
    for (const [id, peer] of this.peers) {
      let bytesReceived = 0;
      let bytesSent = 0;
      try {
        const report = await peer.pc.getStats();
        report.forEach((s) => {
          if (s.type === "inbound-rtp") bytesReceived += s.bytesReceived ?? 0;
          if (s.type === "outbound-rtp") bytesSent += s.bytesSent ?? 0;
        });
      } catch {
        /* closed meanwhile */
      }
      out.push({
        id,
        connectionState: peer.pc.connectionState,
        iceConnectionState: peer.pc.iceConnectionState,
        signalingState: peer.pc.signalingState,
        bytesReceived,
        bytesSent,
      });
    }
    return out;
  }

  /**
   * Close the connection to one participant.
   * @param {string} id participant id
   */
  removePeer(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.closed = true;
    try {
      peer.pc.close();
    } catch {
      /* already closed */
    }
    this._dispatch("peerremoved", { id });
  }

  // ------------------------------------------------------------------ internals

  _dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _model() {
    return this.client.room(this.room);
  }

  /** Polite iff I joined later (higher order); unknown peers (offering first) joined earlier. */
  _polite(id) {
    const model = this._model();
    const peer = model?.participants?.[id];
    const mine = model?.myOrder ?? model?.participants?.[model?.you]?.order ?? null;
    if (!peer || typeof peer.order !== "number") return true;
    if (mine === null) return true;
    return mine > peer.order;
  }

  _reconcile() {
    if (this._closed) return;
    const model = this._model();
    if (!model) {
      this.close();
      return;
    }
    for (const id of [...this.peers.keys()]) if (!model.participants[id]) this.removePeer(id);
    for (const p of Object.values(model.participants)) {
      if (p.id === model.you || this.peers.has(p.id)) continue;
      this._createPeer(p.id, { initiate: true });
    }
  }

  _onPresence(info) {
    const before = this._presence.get(info.id);
    this._presence.set(info.id, info.state);
    if (before !== "reconnecting" || info.state !== "connected") return;
    // The peer's signaling dropped and came back: an offer of ours it never saw (or saw
    // in a page that has since reloaded) is sent again (a re-offer is always relayed).
    const peer = this.peers.get(info.id);
    if (peer && peer.pc.signalingState === "have-local-offer" && peer.pc.localDescription) {
      this._sendDescription(peer, peer.pc.localDescription);
    }
  }

  _createPeer(id, { initiate }) {
    const pc = new RTCPeerConnection({ iceServers: this.client.iceServers, ...this.rtcConfig });
    const peer = {
      id,
      pc,
      polite: this._polite(id),
      makingOffer: false,
      ignoreOffer: false,
      settingAnswer: false,
      candidates: [],
      transceivers: { audio: null, video: null },
      stream: new MediaStream(),
      remoteSession: null,
      chain: Promise.resolve(),
      closed: false,
      descriptionSent: false,
      heldCandidates: [],
    };
    this.peers.set(id, peer);
    pc.onnegotiationneeded = () => this._negotiate(peer);
    pc.onicecandidate = ({ candidate }) => this._sendCandidate(peer, candidate);
    pc.onicecandidateerror = ({ url, errorCode, errorText }) =>
      this._dispatch("icecandidateerror", { id, url, errorCode, errorText });
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] ?? peer.stream;
      if (!streams[0]) peer.stream.addTrack(track);
      peer.stream = stream;
      this._dispatch("track", { id, stream, track });
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === "failed" && !peer.closed) {
        this.log("ICE failed: restart", id);
        pc.restartIce();
      }
      this._dispatch("peerstate", { id, state: pc.connectionState, iceState: pc.iceConnectionState });
    };
    pc.onconnectionstatechange = () => {
      this._dispatch("peerstate", { id, state: pc.connectionState, iceState: pc.iceConnectionState });
    };
    if (initiate) this._addTransceivers(peer);
    this._dispatch("peeradded", { id });
    return peer;
  }

  /** Initiating side: one transceiver per kind (send what we have, receive both). */
  _addTransceivers(peer) {
    for (const kind of KINDS) {
      const track = this.tracks[kind];
      const init = { direction: track ? "sendrecv" : "recvonly" };
      if (this.stream) init.streams = [this.stream];
      peer.transceivers[kind] = peer.pc.addTransceiver(track ?? kind, init);
    }
  }

  /** Answering side, after the remote offer: send our tracks on the offered transceivers. */
  async _attachToOffered(peer) {
    for (const kind of KINDS) {
      if (peer.transceivers[kind]) continue;
      const tr = peer.pc
        .getTransceivers()
        .find((t) => !t.stopped && t.receiver.track?.kind === kind && !Object.values(peer.transceivers).includes(t));
      if (!tr) continue;
      peer.transceivers[kind] = tr;
      const track = this.tracks[kind];
      if (track) {
        tr.direction = "sendrecv";
        await tr.sender.replaceTrack(track);
        if (this.stream && tr.sender.setStreams) tr.sender.setStreams(this.stream);
      }
    }
  }

  async _negotiate(peer) {
    if (peer.closed) return;
    try {
      peer.makingOffer = true;
      await peer.pc.setLocalDescription();
      if (peer.pc.signalingState === "have-local-offer") await this._sendDescription(peer, peer.pc.localDescription);
    } catch (error) {
      this._error(peer, error);
    } finally {
      peer.makingOffer = false;
    }
  }

  async _sendDescription(peer, description) {
    const { type, sdp } = description;
    peer.descriptionSent = true;
    const held = peer.heldCandidates;
    peer.heldCandidates = [];
    const msg = { type, room: this.room, to: peer.id, sdp };
    if (type === "answer" && peer.answering) msg.negotiation = peer.answering;
    const sent = this.client.request(msg);
    for (const c of held) this._sendCandidate(peer, c);
    try {
      await sent;
    } catch (error) {
      if (error.code === "glare" && type === "offer") {
        // Our (polite) offer lost against the other side's: roll back (unless their offer,
        // relayed before this error, already did) and answer theirs when it comes.
        peer.chain = peer.chain
          .then(async () => {
            const pc = peer.pc;
            if (peer.closed || pc.signalingState !== "have-local-offer" || pc.localDescription?.sdp !== sdp) return;
            this.log("glare: rolling back", peer.id);
            await pc.setLocalDescription({ type: "rollback" });
          })
          .catch((e) => this._error(peer, e));
        return;
      }
      if (error.code === "connection_lost" || error.code === "closed") return;
      if (error.code === "stale_answer") {
        // The offer we answered was replaced: its successor is (or will be) relayed to
        // us, and we answer that one.
        this.log("stale answer dropped", peer.id);
        return;
      }
      this._error(peer, error);
    }
  }

  _sendCandidate(peer, candidate) {
    if (peer.closed) return;
    if (!peer.descriptionSent) {
      if (!bufferCandidate(peer.heldCandidates, candidate)) this._dropped(peer, "own");
      return;
    }
    if (!candidate || !candidate.candidate) {
      const msg = { type: "end_of_candidates", room: this.room, to: peer.id };
      if (candidate?.usernameFragment) msg.username_fragment = candidate.usernameFragment;
      this.client.request(msg).catch(() => {});
      return;
    }
    const msg = { type: "candidate", room: this.room, to: peer.id, candidate: candidate.candidate };
    if (candidate.sdpMid != null) msg.sdp_mid = candidate.sdpMid;
    if (candidate.sdpMLineIndex != null) msg.sdp_mline_index = candidate.sdpMLineIndex;
    if (candidate.usernameFragment) msg.username_fragment = candidate.usernameFragment;
    // Candidates of a rolled-back or previous generation are refused (stale_candidate,
    // no_description): harmless, the current generation's follow.
    this.client.request(msg).catch((e) => this.log("candidate refused", peer.id, e.code));
  }

  _onDescription(from, description, negotiation) {
    if (this._closed) return;
    let peer = this.peers.get(from);
    if (!peer) {
      // An offer from someone we have no connection to yet (a newcomer, or one that
      // reloaded) starts one; a stray answer (to a connection of a page before a
      // reload) has nothing to apply to.
      if (description.type !== "offer") return;
      peer = this._createPeer(from, { initiate: false });
    }
    const run = async () => {
      let current = this.peers.get(from);
      if (!current || current.closed) return;
      const session = sdpSessionId(description.sdp);
      if (current.remoteSession && session && session !== current.remoteSession) {
        // A new RTCPeerConnection on the other side (its page reloaded): start over.
        this.log("remote peer connection replaced", from);
        this.removePeer(from);
        current = this._createPeer(from, { initiate: description.type === "answer" });
        if (description.type === "answer") return; // our fresh connection offers anew
      }
      await this._applyDescription(current, description, session, negotiation);
    };
    peer.chain = peer.chain.then(run).catch((e) => this._error(this.peers.get(from) ?? peer, e));
  }

  async _applyDescription(peer, description, session, negotiation) {
    const pc = peer.pc;
    const readyForOffer = !peer.makingOffer && (pc.signalingState === "stable" || peer.settingAnswer);
    const collision = description.type === "offer" && !readyForOffer;
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) {
      this.log("ignoring crossing offer (impolite)", peer.id);
      return;
    }
    if (description.type === "answer" && pc.signalingState !== "have-local-offer") return;
    peer.settingAnswer = description.type === "answer";
    try {
      await pc.setRemoteDescription(description); // an offer in have-local-offer rolls back
    } finally {
      peer.settingAnswer = false;
    }
    peer.remoteSession = session;
    const buffered = peer.candidates;
    peer.candidates = [];
    for (const c of buffered) await this._addCandidate(peer, c);
    if (description.type === "offer") {
      peer.answering = negotiation; // the answer names the offer it answers
      await this._attachToOffered(peer);
      await pc.setLocalDescription();
      await this._sendDescription(peer, pc.localDescription);
    }
  }

  _dropped(peer, which) {
    peer.droppedCandidates = (peer.droppedCandidates ?? 0) + 1;
    if (peer.droppedCandidates === 1) {
      this.log(`early ${which} candidates over ${MAX_EARLY_CANDIDATES}: dropping the rest`, peer.id);
    }
  }

  _onCandidate(from, msg) {
    const peer = this.peers.get(from);
    if (!peer) return;
    const candidate = msg
      ? {
          candidate: msg.candidate,
          sdpMid: msg.sdp_mid ?? null,
          sdpMLineIndex: msg.sdp_mline_index ?? null,
          usernameFragment: msg.username_fragment ?? null,
        }
      : null;
    peer.chain = peer.chain
      .then(async () => {
        if (peer.closed) return;
        if (!peer.pc.remoteDescription) {
          // buffered until the remote description is set, within MAX_EARLY_CANDIDATES
          if (!bufferCandidate(peer.candidates, candidate)) this._dropped(peer, "remote");
          return;
        }
        await this._addCandidate(peer, candidate);
      })
      .catch((e) => this._error(peer, e));
  }

  async _addCandidate(peer, candidate) {
    try {
      if (candidate) await peer.pc.addIceCandidate(candidate);
      else await peer.pc.addIceCandidate();
    } catch (error) {
      // Candidates of an ignored offer or an older ICE generation do not apply.
      if (!peer.ignoreOffer) this.log("addIceCandidate", peer.id, error);
    }
  }

  _error(peer, error) {
    this.log("peer error", peer?.id, error);
    this._dispatch("error", { id: peer?.id, error });
  }
}
