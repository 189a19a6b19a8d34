/**
 * Publishing per connector (docs/contracts.md §4): the standalone connector's pushes go to
 * namespace `/` through the cluster adapter; a Hull connector's to its namespace `/<id>` on this
 * instance, and to the other instances in one relayed server-side message per batch that names
 * the connector (a peer that does not have it open drops it).
 */
import type { Namespace, Server } from "socket.io";
import type { Publisher, Push } from "../types.ts";
import { existingNamespace } from "./namespaces.ts";
import { HULL_CONNECTOR_ID, STANDALONE_ID } from "../connector/directory.ts";

/** Server-side event relaying a batch of a Hull connector's pushes to the other instances. */
export const RELAY_EVENT = "hb:relay";
/** Most pushes one relayed message may carry (a 100-user batch makes 200). */
const MAX_RELAYED_PUSHES = 10_000;

/** The publishers of one instance. */
export interface Publishers {
  /** The standalone connector's publisher (namespace `/`). */
  publish: Publisher;
  /** The publisher of connector `id`: its pushes reach its namespace only, on every instance. */
  publisherFor(connectorId: string): Publisher;
  /** Forgets a removed connector's publisher. */
  forget(connectorId: string): void;
}

/**
 * Creates the publishers on `io` and answers peers' relays for connectors `isOpen` here.
 * `recovery`: connection-state recovery is on (packets are kept for absent sockets, so rooms
 * with no local socket are not skipped on `/`).
 */
export function createPublishers(
  io: Server,
  isOpen: (connectorId: string) => boolean,
  recovery: boolean,
): Publishers {
  // A Hull connector's namespace exists only where its sockets connected, so a cluster adapter
  // cannot carry it: its pushes are emitted to the local namespace, and every other instance
  // is asked to do the same for its own, one server-side message per batch (not per user).
  io.on(RELAY_EVENT, (message: unknown) => {
    const relayed = validRelay(message);
    if (!relayed || !isOpen(relayed.connector)) return;
    emitLocal(io, relayed.connector, relayed.pushes);
  });

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
    const skipEmpty = opts.localOnly === true && !recovery;
    for (const p of live) {
      if (skipEmpty && !p.rooms.some((r) => rooms.has(r))) continue;
      target.to(p.rooms).except(p.except ?? []).emit(p.event, p.payload);
    }
  };
  const hullPublishers = new Map<string, Publisher>();
  const publisherFor = (connectorId: string): Publisher => {
    if (connectorId === STANDALONE_ID) return publish;
    if (!HULL_CONNECTOR_ID.test(connectorId)) {
      throw new Error(`not a connector id: ${JSON.stringify(connectorId)}`);
    }
    let p = hullPublishers.get(connectorId);
    if (!p) {
      p = (pushes, opts = {}) => {
        const live = livePushes(pushes);
        if (!live.length) return;
        emitLocal(io, connectorId, live);
        if (opts.localOnly) return;
        try {
          io.serverSideEmit(RELAY_EVENT, { connector: connectorId, pushes: live });
        } catch {
          // The in-memory adapter (a single instance) has no server-side emit: nothing to relay.
        }
      };
      hullPublishers.set(connectorId, p);
    }
    return p;
  };
  return { publish, publisherFor, forget: (id) => hullPublishers.delete(id) };
}

/**
 * Emits `pushes` to this instance's sockets of Hull connector `id`'s namespace. Local sockets
 * only, never kept for absent ones (no recovery through the relay): a push none of whose rooms
 * holds a socket here is skipped.
 */
function emitLocal(io: Server, id: string, pushes: Push[]): void {
  const nsp: Namespace | undefined = existingNamespace(io, id);
  if (!nsp?.sockets.size) return;
  const rooms = nsp.adapter.rooms;
  for (const p of pushes) {
    if (!p.rooms.some((r) => rooms.has(r))) continue;
    nsp.local.to(p.rooms).except(p.except ?? []).emit(p.event, p.payload);
  }
}
const livePushes = (pushes: Push[]) => pushes.filter((p) => p.rooms.length && p.payload != null);

/** A relayed message's connector and well-formed pushes (peers share our secret, not our bugs). */
function validRelay(v: unknown): { connector: string; pushes: Push[] } | null {
  if (typeof v !== "object" || v === null) return null;
  const { connector, pushes } = v as Record<string, unknown>;
  if (typeof connector !== "string" || !HULL_CONNECTOR_ID.test(connector)) return null;
  if (!Array.isArray(pushes)) return null;
  const out: Push[] = [];
  for (const p of pushes.slice(0, MAX_RELAYED_PUSHES)) {
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
  return { connector, pushes: out };
}

const strings = (a: unknown[]) => a.filter((r): r is string => typeof r === "string");
