/**
 * The socket side (docs/contracts.md §4): socket.io v4 on the shared `node:http` server, the
 * handshake checks (Origin, connections per IP and per connector), native WebSocket frames, the
 * namespaces served (`/` for the standalone connector, `/<id>` for each registered Hull
 * connector, see namespaces.ts) and the publisher of each connector (publishers.ts). What a socket does after
 * connecting (`user.fetch`, tiers, rooms, the known profile) is user_fetch.ts.
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { Server, type ServerOptions, type Socket } from "socket.io";
import type { Identifier, IdentifierHasher } from "../identity.ts";
import { type Counters, type Limits, MinuteCounter } from "./limits.ts";
import {
  answerConnectorCounts,
  closeConnectorNamespace,
  connectorNamespaces,
  connectorOf,
  namespacesPerConnection,
} from "./namespaces.ts";
import type { Publisher } from "../types.ts";
import { createPublishers } from "./publishers.ts";
import { NativeWsEngine, useNativeWebSockets } from "./ws_engine.ts";
import type { IdentityVerifier } from "./verification.ts";
import { connectionHandler, originHost } from "./user_fetch.ts";
import { clientAddress, type TrustProxy } from "../proxy.ts";
import { explainableHandshake, originRefusal, originRefusalMessage } from "./origin_refusal.ts";
import { type Connector, type ConnectorDirectory, STANDALONE_ID } from "../connector/directory.ts";

/** Hard ceiling on one socket message; `limits.messageBytes` is the configurable limit. */
export const MAX_SOCKET_MESSAGE_BYTES = 1024 * 1024;

/** What the socket side uses of a connector's services: the Hull profile fetch, if any. */
export interface SocketServices {
  profiles?: {
    /** Called when a visitor's identifiers match no stored profile (fetches it from Hull). */
    unknownVisitor(identifiers: Identifier[], domain?: string): void;
  } | null;
}

/** A connector as the socket side sees it: its store scope, settings, live log, services. */
export type SocketConnector = Connector<SocketServices>;

/** The connectors served, read synchronously at handshakes (lib/connector/directory.ts). */
export type SocketConnectors = Pick<
  ConnectorDirectory<SocketServices>,
  "openNow" | "allNow" | "onRemoved"
>;

/** Deployment-wide parts, plus the connectors whose parts each namespace uses. */
export interface SocketDeps {
  connectors: SocketConnectors;
  hasher: IdentifierHasher;
  verifier: IdentityVerifier;
  limits: Limits;
  counters: Counters;
  /** Whose X-Forwarded-For names the client, for the per-IP handshake limit (lib/proxy.ts). */
  trustProxy: TrustProxy;
  /** This instance's name, shown in the dashboard's rooms. */
  instance: string;
  /** Native WebSocket frames (lib/socket/ws_engine.ts) unless false. */
  nativeWebSockets?: boolean;
  /** Clock of the per-minute connection counters (tests). */
  clock?: () => number;
}

/** What `createSocketServer` returns. */
export interface SocketServer {
  io: Server;
  /** The standalone connector's publisher (namespace `/`). */
  publish: Publisher;
  /** The publisher of connector `id`: its pushes reach its namespace only, on every instance. */
  publisherFor(connectorId: string): Publisher;
  stop(): void;
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
): SocketServer {
  const { limits, counters, connectors } = deps;
  const standalone = () => connectors.openNow(STANDALONE_ID)!;
  // Before the namespace is known (engine.io's handshake) an Origin is admitted when any
  // connector open here whitelists it; each namespace then checks its own connector's list.
  const anyAllows = (origin: string | undefined) =>
    connectors.allNow().some((c) => c.live.allows(origin));
  const perIp = new MinuteCounter(deps.clock);
  const io = new Server(http, {
    allowEIO3: true,
    transports: ["polling", "websocket"],
    // A Hull connector's namespace goes when its last socket leaves (created again on demand).
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
      origin: (origin, cb) => cb(null, anyAllows(origin) ? origin : false),
      credentials: false,
    },
    allowRequest: (req, cb) => {
      const origin = req.headers.origin;
      // A browser's websocket upgrade from a refused Origin goes on to the namespace's admission, which tells
      // the page why (see origin_refusal.ts); every other refused handshake stops here. No
      // connector is known yet: the refusal is in the standalone connector's log.
      let refused = false;
      if (!anyAllows(origin)) {
        const domain = originHost(origin);
        const { events } = standalone();
        counters.inc("refused_connections");
        events.emit("incoming.connection.start", { domain });
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
        standalone().events.emit("incoming.connection.error", {
          domain: originHost(origin),
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

  const hullParent = connectorNamespaces(io, (id) => connectors.openNow(id) !== null);
  const admit = admission(deps, anyAllows);
  const onConnection = connectionHandler(deps);
  for (const nsp of [io.of("/"), hullParent]) {
    nsp.use(admit);
    nsp.use(namespacesPerConnection);
    nsp.on("connection", onConnection);
  }
  const stopRemoval = connectors.onRemoved((id) => closeConnectorNamespace(io, hullParent, id));
  answerConnectorCounts(io);

  const publishers = createPublishers(
    io,
    (id) => connectors.openNow(id) !== null,
    !!extra.connectionStateRecovery,
  );
  const stopForget = connectors.onRemoved((id) => publishers.forget(id));
  return {
    io,
    publish: publishers.publish,
    publisherFor: publishers.publisherFor,
    stop: () => {
      stopRemoval();
      stopForget();
    },
  };
}

/**
 * Namespace middleware admitting a socket to its connector's namespace: the connector is open
 * here, the Origin is in its whitelist (said to the page, see origin_refusal.ts), and its
 * connections this minute are within `connectionsPerConnectorPerMinute`.
 */
function admission(deps: SocketDeps, anyAllows: (origin: string | undefined) => boolean) {
  const { limits, counters } = deps;
  const perConnector = new MinuteCounter(deps.clock);
  return (socket: Socket, next: (err?: Error) => void): void => {
    const connector = connectorOf(socket, deps.connectors);
    // Removed between the namespace's creation and now.
    if (!connector) return next(new Error("unknown connector"));
    const origin = socket.handshake.headers.origin;
    const domain = originHost(origin);
    const { events } = connector;
    if (!connector.live.allows(origin)) {
      const refusal = originRefusal(origin);
      // Whitelisted by no connector: refused (and logged) at engine.io's handshake already.
      // A socket.io v2 client is put in `/` by the server whichever namespace it asked for:
      // refused there quietly, it goes on to its own connector's namespace.
      const implicit = socket.nsp.name === "/" && socket.client.conn.protocol === 3;
      if (anyAllows(origin) && !implicit) {
        counters.inc("refused_connections");
        events.emit("incoming.connection.start", { domain });
        events.emit("incoming.connection.error", { domain, message: refusal.message });
      }
      return next(refusal);
    }
    events.emit("incoming.connection.start", { domain });
    const n = perConnector.hit(connector.id);
    if (n > limits.connectionsPerConnectorPerMinute) {
      counters.inc("limit.connectionsPerConnectorPerMinute");
      const observe = limits.mode === "observe";
      const message = `limit: more than ${limits.connectionsPerConnectorPerMinute} connections ` +
        `per minute to this connector${observe ? " (observe only)" : ""}`;
      events.emit("incoming.connection.error", { domain, message });
      if (!observe) return next(new Error(`too many connections: ${message}`));
    }
    next();
  };
}
