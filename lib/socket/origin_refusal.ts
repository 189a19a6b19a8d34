/**
 * Why a socket's Origin is refused, in words a site owner can act on, and the error a
 * namespace's admission (lib/socket/server.ts) refuses it with. A browser cannot read why a
 * WebSocket upgrade failed (the HTTP answer is hidden from page code), so a browser's websocket
 * handshake from a refused Origin is let through engine.io and refused by that middleware
 * instead: socket.io then hands the page a `connect_error` whose message and `data` say why.
 * Nothing else happens on such a connection: the middleware runs before `connection`, so it
 * never joins a room or reads the store. Every other refused handshake (polling, no Origin, not
 * a browser) is still refused by engine.io before any WebSocket is opened.
 */

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

/**
 * True for a handshake engine.io may let through so that the middleware can say why: a
 * browser's websocket upgrade with an Origin (every browser's User-Agent starts "Mozilla/"). A
 * polling handshake is refused at once (no page could read its answer either), and so is any
 * client that is no browser: it has no console to tell. A client faking the header gains
 * nothing: it is refused one step later, before any socket exists.
 */
export function explainableHandshake(
  headers: Record<string, string | string[] | undefined>,
  query: Record<string, unknown> | undefined,
): boolean {
  const agent = headers["user-agent"];
  return !!headers.origin && typeof agent === "string" && agent.startsWith("Mozilla/") &&
    query?.transport === "websocket";
}

/** The error a namespace middleware refuses `origin` with: its message and `data` say why. */
export function originRefusal(origin: string | undefined): Error & { data: OriginRefusal } {
  const o = origin ?? "";
  const err = new Error(originRefusalMessage(o)) as Error & { data: OriginRefusal };
  err.data = { reason: o === "null" || o.startsWith("file:") ? "file" : "origin", origin: o };
  return err;
}
