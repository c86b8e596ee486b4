// The Node socket.io anchor of `python -m benchmarks relay`: a relay as socket.io's
// rooms documentation shows it. `join` enters a room, tells the others, and acknowledges
// with the peers already there; `candidate` goes to the peer named in `to`. Defaults
// everywhere (socket.io 4 negotiates no permessage-deflate by default). Prints
// `READY <port>` once listening; SIGTERM ends it.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 0);
const httpServer = createServer();
const io = new Server(httpServer);

io.on("connection", (socket) => {
  socket.on("join", (data, ack) => {
    const room = data.room;
    const peers = [...(io.sockets.adapter.rooms.get(room) ?? [])];
    socket.join(room);
    socket.to(room).emit("participant_joined", { peer: socket.id });
    if (typeof ack === "function") ack({ you: socket.id, peers });
  });
  socket.on("candidate", (data) => {
    data.from = socket.id;
    io.to(data.to).emit("candidate", data);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`READY ${httpServer.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
