/**
 * The socket side (docs/contracts.md §4): socket.io v4 on the shared `node:http` server, the Origin
 * check and connection-rate limit at the handshake, native WebSocket frames, the namespaces
 * served, and the publisher used by webhooks. What a socket does after connecting
 * (`user.fetch`, tiers, rooms, the known profile) is user_fetch.ts.
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { Server, type ServerOptions } from "socket.io";
import type { EventLog } from "../events.ts";
import type { Identifier, IdentifierHasher } from "../identity.ts";
import { type Counters, type Limits, MinuteCounter } from "./limits.ts";
import { legacyNamespaces, namespacesPerConnection } from "./legacy_namespaces.ts";
import type { LiveConfig } from "../store/live_config.ts";
import type { Publisher, Push } from "../types.ts";
import type { Store } from "../store/store.ts";
import { NativeWsEngine, useNativeWebSockets } from "./ws_engine.ts";
import type { IdentityVerifier } from "./verification.ts";
import { connectionHandler, originHost } from "./user_fetch.ts";
import { clientAddress, type TrustProxy } from "../proxy.ts";
import { explainableHandshake, originCheck, originRefusalMessage } from "./origin_refusal.ts";

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
  /** Whose X-Forwarded-For names the client, for the per-IP handshake limit (lib/proxy.ts). */
  trustProxy: TrustProxy;
  /** This instance's name, shown in the dashboard's rooms. */
  instance: string;
  /** Called when a visitor's identifiers match no stored profile (fetches it from Hull). */
  unknownVisitor?: (identifiers: Identifier[], domain?: string) => void;
  /** Native WebSocket frames (lib/socket/ws_engine.ts) unless false. */
  nativeWebSockets?: boolean;
  /**
   * True for the id of a connector this deployment is bound to: its legacy namespace
   * (`/<connectorId>`) is admitted even when unknown ids have filled the cap.
   */
  knownConnector?: (connectorId: string) => boolean | Promise<boolean>;
}

/** The handshake's client address: the peer, or what the trusted proxy appended. */
export function clientIp(req: IncomingMessage, trust: TrustProxy): string {
  const fwd = req.headers["x-forwarded-for"];
  return clientAddress(trust, req.socket?.remoteAddress, typeof fwd === "string" ? fwd : undefined);
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
      // A browser's websocket upgrade from a refused Origin goes on to originCheck, which tells
      // the page why (see origin_refusal.ts); every other refused handshake stops here.
      let refused = false;
      if (!live.allows(origin)) {
        counters.inc("refused_connections");
        events.emit("incoming.connection.error", {
          domain,
          message: origin ? originRefusalMessage(origin) : "no Origin header",
        });
        const query = (req as { _query?: Record<string, unknown> })._query;
        if (!explainableHandshake(req.headers, query)) return cb("origin not allowed", false);
        refused = true;
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
        if (limits.mode === "enforce" || refused) return cb("too many connections", false);
      }
      cb(null, true);
    },
    ...extra,
  });
  if (deps.nativeWebSockets !== false) useNativeWebSockets(io);

  const legacy = legacyNamespaces(io, deps.knownConnector);
  const onConnection = connectionHandler(deps);
  for (const nsp of [io.of("/"), legacy.parent]) {
    nsp.use(originCheck(live));
    nsp.use(namespacesPerConnection);
    nsp.on("connection", onConnection);
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
    const live = livePushes(pushes);
    if (!live.length) return;
    // Otherwise through the adapter, so a socket that reconnects within the recovery window
    // (Redis) gets what it missed; the KV adapter packs a batch's messages into a few values.
    const target = opts.localOnly ? io.local : io;
    // Alone, a push none of whose rooms holds a local socket reaches nobody: most users of a
    // Hull batch have no visitor online, and with identities off no socket listens in the
    // anonymous rooms. Skipping it saves socket.io's broadcast (its sets, the packet's
    // encoding). Not with connection-state recovery, which keeps packets for absent sockets.
    const rooms = io.of("/").adapter.rooms;
    const skipEmpty = opts.localOnly === true && !extra.connectionStateRecovery;
    for (const p of live) {
      if (skipEmpty && !p.rooms.some((r) => rooms.has(r))) continue;
      target.to(p.rooms).except(p.except ?? []).emit(p.event, p.payload);
    }
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

const livePushes = (pushes: Push[]) => pushes.filter((p) => p.rooms.length && p.payload != null);

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
