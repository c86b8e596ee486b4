/**
 * The rtcsignal demo page: a multi-party mesh video call on top of rtcsignal.js.
 *
 * Room id from `?room=` (a random one otherwise, written back into the URL), name from
 * the join form (or `?name=`; `?autojoin=1` joins at once; `?media=none` joins
 * receive-only without asking for a camera; `?relay=1` sends all media through the TURN
 * servers of the welcome, `iceTransportPolicy: "relay"`). Every name, chat message and
 * reason is rendered with `textContent`: they are text, never HTML.
 *
 * State for tests and the curious: `window.rtcsignalDemo`.
 */
import { PeerMesh, SignalingClient } from "/rtcsignal.js";

const $ = (id) => document.getElementById(id);
const ROOM_RE = /^[A-Za-z0-9_-]{3,64}$/;
const IDENTITY_KEY = "rtcsignal-demo.identity";
const NAME_KEY = "rtcsignal-demo.name";
const CALL_KEY = "rtcsignal-demo.call";
const MAX_NOTICES = 6;

const params = new URLSearchParams(location.search);
let roomId = params.get("room");
if (!roomId || !ROOM_RE.test(roomId)) {
  roomId = randomRoomId();
  params.set("room", roomId);
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

const state = {
  joined: false,
  stream: null,
  camera: null,
  screen: null,
  mic: true,
  cam: true,
  hand: false,
  mesh: null,
  call: null, // the call we are in (or ringing out)
  incoming: null, // a call ringing in
  callMesh: null,
  callNames: new Map(), // the call's users -> display names, learned from this page's room
  onHold: false, // in a call: the room's tiles are hidden and muted, and it gets no media from us
  events: [],
  tiles: new Map(),
  callTiles: new Map(),
};

// ------------------------------------------------------------------ identity, client

/** The demo server mints a guest identity per visitor; keep it per tab so a reload is the same user. */
async function demoToken() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(IDENTITY_KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.token !== "string" || saved.expires < Date.now()) {
    const reply = await fetch("/demo/identity", { cache: "no-store" });
    if (!reply.ok) throw new Error(`identity: HTTP ${reply.status}`);
    const body = await reply.json();
    saved = { token: body.token, user: body.user, expires: Date.now() + (body.ttl - 60) * 1000 };
    sessionStorage.setItem(IDENTITY_KEY, JSON.stringify(saved));
  }
  return saved.token;
}

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = new SignalingClient(wsUrl, { token: demoToken, storageKey: "rtcsignal-demo.session" });
/** The peer connections' configuration: ICE servers come from the welcome (PeerMesh). */
const rtcConfig = params.get("relay") === "1" ? { iceTransportPolicy: "relay" } : {};

// ------------------------------------------------------------------ small helpers

function randomRoomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "room-" + [...bytes].map((b) => b.toString(36).padStart(2, "0")).join("").slice(0, 10);
}

function el(tag, props = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined) node.textContent = text; // text, never HTML
  return node;
}

function notice(text, kind = "info") {
  const box = $("notices");
  const item = el("div", { className: `notice ${kind}` }, text);
  box.append(item);
  while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
  state.events.push({ type: "notice", kind, text });
}

function model() {
  return client.room(roomId);
}

function me() {
  const room = model();
  return room ? room.participants[room.you] : undefined;
}

function nameOf(room, pid) {
  const p = room?.participants?.[pid];
  return p ? p.name || p.user : pid || "someone";
}

function nameOfUser(user) {
  const room = model();
  const p = room && Object.values(room.participants).find((x) => x.user === user);
  return p ? p.name || p.user : user;
}

function canModerate(target) {
  const mine = me();
  if (!mine || !target || target.id === mine.id) return false;
  if (mine.role === "host") return true;
  return mine.role === "moderator" && target.role !== "host" && target.role !== "moderator";
}

function setConnState(text) {
  $("conn-state").textContent = text;
}

async function act(message, what) {
  try {
    return await client.request(message);
  } catch (err) {
    notice(`${what} failed: ${err.message} (${err.code})`, "error");
    return undefined;
  }
}

/** Change your display name in the room (`update_me`); the others see it at once. */
async function rename(event) {
  event?.preventDefault();
  const name = $("rename-input").value.trim();
  if (!name || !state.joined) return;
  const ok = await act({ type: "update_me", room: roomId, name }, "Rename");
  if (ok === undefined) return;
  sessionStorage.setItem(NAME_KEY, name);
  $("rename-input").value = "";
  renderRoom(); // the others get participant_updated; our model changed on the ok
}

function sendMediaState() {
  if (!state.joined) return;
  const audio = !state.onHold && Boolean(state.stream?.getAudioTracks()[0]) && state.mic;
  const video = !state.onHold && ((Boolean(state.camera) && state.cam) || Boolean(state.screen));
  client.send({ type: "media_state", room: roomId, audio, video, screen: Boolean(state.screen), hand: state.hand });
}

// ------------------------------------------------------------------ media

async function startMedia() {
  if (state.stream) return;
  if (params.get("media") === "none") {
    notice("Receive-only (media=none): you can see and hear the others; they cannot see or hear you.");
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
    state.camera = state.stream.getVideoTracks()[0] ?? null;
  } catch (err) {
    state.stream = null;
    state.camera = null;
    const why = err && err.name === "NotAllowedError" ? "access was denied" : `is unavailable (${err?.name || err})`;
    notice(
      `Camera/microphone ${why}: you are receive-only. You can see and hear the others; they cannot see or hear you.`,
      "error",
    );
  }
  updateToolbar();
}

function stopMedia() {
  for (const t of state.stream?.getTracks() ?? []) t.stop();
  state.screen?.stop();
  state.stream = state.camera = state.screen = null;
}

/** The meshes our camera (or screen) goes to: not the room's while it is on hold. */
function meshes() {
  return [state.onHold ? null : state.mesh, state.callMesh].filter(Boolean);
}

function toggleMic() {
  const track = state.stream?.getAudioTracks()[0];
  if (!track) return;
  state.mic = !state.mic;
  track.enabled = state.mic;
  updateToolbar();
  sendMediaState();
}

function toggleCam() {
  if (!state.camera) return;
  state.cam = !state.cam;
  state.camera.enabled = state.cam;
  updateToolbar();
  sendMediaState();
}

async function toggleScreen() {
  if (state.screen) {
    stopScreen();
    return;
  }
  let display;
  try {
    display = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch (err) {
    notice(`Screen sharing unavailable: ${err.name || err}`, "error");
    return;
  }
  const track = display.getVideoTracks()[0];
  state.screen = track;
  track.addEventListener("ended", stopScreen);
  await Promise.all(meshes().map((m) => m.replaceTrack("video", track)));
  updateLocalTile();
  updateToolbar();
  sendMediaState();
}

function stopScreen() {
  const track = state.screen;
  if (!track) return;
  state.screen = null;
  track.stop();
  for (const m of meshes()) m.replaceTrack("video", state.camera);
  updateLocalTile();
  updateToolbar();
  sendMediaState();
}

function toggleHand() {
  state.hand = !state.hand;
  updateToolbar();
  sendMediaState();
}

function updateToolbar() {
  const audio = state.stream?.getAudioTracks()[0];
  $("toggle-mic").disabled = !audio;
  $("toggle-mic").textContent = state.mic ? "Mute mic" : "Unmute mic";
  $("toggle-mic").classList.toggle("active", !state.mic);
  $("toggle-cam").disabled = !state.camera;
  $("toggle-cam").textContent = state.cam ? "Stop camera" : "Start camera";
  $("toggle-cam").classList.toggle("active", !state.cam);
  $("toggle-screen").textContent = state.screen ? "Stop sharing" : "Share screen";
  $("toggle-screen").classList.toggle("active", Boolean(state.screen));
  $("toggle-hand").textContent = state.hand ? "Lower hand" : "Raise hand";
  $("toggle-hand").classList.toggle("active", state.hand);
}

// ------------------------------------------------------------------ joining

function showJoin() {
  $("join-view").hidden = false;
  $("room-view").hidden = true;
}

async function join(event) {
  event?.preventDefault();
  const name = $("name-input").value.trim();
  if (!name) return;
  sessionStorage.setItem(NAME_KEY, name);
  $("join-button").disabled = true;
  try {
    let result;
    try {
      result = await client.request({ type: "join", room: roomId, name });
    } catch (err) {
      if (err.code === "room_full") {
        const capacity = err.details?.capacity ? ` (${err.details.capacity} people)` : "";
        notice(`This room is full${capacity}: try again later, or start another room.`, "error");
      } else if (err.code === "banned") {
        const wait = err.retryAfter ? ` for another ${Math.ceil(err.retryAfter / 60)} minutes` : "";
        notice(`You are banned from this room${wait}.`, "error");
      } else if (err.code === "room_locked") {
        notice("This room is locked: the host has closed it to newcomers. Ask them to unlock it.", "error");
      } else if (err.code === "already_in_room" && model()) {
        await enterRoom();
      } else {
        notice(`Could not join: ${err.message} (${err.code})`, "error");
      }
      return;
    }
    if (result && result.type === "lobby_wait") {
      notice("You are in the lobby: waiting for the host to let you in…");
      return; // a room_snapshot event follows when admitted
    }
    await enterRoom();
  } finally {
    $("join-button").disabled = false;
  }
}

async function enterRoom() {
  await startMedia();
  if (state.joined) return;
  state.joined = true;
  $("join-view").hidden = true;
  $("room-view").hidden = false;
  state.mesh = new PeerMesh(client, roomId, { stream: state.stream, rtcConfig, log: debug });
  wireMesh(state.mesh, state.tiles, () => model());
  if (state.screen) state.mesh.replaceTrack("video", state.screen);
  if (state.onHold) holdRoom(true);
  state.mesh.start();
  renderRoom();
  renderChat();
  updateToolbar();
  sendMediaState();
}

function leaveRoom(reasonText) {
  state.mesh?.close();
  state.mesh = null;
  state.joined = false;
  for (const tile of state.tiles.values()) tile.remove();
  state.tiles.clear();
  $("participants").replaceChildren();
  $("chat-log").replaceChildren();
  if (!state.call) stopMedia();
  if (reasonText) notice(reasonText, "error");
  showJoin();
}

async function leave() {
  await act({ type: "leave", room: roomId }, "Leave");
  leaveRoom();
}

// ------------------------------------------------------------------ tiles

function debug(...args) {
  if (params.get("debug")) console.debug("[rtcsignal]", ...args);
}

function makeTile(pid, container, local) {
  const tile = $("tile-template").content.firstElementChild.cloneNode(true);
  tile.dataset.participant = pid;
  if (local) {
    tile.classList.add("local");
    tile.querySelector("video").muted = true;
  }
  container.append(tile);
  return tile;
}

function wireMesh(mesh, tiles, room) {
  mesh.addEventListener("track", (e) => {
    const { id, stream } = e.detail;
    const tile = tiles.get(id);
    const video = tile?.querySelector("video");
    if (video && video.srcObject !== stream) {
      video.srcObject = stream;
      video.play().catch(() => {});
    }
  });
  mesh.addEventListener("peerstate", (e) => {
    const tile = tiles.get(e.detail.id);
    if (tile) tile.dataset.connection = e.detail.state;
  });
  mesh.addEventListener("error", (e) => debug("mesh error", e.detail.id, e.detail.error));
  mesh.addEventListener("icecandidateerror", (e) => {
    const { id, url, errorCode, errorText } = e.detail;
    state.events.push({ type: "icecandidateerror", participant: id, url, code: errorCode, text: errorText });
  });
  mesh.addEventListener("peerremoved", (e) => {
    const tile = tiles.get(e.detail.id);
    const video = tile?.querySelector("video");
    if (video) video.srcObject = null;
    if (!room()?.participants[e.detail.id]) {
      tile?.remove();
      tiles.delete(e.detail.id);
    }
  });
}

function streamOf(mesh, pid) {
  return mesh?.peers.get(pid)?.stream ?? null;
}

function updateLocalTile() {
  const room = model();
  const tile = room && state.tiles.get(room.you);
  const video = tile?.querySelector("video");
  if (!video) return;
  const stream = state.screen ? new MediaStream([state.screen]) : state.stream;
  if (video.srcObject !== stream) video.srcObject = stream;
}

function fillTile(tile, p, room, isMe) {
  tile.dataset.name = p.name || p.user;
  tile.dataset.role = p.role;
  tile.querySelector(".name").textContent = isMe ? `${p.name || p.user} (you)` : p.name || p.user;
  tile.querySelector(".role").textContent = p.role === "participant" ? "" : p.role;
  const flags = [];
  if (!p.audio) flags.push("🔇");
  if (!p.video) flags.push("📷✕");
  if (p.screen) flags.push("🖥");
  if (p.hand) flags.push("✋");
  tile.querySelector(".flags").textContent = flags.join(" ");
  tile.classList.toggle("hand", Boolean(p.hand));
  tile.classList.toggle("reconnecting", p.state === "reconnecting");
  const controls = tile.querySelector(".controls");
  controls.replaceChildren();
  if (isMe || !room) return;
  const mine = room.participants[room.you];
  const button = (action, label, handler) => {
    const b = el("button", { type: "button", dataset: { action } }, label);
    b.addEventListener("click", handler);
    controls.append(b);
  };
  if (canModerate(p)) {
    button("mute", "Mute", () => act({ type: "mute", room: roomId, target: p.id, audio: true, video: false }, "Mute"));
    button("kick", "Kick", () => act({ type: "kick", room: roomId, target: p.id, reason: "removed by the host" }, "Kick"));
  }
  if (mine?.role === "host") {
    // kick and keep out: every device of that user, until the room ends
    button("ban", "Ban", () => act({ type: "kick", room: roomId, target: p.id, ban: true, reason: "banned by the host" }, "Ban"));
  }
  if (mine?.role === "host") {
    button("transfer-host", "Make host", () => act({ type: "transfer_host", room: roomId, target: p.id }, "Transfer host"));
    const next = p.role === "moderator" ? "participant" : "moderator";
    button("set-role", next === "moderator" ? "Make moderator" : "Make participant", () =>
      act({ type: "set_role", room: roomId, target: p.id, role: next }, "Change role"),
    );
  }
  if (!state.call && !state.incoming && !room.call) button("call", "Call", () => startCall(p.user));
}

function renderRoom() {
  const room = model();
  if (!room || !state.joined) return;
  const mine = room.participants[room.you];
  const moderator = mine && (mine.role === "host" || mine.role === "moderator");
  for (const node of document.querySelectorAll(".host-only")) node.hidden = !moderator;
  $("toggle-lock").textContent = room.locked ? "Unlock room" : "Lock room";
  $("toggle-lock").classList.toggle("active", room.locked);
  // tiles
  const present = new Set(Object.keys(room.participants));
  for (const [pid, tile] of state.tiles) {
    if (!present.has(pid)) {
      tile.remove();
      state.tiles.delete(pid);
    }
  }
  const ordered = Object.values(room.participants).sort((a, b) => a.order - b.order);
  for (const p of ordered) {
    const isMe = p.id === room.you;
    let tile = state.tiles.get(p.id);
    if (!tile) {
      tile = makeTile(p.id, $("tiles"), isMe);
      state.tiles.set(p.id, tile);
      if (!isMe) {
        tile.querySelector("video").muted = state.onHold;
        const stream = streamOf(state.mesh, p.id);
        if (stream) tile.querySelector("video").srcObject = stream;
      }
    }
    fillTile(tile, p, room, isMe);
  }
  updateLocalTile();
  // people list
  const list = $("participants");
  list.replaceChildren(
    ...ordered.map((p) => {
      const li = el("li", { dataset: { participant: p.id } });
      li.append(el("span", { className: "name" }, p.name || p.user));
      if (p.role !== "participant") li.append(el("span", { className: "badge" }, p.role));
      if (p.hand) li.append(el("span", {}, "✋"));
      if (p.state === "reconnecting") li.append(el("span", { className: "badge" }, "reconnecting"));
      return li;
    }),
  );
  // lobby
  const lobby = room.lobby ?? [];
  $("lobby").hidden = !moderator || lobby.length === 0;
  $("lobby-list").replaceChildren(
    ...lobby.map((entry) => {
      const li = el("li", { dataset: { participant: entry.id } });
      li.append(el("span", {}, entry.name || entry.user));
      const admit = el("button", { type: "button", dataset: { action: "admit" } }, "Admit");
      admit.addEventListener("click", () => act({ type: "admit", room: roomId, target: entry.id, allow: true }, "Admit"));
      const deny = el("button", { type: "button", dataset: { action: "deny" }, className: "danger" }, "Deny");
      deny.addEventListener("click", () => act({ type: "admit", room: roomId, target: entry.id, allow: false }, "Deny"));
      li.append(admit, deny);
      return li;
    }),
  );
  // bans (bans_updated keeps the list; hosts and moderators may lift one)
  const bans = room.bans ?? [];
  $("bans").hidden = !moderator || bans.length === 0;
  $("ban-list").replaceChildren(
    ...bans.map((ban) => {
      const li = el("li", { dataset: { user: ban.user } });
      li.append(el("span", {}, ban.name || ban.user));
      const unban = el("button", { type: "button", dataset: { action: "unban" } }, "Unban");
      unban.addEventListener("click", () => act({ type: "unban", room: roomId, user: ban.user }, "Unban"));
      li.append(unban);
      return li;
    }),
  );
}

// ------------------------------------------------------------------ chat

function appendChat(room, from, text) {
  const li = el("li", { dataset: { from: from ?? "" } });
  li.append(el("span", { className: "from" }, `${nameOf(room, from)}:`));
  li.append(el("span", { className: "text" }, text)); // textContent: markup stays text
  const log = $("chat-log");
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function renderChat() {
  const room = model();
  $("chat-log").replaceChildren();
  for (const msg of room?.chat ?? []) appendChat(room, msg.from, msg.text);
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  const text = input.value;
  if (!text.trim() || !state.joined) return;
  input.value = "";
  const ok = await act({ type: "chat", room: roomId, text }, "Chat");
  if (ok !== undefined) {
    client.recordOwnChat(roomId, text);
    appendChat(model(), model()?.you, text);
  }
}

// ------------------------------------------------------------------ 1:1 calls

function callLabel(call) {
  const other = call.caller === client.user ? call.invitees[0] : call.caller;
  return callName(other);
}

/**
 * A call's user as people know them: the call's own room has no display names (its
 * members join it by accepting), so the name comes from this page's room, remembered
 * for the whole call (it stays right when they leave the room meanwhile).
 */
function callName(user) {
  const known = state.callNames.get(user);
  if (known) return known;
  const name = nameOfUser(user);
  if (name !== user) state.callNames.set(user, name);
  return name;
}

/**
 * The call is a separate view: while we are in a call, the room is on hold. Its tiles
 * are hidden and muted (the person we call appears once, in the call's tiles, and is
 * heard once), and the room gets neither our camera nor our microphone (it sees our
 * media flags off). Hanging up takes the room off hold.
 */
function holdRoom(on) {
  state.onHold = on;
  $("tiles").hidden = on;
  $("call-hold").hidden = !on;
  $("call-hold").textContent = on
    ? `Room ${roomId} is on hold during this call: you do not see or hear it, and it does not see or hear you.`
    : "";
  for (const [pid, tile] of state.tiles) {
    if (pid !== model()?.you) tile.querySelector("video").muted = on;
  }
  if (state.mesh) {
    state.mesh.replaceTrack("audio", on ? null : (state.stream?.getAudioTracks()[0] ?? null));
    state.mesh.replaceTrack("video", on ? null : (state.screen ?? state.camera));
  }
  sendMediaState();
}

function showCallPanel(title, status) {
  $("call-panel").hidden = false;
  $("call-title").textContent = title;
  $("call-status").textContent = status;
}

function saveCall() {
  if (state.call) sessionStorage.setItem(CALL_KEY, JSON.stringify(state.call));
  else sessionStorage.removeItem(CALL_KEY);
}

async function startCall(user) {
  if (state.call) return;
  await startMedia();
  const call = await act({ type: "call_invite", to: [user], media: "video" }, "Call");
  if (!call) return;
  enterCall(call);
}

function enterCall(call) {
  state.call = call;
  saveCall();
  for (const user of [call.caller, ...call.invitees]) if (user !== client.user) callName(user);
  if (!state.onHold) holdRoom(true);
  const outgoing = call.caller === client.user;
  showCallPanel(`Call with ${callLabel(call)}`, call.state === "active" ? "Connected" : outgoing ? "Ringing…" : "Connecting…");
  $("call-incoming").hidden = true;
  $("call-cancel").hidden = !(outgoing && call.state === "ringing");
  $("call-hangup").hidden = outgoing && call.state === "ringing";
  if (!state.callMesh) {
    const roomOf = () => client.room(call.room);
    state.callMesh = new PeerMesh(client, call.room, { stream: state.stream, rtcConfig, log: debug });
    wireMesh(state.callMesh, state.callTiles, roomOf);
    if (state.screen) state.callMesh.replaceTrack("video", state.screen);
    state.callMesh.addEventListener("peeradded", (e) => callTile(e.detail.id));
    state.callMesh.start();
  }
  renderRoom();
}

function callTile(pid) {
  let tile = state.callTiles.get(pid);
  if (!tile) {
    tile = makeTile(pid, $("call-tiles"), false);
    state.callTiles.set(pid, tile);
  }
  const room = state.call && client.room(state.call.room);
  const p = room?.participants[pid];
  const name = p ? p.name || callName(p.user) : state.call ? callLabel(state.call) : "";
  tile.dataset.name = name;
  tile.querySelector(".name").textContent = name;
  return tile;
}

function endCall(call) {
  const reasons = {
    hangup: "Call ended.",
    declined: `${callLabel(call)} declined the call.`,
    cancelled: "The call was cancelled.",
    missed: "No answer.",
    max_duration: "The call reached its maximum duration.",
    failed: "The call failed.",
  };
  state.callMesh?.close();
  state.callMesh = null;
  client.forgetRoom(call.room);
  for (const tile of state.callTiles.values()) tile.remove();
  state.callTiles.clear();
  state.call = null;
  saveCall();
  state.callNames.clear();
  $("call-panel").hidden = true;
  holdRoom(false);
  notice(reasons[call.reason] ?? "Call ended.");
  if (!state.joined) stopMedia();
  renderRoom();
}

function onIncoming(msg) {
  const call = msg.call;
  if (state.call?.id === call.id) return;
  if (state.call) {
    act({ type: "call_decline", call: call.id }, "Decline"); // busy
    return;
  }
  state.incoming = call;
  showCallPanel(`Incoming call from ${nameOfUser(call.caller)}`, `${nameOfUser(call.caller)} is calling you.`);
  $("call-incoming").hidden = false;
  $("call-cancel").hidden = true;
  $("call-hangup").hidden = true;
  renderRoom();
}

async function acceptCall() {
  const call = state.incoming;
  if (!call) return;
  state.incoming = null;
  $("call-incoming").hidden = true;
  await startMedia();
  const snapshot = await act({ type: "call_accept", call: call.id }, "Accept");
  if (snapshot === undefined) {
    $("call-panel").hidden = true;
    renderRoom();
    return;
  }
  enterCall({ ...call, state: "active" });
}

async function declineCall() {
  const call = state.incoming;
  if (!call) return;
  state.incoming = null;
  $("call-panel").hidden = true;
  await act({ type: "call_decline", call: call.id }, "Decline");
  renderRoom();
}

function onCallUpdated(msg) {
  const call = msg.call;
  if (state.incoming?.id === call.id && (call.state === "ended" || call.reason === "answered_elsewhere")) {
    state.incoming = null;
    $("call-panel").hidden = true;
    if (call.state === "ended" && call.reason === "cancelled") notice(`Missed call from ${nameOfUser(call.caller)}.`);
    renderRoom();
    return;
  }
  if (state.call?.id !== call.id) return;
  if (call.state === "ended") {
    endCall(call);
    return;
  }
  state.call = call;
  saveCall();
  $("call-status").textContent = call.state === "active" ? "Connected" : "Ringing…";
  $("call-cancel").hidden = call.state !== "ringing" || call.caller !== client.user;
  $("call-hangup").hidden = call.state === "ringing" && call.caller === client.user;
}

// ------------------------------------------------------------------ events

function record(msg) {
  const entry = { type: msg.type };
  for (const key of ["room", "participant", "reason", "from", "seq", "code"]) {
    if (msg[key] !== undefined) entry[key] = typeof msg[key] === "object" ? msg[key].id : msg[key];
  }
  if (msg.call) entry.call = typeof msg.call === "object" ? { id: msg.call.id, state: msg.call.state, reason: msg.call.reason } : msg.call;
  state.events.push(entry);
  if (state.events.length > 1000) state.events.splice(0, 200);
}

function inRoom(msg) {
  return msg.room === roomId && state.joined;
}

function wireClient() {
  client.on("state", ({ state: s }) => setConnState(s === "open" ? "connected" : s));
  client.on("auth_failed", () => {
    sessionStorage.removeItem(IDENTITY_KEY); // the server restarted: a new identity
    client.forgetSession();
  });
  client.on("going_away", () => notice("The server is restarting: reconnecting…"));
  client.on("disconnected", ({ code }) => {
    if (code === 4000) notice("This session continued in another tab (or device): this page stopped.", "error");
  });
  client.on("welcome", (w) => {
    state.events.push({ type: "welcome", resumed: Boolean(w.resumed), gap: Boolean(w.gap) });
    if (w.resumed) {
      if (state.joined) sendMediaState();
      return;
    }
    // A fresh session (the old one expired, or the server restarted): its rooms and
    // calls are gone. Join this page's room again.
    if (state.call) endCall({ ...state.call, reason: "failed" });
    if (state.joined) {
      leaveRoom("Your session ended (the server restarted, or you were away too long): rejoining the room.");
      join();
    }
  });
  for (const type of [
    "participant_joined",
    "participant_left",
    "participant_updated",
    "role_changed",
    "host_changed",
    "room_updated",
    "lobby_updated",
    "bans_updated",
    "removed",
    "muted",
    "chat",
    "room_snapshot",
    "incoming_call",
    "call_updated",
    "server_error",
  ]) {
    client.on(type, record);
  }
  const rerender = (msg) => {
    if (inRoom(msg)) renderRoom();
    if (state.call && msg.room === state.call.room) {
      for (const pid of state.callTiles.keys()) callTile(pid);
    }
  };
  for (const type of ["participant_joined", "participant_updated", "role_changed", "host_changed", "room_updated", "lobby_updated", "bans_updated"]) {
    client.on(type, rerender);
  }
  client.on("participant_left", (msg) => {
    if (!inRoom(msg)) return;
    renderRoom();
  });
  client.on("host_changed", (msg) => {
    if (inRoom(msg) && msg.host === model()?.you) notice("You are now the host.");
  });
  client.on("room_updated", (msg) => {
    if (inRoom(msg)) notice(msg.locked ? "The room is locked." : "The room is unlocked.");
  });
  client.on("chat", (msg) => {
    if (inRoom(msg)) appendChat(model(), msg.from, msg.text);
  });
  client.on("room_snapshot", async (msg) => {
    if (msg.room !== roomId) return;
    if (!state.joined) {
      await enterRoom(); // admitted from the lobby
    } else {
      renderRoom();
      renderChat();
    }
  });
  client.on("removed", (msg) => {
    if (msg.room === state.call?.room) return;
    if (msg.room !== roomId) return;
    const texts = {
      kicked: "You were removed from the room by the host.",
      banned: "You were banned from the room by the host.",
      replaced: "You joined this room from another tab: this one left.",
      denied: "The host did not let you in.",
      room_closed: "The room was closed.",
    };
    const extra = msg.message ? ` (${msg.message})` : "";
    leaveRoom((texts[msg.reason] ?? "You left the room.") + extra);
  });
  client.on("muted", (msg) => {
    if (msg.room !== roomId) return;
    const audio = state.stream?.getAudioTracks()[0];
    if (msg.audio && audio && state.mic) {
      state.mic = false;
      audio.enabled = false;
    }
    if (msg.video && state.camera && state.cam) {
      state.cam = false;
      state.camera.enabled = false;
    }
    updateToolbar();
    sendMediaState();
    notice(`${nameOf(model(), msg.by)} muted your ${msg.audio ? "microphone" : "camera"}.`);
  });
  client.on("incoming_call", onIncoming);
  client.on("call_updated", onCallUpdated);
  client.on("call_ending", (msg) => notice(`The call ends in ${Math.round(msg.remaining / 60)} minutes.`));
}

// ------------------------------------------------------------------ start

function wireUi() {
  const link = `${location.origin}/?room=${encodeURIComponent(roomId)}`;
  $("invite-link").value = link;
  $("join-room").textContent = roomId;
  $("copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(link);
      notice("Invite link copied.");
    } catch {
      $("invite-link").select();
      notice("Select the link and copy it.");
    }
  });
  $("name-input").value = params.get("name") || sessionStorage.getItem(NAME_KEY) || "";
  $("join-form").addEventListener("submit", join);
  $("chat-form").addEventListener("submit", sendChat);
  $("toggle-mic").addEventListener("click", toggleMic);
  $("toggle-cam").addEventListener("click", toggleCam);
  $("toggle-screen").addEventListener("click", toggleScreen);
  $("toggle-hand").addEventListener("click", toggleHand);
  $("toggle-lock").addEventListener("click", () => {
    const room = model();
    if (!room) return;
    act({ type: "lock", room: roomId, locked: !room.locked }, room.locked ? "Unlock" : "Lock").then((ok) => {
      if (ok !== undefined) renderRoom(); // the others get room_updated; we get our ok
    });
  });
  $("rename-form").addEventListener("submit", rename);
  $("leave").addEventListener("click", leave);
  $("call-accept").addEventListener("click", acceptCall);
  $("call-decline").addEventListener("click", declineCall);
  $("call-cancel").addEventListener("click", () => state.call && act({ type: "call_cancel", call: state.call.id }, "Cancel"));
  $("call-hangup").addEventListener("click", () => state.call && act({ type: "call_hangup", call: state.call.id }, "Hang up"));
}

window.rtcsignalDemo = {
  client,
  room: roomId,
  state,
  get mesh() {
    return state.mesh;
  },
  get callMesh() {
    return state.callMesh;
  },
  get joined() {
    return state.joined;
  },
  get ready() {
    return ready;
  },
  you: () => model()?.you ?? null,
  participants: () => Object.values(model()?.participants ?? {}),
  peerStats: () => (state.mesh ? state.mesh.stats() : Promise.resolve([])),
  callPeerStats: () => (state.callMesh ? state.callMesh.stats() : Promise.resolve([])),
  call: () => state.call,
  onHold: () => state.onHold,
  incoming: () => state.incoming,
  iceServers: () => client.iceServers,
  rtcConfig,
  notices: () => [...document.querySelectorAll("#notices .notice")].map((n) => n.textContent),
};

async function main() {
  wireUi();
  wireClient();
  updateToolbar();
  try {
    await client.connect();
  } catch (err) {
    notice(`Could not connect to the signaling server: ${err.message}`, "error");
    return;
  }
  // Leave rooms of this tab's session that are not this page's (another ?room= before).
  for (const [other, room] of client.rooms) {
    if (other !== roomId && !room.call) act({ type: "leave", room: other }, "Leave");
  }
  let savedCall = null;
  try {
    savedCall = JSON.parse(sessionStorage.getItem(CALL_KEY) || "null");
  } catch {
    savedCall = null;
  }
  const here = model();
  if (here && !here.waiting) {
    notice("Reconnected to the room (session resumed).");
    await enterRoom();
  } else if (here && here.waiting) {
    notice("You are in the lobby: waiting for the host to let you in…");
  } else if (params.get("autojoin") && $("name-input").value.trim()) {
    await join();
  }
  if (savedCall && client.room(savedCall.room)) enterCall(savedCall);
  else sessionStorage.removeItem(CALL_KEY);
}

const ready = main();
