/**
 * What a trusted reverse proxy says about a request, and nothing a client says: the client's
 * address (`X-Forwarded-For`), the public host and scheme (`X-Forwarded-Host`/`-Proto`).
 * Every reader of those headers goes through here (login throttle, socket handshake limit, the
 * pages and the readme that name this host), so `TRUST_PROXY` means one thing everywhere.
 *
 * `TRUST_PROXY` takes:
 * - `false` (default; also `0`, `no`, `off`): the headers are ignored, the client is the peer;
 * - `true` (`1`, `yes`, `on`) or a number of proxies `n`: the peer is a proxy, and so are the
 *   `n - 1` nearest entries of `X-Forwarded-For`; the client is the next entry from the right,
 *   the one the outermost trusted proxy appended. Never the first entry: a client writes that;
 * - a list of proxy addresses or CIDR ranges (`10.0.0.0/8,192.168.1.7`): the headers are read
 *   only when the peer is in the list, and the client is the right-most `X-Forwarded-For` entry
 *   outside it. A client that reaches the server directly cannot pick its address.
 */
import type { Context } from "hono";
import { BlockList, isIP } from "node:net";
import { parseBoolean } from "./config_checks.ts";

/** Most proxies a hop count may name (a chain longer than this is a configuration mistake). */
const MAX_HOPS = 10;

/** How far the forwarded headers are trusted; `hops: 0` and no `proxies` ignore them. */
export interface TrustProxy {
  /** Proxies in front of the server when given as a count (`true` is 1). */
  hops: number;
  /** Proxy addresses when given as a list; the count is then unused. */
  proxies: BlockList | null;
  /**
   * Visitors reach the server over https only, whatever the request says (Deno Deploy: its
   * edge serves https alone and forwards plain requests to the isolate).
   */
  httpsOnly?: boolean;
}

/** Forwarded headers are ignored. */
export const NO_PROXY: TrustProxy = { hops: 0, proxies: null };

/**
 * Parses `TRUST_PROXY` (see the module doc).
 * @throws Error saying what is accepted, for the configuration's one-line problem.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy {
  const bool = parseBoolean(raw, false);
  if (bool !== null) return bool ? { hops: 1, proxies: null } : NO_PROXY;
  const value = raw!.trim();
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n > MAX_HOPS) throw new Error(`a number of proxies must be at most ${MAX_HOPS}, got ${n}`);
    return { hops: n, proxies: null };
  }
  const proxies = new BlockList();
  for (const entry of value.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [address, prefix, extra] = entry.split("/");
    const family = isIP(address);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    const max = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max) {
      throw new Error(
        `must be true/false, a number of proxies, or proxy addresses/CIDR ranges; ` +
          `"${entry}" is none of these`,
      );
    }
    proxies.addSubnet(address, bits, family === 6 ? "ipv6" : "ipv4");
  }
  return { hops: 0, proxies };
}

/** An address without port or brackets (`[::1]:80` → `::1`, `1.2.3.4:80` → `1.2.3.4`). */
function bareAddress(entry: string): string {
  const v = entry.trim();
  if (isIP(v)) return v;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(v);
  if (bracketed && isIP(bracketed[1])) return bracketed[1];
  const v4 = /^([\d.]+):\d+$/.exec(v);
  if (v4 && isIP(v4[1]) === 4) return v4[1];
  // Not an address: whatever it is, it is a key of its own (bounded, for the rate limits).
  return v.slice(0, 64) || "unknown";
}

/** True when the address at `depth` (0: the peer, 1: the right-most forwarded entry…) is a proxy. */
function isProxy(trust: TrustProxy, address: string, depth: number): boolean {
  if (trust.proxies) {
    const family = isIP(address);
    return family !== 0 && trust.proxies.check(address, family === 6 ? "ipv6" : "ipv4");
  }
  return depth < trust.hops;
}

/** True when the peer is a trusted proxy, so the forwarded headers may be read at all. */
export function peerIsProxy(trust: TrustProxy, peer: string | undefined): boolean {
  return peer !== undefined && isProxy(trust, bareAddress(peer), 0);
}

/**
 * The client's address: the peer, or (when the peer is a trusted proxy) the right-most
 * `X-Forwarded-For` entry that is not itself a trusted proxy. When every entry is trusted,
 * the left-most one (the chain is shorter than configured).
 */
export function clientAddress(
  trust: TrustProxy,
  peer: string | undefined,
  forwardedFor: string | null | undefined,
): string {
  if (!peer) return "unknown";
  let client = bareAddress(peer);
  if (!forwardedFor || !isProxy(trust, client, 0)) return client;
  const chain = forwardedFor.split(",").map((s) => s.trim()).filter(Boolean);
  for (let depth = 1; depth <= chain.length; depth++) {
    client = bareAddress(chain[chain.length - depth]);
    if (!isProxy(trust, client, depth)) return client;
  }
  return client;
}

/** `host[:port]` as a browser would send it: letters, digits, `-`, `.`, `_` or `[v6]`. */
const HOST =
  /^(?:[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** `value` when it is a plain host[:port] (nothing to escape anywhere), else null. */
export function validHost(value: string | null | undefined): string | null {
  const v = value?.trim();
  return v && v.length <= 255 && HOST.test(v) ? v.toLowerCase() : null;
}

/** The right-most entry of a comma-separated header (what the nearest proxy wrote). */
function lastEntry(value: string | null | undefined): string | undefined {
  return value?.split(",").map((s) => s.trim()).filter(Boolean).at(-1);
}

/** What `publicHost` and `publicOrigin` read of a request. */
export interface ForwardedRequest {
  peer: string | undefined;
  header: (name: string) => string | null | undefined;
  url: string;
}

/**
 * The host visitors reach this server at: `X-Forwarded-Host` (its right-most entry) when the
 * peer is a trusted proxy, else `Host`; null when that is not a plain `host[:port]`, so what
 * comes back can be printed anywhere unescaped.
 */
export function publicHost(trust: TrustProxy, request: ForwardedRequest): string | null {
  if (peerIsProxy(trust, request.peer)) {
    const forwarded = validHost(lastEntry(request.header("x-forwarded-host")));
    if (forwarded) return forwarded;
  }
  return validHost(request.header("host") ?? new URL(request.url).host);
}

/**
 * The origin visitors reach this server at: `X-Forwarded-Proto` (http or https) and
 * `X-Forwarded-Host` when the peer is a trusted proxy, else the request's own scheme and
 * `Host` (`localhost` when that is not a plain host); always https when `trust.httpsOnly`.
 */
export function publicOrigin(trust: TrustProxy, request: ForwardedRequest): string {
  const proxied = peerIsProxy(trust, request.peer);
  const fwdProto = proxied ? lastEntry(request.header("x-forwarded-proto"))?.toLowerCase() : "";
  const proto = trust.httpsOnly
    ? "https"
    : fwdProto === "https" || fwdProto === "http"
    ? fwdProto
    : new URL(request.url).protocol.replace(":", "");
  return `${proto}://${publicHost(trust, request) ?? "localhost"}`;
}

/** The TCP peer of a Hono request served by @hono/node-server (undefined elsewhere). */
export function requestPeer(c: Context): string | undefined {
  // deno-lint-ignore no-explicit-any
  return (c.env as any)?.incoming?.socket?.remoteAddress;
}

/** `clientAddress` of a Hono request. */
export function requestClient(c: Context, trust: TrustProxy): string {
  return clientAddress(trust, requestPeer(c), c.req.header("x-forwarded-for"));
}

function forwardedRequest(c: Context): ForwardedRequest {
  return { peer: requestPeer(c), header: (name) => c.req.header(name), url: c.req.url };
}

/** `publicOrigin` of a Hono request. */
export function requestOrigin(c: Context, trust: TrustProxy): string {
  return publicOrigin(trust, forwardedRequest(c));
}

/** `publicHost` of a Hono request. */
export function requestHost(c: Context, trust: TrustProxy): string | null {
  return publicHost(trust, forwardedRequest(c));
}
