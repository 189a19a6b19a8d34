/**
 * Identity discovery: reads the visitor's identifiers from the tools a page usually has
 * (Segment analytics.js, Intercom, Hull.js). Every read is guarded: those tools may be stubs
 * (queued-call arrays) before they load, or throw. Pure functions over a window-like object,
 * so they are tested with stand-ins.
 */
import { CLAIM_TYPES, type Claims, type ClaimType } from "../types.ts";

/** Where a set of claims came from. */
export type ClaimSource = "identify" | "segment" | "intercom" | "hull" | "link" | "cache";

/** An identity to send in `user.fetch`. */
export interface Identity {
  source: ClaimSource;
  claims: Claims;
  /** Optional identity hash given to `hullBrowser.identify(claims, hash)`. */
  hash?: string;
  /**
   * Claim types whose value came from an `?ajs_*=` link without `ajs_hash`: sent as `link`, so
   * the server uses them only where identity verification is off.
   */
  link?: ClaimType[];
}

/** The globals discovery looks at; all optional and untrusted. */
export interface IdentityWindow {
  analytics?: unknown;
  Intercom?: unknown;
  Hull?: unknown;
}

// deno-lint-ignore no-explicit-any
type Loose = any;

/** Calls `fn` with `self` as `this` when it is a function; undefined otherwise. */
function call(fn: unknown, self?: unknown, ...args: unknown[]): Loose {
  return typeof fn === "function" ? fn.apply(self, args) : undefined;
}

/**
 * Keeps the four claim types, as trimmed non-empty strings (finite numbers are converted:
 * `analytics.identify(42)` is common); undefined when nothing is left.
 */
export function cleanClaims(input: unknown): Claims | undefined {
  if (!input || typeof input !== "object") return undefined;
  const out: Claims = {};
  let found = false;
  for (const type of CLAIM_TYPES) {
    let v = (input as Record<string, unknown>)[type];
    if (typeof v === "number" && isFinite(v)) v = String(v);
    if (typeof v === "string" && v.trim()) {
      out[type] = v.trim();
      found = true;
    }
  }
  return found ? out : undefined;
}

/** True when both hold the same claims (cleanClaims fixes the key order). */
export function sameClaims(a: Claims | undefined, b: Claims | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Segment analytics.js: `user().id()` → external_id, `anonymousId()`, `traits().email`. */
export function fromSegment(win: IdentityWindow): Claims | undefined {
  try {
    const analytics: Loose = win.analytics;
    // The snippet stub is an array without `user`; after load `user()` returns the User.
    const user = call(analytics?.user, analytics);
    if (!user || typeof user !== "object") return undefined;
    return cleanClaims({
      external_id: call(user.id, user),
      anonymous_id: call(user.anonymousId, user),
      email: call(user.traits, user)?.email,
    });
  } catch {
    return undefined;
  }
}

/** Intercom: `Intercom("getVisitorId")` → `anonymous_id: "intercom:<id>"` (the stub returns nothing). */
export function fromIntercom(win: IdentityWindow): Claims | undefined {
  try {
    const id = call(win.Intercom, undefined, "getVisitorId");
    return typeof id === "string" && id ? { anonymous_id: "intercom:" + id } : undefined;
  } catch {
    return undefined;
  }
}

/** Hull.js: `Hull.config().anonymousId`, and `Hull.currentUser()` (or `Hull.me`) id/external_id/email. */
export function fromHull(win: IdentityWindow): Claims | undefined {
  try {
    const hull: Loose = win.Hull;
    if (!hull) return undefined;
    const config = call(hull.config, hull);
    const me = call(hull.currentUser, hull) || (typeof hull.me === "object" ? hull.me : undefined);
    return cleanClaims({
      id: me?.id,
      external_id: me?.external_id,
      email: me?.email,
      anonymous_id: config?.anonymousId,
    });
  } catch {
    return undefined;
  }
}

/** The live sources, in priority order. */
export const SOURCES: [ClaimSource, (win: IdentityWindow) => Claims | undefined][] = [
  ["segment", fromSegment],
  ["intercom", fromIntercom],
  ["hull", fromHull],
];

/** The first live source that yields claims (explicit identify and the cache are handled by the client). */
export function discoverIdentity(win: IdentityWindow): Identity | undefined {
  for (const [source, read] of SOURCES) {
    const claims = read(win);
    if (claims) return { source, claims };
  }
  return undefined;
}

/** Reads a cached `{ claims, hash?, link? }` as an identity with source "cache". */
export function cachedIdentity(value: unknown): Identity | undefined {
  const v = value as { claims?: unknown; hash?: unknown; link?: unknown } | undefined;
  const claims = cleanClaims(v?.claims);
  if (!claims) return undefined;
  const identity: Identity = { source: "cache", claims };
  if (typeof v?.hash === "string") identity.hash = v.hash;
  const listed = Array.isArray(v?.link) ? v.link as unknown[] : [];
  const link = CLAIM_TYPES.filter((t) => listed.includes(t));
  if (link.length) identity.link = link;
  return identity;
}

/** Query parameters analytics.js turns into identities (a crafted link can set them). */
const URL_PARAMS: [string, ClaimType][] = [
  ["ajs_uid", "external_id"],
  ["ajs_email", "email"],
  ["ajs_aid", "anonymous_id"],
];

/** What `?ajs_uid=`/`ajs_email=`/`ajs_aid=`/`ajs_hash=` (Segment's query-string API) say. */
export interface LinkIdentity {
  /** The claims the link names, if any. */
  claims?: Claims;
  /** `ajs_hash`: the site's backend signed the link; the server verifies it. */
  hash?: string;
  /** `type:value` of each claim when the link has no hash: marked `link` wherever they show up. */
  untrusted: string[];
}

/** Reads the identity a link carries. */
export function linkFromUrl(search: string): LinkIdentity {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(search);
  } catch {
    return { untrusted: [] };
  }
  const hash = params.get("ajs_hash") || undefined;
  const raw: Claims = {};
  for (const [param, type] of URL_PARAMS) {
    const v = params.get(param);
    if (v) raw[type] = v;
  }
  const claims = cleanClaims(raw);
  if (!claims) return { untrusted: [] };
  const untrusted = hash
    ? []
    : CLAIM_TYPES.filter((t) => claims[t]).map((t) => `${t}:${claims[t]}`);
  return hash ? { claims, hash, untrusted } : { claims, untrusted };
}

/**
 * The claim types of `claims` whose value is listed in `untrusted` (values a link without
 * `ajs_hash` planted, e.g. in analytics.js): the server drops them unless verification is off,
 * so a crafted link cannot make a visitor's browser fetch somebody else's profile.
 */
export function linkTypes(claims: Claims, untrusted: string[]): ClaimType[] {
  return CLAIM_TYPES.filter((t) =>
    claims[t] !== undefined && untrusted.includes(`${t}:${claims[t]}`)
  );
}
