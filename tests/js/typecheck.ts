// Type-checked with `tsc --strict` (tests/js/test_js_client.py): every use below must
// compile, and every line marked @ts-expect-error must be refused, so the declarations
// in rtcsignal.d.ts are precise, not `any`.
import {
  PROTOCOL_VERSION,
  PeerMesh,
  SignalingClient,
  SignalingError,
  type BanEntry,
  type CallInfo,
  type ClientMessage,
  type ErrorCode,
  type IceServer,
  type LobbyWait,
  type OutgoingMessage,
  type RoomModel,
  type RoomSnapshot,
  type ServerMessage,
  type Welcome,
} from "../../src/rtcsignal/static/rtcsignal.js";

export const version: 1 = PROTOCOL_VERSION;

/** Every server message type, exhaustively: a new one in the union fails to compile. */
export function describe(message: ServerMessage): string {
  switch (message.type) {
    case "welcome":
      return `session ${message.session}, ${message.ice_servers?.length ?? 0} ICE servers`;
    case "ok":
      return message.result?.type ?? "ok";
    case "error":
      return `${message.code}: ${message.message}`;
    case "pong":
      return "pong";
    case "going_away":
      return message.reason;
    case "room_snapshot":
      return `${message.participants.length} in ${message.room} (seq ${message.seq})`;
    case "participant_joined":
    case "participant_updated":
      return message.participant.name ?? message.participant.user;
    case "participant_left":
      return `${message.participant} ${message.reason}`;
    case "role_changed":
      return message.role;
    case "host_changed":
      return message.host;
    case "room_updated":
      return String(message.locked);
    case "lobby_updated":
      return message.lobby.map((entry) => entry.user).join();
    case "bans_updated":
      return message.bans.map((ban) => `${ban.user} ${ban.expires_in ?? "room"}`).join();
    case "removed":
      return message.reason;
    case "muted":
      return `${message.audio} ${message.video}`;
    case "incoming_call":
    case "call_updated":
      return message.call.state;
    case "call_ending":
      return String(message.remaining);
    case "negotiation_reset":
      return `${message.reason} ${message.peers.join()}`;
    case "offer":
    case "answer":
      return `${message.from} ${message.sdp.length}`;
    case "candidate":
      return message.candidate;
    case "end_of_candidates":
      return message.username_fragment ?? "";
    case "chat":
      return message.text;
    case "reaction":
      return message.emoji;
    case "typing":
      return String(message.typing);
    case "app":
      return message.app_type;
    default: {
      const unhandled: never = message;
      return unhandled;
    }
  }
}

/** Every client message type, exhaustively. */
export function kind(message: ClientMessage): string {
  switch (message.type) {
    case "hello":
    case "ping":
    case "join":
    case "leave":
    case "media_state":
    case "mute":
    case "kick":
    case "unban":
    case "update_me":
    case "transfer_host":
    case "set_role":
    case "lock":
    case "admit":
    case "set_layout":
    case "recording":
    case "offer":
    case "answer":
    case "candidate":
    case "end_of_candidates":
    case "chat":
    case "reaction":
    case "typing":
    case "app":
    case "stats":
    case "call_invite":
    case "call_accept":
    case "call_decline":
    case "call_cancel":
    case "call_hangup":
      return message.type;
    default: {
      const unhandled: never = message;
      return unhandled;
    }
  }
}

export async function usage(): Promise<void> {
  const client = new SignalingClient("wss://signal.example/ws", {
    token: async () => "a-token",
    storage: null,
    requestTimeout: 5000,
    retryUnavailable: 2,
    WebSocket, // the browser's constructor fits the option
  });
  const welcome: Welcome = await client.connect();
  const fromWelcome: IceServer[] = welcome.ice_servers ?? [];
  const config: RTCConfiguration = { iceServers: client.iceServers, iceTransportPolicy: "relay" };
  console.log(fromWelcome.length, config, client.limits?.ping_interval, client.state);

  const joined = await client.request({ type: "join", room: "standup", name: "Ada" });
  if (joined.type === "room_snapshot") {
    const snapshot: RoomSnapshot = joined;
    console.log(snapshot.participants.map((p) => p.order));
  } else {
    const waiting: LobbyWait = joined;
    console.log(waiting.you);
  }
  const call: CallInfo = await client.request({ type: "call_invite", to: ["bob"], media: "audio" });
  const room: RoomSnapshot = await client.request({ type: "call_accept", call: call.id });
  const none: null = await client.request({ type: "chat", room: room.room, text: "hi" });
  const pong = await client.request({ type: "ping" }, { timeout: 1000 });
  console.log(none, pong.type === "pong");
  client.send({ type: "typing", room: "standup", typing: true });
  const outgoing: OutgoingMessage[] = [
    { type: "media_state", room: "standup", audio: false },
    { type: "candidate", room: "standup", to: "p1", candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host" },
    { type: "stats", room: "standup", report: { rtt: 0.02, codec: "opus", ok: true } },
    { type: "app", room: "standup", app_type: "acme.board", payload: { x: 1 } },
  ];
  for (const message of outgoing) client.send(message);

  const off = client.on("offer", (offer) => {
    const from: string = offer.from;
    const seq: number = offer.seq;
    console.log(from, seq, offer.sdp);
  });
  off();
  client.on("participant_joined", (m) => console.log(m.participant.user, m.participant.state));
  client.on("disconnected", ({ code, retryIn }) => console.log(code, retryIn ?? "final"));
  client.on("session_lost", ({ rooms }) => rooms.forEach((r) => client.request({ type: "join", room: r })));
  client.on("message", (m) => console.log(describe(m)));
  client.addEventListener("chat", (event) => console.log(event.detail.from, event.detail.text));
  const chat = await client.waitFor("chat", (m) => m.text.startsWith("!"), 1000);
  console.log(chat.seq);
  const model: RoomModel | undefined = client.room("standup");
  console.log(model?.participants[model.you ?? ""]?.role, client.rooms.size);

  try {
    await client.request({ type: "kick", room: "standup", target: "p2", reason: "bye" });
    await client.kick("standup", "p2", { ban: true, duration: 600 });
    await client.unban("standup", "mallory");
    await client.updateMe("standup", { name: "Ada", metadata: { status: "brb" } });
    const bans: BanEntry[] = client.room("standup")?.bans ?? [];
    console.log(bans.map((b) => [b.user, b.expires_in ?? "until the room ends"]));
  } catch (err) {
    if (err instanceof SignalingError) {
      const code: ErrorCode | "timeout" | "connection_lost" | "closed" | "queue_full" = err.code;
      console.log(code, err.details, err.retryAfter);
    }
  }

  const mesh = new PeerMesh(client, "standup", {
    stream: null,
    rtcConfig: { iceTransportPolicy: "relay" },
    log: (...args) => console.debug(...args),
  });
  mesh.addEventListener("track", (event) => console.log(event.detail.id, event.detail.stream.id));
  mesh.addEventListener("peerstate", (event) => console.log(event.detail.state));
  mesh.addEventListener("icecandidateerror", (event) => console.log(event.detail.errorCode));
  mesh.start();
  await mesh.replaceTrack("video", null);
  for (const stats of await mesh.stats()) console.log(stats.connectionState, stats.bytesReceived);
  for (const [id, peer] of mesh.peers) console.log(id, peer.pc.connectionState, peer.polite);
  mesh.close();
  client.close(true);
}

export async function refused(client: SignalingClient): Promise<void> {
  // @ts-expect-error a join needs a room
  await client.request({ type: "join" });
  // @ts-expect-error there is no such message type
  await client.request({ type: "jion", room: "standup" });
  // @ts-expect-error the client says hello itself
  await client.request({ type: "hello", version: 1 });
  // @ts-expect-error chat text is a string
  client.send({ type: "chat", room: "standup", text: 5 });
  // @ts-expect-error set_role cannot make a host
  client.send({ type: "set_role", room: "standup", target: "p2", role: "host" });
  // @ts-expect-error a chat's reply has no result
  const snapshot: RoomSnapshot = await client.request({ type: "chat", room: "standup", text: "hi" });
  // @ts-expect-error there is no such event
  client.on("participant_joind", () => {});
  // @ts-expect-error a chat event has no participant
  client.on("chat", (m) => m.participant);
  // @ts-expect-error not a stable error code
  const code: ErrorCode = "room_fulll";
  // @ts-expect-error the ICE servers are read-only
  client.iceServers = [];
  // @ts-expect-error media kinds are audio and video
  await new PeerMesh(client, "standup").replaceTrack("screen", null);
  console.log(snapshot, code);
}
