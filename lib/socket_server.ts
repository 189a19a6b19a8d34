/**
 * The socket side (DESIGN §3.4): socket.io v4 on the shared `node:http` server, Origin check
 * at the handshake, `user.fetch` validation, one room per identifier named by its keyed hash,
 * the known profile sent right after `user.fetch`, and the publisher used by webhooks.
 */
import type { Server as HttpServer } from "node:http";
import { type Namespace, Server, type Socket } from "socket.io";
import type { EventLog } from "./events.ts";
import { type IdentifierHasher, maskIdentifiers, parseFetchRequest } from "./identity.ts";
import type { LiveConfig } from "./live_config.ts";
import { type Publisher, versionedPayload } from "./notifications.ts";
import type { Store } from "./store.ts";

/** Most identifier rooms one socket may join (a page has a handful of identifiers). */
export const MAX_ROOMS_PER_SOCKET = 16;
/** Largest socket message accepted (bytes); hostile payloads beyond it drop the connection. */
export const MAX_SOCKET_MESSAGE_BYTES = 64 * 1024;

export interface SocketDeps {
  store: Store;
  hasher: IdentifierHasher;
  events: EventLog;
  live: LiveConfig;
}

function originHost(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  try {
    return new URL(origin).hostname;
  } catch {
    return "(malformed origin)";
  }
}

/** Creates the socket.io server on `http` and wires the protocol. */
export function createSocketServer(http: HttpServer, deps: SocketDeps): {
  io: Server;
  publish: Publisher;
} {
  const { events, live } = deps;
  const io = new Server(http, {
    allowEIO3: true,
    transports: ["polling", "websocket"],
    serveClient: false,
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
    perMessageDeflate: false,
    httpCompression: false,
    cors: {
      // Reflect only whitelisted origins; everything else is refused in allowRequest anyway.
      origin: (origin, cb) => cb(null, live.allows(origin) ? origin : false),
      credentials: false,
    },
    allowRequest: (req, cb) => {
      const origin = req.headers.origin;
      const domain = originHost(origin);
      events.emit("incoming.connection.start", { domain });
      if (live.allows(origin)) return cb(null, true);
      events.emit("incoming.connection.error", {
        domain,
        message: origin ? "origin is not a whitelisted domain" : "no Origin header",
      });
      cb("origin not allowed", false);
    },
  });

  const attach = (nsp: Namespace) => nsp.on("connection", (s) => onConnection(s, deps));
  attach(io.of("/"));
  // The original snippet connected to "/<connectorId>": every namespace behaves like "/".
  const children = io.of(/^\/.+$/);
  attach(children as unknown as Namespace);

  const publish: Publisher = (rooms, payload) => {
    io.to(rooms).emit("user.update", payload);
    children.to(rooms).emit("user.update", payload);
  };
  return { io, publish };
}

function onConnection(socket: Socket, deps: SocketDeps): void {
  const { events, hasher, store, live } = deps;
  const domain = originHost(socket.handshake.headers.origin);
  events.emit("incoming.connection.success", { domain });

  const refuse = (message: string) => {
    events.emit("incoming.user.fetch.error", { domain, message });
    socket.emit("close", { message });
    socket.disconnect(true);
  };

  socket.on("user.fetch", async (data: unknown) => {
    const req = parseFetchRequest(data);
    if (!req.ok) return refuse(req.error);
    const identifiers = maskIdentifiers(req.identifiers);
    events.emit("incoming.user.fetch.start", { identifiers, domain });
    try {
      const rooms = await hasher.hashAll(req.identifiers);
      const fresh = rooms.filter((r) => !socket.rooms.has(r));
      // socket.rooms also holds the socket's own id room.
      if (socket.rooms.size - 1 + fresh.length > MAX_ROOMS_PER_SOCKET) {
        return refuse(`too many identifiers on one connection (max ${MAX_ROOMS_PER_SOCKET})`);
      }
      // Join before reading the snapshot: an update arriving meanwhile is pushed to us.
      socket.join(rooms);
      events.emit("incoming.user.join-channel", {
        identifiers,
        domain,
        message: `joined ${rooms.length} rooms`,
      });
      socket.emit("room.joined", { message: "ok" });
      if (!socket.connected) return;

      const userId = await store.lookupUserId(rooms);
      if (!userId) {
        events.emit("incoming.user.fetch.success", {
          identifiers,
          domain,
          message: "unknown visitor: waiting for the first update",
        });
        return;
      }
      const profile = await store.getProfile(userId);
      const payload = profile && versionedPayload(profile, live.settings);
      if (!payload) {
        events.emit("outgoing.user.skip", {
          identifiers,
          domain,
          message: profile ? "user is in none of the user filter segments" : "profile missing",
        });
        return;
      }
      socket.emit("user.update", payload);
      events.emit("incoming.user.fetch.success", {
        identifiers,
        domain,
        message: "known profile sent",
      });
    } catch (err) {
      events.emit("outgoing.user.fetch.error", {
        identifiers,
        domain,
        message: String((err as Error).message ?? err).slice(0, 200),
      });
    }
  });
}
