// Baseline: the simplest Node.js server a user would write for the connector's protocol.
// socket.io 4 on node:http, profiles in a Map, one room per identifier, HMAC-checked webhooks.
//   PORT=0 WEBHOOK_SECRET=… PUBLIC_TRAITS=email,name node node_socketio.mjs
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { Server } from "socket.io";

const SECRET = process.env.WEBHOOK_SECRET ?? "";
const PUBLIC = (process.env.PUBLIC_TRAITS ?? "email,name").split(",").filter(Boolean);
const profiles = new Map(); // "type:value" → public payload

function verify(header, raw) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((p) => p.split("=")));
  if (!parts.t || !parts.v1) return false;
  const mac = createHmac("sha256", SECRET).update(`${parts.t}.`).update(raw).digest();
  const got = Buffer.from(parts.v1, "hex");
  return got.length === mac.length && timingSafeEqual(got, mac);
}

function roomsOf(user) {
  const rooms = [`id:${user.id}`];
  if (user.email) rooms.push(`email:${user.email}`);
  if (user.external_id) rooms.push(`external_id:${user.external_id}`);
  for (const a of user.anonymous_ids ?? []) rooms.push(`anonymous_id:${a}`);
  return rooms;
}

function payloadOf(m) {
  const user = { id: m.user.id };
  for (const k of PUBLIC) if (k in m.user) user[k] = m.user[k];
  return { user, segments: (m.segments ?? []).map((s) => s.name), version: Date.now() };
}

const http = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/smart-notifier") {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    if (!verify(req.headers["x-hull-browser-signature"], raw)) {
      res.writeHead(401).end('{"error":"bad signature"}');
      return;
    }
    let body;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      res.writeHead(400).end('{"error":"bad json"}');
      return;
    }
    for (const m of body.messages ?? []) {
      const payload = payloadOf(m);
      const rooms = roomsOf(m.user);
      for (const r of rooms) profiles.set(r, payload);
      io.to(rooms).emit("user.update", payload);
    }
    res.writeHead(200, { "content-type": "application/json" })
      .end('{"flow_control":{"type":"next","size":100,"in":100}}');
  });
});

const io = new Server(http, { serveClient: false, cors: { origin: true } });
io.on("connection", (socket) => {
  socket.on("user.fetch", (data) => {
    const claims = data?.claims ?? {};
    const rooms = [];
    if (typeof claims.email === "string") rooms.push(`email:${claims.email}`);
    if (typeof claims.external_id === "string") rooms.push(`external_id:${claims.external_id}`);
    if (typeof claims.anonymous_id === "string") rooms.push(`anonymous_id:${claims.anonymous_id}`);
    socket.join(rooms);
    socket.emit("room.joined", { message: "ok" });
    for (const r of rooms) {
      const p = profiles.get(r);
      if (p) {
        socket.emit("user.update", p);
        break;
      }
    }
  });
});

// Exits cleanly when stopped, so that `node --cpu-prof` writes its profile (bench section 6).
process.on("SIGTERM", () => process.exit(0));

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`node-socketio listening on http://127.0.0.1:${http.address().port}`);
});
