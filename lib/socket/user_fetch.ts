/**
 * One socket's life after the handshake: `user.fetch` validated, identities verified, each
 * identifier's tier decided and its room joined (limits counted per connection), and the known
 * profile sent; an unknown visitor is handed to the Hull profile fetch. Everything is read from
 * and logged to the connector of the socket's namespace: its settings, store scope, live log.
 */
import type { Socket } from "socket.io";
import { type Identifier, maskIdentifiers, maskValue, parseFetchRequest } from "../identity.ts";
import type { IdentityMode } from "../types.ts";
import { type Tier, viewOf } from "../payload.ts";
import {
  type ClaimedIdentifier,
  connectionState,
  countFetch,
  mergeClaims,
  roomsOf,
  roomsOfSiblings,
} from "./connection_state.ts";
import type { Limits } from "./limits.ts";
import type { SocketConnector, SocketDeps } from "./server.ts";
import { closeSocket, connectorOf } from "./namespaces.ts";
import { isStoreOutage, OUTAGE_MESSAGE } from "../store/outage.ts";

/** The hostname of an Origin header, for logs and the dashboard. */
export function originHost(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  try {
    return new URL(origin).hostname;
  } catch {
    return "(malformed origin)";
  }
}

/** The handshake query every socket is left with (one shared object, never written). */
const NO_QUERY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** True when `headers` holds no header but the Origin. */
function onlyOrigin(headers: Record<string, unknown>): boolean {
  for (const name in headers) if (name !== "origin") return false;
  return true;
}

/**
 * The `connection` listener of a namespace: wires `user.fetch` on each new socket. One handler
 * serves every socket (it reads the socket from `this`, its state from the connection and
 * `socket.data`), so an idle socket keeps no closure, context or Set of its own.
 */
export function connectionHandler(deps: SocketDeps): (socket: Socket) => void {
  async function userFetch(this: Socket, data: unknown): Promise<void> {
    const connector = connectorOf(this, deps.connectors);
    // Removed meanwhile: its sockets are being disconnected (lib/socket/namespaces.ts).
    if (!connector) return void this.disconnect();
    await onUserFetch(this, deps, connector, data);
  }
  return (socket) => {
    const connector = connectorOf(socket, deps.connectors);
    if (!connector) return void socket.disconnect();
    const { headers } = socket.handshake;
    const origin = headers.origin;
    const domain = originHost(origin);
    // fetchSockets() ships each socket's handshake across instances for the dashboard: keep
    // only the header that is read (the Origin), not cookies and the rest. The native engine's
    // request copy (ws_engine.ts) holds nothing else already: its object is kept, not copied.
    if (!onlyOrigin(headers)) socket.handshake.headers = origin ? { origin } : {};
    socket.handshake.query = NO_QUERY;
    // What the dashboard shows of this socket (fetchSockets() carries `data` across
    // instances): masked identifiers and their room names only, never raw values.
    socket.data = {
      domain,
      instance: deps.instance,
      connectedAt: Date.now(),
      tier: "anonymous",
      ids: [],
    };
    connector.events.emit("incoming.connection.success", { domain });
    socket.on("user.fetch", userFetch);
  };
}

/** What the page is told when identity verification is required and its claims lack a hash. */
export function requiredWarning(types: string[], hash: string | undefined): string {
  const which = [...new Set(types)].join(", ");
  return hash
    ? `identity verification is required and the hash does not match: ${which} ignored`
    : `identity verification is required and no hash was given: ${which} ignored (set ` +
      `data-user-hash on the script tag or call hullBrowser.identify(claims, hash))`;
}

/**
 * Claims from an `?ajs_*=` link without `ajs_hash` (the page marks their types as `link`): a
 * crafted link can plant them, so they are used only where every claim is trusted anyway
 * (identity mode `off`), as the original connector did; `report` and `required` drop them.
 */
export function linkClaims(
  identifiers: Identifier[],
  link: readonly string[],
  mode: IdentityMode,
): { kept: Identifier[]; dropped: Identifier[] } {
  if (mode === "off" || !link.length) return { kept: identifiers, dropped: [] };
  return {
    kept: identifiers.filter((i) => !link.includes(i.type)),
    dropped: identifiers.filter((i) => link.includes(i.type)),
  };
}

/** What the page is told when link claims were dropped. */
export function linkWarning(types: string[], mode: IdentityMode): string {
  return `identity verification is ${mode}: ${[...new Set(types)].join(", ")} from an ajs_ ` +
    `link ignored (a link identifies only with ajs_hash, or with identity verification off)`;
}

/**
 * `room.joined`: `warning` says why claims were ignored (the snippet prints it once), `script`
 * carries the connector's `script` setting, which the snippet runs only where the page's tag
 * has `data-allow-script`. Not in `user.update`: the original snippet evaluated a payload's
 * `script` unconditionally, and some pages may still run it.
 */
export function joinedMessage(warnings: string[], script: string | undefined) {
  const message: { message: "ok"; warning?: string; script?: string } = { message: "ok" };
  if (warnings.length) message.warning = warnings.join("; ");
  if (script) message.script = script;
  return message;
}

/** Refuses `socket`'s request: logs why, tells the client and disconnects it. */
function refuse(socket: Socket, connector: SocketConnector, message: string): void {
  connector.events.emit("incoming.user.fetch.error", { domain: socket.data.domain, message });
  closeSocket(socket, message, true);
}

/** Logs a limit trip; true when the request must be refused (enforce mode). */
function tripped(
  socket: Socket,
  deps: SocketDeps,
  connector: SocketConnector,
  name: keyof Limits,
  message: string,
): boolean {
  const { counters, limits } = deps;
  const { events } = connector;
  counters.inc(`limit.${name}`);
  const observe = limits.mode === "observe";
  events.emit("incoming.user.fetch.error", {
    domain: socket.data.domain,
    message: `limit: ${message}${observe ? " (observe only)" : ""}`,
  });
  return !observe;
}

/** One `user.fetch`: limits, claims, verification, tiers, rooms, then the known profile. */
async function onUserFetch(
  socket: Socket,
  deps: SocketDeps,
  connector: SocketConnector,
  data: unknown,
): Promise<void> {
  const { hasher, verifier, limits, counters } = deps;
  const { events, live } = connector;
  const domain: string | undefined = socket.data.domain;
  // Identifiers and the fetch rate belong to the connection, shared by its namespace sockets.
  const conn = connectionState(socket);
  if (countFetch(conn) > limits.fetchesPerSocketPerMinute) {
    const msg = `more than ${limits.fetchesPerSocketPerMinute} user.fetch per minute`;
    if (tripped(socket, deps, connector, "fetchesPerSocketPerMinute", msg)) {
      return refuse(socket, connector, `too many requests: ${msg}`);
    }
  }
  if (limits.mode === "observe" && JSON.stringify(data ?? null).length > limits.messageBytes) {
    tripped(
      socket,
      deps,
      connector,
      "messageBytes",
      `user.fetch larger than ${limits.messageBytes} bytes`,
    );
  }
  const req = parseFetchRequest(data);
  if (!req.ok) return refuse(socket, connector, req.error);
  const settings = live.settings;
  const mode = settings.identity_mode ?? "off";
  const rawClaims = (data as { claims: Record<string, unknown> }).claims;
  const { kept, dropped } = linkClaims(req.identifiers, req.link, mode);
  const decision = await verifier.decide(mode, kept, req.hash, rawClaims);
  const identifiers = maskIdentifiers(req.identifiers);
  if (dropped.length) {
    events.emit("incoming.user.fetch.error", {
      identifiers: maskIdentifiers(dropped),
      domain,
      message: `claims from an ajs_ link without ajs_hash ignored (identity verification ${mode})`,
    });
  }
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
      if (tripped(socket, deps, connector, "identifiersPerSocket", msg)) {
        return refuse(socket, connector, `too many identifiers: ${msg}`);
      }
    }
    conn.identifiers = claims;
    const held = [...claims.values()];
    const rooms = roomsOf(held, hasher);
    if (rooms.length + roomsOfSiblings(socket) > limits.roomsPerSocket) {
      const msg = `more than ${limits.roomsPerSocket} rooms on one connection`;
      if (tripped(socket, deps, connector, "roomsPerSocket", msg)) {
        return refuse(socket, connector, `too many rooms: ${msg}`);
      }
    }
    // A claim upgraded to the full tier leaves its anonymous room, or pushes would come twice.
    // The identifier rooms this socket joined are its rooms but its own id's (only this
    // handler joins rooms), so no Set of them is kept per socket.
    const wanted = new Set(rooms);
    for (const r of [...socket.rooms]) if (r !== socket.id && !wanted.has(r)) socket.leave(r);
    // Join before reading the snapshot: an update arriving meanwhile is pushed to us.
    socket.join(rooms);
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
    // The page cannot see the server's log: say why its claims were ignored (the snippet
    // prints it once in the console).
    const warnings = [
      ...(dropped.length ? [linkWarning(dropped.map((i) => i.type), mode)] : []),
      ...(mode === "required" && decision.unverified.length
        ? [requiredWarning(decision.unverified.map((i) => i.type), req.hash)]
        : []),
    ];
    socket.emit("room.joined", joinedMessage(warnings, settings.script));
    if (!socket.connected || !decision.accepted.length) return;
    await sendKnownProfile(socket, deps, connector, held, identifiers, domain);
  } catch (err) {
    const outage = isStoreOutage(err);
    events.emit("outgoing.user.fetch.error", {
      identifiers,
      domain,
      message: outage
        ? `known profile not sent: ${OUTAGE_MESSAGE}`
        : String((err as Error).message ?? err).slice(0, 200),
    });
    // The socket keeps its rooms (updates still reach it once the store is back); the page
    // is told that its profile could not be read now, so it may ask again.
    if (outage) socket.emit("user.error", { message: OUTAGE_MESSAGE, retry: true });
  }
}

/**
 * Sends the stored profile the claims point at: the user of a full-tier identifier with the
 * full payload, else the user of an anonymous-tier one with the anonymous payload only.
 */
async function sendKnownProfile(
  socket: Socket,
  deps: SocketDeps,
  connector: SocketConnector,
  held: ClaimedIdentifier[],
  identifiers: Record<string, string>,
  domain: string | undefined,
): Promise<void> {
  const { hasher } = deps;
  const { events, store, live } = connector;
  const settings = live.settings;
  let found: { userId: string; payload: unknown; tier: Tier; missing: boolean } | null = null;
  for (const tier of ["full", "anonymous"] as const) {
    const ids = held.filter((i) => i.tier === tier);
    if (!ids.length) continue;
    const identKeys = await hasher.hashAll(ids);
    const user = await store.lookupProfile(identKeys).then((u) =>
      u && { userId: u.userId, view: u.profile && viewOf(u.profile, settings) }
    );
    if (user) {
      const payload = user.view && (tier === "full" ? user.view.full : user.view.anonymous);
      found = { userId: user.userId, payload, tier, missing: !user.view };
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
    connector.services.profiles?.unknownVisitor(
      claims.map(({ type, value }) => ({ type, value })),
      domain,
    );
    return;
  }
  const { payload } = found;
  if (!payload) {
    events.emit("outgoing.user.skip", {
      identifiers,
      domain,
      message: found.missing ? "profile missing" : "user is in none of the user filter segments",
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
