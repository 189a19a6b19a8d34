/**
 * Why a socket's Origin is refused, in words a site owner can act on, and the namespace
 * middleware that tells the browser. A browser cannot read why a WebSocket upgrade failed (the
 * HTTP answer is hidden from page code), so a websocket handshake from a refused Origin is let
 * through engine.io and refused by this middleware instead: socket.io then hands the page a
 * `connect_error` whose message and `data` say why. Nothing else happens on such a connection:
 * the middleware runs before `connection`, so it never joins a room or reads the store.
 */
import type { Socket } from "socket.io";
import type { LiveConfig } from "../store/live_config.ts";

/** What `connect_error.data` carries for a refused Origin. */
export interface OriginRefusal {
  reason: "origin" | "file";
  origin: string;
}

/**
 * The message for a refused `origin` (present, not whitelisted). Pages opened from `file://`
 * (and sandboxed frames) send `Origin: null`, which no whitelist can match.
 */
export function originRefusalMessage(origin: string): string {
  if (origin === "null" || origin.startsWith("file:")) {
    return "pages opened from file:// cannot connect: serve the page over http(s) from a " +
      "whitelisted domain";
  }
  return `origin ${origin} is not whitelisted: add its domain in the dashboard (Domains)`;
}

/** True for a handshake engine.io may let through so that the middleware can say why. */
export function explainableHandshake(
  origin: string | undefined,
  query: Record<string, unknown> | undefined,
): boolean {
  // Only browsers' websocket upgrades: a polling handshake is refused at once (its answer is
  // readable by no page either), and a request without Origin is no browser's.
  return !!origin && query?.transport === "websocket";
}

/** Namespace middleware refusing a socket whose Origin is not whitelisted, with the reason. */
export function originCheck(live: LiveConfig) {
  return (socket: Socket, next: (err?: Error) => void): void => {
    const origin = socket.handshake.headers.origin;
    if (live.allows(origin)) return next();
    const o = origin ?? "";
    const err = new Error(originRefusalMessage(o)) as Error & { data: OriginRefusal };
    err.data = { reason: o === "null" || o.startsWith("file:") ? "file" : "origin", origin: o };
    next(err);
  };
}
