// The bare Node `ws` anchor of `python -m benchmarks relay`: the same relay as the Python
// bare `websockets` one, on a `WebSocketServer` as ws's README shows it: a map of rooms,
// JSON.parse, forward with JSON.stringify, no validation. Prints `READY <port>` once
// listening; SIGTERM ends it.
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 0);
const rooms = new Map(); // room -> Map(peer id -> socket)
const peers = new Map(); // peer id -> socket
let next = 1;

const wss = new WebSocketServer({ host: "127.0.0.1", port });

wss.on("connection", (ws) => {
  const me = `p${next++}`;
  const joined = [];
  peers.set(me, ws);
  ws.on("message", (raw) => {
    const msg = JSON.parse(raw);
    if (msg.type === "join") {
      let room = rooms.get(msg.room);
      if (room === undefined) rooms.set(msg.room, (room = new Map()));
      const others = [...room.keys()];
      room.set(me, ws);
      joined.push(msg.room);
      ws.send(JSON.stringify({ type: "ok", id: msg.id ?? null, you: me, peers: others }));
      const note = JSON.stringify({ type: "participant_joined", peer: me });
      for (const other of others) room.get(other).send(note);
    } else if (msg.type === "offer" || msg.type === "answer" || msg.type === "candidate") {
      const target = peers.get(msg.to);
      if (target !== undefined) {
        msg.from = me;
        target.send(JSON.stringify(msg));
      }
    }
  });
  ws.on("close", () => {
    peers.delete(me);
    for (const name of joined) rooms.get(name)?.delete(me);
  });
});

wss.on("listening", () => console.log(`READY ${wss.address().port}`));
process.on("SIGTERM", () => process.exit(0));
