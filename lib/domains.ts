/**
 * The domain whitelist (docs/contracts.md §4): parsing the patterns an admin types (`example.com`,
 * `*.example.com`, `localhost:3000`, a pasted `https://example.com/`) and deciding whether a
 * socket handshake's `Origin` header belongs to one of them. Pure; no I/O.
 *
 * Both sides go through the WHATWG URL host parser, so case, IDN (punycode), full-width
 * characters and IPv4 spellings compare equal; one trailing dot is ignored on both sides.
 * Matching is on whole labels only, so `example.com.evil.net` and `evilexample.com` never
 * match `example.com` or `*.example.com`. Wildcards are not checked against the public
 * suffix list: `*.co.uk` is accepted, and choosing it is the admin's responsibility.
 */

/** One whitelisted domain, normalized. */
export interface DomainPattern {
  /** The entry as the admin wrote it (trimmed), for display. */
  raw: string;
  /** Normalized hostname (lowercase, punycode, no trailing dot); the base for a wildcard. */
  host: string;
  /** `*.host`: any subdomain at any depth, not `host` itself. */
  wildcard: boolean;
  /** When set, only this port matches (decimal, no leading zeros); otherwise any port. */
  port?: string;
}

const MAX_HOST_LENGTH = 253;
const LABEL = /^[a-z0-9_-]{1,63}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

function fail(entry: string, why: string): never {
  const shown = entry.length > 100 ? entry.slice(0, 100) + "…" : entry;
  throw new Error(`invalid domain ${JSON.stringify(shown)}: ${why}`);
}

/**
 * Normalizes a hostname through the URL parser, or returns null when it is not a valid host.
 * One trailing dot is removed first (the URL parser would keep it).
 */
function normalizeHost(host: string): string | null {
  const h = host.endsWith(".") ? host.slice(0, -1) : host;
  if (!h || /[\s%/?#@\\]/.test(h)) return null; // `%` would be decoded into another host
  let name: string;
  try {
    name = new URL("http://" + h).hostname;
  } catch {
    return null;
  }
  if (name.startsWith("[")) return name; // IPv6 literal, already canonical
  if (name.length > MAX_HOST_LENGTH) return null;
  // The URL parser accepts `*`, `!`, etc. in hosts; DNS names (and IDN, now punycode) do not.
  return name.split(".").every((label) => LABEL.test(label)) ? name : null;
}

function isIpLiteral(host: string): boolean {
  return host.startsWith("[") || IPV4.test(host);
}

/** Splits `host[:port]`, `[v6][:port]` or a bare IPv6 address (no port possible). */
function splitPort(entry: string, hostPort: string): { host: string; port?: string } {
  let host = hostPort;
  let port: string | undefined;
  if (hostPort.startsWith("[")) {
    const end = hostPort.indexOf("]");
    if (end < 0) fail(entry, "unclosed [ in IPv6 address");
    host = hostPort.slice(0, end + 1);
    const rest = hostPort.slice(end + 1);
    if (rest) {
      if (!rest.startsWith(":")) fail(entry, "unexpected text after the IPv6 address");
      port = rest.slice(1);
    }
  } else {
    const colons = hostPort.split(":").length - 1;
    if (colons === 1) {
      [host, port] = hostPort.split(":");
    } else if (colons > 1) {
      host = `[${hostPort}]`; // bare IPv6, e.g. `::1`
    }
  }
  if (port === undefined) return { host };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    fail(entry, "port must be a number from 1 to 65535");
  }
  return { host, port: String(Number(port)) };
}

/**
 * Parses one whitelist entry: `example.com`, `*.example.com`, `localhost`, an IP literal,
 * optionally with `:port`, or a pasted `http(s)://host[:port]/` URL (scheme and a trailing
 * slash are dropped; the scheme does not restrict matching).
 * @throws Error naming the entry when it is malformed.
 */
export function parseDomainPattern(entry: string): DomainPattern {
  const raw = String(entry ?? "").trim();
  if (!raw) fail(raw, "empty entry");
  if (/\s/.test(raw)) fail(raw, "contains whitespace");

  let rest = raw;
  const scheme = SCHEME.exec(rest);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1])) fail(raw, "only http:// or https:// may be given");
    rest = rest.slice(scheme[0].length);
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (/[/?#]/.test(rest)) fail(raw, "a path, query or fragment is not allowed; give the host");
  if (rest.includes("@")) fail(raw, "user info (@) is not allowed; give the host");

  const { host: hostPart, port } = splitPort(raw, rest);
  let wildcard = false;
  let base = hostPart;
  if (hostPart.startsWith("*.")) {
    wildcard = true;
    base = hostPart.slice(2);
  }
  if (base.includes("*")) fail(raw, "a wildcard may only be a leading `*.`");

  const host = normalizeHost(base);
  if (!host) fail(raw, "not a valid host name");
  if (wildcard) {
    if (isIpLiteral(host)) fail(raw, "a wildcard cannot apply to an IP address");
    // `*.com`, `*.localhost`: far too broad to be what anyone meant.
    if (!host.includes(".")) fail(raw, "a wildcard needs a domain with at least two labels");
  }
  return port === undefined ? { raw, host, wildcard } : { raw, host, wildcard, port };
}

/**
 * The host of a whitelist entry written as a URL, as Hull's settings often hold them
 * (`https://site.com/shop?x` → `site.com`, `http://localhost:3000/a` → `localhost:3000`): an
 * http(s) scheme, the path, query and fragment are dropped; a port the entry names is kept
 * (it then restricts the match, as a typed `host:port` does). Null when there is nothing to
 * drop or nothing left, so the entry is judged as it is.
 */
export function hostOfUrlEntry(entry: string): string | null {
  const raw = String(entry ?? "").trim();
  if (SCHEME.test(raw) && !/^https?:\/\//i.test(raw)) return null; // ftp://… stays refused
  const rest = raw.replace(/^https?:\/\//i, "");
  const cut = rest.search(/[/?#]/);
  const host = cut < 0 ? rest : rest.slice(0, cut);
  return host && host !== raw ? host : null;
}

/**
 * Parses a comma-separated whitelist (`WHITELISTED_DOMAINS`); whitespace around entries and
 * empty entries are ignored.
 * @throws Error naming the first malformed entry.
 */
export function parseDomainList(csv: string): DomainPattern[] {
  return String(csv ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "")
    .map(parseDomainPattern);
}

/**
 * True when the `Origin` header value belongs to a whitelisted domain. A missing, `null`
 * (opaque origin: sandboxed frames, `file:`), non-http(s) or unparsable origin is refused, as
 * is one carrying user info or a path, which no browser sends.
 */
export function originAllowed(
  origin: string | undefined | null,
  patterns: DomainPattern[],
): boolean {
  if (!origin || origin === "null" || !patterns.length) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
    return false;
  }
  const host = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
  if (!host) return false;
  // The URL parser blanks default ports, so fill them in for pattern ports to compare against.
  const port = url.port || (url.protocol === "https:" ? "443" : "80");

  return patterns.some((p) => {
    if (p.port !== undefined && p.port !== port) return false;
    // Whole-label suffix: the dot in front keeps `evilexample.com` out.
    return p.wildcard ? host.endsWith("." + p.host) : host === p.host;
  });
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * True for a DNS host name of two labels or more (lowercase letters, digits, hyphens): no port,
 * no IP literal (a numeric last label), no scheme, path or user info.
 */
export function isHostName(host: string): boolean {
  if (host.length > 253) return false;
  const labels = host.split(".");
  return labels.length >= 2 && labels.every((l) => HOST_LABEL.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1]);
}
