/**
 * Dashboard views that span every instance: metrics snapshots gathered with
 * `serverSideEmit` (answered by each instance), and one connector's connected rooms and
 * domains from its sockets' data, which the socket server gathers from every instance.
 */
import type { Server } from "socket.io";
import { clusterSocketData } from "../socket/namespaces.ts";
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

/** What the socket server keeps in `socket.data` (lib/socket). */
// deno-lint-ignore no-explicit-any
export type SocketData = Record<string, any>;

/**
 * `socket.data` of connector `connectorId`'s sockets (only those in one of `rooms` when given),
 * on every instance that answers (lib/socket/namespaces.ts asks through `/`, which every
 * instance has, since a Hull connector's namespace exists only where its sockets are).
 */
export async function connectorSocketData(
  io: Server,
  connectorId: string,
  rooms?: string[],
): Promise<SocketData[]> {
  if (rooms && !rooms.length) return [];
  return await clusterSocketData(io, connectorId, rooms) as SocketData[];
}

/**
 * Identifier rooms of connector `connectorId` across instances, newest first. `only` restricts
 * to given room names (a search); otherwise every socket is fetched, which is what paging needs
 * anyway.
 */
export async function listRooms(
  io: Server,
  connectorId: string,
  only?: string[],
): Promise<RoomRow[]> {
  const rows = new Map<string, RoomRow>();
  for (const data of await connectorSocketData(io, connectorId, only)) {
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

/** Live sockets of connector `connectorId` per origin domain, across instances. */
export async function socketsPerDomain(
  io: Server,
  connectorId: string,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const data of await connectorSocketData(io, connectorId)) {
    const d = data.domain as string | undefined;
    if (d) out.set(d, (out.get(d) ?? 0) + 1);
  }
  return out;
}
