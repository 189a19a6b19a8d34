/**
 * Which namespaces exist (docs/contracts.md §4): `/` for the standalone connector and `/<id>`
 * for each registered Hull connector, nothing else. A namespace is server state, so none is
 * created for an id nobody registered (socket.io answers `connect_error` "Invalid namespace"
 * before any state exists), one connection may join at most MAX_NAMESPACES_PER_CONNECTION of
 * them, and a removed connector's namespace goes with its sockets. Also counts what each
 * namespace holds, on this instance and across the cluster.
 */
import type { Namespace, Server, Socket } from "socket.io";
import { connectionState } from "./connection_state.ts";
import { HULL_CONNECTOR_ID, STANDALONE_ID } from "../connector/directory.ts";

/** Namespaces one engine.io connection may join: `/` and one connector's. */
export const MAX_NAMESPACES_PER_CONNECTION = 2;

/** What a removed connector's sockets are told before they are disconnected. */
export const REMOVED_MESSAGE = "connector removed";

/** Server-side event asking every instance for its per-connector socket counts. */
export const COUNTS_EVENT = "hb:nsp-counts";
/** Server-side event asking every instance for the `socket.data` of one connector's sockets. */
export const SOCKETS_EVENT = "hb:nsp-sockets";
/** Most sockets one instance describes in one answer (the dashboard pages through rooms). */
const MAX_SOCKETS_PER_ANSWER = 10_000;

/** The connector a namespace name serves: STANDALONE_ID for `/`, the id for `/<24 hex>`. */
export function connectorIdOf(namespace: string): string | null {
  if (namespace === "/") return STANDALONE_ID;
  const id = namespace.slice(1);
  return namespace[0] === "/" && HULL_CONNECTOR_ID.test(id) ? id : null;
}

/** The connector a socket's namespace serves, while it is open here. */
export function connectorOf<C>(
  socket: Socket,
  connectors: { openNow(id: string): C | null },
): C | null {
  const id = connectorIdOf(socket.nsp.name);
  return id === null ? null : connectors.openNow(id);
}

/**
 * Registers the parent of every Hull connector's namespace on `io`: a name is admitted only
 * while `isOpen(id)` (a registered connector open on this instance), decided synchronously so
 * concurrent handshakes cannot create namespaces for ids that are not registered.
 */
export function connectorNamespaces(io: Server, isOpen: (id: string) => boolean): Namespace {
  return io.of((name, _auth, next) => {
    const id = connectorIdOf(name);
    next(null, id !== null && id !== STANDALONE_ID && isOpen(id));
  });
}

/** The namespace of Hull connector `id` on this instance, if one exists here. */
export function existingNamespace(io: Server, id: string): Namespace | undefined {
  return nsps(io).get(`/${id}`);
}

/**
 * Tells the sockets of Hull connector `id` on this instance that it was removed, disconnects
 * them (their namespace only: the connection may carry `/` too) and removes the namespace.
 */
export function closeConnectorNamespace(io: Server, parent: Namespace, id: string): void {
  const nsp = existingNamespace(io, id);
  if (!nsp) return;
  for (const socket of [...nsp.sockets.values()]) closeSocket(socket, REMOVED_MESSAGE);
  // The last socket's leaving removed it already (`cleanupEmptyChildNamespaces`).
  if (nsps(io).get(nsp.name) !== nsp) return;
  (parent as unknown as { children: Set<Namespace> }).children.delete(nsp);
  nsps(io).delete(nsp.name);
  // deno-lint-ignore no-explicit-any
  (nsp.adapter as any).close?.();
}

/**
 * Tells `socket` why (`close { message }`) and disconnects it: its namespace only, or the whole
 * connection with `whole`. The message is written at once: with connection-state recovery
 * (Redis) `socket.emit` goes through the adapter first and would arrive after the disconnect.
 */
export function closeSocket(socket: Socket, message: string, whole = false): void {
  socket.nsp.local.to(socket.id).emit("close", { message });
  socket.disconnect(whole);
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

const nsps = (io: Server) => (io as unknown as { _nsps: Map<string, Namespace> })._nsps;

/**
 * What this instance really holds: engine.io connections, namespace sockets (one connection
 * may have several), namespaces and identifier rooms.
 */
export function socketCounts(io: Server) {
  let sockets = 0, rooms = 0;
  for (const nsp of nsps(io).values()) {
    sockets += nsp.sockets.size;
    for (const s of nsp.sockets.values()) rooms += Math.max(0, s.rooms.size - 1);
  }
  return {
    connections: io.engine.clientsCount,
    namespace_sockets: sockets,
    namespaces: nsps(io).size,
    rooms,
  };
}

/** What one connector's namespace holds. */
export interface ConnectorSocketCounts {
  /** Sockets connected to the connector's namespace. */
  sockets: number;
  /** Of those, sockets that sent a `user.fetch` whose identifiers joined rooms. */
  identified: number;
  /** Distinct identifier rooms joined in the namespace. */
  rooms: number;
}

/** This instance's counts per connector id (STANDALONE_ID for `/`); empty namespaces omitted. */
export function localConnectorCounts(io: Server): Record<string, ConnectorSocketCounts> {
  const out: Record<string, ConnectorSocketCounts> = {};
  for (const nsp of nsps(io).values()) {
    const id = connectorIdOf(nsp.name);
    if (id === null || !nsp.sockets.size) continue;
    let identified = 0;
    for (const s of nsp.sockets.values()) if (s.rooms.size > 1) identified++;
    let rooms = 0;
    for (const [room, members] of nsp.adapter.rooms) {
      // Each socket's own room (named by its id) is no identifier room.
      if (!(members.size === 1 && members.has(room))) rooms++;
    }
    out[id] = { sockets: nsp.sockets.size, identified, rooms };
  }
  return out;
}

/**
 * Lets other instances ask this one for its per-connector counts (`clusterConnectorCounts`) and
 * its sockets' data (`clusterSocketData`).
 */
export function answerConnectorCounts(io: Server): void {
  io.on(COUNTS_EVENT, (ack: unknown) => {
    if (typeof ack === "function") ack(localConnectorCounts(io));
  });
  io.on(SOCKETS_EVENT, (query: unknown, ack: unknown) => {
    if (typeof ack !== "function" || typeof query !== "object" || query === null) return;
    const { connector, rooms } = query as { connector?: unknown; rooms?: unknown };
    if (typeof connector !== "string") return ack([]);
    const only = Array.isArray(rooms)
      ? rooms.filter((r): r is string => typeof r === "string")
      : undefined;
    ack(localSocketData(io, connector, only));
  });
}

/**
 * Sockets, identified sockets and rooms per connector id (STANDALONE_ID for `/`), summed over
 * this instance and every other one that answers within `timeoutMs` (this one alone with the
 * in-memory adapter). Rooms are summed per instance: a room joined on two instances counts twice.
 */
export async function clusterConnectorCounts(
  io: Server,
  timeoutMs = 1_500,
): Promise<Record<string, ConnectorSocketCounts>> {
  const answers = [localConnectorCounts(io), ...await askPeers(io, COUNTS_EVENT, [], timeoutMs)];
  const out: Record<string, ConnectorSocketCounts> = {};
  for (const counts of answers) {
    if (typeof counts !== "object" || counts === null) continue;
    for (
      const [id, c] of Object.entries(counts as Record<string, Partial<ConnectorSocketCounts>>)
    ) {
      const sum = out[id] ??= { sockets: 0, identified: 0, rooms: 0 };
      sum.sockets += num(c?.sockets);
      sum.identified += num(c?.identified);
      sum.rooms += num(c?.rooms);
    }
  }
  return out;
}

/**
 * The `socket.data` (domain, instance, connectedAt, tier, masked ids and their rooms; never raw
 * identifiers) of connector `connectorId`'s sockets on this instance, only those in one of
 * `rooms` when given.
 */
export function localSocketData(
  io: Server,
  connectorId: string,
  rooms?: string[],
): Record<string, unknown>[] {
  const nsp = nsps(io).get(connectorId === STANDALONE_ID ? "/" : `/${connectorId}`);
  if (!nsp || connectorIdOf(nsp.name) === null) return [];
  const out: Record<string, unknown>[] = [];
  for (const s of nsp.sockets.values()) {
    if (out.length >= MAX_SOCKETS_PER_ANSWER) break;
    if (rooms && !rooms.some((r) => s.rooms.has(r))) continue;
    out.push(s.data ?? {});
  }
  return out;
}

/**
 * `socket.data` of connector `connectorId`'s sockets on every instance that answers within
 * `timeoutMs` (only those in one of `rooms` when given): what the dashboard's rooms page lists.
 * A Hull connector's namespace exists only where its sockets are, so `io.of(ns).fetchSockets()`
 * would wait for instances that never answer for it; this asks through `/`, which all have.
 */
export async function clusterSocketData(
  io: Server,
  connectorId: string,
  rooms?: string[],
  timeoutMs = 1_500,
): Promise<Record<string, unknown>[]> {
  const out = localSocketData(io, connectorId, rooms);
  const query = { connector: connectorId, rooms };
  for (const answer of await askPeers(io, SOCKETS_EVENT, [query], timeoutMs)) {
    if (!Array.isArray(answer)) continue;
    for (const d of answer) if (typeof d === "object" && d !== null) out.push(d);
  }
  return out;
}

/** The other instances' answers to `event` (none with the in-memory adapter; late ones lost). */
async function askPeers(
  io: Server,
  event: string,
  args: unknown[],
  timeoutMs: number,
): Promise<unknown[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A server-side emit never reaches its sender: each answer is another instance's.
    return await Promise.race([
      io.serverSideEmitWithAck(event, ...args),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      }),
    ]) as unknown[];
  } catch {
    // The in-memory adapter (one instance) has no server-side emit; a slow peer times out.
    return [];
  } finally {
    clearTimeout(timer);
  }
}

const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;
