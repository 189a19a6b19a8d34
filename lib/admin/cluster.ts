/**
 * Dashboard views that span every instance: metrics snapshots gathered with
 * `serverSideEmit` (answered by each instance), and connected rooms from `fetchSockets()`,
 * which the cluster adapters (Deno KV, Redis) carry across instances.
 */
import type { Namespace, Server } from "socket.io";
import type { Metrics, MetricsSnapshot } from "../metrics.ts";
import { mergeSnapshots } from "../metrics.ts";

export const STATS_EVENT = "hb:stats";

/** One identifier of a socket, as stored in `socket.data.ids`. */
export interface SocketId {
  type: string;
  masked: string;
  room: string;
}

/** A row of the rooms page: one identifier room with the sockets in it. */
export interface RoomRow {
  room: string;
  type: string;
  masked: string;
  sockets: number;
  domains: string[];
  instances: string[];
  since: number;
}

/** This instance's metrics, with live socket counts. */
export function localSnapshot(io: Server, metrics: Metrics, instance: string): MetricsSnapshot {
  let sockets = 0, identified = 0;
  const rooms = new Set<string>();
  for (const nsp of io._nsps.values()) {
    for (const s of nsp.sockets.values()) {
      sockets++;
      const ids = (s.data?.ids ?? []) as SocketId[];
      if (ids.length) identified++;
      for (const id of ids) rooms.add(id.room);
    }
  }
  const series = metrics.series();
  return {
    instance,
    counters: { ...metrics.counters },
    latencies: metrics.latencies(),
    pushesPerSecond: series.values,
    seriesEnd: series.end,
    sockets,
    identified,
    rooms: rooms.size,
  };
}

/** Lets other instances ask this one for its snapshot. */
export function answerStats(io: Server, snapshot: () => MetricsSnapshot): void {
  io.on(STATS_EVENT, (ack: (s: MetricsSnapshot) => void) => {
    if (typeof ack === "function") ack(snapshot());
  });
}

/** Every instance's snapshot merged; the local one alone when the adapter cannot ask others. */
export async function clusterStats(io: Server, local: MetricsSnapshot) {
  const snaps = [local];
  try {
    const remote = await Promise.race([
      io.serverSideEmitWithAck(STATS_EVENT),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 1500)),
    ]);
    for (const r of remote as MetricsSnapshot[]) {
      if (r && r.instance !== local.instance) snaps.push(r);
    }
  } catch {
    // The in-memory adapter (one instance) has no server-side emit; a slow peer times out.
  }
  return mergeSnapshots(snaps);
}

/**
 * Namespace `name` if it exists on this instance, without creating it: `io.of(name)` would
 * make a namespace of its own, beside the socket server's parent namespace of the Hull
 * connectors, and take their handshakes. A connector's namespace comes and goes with its
 * sockets here, so null means: no socket of that connector on this instance.
 */
export function namespaceIfOpen(io: Server, name: string): Namespace | null {
  return io._nsps.get(name) ?? null;
}

/** Sockets of namespace `name` connected to this instance. */
export function localSockets(io: Server, name: string): number {
  return namespaceIfOpen(io, name)?.sockets.size ?? 0;
}

/** What the socket server keeps in `socket.data` (lib/socket). */
// deno-lint-ignore no-explicit-any
export type SocketData = Record<string, any>;

/**
 * `socket.data` of the sockets of namespace `name` (only those in one of `rooms` when given).
 * For `/` (the standalone connector), across instances through the adapter. For a Hull
 * connector's namespace, this instance's only: that namespace exists only where its sockets
 * are, so a cluster-wide fetch would wait out the instances that never answer for it. The one
 * place to switch to a cluster-wide query per connector where the socket server offers one.
 */
export async function namespaceSocketData(
  io: Server,
  name: string,
  rooms?: string[],
): Promise<SocketData[]> {
  if (rooms && !rooms.length) return [];
  const nsp = namespaceIfOpen(io, name);
  if (!nsp) return [];
  const target = name === "/" ? nsp : nsp.local;
  const sockets = await (rooms ? target.in(rooms) : target).fetchSockets();
  return sockets.map((s) => s.data ?? {});
}

/**
 * Identifier rooms of namespace `name` (a connector's), newest first (see
 * `namespaceSocketData` for which instances). `only` restricts to given room names (a search);
 * otherwise every socket is fetched, which is what paging needs anyway.
 */
export async function listRooms(io: Server, name: string, only?: string[]): Promise<RoomRow[]> {
  const rows = new Map<string, RoomRow>();
  for (const data of await namespaceSocketData(io, name, only)) {
    for (const id of (data.ids ?? []) as SocketId[]) {
      if (only && !only.includes(id.room)) continue;
      let row = rows.get(id.room);
      if (!row) {
        row = {
          room: id.room,
          type: id.type,
          masked: id.masked,
          sockets: 0,
          domains: [],
          instances: [],
          since: data.connectedAt ?? Date.now(),
        };
        rows.set(id.room, row);
      }
      row.sockets++;
      if (data.domain && !row.domains.includes(data.domain)) row.domains.push(data.domain);
      if (data.instance && !row.instances.includes(data.instance)) {
        row.instances.push(data.instance);
      }
      row.since = Math.min(row.since, data.connectedAt ?? row.since);
    }
  }
  return [...rows.values()].sort((a, b) => b.since - a.since);
}

/** Live sockets of namespace `name` per origin domain (see `namespaceSocketData`). */
export async function socketsPerDomain(io: Server, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const data of await namespaceSocketData(io, name)) {
    const d = data.domain as string | undefined;
    if (d) out.set(d, (out.get(d) ?? 0) + 1);
  }
  return out;
}
