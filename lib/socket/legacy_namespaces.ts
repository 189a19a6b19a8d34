/**
 * Namespaces of the original snippet. It connected to `/<connectorId>` (a 24-hex Hull id); we
 * serve those like `/`, but a namespace is server state, so it is bounded: only that name
 * shape is accepted, at most MAX_LEGACY_NAMESPACES of unknown ids exist per instance (the bound
 * connector's namespace is always admitted and never counted, so idle connections naming
 * made-up ids cannot lock the real one out), a connection may join at most
 * MAX_NAMESPACES_PER_CONNECTION namespaces, and empty ones are removed (also those created
 * for a peer's sockets by the cluster adapter, once nobody uses them here). Peers relay pushes
 * to this instance's legacy sockets (lib/socket/server.ts).
 */
import type { Namespace, Server, Socket } from "socket.io";
import { connectionState } from "./connection_state.ts";

/** The original snippet's namespace: `/` + a Hull connector id (24 hex digits). */
export const LEGACY_NAMESPACE = /^\/[0-9a-f]{24}$/i;
/** Legacy namespaces of unknown ids alive on one instance (known connectors' are not counted). */
export const MAX_LEGACY_NAMESPACES = 32;
/** Namespaces one engine.io connection may join: `/` and one legacy name. */
export const MAX_NAMESPACES_PER_CONNECTION = 2;
/** How often namespaces with no socket here are removed. */
const SWEEP_MS = 60_000;

/** The legacy parent namespace and what bounds it. */
export interface LegacyNamespaces {
  /** Parent of every legacy namespace: `on("connection")` and `use()` apply to each. */
  parent: Namespace;
  /** Legacy namespaces alive here. */
  children: Set<Namespace>;
  /** Stops the sweep timer. */
  stop(): void;
}

/** True when one more namespace may be created for `name` on this instance. */
export function acceptsLegacyName(name: string, alive: number): boolean {
  return LEGACY_NAMESPACE.test(name) && alive < MAX_LEGACY_NAMESPACES;
}

/**
 * Registers the legacy parent namespace on `io`. The server must be created with
 * `cleanupEmptyChildNamespaces: true` so a namespace goes when its last socket leaves.
 * `isKnown(connectorId)`: true for a connector this deployment is bound to, whose namespace is
 * admitted past the cap.
 */
export function legacyNamespaces(
  io: Server,
  isKnown?: (connectorId: string) => boolean | Promise<boolean>,
): LegacyNamespaces {
  let children = new Set<Namespace>();
  /** Names admitted as a known connector's: not counted against the cap. */
  const known = new Set<string>();
  const unknownAlive = () => {
    let n = 0;
    for (const nsp of children) if (!known.has(nsp.name)) n++;
    return n;
  };
  const parent = io.of((name, _auth, next) => {
    // Decided at once while there is room, so concurrent handshakes cannot overshoot the cap;
    // only a full cap waits for the (cached) question whether the id is a known connector's.
    if (!LEGACY_NAMESPACE.test(name)) return next(null, false);
    if (acceptsLegacyName(name, unknownAlive()) || !isKnown) {
      return next(null, acceptsLegacyName(name, unknownAlive()));
    }
    Promise.resolve().then(() => isKnown(name.slice(1))).catch(() => false).then((yes) => {
      if (yes) known.add(name);
      next(null, yes || acceptsLegacyName(name, unknownAlive()));
    });
  });
  children = (parent as unknown as { children: Set<Namespace> }).children;
  // A namespace whose sockets never connected (refused by a later middleware) never sees a
  // socket leave, so socket.io's own cleanup never runs for it.
  const sweep = setInterval(() => {
    for (const nsp of children) {
      if (nsp.sockets.size === 0) removeNamespace(io, children, nsp);
    }
  }, SWEEP_MS);
  Deno.unrefTimer(sweep);
  return { parent, children, stop: () => clearInterval(sweep) };
}

function removeNamespace(io: Server, children: Set<Namespace>, nsp: Namespace): void {
  children.delete(nsp);
  (io as unknown as { _nsps: Map<string, Namespace> })._nsps.delete(nsp.name);
  // deno-lint-ignore no-explicit-any
  (nsp.adapter as any).close?.();
}

/**
 * Namespace middleware: refuses a socket whose connection already holds (or is joining)
 * MAX_NAMESPACES_PER_CONNECTION namespaces. Counted when admitted, not when connected, since
 * a client can ask for many namespaces in one burst before any of them is connected.
 */
export function namespacesPerConnection(socket: Socket, next: (err?: Error) => void): void {
  const conn = connectionState(socket);
  if (conn.namespaces >= MAX_NAMESPACES_PER_CONNECTION) {
    return next(
      new Error(`limit: at most ${MAX_NAMESPACES_PER_CONNECTION} namespaces per connection`),
    );
  }
  conn.namespaces++;
  // A shared listener (`disconnect` comes once): no closure or `once` wrapper per socket.
  socket.on("disconnect", leaveNamespace);
  next();
}

function leaveNamespace(this: Socket): void {
  connectionState(this).namespaces--;
}

/**
 * What this instance really holds: engine.io connections, namespace sockets (one connection
 * may have several), namespaces and identifier rooms.
 */
export function socketCounts(io: Server) {
  let sockets = 0, rooms = 0;
  const nsps = (io as unknown as { _nsps: Map<string, Namespace> })._nsps;
  for (const nsp of nsps.values()) {
    sockets += nsp.sockets.size;
    for (const s of nsp.sockets.values()) rooms += Math.max(0, s.rooms.size - 1);
  }
  return {
    connections: io.engine.clientsCount,
    namespace_sockets: sockets,
    namespaces: nsps.size,
    rooms,
  };
}
