/**
 * TypeScript declarations for rtcsignal.js, the browser client of the rtcsignal wire
 * protocol v1 (docs/protocol.md). Keep this file next to rtcsignal.js: TypeScript finds
 * it for `import ... from "./rtcsignal.js"`.
 *
 * Every message of the protocol is declared: what a client sends (`ClientMessage`, each
 * with an optional request `id`), what the server sends (`ServerMessage`), and relayed
 * messages as they arrive (`Relayed<Offer>`: stamped with `from` and `seq`). Fields the
 * server leaves out when they hold their default (`omit_defaults`) are optional here;
 * the default is in each field's comment.
 *
 * @module rtcsignal
 */

// ====================================================================== values

/** A client-chosen request id (the client assigns one to every `request`). */
export type RequestId = number | string;
/** A participant's role in a room, from most to least privileged. */
export type Role = "host" | "moderator" | "participant" | "guest";
/** Roles `set_role` may assign; `host` moves only through `transfer_host`. */
export type AssignableRole = "moderator" | "participant" | "guest";
/** A room's recording state. */
export type RecordingState = "idle" | "recording" | "paused";
/** A `recording` request's action. */
export type RecordingAction = "start" | "stop" | "pause" | "resume";
/** Whether a participant's connection is up or inside its reconnect grace period. */
export type PresenceState = "connected" | "reconnecting";
/** How a room admits joiners. */
export type JoinPolicy = "open" | "invite" | "lobby";
/** Why a participant left a room, or a lobby entry was removed. */
export type LeaveReason =
  | "left"
  | "kicked"
  | "banned"
  | "disconnected"
  | "replaced"
  | "denied"
  | "room_closed";
/** A call's coarse state; `reason` refines `ended`. */
export type CallState = "ringing" | "active" | "ended";
/** Why a call ended (`answered_elsewhere`: another device of this user answered). */
export type CallEndReason =
  | "hangup"
  | "declined"
  | "cancelled"
  | "missed"
  | "max_duration"
  | "failed"
  | "answered_elsewhere";
/** What a call sends. */
export type CallMedia = "audio" | "video";

/** The stable error codes of the protocol (docs/protocol.md, "Error codes"). */
export type ErrorCode =
  | "malformed_frame"
  | "frame_too_large"
  | "unknown_type"
  | "invalid_message"
  | "hello_required"
  | "already_welcomed"
  | "unsupported_version"
  | "resume_failed"
  | "room_not_found"
  | "room_full"
  | "room_locked"
  | "not_invited"
  | "already_joined"
  | "already_in_room"
  | "not_in_room"
  | "unknown_participant"
  | "forbidden"
  | "banned"
  | "too_many_bans"
  | "too_many_rooms"
  | "stale_answer"
  | "too_many_seats"
  | "too_many_sessions"
  | "recording_disabled"
  | "invalid_state"
  | "call_not_found"
  | "call_ended"
  | "too_many_calls"
  | "invalid_sdp"
  | "invalid_candidate"
  | "stale_candidate"
  | "no_description"
  | "glare"
  | "rate_limited"
  | "backplane_unavailable"
  | "internal_error";
/** Codes of failures the client itself reports. */
export type LocalErrorCode = "timeout" | "connection_lost" | "closed" | "queue_full";

/** A participant as other members see it. */
export interface ParticipantInfo {
  id: string;
  user: string;
  name?: string;
  role: Role;
  /** Room-local join order: in each pair the later joiner (higher order) is polite. */
  order: number;
  state: PresenceState;
  /** Media flags. */
  audio: boolean;
  video: boolean;
  screen: boolean;
  hand: boolean;
  /** The participant's application metadata (`update_me`); absent when never set. */
  metadata?: Record<string, unknown>;
  /** `true` for a hidden participant (seen by hosts, moderators and itself only). */
  hidden?: boolean;
}

/** A user banned from a room, as hosts and moderators see it. */
export interface BanEntry {
  user: string;
  /** The display name the user had when banned. */
  name?: string;
  /** The participant who banned the user. */
  by?: string;
  /** Seconds until a timed ban lifts; absent: until the room ends. */
  expires_in?: number;
}

/** Someone waiting in a room's lobby. */
export interface LobbyEntry {
  id: string;
  user: string;
  name?: string;
}

/** A call as its caller and invitees see it. */
export interface CallInfo {
  type: "call";
  id: string;
  room: string;
  caller: string;
  invitees: string[];
  state: CallState;
  media: CallMedia;
  reason?: CallEndReason;
  /** Left out when empty. */
  answered_by?: string[];
  /** Seconds from answer to end, once ended after being answered. */
  duration?: number;
}

/** The limits in force, announced in `welcome`. */
export interface ServerLimits {
  max_frame_bytes: number;
  /** Send something (a ping will do) at least this often, in seconds. */
  ping_interval: number;
  /** A connection silent this long is treated as dropped, in seconds. */
  ping_timeout: number;
  /** How long a dropped session may resume, in seconds. */
  reconnect_grace: number;
  max_rooms: number;
  max_chat_chars: number;
}

/**
 * A STUN or TURN server in the shape `RTCPeerConnection` takes (`RTCIceServer`):
 * `stun:`, `stuns:`, `turn:` or `turns:` URIs; TURN ones with credentials, often minted
 * for this user at this connection (docs/turn.md).
 */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** A flat connection-quality report value. */
export type StatValue = boolean | number | string | null;

// ====================================================================== client messages

interface RequestBase {
  /** Echoed by the one reply; `request()` assigns it. */
  id?: RequestId;
}
interface RoomRequestBase extends RequestBase {
  room: string;
}
interface DirectedBase extends RoomRequestBase {
  /** The addressee's participant id. */
  to: string;
}

/** First message on a connection (the client says it itself). */
export interface Hello extends RequestBase {
  type: "hello";
  version: number;
  /** A resume token from an earlier `welcome`. */
  resume?: string;
  /** With `resume`: the last `seq` processed. */
  last_seq?: number;
}
/** Keep-alive; answered by `pong`. */
export interface Ping extends RequestBase {
  type: "ping";
}
/** Join a room (or its lobby); the result is a `RoomSnapshot` or a `LobbyWait`. */
export interface Join extends RoomRequestBase {
  type: "join";
  name?: string;
  invite?: string;
}
/** Leave a room (or its lobby). */
export interface Leave extends RoomRequestBase {
  type: "leave";
}
/** Update the sender's own media flags; omitted flags are unchanged. */
export interface MediaState extends RoomRequestBase {
  type: "media_state";
  audio?: boolean;
  video?: boolean;
  screen?: boolean;
  hand?: boolean;
}
/** Moderator: turn another participant's audio and/or video off. */
export interface Mute extends RoomRequestBase {
  type: "mute";
  target: string;
  /** Default `true`. */
  audio?: boolean;
  /** Default `false`. */
  video?: boolean;
}
/** Moderator: remove a participant from the room; with `ban`, keep its user out. */
export interface Kick extends RoomRequestBase {
  type: "kick";
  target: string;
  reason?: string;
  /** Default `false`: with `true`, every device of the target's user goes and stays out. */
  ban?: boolean;
  /** Seconds the ban lasts (only with `ban`); absent: until the room ends. */
  duration?: number;
}
/** Moderator: lift the ban of `user`. */
export interface Unban extends RoomRequestBase {
  type: "unban";
  user: string;
}
/** Change the sender's own display name and/or metadata; omitted fields unchanged. */
export interface UpdateMe extends RoomRequestBase {
  type: "update_me";
  name?: string;
  /** At most 1,024 bytes as JSON; replaces the previous object whole. */
  metadata?: Record<string, unknown>;
}
/** Host: hand the host role to another participant. */
export interface TransferHost extends RoomRequestBase {
  type: "transfer_host";
  target: string;
}
/** Host: promote or demote a participant. */
export interface SetRole extends RoomRequestBase {
  type: "set_role";
  target: string;
  role: AssignableRole;
}
/** Moderator: lock (no new joins) or unlock the room. */
export interface Lock extends RoomRequestBase {
  type: "lock";
  locked: boolean;
}
/** Moderator: admit (or, with `allow: false`, deny) someone in the lobby. */
export interface Admit extends RoomRequestBase {
  type: "admit";
  target: string;
  /** Default `true`. */
  allow?: boolean;
}
/** Moderator: set the room's layout hint. */
export interface SetLayout extends RoomRequestBase {
  type: "set_layout";
  layout: string;
}
/** Start, stop, pause or resume recording. */
export interface Recording extends RoomRequestBase {
  type: "recording";
  action: RecordingAction;
}
/** An SDP offer for one participant. */
export interface Offer extends DirectedBase {
  type: "offer";
  sdp: string;
  /** This offer's id: the sender's choice, else assigned by the server (always relayed). */
  negotiation?: string;
}
/** An SDP answer to the addressee's pending offer. */
export interface Answer extends DirectedBase {
  type: "answer";
  sdp: string;
  /** The `negotiation` of the offer answered; a replaced offer's gets `stale_answer`. */
  negotiation?: string;
}
/** A trickled ICE candidate (the `candidate:` attribute value). */
export interface Candidate extends DirectedBase {
  type: "candidate";
  candidate: string;
  sdp_mid?: string;
  sdp_mline_index?: number;
  username_fragment?: string;
}
/** Gathering finished for one ICE generation. */
export interface EndOfCandidates extends DirectedBase {
  type: "end_of_candidates";
  username_fragment?: string;
}
/** A chat message to the whole room: text, never HTML. */
export interface Chat extends RoomRequestBase {
  type: "chat";
  text: string;
}
/** An ephemeral reaction (emoji) to the whole room. */
export interface Reaction extends RoomRequestBase {
  type: "reaction";
  emoji: string;
}
/** A typing indicator to the whole room. */
export interface Typing extends RoomRequestBase {
  type: "typing";
  typing: boolean;
}
/** An application message (namespaced `app_type`) to one participant or the room. */
export interface App extends RoomRequestBase {
  type: "app";
  app_type: string;
  to?: string;
  payload?: unknown;
}
/** A flat connection-quality report for the server's observers. */
export interface Stats extends RoomRequestBase {
  type: "stats";
  report: Record<string, StatValue>;
}
/** Ring one or more users; the result is the new `CallInfo`. */
export interface CallInvite extends RequestBase {
  type: "call_invite";
  to: string[];
  /** Default `"video"`. */
  media?: CallMedia;
}
/** Answer a ringing call; the result is the call room's snapshot. */
export interface CallAccept extends RequestBase {
  type: "call_accept";
  call: string;
}
/** Decline a call (idempotent). */
export interface CallDecline extends RequestBase {
  type: "call_decline";
  call: string;
}
/** Caller: stop ringing (idempotent). */
export interface CallCancel extends RequestBase {
  type: "call_cancel";
  call: string;
}
/** Leave an answered call (idempotent). */
export interface CallHangup extends RequestBase {
  type: "call_hangup";
  call: string;
}

/** Every message a client may send. */
export type ClientMessage =
  | Hello
  | Ping
  | Join
  | Leave
  | MediaState
  | Mute
  | Kick
  | Unban
  | UpdateMe
  | TransferHost
  | SetRole
  | Lock
  | Admit
  | SetLayout
  | Recording
  | Offer
  | Answer
  | Candidate
  | EndOfCandidates
  | Chat
  | Reaction
  | Typing
  | App
  | Stats
  | CallInvite
  | CallAccept
  | CallDecline
  | CallCancel
  | CallHangup;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What `request()` and `send()` take: any client message but `hello`, without `id`. */
export type OutgoingMessage = DistributiveOmit<Exclude<ClientMessage, Hello>, "id">;

/** A relayed message as it arrives: stamped by the server with the sender and `seq`. */
export type Relayed<M extends RoomRequestBase> = Omit<M, "id"> & {
  /** The sender's participant id. */
  from: string;
  seq: number;
};

// ====================================================================== server messages

interface EventBase {
  /** The session's event number: 1, 2, 3 ... without gaps. */
  seq: number;
}

/** The handshake's answer. */
export interface Welcome {
  type: "welcome";
  id?: RequestId;
  version: number;
  session: string;
  user: string;
  resume_token: string;
  limits: ServerLimits;
  /** Whether an earlier session was resumed. */
  resumed: boolean;
  /** The last `seq` delivered to this session before this welcome. */
  seq: number;
  /** On resume: events were lost; a fresh `room_snapshot` per room follows. */
  gap: boolean;
  /** STUN/TURN servers for `RTCPeerConnection` (left out when none). */
  ice_servers?: IceServer[];
}

/** A chat message of a room's history. */
export interface ChatEntry {
  type: "chat";
  room: string;
  from?: string;
  seq?: number;
  text: string;
}

/** A room's whole visible state: the result of `join`, or an event. */
export interface RoomSnapshot {
  type: "room_snapshot";
  room: string;
  /** Set when delivered as an event. */
  seq?: number;
  you: string;
  host?: string;
  participants: ParticipantInfo[];
  locked: boolean;
  join_policy: JoinPolicy;
  layout?: string;
  recording: RecordingState;
  capacity: number;
  /** Left out when empty. */
  chat?: ChatEntry[];
  /** Visible to hosts and moderators only; left out when empty. */
  lobby?: LobbyEntry[];
  /** The ban list: hosts and moderators only (absent when empty). */
  bans?: BanEntry[];
  /** Set when the room belongs to a call. */
  call?: string;
}

/** The result of `join` on a lobby room: wait for admission. */
export interface LobbyWait {
  type: "lobby_wait";
  room: string;
  you: string;
}

/** Success reply to the request with this `id`. */
export interface Ok {
  type: "ok";
  id?: RequestId;
  result?: RoomSnapshot | LobbyWait | CallInfo;
}

/** Failure reply (or, without `id`, a report about a message sent without one). */
export interface ErrorReply {
  type: "error";
  id?: RequestId;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  /** Seconds to wait before retrying (`rate_limited`). */
  retry_after?: number;
}

/** Answer to `ping`. */
export interface Pong {
  type: "pong";
  id?: RequestId;
}

/** Someone joined a room you are in. */
export interface ParticipantJoined extends EventBase {
  type: "participant_joined";
  room: string;
  participant: ParticipantInfo;
}
/** Someone left a room you are in. */
export interface ParticipantLeft extends EventBase {
  type: "participant_left";
  room: string;
  participant: string;
  reason: LeaveReason;
}
/** A participant's media flags, presence, name or metadata changed. */
export interface ParticipantUpdated extends EventBase {
  type: "participant_updated";
  room: string;
  participant: ParticipantInfo;
}
/** A participant's role changed. */
export interface RoleChanged extends EventBase {
  type: "role_changed";
  room: string;
  participant: string;
  role: Role;
  by?: string;
}
/** The host role moved. */
export interface HostChanged extends EventBase {
  type: "host_changed";
  room: string;
  host: string;
  previous?: string;
}
/** Room-wide state changed: lock, layout or recording. */
export interface RoomUpdated extends EventBase {
  type: "room_updated";
  room: string;
  locked: boolean;
  layout?: string;
  recording: RecordingState;
  by?: string;
}
/**
 * In a cluster, the room's instance changed without a handover (its owner crashed):
 * offers, answers and candidates in flight from `peers` may be lost. Comes right after a
 * fresh `room_snapshot`; re-offer with an ICE restart toward a peer whose connection is
 * not stable and connected.
 */
export interface NegotiationReset extends EventBase {
  type: "negotiation_reset";
  room: string;
  peers: string[];
  reason: "owner_changed";
}
/** The lobby's waiting list changed (hosts and moderators). */
export interface LobbyUpdated extends EventBase {
  type: "lobby_updated";
  room: string;
  lobby: LobbyEntry[];
}
/** The room's ban list changed (hosts and moderators). */
export interface BansUpdated extends EventBase {
  type: "bans_updated";
  room: string;
  bans: BanEntry[];
}
/** You are no longer in the room (or its lobby). */
export interface Removed extends EventBase {
  type: "removed";
  room: string;
  reason: LeaveReason;
  by?: string;
  message?: string;
}
/** A moderator turned your audio and/or video off. */
export interface Muted extends EventBase {
  type: "muted";
  room: string;
  by: string;
  audio: boolean;
  video: boolean;
}
/** Someone is calling you. */
export interface IncomingCall extends EventBase {
  type: "incoming_call";
  call: CallInfo;
}
/** A call you are part of changed state. */
export interface CallUpdated extends EventBase {
  type: "call_updated";
  call: CallInfo;
}
/** The call reaches its maximum duration in `remaining` seconds. */
export interface CallEnding extends EventBase {
  type: "call_ending";
  call: string;
  remaining: number;
}
/** The server is shutting down: reconnect and resume (the client does). */
export interface GoingAway {
  type: "going_away";
  reason: string;
  reconnect: boolean;
}

/** Relayed messages as they arrive. */
export type RelayedMessage =
  | Relayed<Offer>
  | Relayed<Answer>
  | Relayed<Candidate>
  | Relayed<EndOfCandidates>
  | Relayed<Chat>
  | Relayed<Reaction>
  | Relayed<Typing>
  | Relayed<App>;

/** Server events, numbered by `seq`. */
export type ServerEvent =
  | (RoomSnapshot & EventBase)
  | ParticipantJoined
  | ParticipantLeft
  | ParticipantUpdated
  | RoleChanged
  | HostChanged
  | RoomUpdated
  | LobbyUpdated
  | BansUpdated
  | Removed
  | Muted
  | IncomingCall
  | CallUpdated
  | CallEnding
  | NegotiationReset
  | RelayedMessage;

/** Every message a server may send. */
export type ServerMessage = Welcome | Ok | ErrorReply | Pong | GoingAway | ServerEvent;

/** What `request()` resolves with, by request type (`null` for the others). */
export interface RequestResults {
  ping: Pong;
  join: RoomSnapshot | LobbyWait;
  call_invite: CallInfo;
  call_accept: RoomSnapshot;
}
/** The result of a request of type `T`. */
export type ResultOf<T extends { type: string }> = T["type"] extends keyof RequestResults
  ? RequestResults[T["type"]]
  : null;

// ====================================================================== SignalingClient

/** An `error` reply from the server, or a local failure (`timeout`, `connection_lost` ...). */
export class SignalingError extends Error {
  constructor(
    code: ErrorCode | LocalErrorCode,
    message: string,
    extra?: { details?: Record<string, unknown>; retry_after?: number },
  );
  readonly name: "SignalingError";
  /** The protocol's stable error code, or a local one. */
  code: ErrorCode | LocalErrorCode;
  details: Record<string, unknown> | undefined;
  /** The server's `retry_after`, in seconds. */
  retryAfter: number | undefined;
}

/** An event handler property; bivariant, so the DOM's handler types fit. */
type Handler<E> = { bivariance(event: E): void }["bivariance"];

/** The WebSocket the client needs (the browser's, or the `ws` package's in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

/** Where the resume state lives (`sessionStorage` by default). */
export type ResumeStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export interface SignalingClientOptions {
  /** A token, or a function returning one, called before every connection attempt. */
  token?: string | null | (() => string | null | Promise<string | null>);
  /** Default `sessionStorage`; `null` keeps the resume state in memory. */
  storage?: ResumeStorage | null;
  /** Default `"rtcsignal"`. */
  storageKey?: string;
  /** Reconnect automatically (default `true`). */
  reconnect?: boolean;
  /** First reconnect delay in ms (default 250). */
  minDelay?: number;
  /** Largest reconnect delay in ms (default 10000). */
  maxDelay?: number;
  /** Ms each send of a request waits for its reply before it rejects with `timeout` (default 15000). */
  requestTimeout?: number;
  /** Most messages queued while disconnected (default 500). */
  maxQueued?: number;
  /**
   * Times a request refused with `backplane_unavailable` (in a cluster, the instance
   * owning the room did not answer in time) is re-sent, with the same `id`, after the
   * error's `retry_after` (plus up to 20 % jitter), before it rejects with that error
   * (default 3; 0: never). The server answers a retry of a request it applied
   * meanwhile with its first outcome, so a retried request takes effect at most once.
   */
  retryUnavailable?: number;
  /** A number in [0, 1) for the jitter of retries and reconnects (default `Math.random`). */
  random?: () => number;
  /** The WebSocket constructor (default `globalThis.WebSocket`). */
  WebSocket?: new (url: string) => WebSocketLike;
}

/** `idle` before `connect()`, then `connecting`, `open`, `reconnecting`, `closed`. */
export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** The model of a room the session is in. */
export interface RoomModel {
  room: string;
  you: string | null;
  host: string | null;
  locked: boolean;
  capacity: number | null;
  join_policy: JoinPolicy;
  layout: string | null;
  recording: RecordingState;
  call: string | null;
  lobby: LobbyEntry[];
  /** The ban list (hosts and moderators). */
  bans: BanEntry[];
  chat: ChatEntry[];
  /** True while waiting in the lobby. */
  waiting: boolean;
  myOrder: number | null;
  participants: Record<string, ParticipantInfo>;
}

/** Server events by type, as `on(type)` delivers them. */
export type ServerEventMap = { [M in ServerEvent | GoingAway as M["type"]]: M };

/** Everything `on()` and `addEventListener()` deliver, by event name. */
export interface SignalingClientEventMap extends ServerEventMap {
  /** Every event and reply, as received. */
  message: ServerMessage;
  /** After each successful hello (fresh or resumed). */
  welcome: Welcome;
  /** The server could not replay what was missed; a `room_snapshot` per room follows. */
  gap: Welcome;
  /** Resuming failed; a fresh session started: re-join these rooms. */
  session_lost: { rooms: string[]; code: ErrorCode; message: string };
  state: { state: ClientState };
  /** The socket closed; `retryIn` ms until the next attempt (`null`: final). */
  disconnected: { code: number; reason: string; retryIn: number | null };
  /** The server refused the credentials (close 4003). */
  auth_failed: { code: number; reason: string };
  /** An `error` without an `id`. */
  server_error: ErrorReply;
}

export class SignalingClient extends EventTarget {
  /**
   * @param url the WebSocket URL, e.g. `wss://host/ws`
   */
  constructor(url: string, options?: SignalingClientOptions);
  readonly url: string;
  readonly options: Readonly<Required<Omit<SignalingClientOptions, "storage">>>;
  readonly storage: ResumeStorage;
  readonly state: ClientState;
  /** The last `welcome`. */
  readonly welcome: Welcome | null;
  readonly session: string | null;
  readonly user: string | null;
  readonly limits: ServerLimits | null;
  /** The ICE servers of the last `welcome` (`[]` when none); `PeerMesh` uses them. */
  readonly iceServers: IceServer[];
  /** The highest `seq` processed. */
  readonly lastSeq: number;
  /** Room models by room id. */
  readonly rooms: Map<string, RoomModel>;

  /** Connect (or resume the stored session); resolves with the first `welcome`. */
  connect(): Promise<Welcome>;
  /** Close for good; with `forget`, also drop the stored resume state. */
  close(forget?: boolean): void;
  /**
   * Send a request (an `id` is assigned) and resolve with its reply's result. Refused
   * with `backplane_unavailable`, it is re-sent with the same `id` after `retry_after`,
   * up to `retryUnavailable` times, before it rejects with that error.
   */
  request<T extends OutgoingMessage>(message: T, opts?: { timeout?: number }): Promise<ResultOf<T>>;
  /** Send without waiting for a reply (a refusal comes as `server_error`). */
  send(message: OutgoingMessage): void;
  /** Listen to one message type or lifecycle event; returns the unsubscribe function. */
  on<K extends keyof SignalingClientEventMap>(
    type: K,
    listener: (detail: SignalingClientEventMap[K]) => void,
  ): () => void;
  /** The next event of `type` that satisfies `predicate`. */
  waitFor<K extends keyof SignalingClientEventMap>(
    type: K,
    predicate?: (detail: SignalingClientEventMap[K]) => boolean,
    timeout?: number,
  ): Promise<SignalingClientEventMap[K]>;
  /** The model of a room this session is in. */
  room(roomId: string): RoomModel | undefined;
  /** Drop a room's model. */
  forgetRoom(roomId: string): void;
  /** Forget the stored session: the next connection says a fresh hello. */
  forgetSession(): void;
  /** Record a chat message this client sent in the room's model. */
  recordOwnChat(roomId: string, text: string): void;
  /** Moderator: remove `target`; with `ban`, keep its user out (`duration` s, or until the room ends). */
  kick(roomId: string, target: string, options?: { reason?: string; ban?: boolean; duration?: number }): Promise<null>;
  /** Moderator: lift the ban of `user`. */
  unban(roomId: string, user: string): Promise<null>;
  /** Change this participant's display name and/or metadata in `roomId`. */
  updateMe(roomId: string, changes: { name?: string; metadata?: Record<string, unknown> }): Promise<null>;

  addEventListener<K extends keyof SignalingClientEventMap>(
    type: K,
    listener: (event: CustomEvent<SignalingClientEventMap[K]>) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof SignalingClientEventMap>(
    type: K,
    listener: (event: CustomEvent<SignalingClientEventMap[K]>) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

// ====================================================================== PeerMesh

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION: 1;

/** The media kinds a mesh sends. */
export type MediaKind = "audio" | "video";

export interface PeerMeshOptions {
  /** Local media to send (`null`: receive only). */
  stream?: MediaStream | null;
  /** Added to every `RTCPeerConnection`'s configuration (its `iceServers` replace the welcome's). */
  rtcConfig?: RTCConfiguration;
  /** A debug logger. */
  log?: (...args: unknown[]) => void;
}

/** One remote participant's connection. */
export interface Peer {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  readonly polite: boolean;
  /** The remote media, once tracks arrive. */
  readonly stream: MediaStream;
}

/** Per-peer state from `getStats()`. */
export interface PeerStats {
  id: string;
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  signalingState: RTCSignalingState;
  bytesReceived: number;
  bytesSent: number;
}

export interface PeerMeshEventMap {
  track: { id: string; stream: MediaStream; track: MediaStreamTrack };
  peerstate: { id: string; state: RTCPeerConnectionState; iceState: RTCIceConnectionState };
  peeradded: { id: string };
  peerremoved: { id: string };
  error: { id: string | undefined; error: unknown };
  /** A STUN/TURN server failed (`errorCode` 401: TURN refused the credentials). */
  icecandidateerror: { id: string; url: string; errorCode: number; errorText: string };
}

/** One `RTCPeerConnection` per remote participant, with perfect negotiation. */
export class PeerMesh extends EventTarget {
  constructor(client: SignalingClient, room: string, options?: PeerMeshOptions);
  readonly client: SignalingClient;
  readonly room: string;
  readonly rtcConfig: RTCConfiguration;
  /** Peers by participant id. */
  readonly peers: Map<string, Peer>;
  readonly stream: MediaStream | null;
  /** The tracks sent, by kind. */
  readonly tracks: Record<MediaKind, MediaStreamTrack | null>;

  /** Listen to the room and offer to every participant already in it. */
  start(): void;
  /** Close every peer connection and stop listening. */
  close(): void;
  /** Send `track` as this kind on every connection (screen sharing and back). */
  replaceTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void>;
  /** Per-peer connection state and RTP byte counts. */
  stats(): Promise<PeerStats[]>;
  /** Close the connection to one participant. */
  removePeer(id: string): void;

  addEventListener<K extends keyof PeerMeshEventMap>(
    type: K,
    listener: (event: CustomEvent<PeerMeshEventMap[K]>) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof PeerMeshEventMap>(
    type: K,
    listener: (event: CustomEvent<PeerMeshEventMap[K]>) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** ICE candidates a PeerMesh keeps per peer before they can be used; the newest past it are dropped. */
export const MAX_EARLY_CANDIDATES: number;
/** Append `candidate` to `buffer` unless it holds `limit` (default MAX_EARLY_CANDIDATES); whether kept. */
export function bufferCandidate<T>(buffer: T[], candidate: T, limit?: number): boolean;
