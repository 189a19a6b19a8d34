/**
 * The socket side (DESIGN §3.4): socket.io v4 on the shared `node:http` server, Origin check
 * and connection-rate limit at the handshake, `user.fetch` validation, identity verification
 * and exposure tier, one room per identifier named by its keyed hash, the known profile sent
 * right after `user.fetch`, and the publisher used by webhooks.
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { Server, type ServerOptions, type Socket } from "socket.io";
import type { EventLog } from "../events.ts";
import {
  type Identifier,
  type IdentifierHasher,
  maskIdentifiers,
  maskValue,
  parseFetchRequest,
} from "../identity.ts";
import { type Counters, type Limits, MinuteCounter } from "./limits.ts";
import {
  type ClaimedIdentifier,
  connectionState,
  countFetch,
  mergeClaims,
  roomsOf,
  roomsOfSiblings,
} from "./connection_state.ts";
import { legacyNamespaces, namespacesPerConnection } from "./legacy_namespaces.ts";
import type { LiveConfig } from "../store/live_config.ts";
import { type Tier, versionedPayload } from "../payload.ts";
import type { Publisher, Push } from "../types.ts";
import type { Store } from "../store/store.ts";
import { NativeWsEngine, useNativeWebSockets } from "./ws_engine.ts";
import type { IdentityVerifier } from "./verification.ts";

/** Server-side event relaying a batch of pushes for legacy namespaces to the other instances. */
export const RELAY_EVENT = "hb:relay";
/** Most pushes one relayed message may carry (a 100-user batch makes 200). */
const MAX_RELAYED_PUSHES = 10_000;

/** Hard ceiling on one socket message; `limits.messageBytes` is the configurable limit. */
export const MAX_SOCKET_MESSAGE_BYTES = 1024 * 1024;

export interface SocketDeps {
  store: Store;
  hasher: IdentifierHasher;
  events: EventLog;
  live: LiveConfig;
  verifier: IdentityVerifier;
  limits: Limits;
  counters: Counters;
  trustProxy: boolean;
  /** This instance's name, shown in the dashboard's rooms. */
  instance: string;
  /** Called when a visitor's identifiers match no stored profile (fetches it from Hull). */
  unknownVisitor?: (identifiers: Identifier[], domain?: string) => void;
  /** Native WebSocket frames (lib/socket/ws_engine.ts) unless false. */
  nativeWebSockets?: boolean;
}

function originHost(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  try {
    return new URL(origin).hostname;
  } catch {
    return "(malformed origin)";
  }
}

/** The client's IP: the socket peer, or X-Forwarded-For's first hop behind a trusted proxy. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  const fwd = req.headers["x-forwarded-for"];
  if (trustProxy && typeof fwd === "string" && fwd.trim()) return fwd.split(",")[0].trim();
  return req.socket?.remoteAddress ?? "unknown";
}

/** Creates the socket.io server on `http` and wires the protocol. */
export function createSocketServer(
  http: HttpServer,
  deps: SocketDeps,
  extra: Partial<ServerOptions> = {},
): { io: Server; publish: Publisher; stop: () => void } {
  const { events, live, limits, counters } = deps;
  const perIp = new MinuteCounter();
  const io = new Server(http, {
    allowEIO3: true,
    transports: ["polling", "websocket"],
    // Legacy namespaces go when their last socket leaves (see legacy_namespaces.ts).
    cleanupEmptyChildNamespaces: true,
    ...(deps.nativeWebSockets === false ? {} : { wsEngine: NativeWsEngine }),
    serveClient: false,
    // Enforced by engine.io (the connection is dropped); observe mode only logs, below.
    maxHttpBufferSize: limits.mode === "enforce"
      ? limits.messageBytes
      : Math.max(limits.messageBytes, MAX_SOCKET_MESSAGE_BYTES),
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
      if (!live.allows(origin)) {
        counters.inc("refused_connections");
        events.emit("incoming.connection.error", {
          domain,
          message: origin ? "origin is not a whitelisted domain" : "no Origin header",
        });
        return cb("origin not allowed", false);
      }
      // engine.io asks only for handshakes (no live session: an empty or absent `sid`), so
      // every call here is a new connection.
      const n = perIp.hit(clientIp(req, deps.trustProxy));
      if (n > limits.connectionsPerIpPerMinute) {
        counters.inc("limit.connectionsPerIpPerMinute");
        events.emit("incoming.connection.error", {
          domain,
          message: `limit: more than ${limits.connectionsPerIpPerMinute} connections per minute ` +
            `from one IP${limits.mode === "observe" ? " (observe only)" : ""}`,
        });
        if (limits.mode === "enforce") return cb("too many connections", false);
      }
      cb(null, true);
    },
    ...extra,
  });
  if (deps.nativeWebSockets !== false) useNativeWebSockets(io);

  const legacy = legacyNamespaces(io);
  for (const nsp of [io.of("/"), legacy.parent]) {
    nsp.use(namespacesPerConnection);
    nsp.on("connection", (s) => onConnection(s, deps));
  }

  // Namespaces of old snippets ("/<connectorId>") exist only where such a socket connected, so
  // a cluster adapter cannot carry them: emit to the local ones, and ask every other instance
  // to do the same for its own, one server-side message per batch (not per user). There are at
  // most MAX_LEGACY_NAMESPACES of them.
  const emitChildren = (pushes: Push[]) => {
    if (!legacy.children.size) return;
    for (const nsp of legacy.children) {
      if (!nsp.sockets.size) continue;
      for (const p of pushes) nsp.local.to(p.rooms).except(p.except ?? []).emit(p.event, p.payload);
    }
  };
  io.on(RELAY_EVENT, (pushes: unknown) => emitChildren(validPushes(pushes)));
  const publish: Publisher = (pushes, opts = {}) => {
    const live = pushes.filter((p) => p.rooms.length && p.payload != null);
    if (!live.length) return;
    // Otherwise through the adapter, so a socket that reconnects within the recovery window
    // (Redis) gets what it missed; the KV adapter packs a batch's messages into a few values.
    const target = opts.localOnly ? io.local : io;
    for (const p of live) target.to(p.rooms).except(p.except ?? []).emit(p.event, p.payload);
    emitChildren(live);
    if (opts.localOnly) return;
    try {
      io.serverSideEmit(RELAY_EVENT, live);
    } catch {
      // The in-memory adapter (a single instance) has no server-side emit: nothing to relay.
    }
  };
  return { io, publish, stop: legacy.stop };
}

/** The well-formed pushes of a relayed message (peers share our secret, but not our bugs). */
function validPushes(v: unknown): Push[] {
  if (!Array.isArray(v)) return [];
  const out: Push[] = [];
  for (const p of v.slice(0, MAX_RELAYED_PUSHES)) {
    if (typeof p !== "object" || p === null) continue;
    const { rooms, except, event, payload } = p as Record<string, unknown>;
    if (event !== "user.update" && event !== "user.delete") continue;
    if (!Array.isArray(rooms) || payload == null) continue;
    out.push({
      rooms: strings(rooms),
      except: Array.isArray(except) ? strings(except) : undefined,
      event,
      payload,
    });
  }
  return out;
}

const strings = (a: unknown[]) => a.filter((r): r is string => typeof r === "string");

function onConnection(socket: Socket, deps: SocketDeps): void {
  const { events, hasher, live, verifier, limits, counters } = deps;
  const domain = originHost(socket.handshake.headers.origin);
  // fetchSockets() ships each socket's handshake across instances for the dashboard: keep only
  // the header that is read (the Origin), not cookies and the rest.
  const origin = socket.handshake.headers.origin;
  socket.handshake.headers = origin ? { origin } : {};
  socket.handshake.query = {};
  // Identifiers and the fetch rate belong to the connection, shared by its namespace sockets.
  const conn = connectionState(socket);
  /** The rooms this namespace socket joined for identifiers. */
  const joined = new Set<string>();
  // What the dashboard shows of this socket (fetchSockets() carries `data` across instances):
  // masked identifiers and their room names only, never raw values.
  socket.data = {
    domain,
    instance: deps.instance,
    connectedAt: Date.now(),
    tier: "anonymous",
    ids: [],
  };
  events.emit("incoming.connection.success", { domain });

  const refuse = (message: string) => {
    events.emit("incoming.user.fetch.error", { domain, message });
    socket.emit("close", { message });
    socket.disconnect(true);
  };
  /** Logs a limit trip; true when the request must be refused (enforce mode). */
  const tripped = (name: keyof Limits, message: string) => {
    counters.inc(`limit.${name}`);
    const observe = limits.mode === "observe";
    events.emit("incoming.user.fetch.error", {
      domain,
      message: `limit: ${message}${observe ? " (observe only)" : ""}`,
    });
    return !observe;
  };

  socket.on("user.fetch", async (data: unknown) => {
    if (countFetch(conn) > limits.fetchesPerSocketPerMinute) {
      const msg = `more than ${limits.fetchesPerSocketPerMinute} user.fetch per minute`;
      if (tripped("fetchesPerSocketPerMinute", msg)) return refuse(`too many requests: ${msg}`);
    }
    if (limits.mode === "observe" && JSON.stringify(data ?? null).length > limits.messageBytes) {
      tripped("messageBytes", `user.fetch larger than ${limits.messageBytes} bytes`);
    }
    const req = parseFetchRequest(data);
    if (!req.ok) return refuse(req.error);
    const settings = live.settings;
    const mode = settings.identity_mode ?? "off";
    const rawClaims = (data as { claims: Record<string, unknown> }).claims;
    const decision = await verifier.decide(mode, req.identifiers, req.hash, rawClaims);
    const identifiers = maskIdentifiers(req.identifiers);
    events.emit("incoming.user.fetch.start", { identifiers, domain });
    if (decision.unverified.length && mode !== "off") {
      counters.inc("unverified_claims");
      events.emit("incoming.user.fetch.error", {
        identifiers: maskIdentifiers(decision.unverified),
        domain,
        message: mode === "required"
          ? "unverified claims ignored (identity verification required)"
          : "unverified claims served (identity verification in report mode)",
      });
    }
    try {
      const claims = mergeClaims(conn.identifiers, decision.accepted, mode, decision.verified);
      if (claims.size > limits.identifiersPerSocket) {
        const msg = `more than ${limits.identifiersPerSocket} identifiers on one connection`;
        if (tripped("identifiersPerSocket", msg)) return refuse(`too many identifiers: ${msg}`);
      }
      conn.identifiers = claims;
      const held = [...claims.values()];
      const rooms = roomsOf(held, hasher);
      if (rooms.length + roomsOfSiblings(socket) > limits.roomsPerSocket) {
        const msg = `more than ${limits.roomsPerSocket} rooms on one connection`;
        if (tripped("roomsPerSocket", msg)) return refuse(`too many rooms: ${msg}`);
      }
      // A claim upgraded to the full tier leaves its anonymous room, or pushes would come twice.
      const wanted = new Set(rooms);
      for (const r of joined) if (!wanted.has(r)) socket.leave(r);
      // Join before reading the snapshot: an update arriving meanwhile is pushed to us.
      socket.join(rooms);
      joined.clear();
      rooms.forEach((r) => joined.add(r));
      const full = held.filter((i) => i.tier === "full");
      socket.data.tier = full.length ? "full" : "anonymous";
      socket.data.ids = held.map((i, n) => ({
        type: i.type,
        masked: maskValue(i.type, i.value),
        room: rooms[n],
        tier: i.tier,
      }));
      events.emit("incoming.user.join-channel", {
        identifiers,
        domain,
        message: `joined ${rooms.length} rooms (${full.length} full, ` +
          `${held.length - full.length} anonymous exposure)`,
      });
      socket.emit("room.joined", { message: "ok" });
      if (!socket.connected || !decision.accepted.length) return;
      await sendKnownProfile(socket, deps, held, identifiers, domain);
    } catch (err) {
      events.emit("outgoing.user.fetch.error", {
        identifiers,
        domain,
        message: String((err as Error).message ?? err).slice(0, 200),
      });
    }
  });
}

/**
 * Sends the stored profile the claims point at: the user of a full-tier identifier with the
 * full payload, else the user of an anonymous-tier one with the anonymous payload only.
 */
async function sendKnownProfile(
  socket: Socket,
  deps: SocketDeps,
  held: ClaimedIdentifier[],
  identifiers: Record<string, string>,
  domain: string | undefined,
): Promise<void> {
  const { events, hasher, store, live } = deps;
  let found: { userId: string; tier: Tier } | null = null;
  for (const tier of ["full", "anonymous"] as const) {
    const ids = held.filter((i) => i.tier === tier);
    const userId = ids.length ? await store.lookupUserId(await hasher.hashAll(ids)) : null;
    if (userId) {
      found = { userId, tier };
      break;
    }
  }
  if (!found) {
    events.emit("incoming.user.fetch.success", {
      identifiers,
      domain,
      message: "unknown visitor: waiting for the first update",
    });
    // Asked of Hull with one tier's claims only: mixing a verified claim with someone else's
    // anonymous id must not let Hull's answer tie the two together.
    const full = held.filter((i) => i.tier === "full");
    const claims = full.length ? full : held;
    deps.unknownVisitor?.(claims.map(({ type, value }) => ({ type, value })), domain);
    return;
  }
  const profile = await store.getProfile(found.userId);
  const payload = profile && versionedPayload(profile, live.settings, found.tier);
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
    message: `known profile sent (${found.tier} exposure)`,
  });
}
