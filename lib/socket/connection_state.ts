/**
 * What one engine.io connection has claimed, shared by all of its namespace sockets: its
 * identifiers, each with its own exposure tier, and its `user.fetch` rate. Limits count per
 * connection, so opening more namespaces on one connection does not multiply them.
 *
 * The tier is decided per identifier: in `required` mode only an identifier whose own hash
 * verified joins full-tier rooms; every other one (anonymous ids above all) stays in
 * anonymous-tier rooms, whatever else the connection proved.
 */
import type { Socket } from "socket.io";
import type { Identifier, IdentifierHasher } from "../identity.ts";
import type { Tier } from "../payload.ts";
import type { IdentityMode } from "../types.ts";

/** One claimed identifier and the tier it earned. */
export interface ClaimedIdentifier extends Identifier {
  tier: Tier;
}

/** Per-connection state (see module doc). */
export interface ConnectionState {
  /** Keyed by `type:value`, in the order first claimed. */
  identifiers: Map<string, ClaimedIdentifier>;
  fetchWindowStart: number;
  fetches: number;
  /** Namespace sockets admitted on this connection. */
  namespaces: number;
}

const states = new WeakMap<object, ConnectionState>();

/** The state of `socket`'s connection (created on first use, gone with the connection). */
export function connectionState(socket: Socket): ConnectionState {
  let s = states.get(socket.client);
  if (!s) {
    s = { identifiers: new Map(), fetchWindowStart: 0, fetches: 0, namespaces: 0 };
    states.set(socket.client, s);
  }
  return s;
}

/** Counts one `user.fetch` and returns the count in the connection's current minute. */
export function countFetch(state: ConnectionState, now = Date.now()): number {
  if (now - state.fetchWindowStart >= 60_000) {
    state.fetchWindowStart = now;
    state.fetches = 0;
  }
  return ++state.fetches;
}

/** The tier `id` earns in `mode`, given the identifiers whose hash verified. */
export function tierOf(id: Identifier, mode: IdentityMode, verified: Identifier[]): Tier {
  if (mode !== "required") return "full";
  return verified.some((v) => v.type === id.type && v.value === id.value) ? "full" : "anonymous";
}

/**
 * The identifiers the connection would hold after adding `accepted` (new ones appended, a
 * verified one upgrading an earlier anonymous-tier claim; a tier is never downgraded).
 */
export function mergeClaims(
  held: Map<string, ClaimedIdentifier>,
  accepted: Identifier[],
  mode: IdentityMode,
  verified: Identifier[],
): Map<string, ClaimedIdentifier> {
  const out = new Map(held);
  for (const id of accepted) {
    const key = `${id.type}:${id.value}`;
    const tier = tierOf(id, mode, verified);
    const before = out.get(key);
    if (!before || (before.tier === "anonymous" && tier === "full")) {
      out.set(key, { type: id.type, value: id.value, tier });
    }
  }
  return out;
}

/** The room of each identifier, for its own tier. */
export function roomsOf(ids: Iterable<ClaimedIdentifier>, hasher: IdentifierHasher): string[] {
  const rooms: string[] = [];
  for (const id of ids) rooms.push(hasher.hashSync(id, id.tier));
  return rooms;
}

/** Rooms held by the connection's other namespace sockets (each socket's own id room aside). */
export function roomsOfSiblings(socket: Socket): number {
  let n = 0;
  const sockets = (socket.client as unknown as { sockets: Map<string, Socket> }).sockets;
  for (const s of sockets.values()) if (s !== socket) n += Math.max(0, s.rooms.size - 1);
  return n;
}
