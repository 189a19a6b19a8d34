/**
 * Identifiers: validating what a browser claims, collecting every identifier of a Hull user,
 * turning `type:value` into keyed hashes (room names and identity-index keys, so raw emails
 * and ids never appear in rooms, keys or logs), and masking them for humans.
 */
import { createHmac } from "node:crypto";
import { CLAIM_TYPES, type Claims, type ClaimType } from "./types.ts";

/** Longest identifier value we accept from a browser. */
export const MAX_CLAIM_LENGTH = 256;

/** One identifier of a user or a socket. */
export interface Identifier {
  type: ClaimType;
  value: string;
}

/** Result of validating a `user.fetch` payload. */
export type FetchRequest =
  | {
    ok: true;
    claims: Claims;
    identifiers: Identifier[];
    hash?: string;
    shipId?: string;
    /** Claim types that came from an `?ajs_*=` link without `ajs_hash` (the page says so). */
    link: ClaimType[];
  }
  | { ok: false; error: string };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Emails compare case-insensitively in Hull; ids are exact. */
export function normalizeIdentifier(type: ClaimType, value: string): string {
  const v = value.trim();
  return type === "email" ? v.toLowerCase() : v;
}

/**
 * Validates a `user.fetch` payload (docs/contracts.md §4). Claims must be an object whose known
 * keys hold short strings; unknown keys are ignored, anything else is refused with a reason.
 */
export function parseFetchRequest(input: unknown): FetchRequest {
  if (!isPlainObject(input)) return { ok: false, error: "user.fetch expects an object" };
  const { claims, hash, shipId, platformId, link } = input;
  if (!isPlainObject(claims)) return { ok: false, error: "claims must be an object" };
  const out: Claims = {};
  const identifiers: Identifier[] = [];
  for (const type of CLAIM_TYPES) {
    if (!Object.hasOwn(claims, type)) continue;
    const raw = claims[type];
    if (raw === undefined || raw === null || raw === "") continue;
    if (typeof raw !== "string") return { ok: false, error: `claims.${type} must be a string` };
    if (raw.length > MAX_CLAIM_LENGTH) {
      return { ok: false, error: `claims.${type} is longer than ${MAX_CLAIM_LENGTH} characters` };
    }
    const value = normalizeIdentifier(type, raw);
    if (!value) continue;
    out[type] = value;
    identifiers.push({ type, value });
  }
  if (!identifiers.length) {
    return { ok: false, error: `claims hold no identifier (${CLAIM_TYPES.join(", ")})` };
  }
  for (const [name, v] of [["hash", hash], ["shipId", shipId], ["platformId", platformId]]) {
    if (v !== undefined && v !== null && (typeof v !== "string" || v.length > MAX_CLAIM_LENGTH)) {
      return { ok: false, error: `${name} must be a short string` };
    }
  }
  if (link !== undefined && link !== null && !Array.isArray(link)) {
    return { ok: false, error: "link must be a list of claim types" };
  }
  return {
    ok: true,
    claims: out,
    identifiers,
    link: CLAIM_TYPES.filter((t) => Array.isArray(link) && link.includes(t)),
    hash: typeof hash === "string" ? hash : undefined,
    shipId: typeof shipId === "string" ? shipId : undefined,
  };
}

/**
 * Every identifier of a Hull user: `id`, `external_id`, `email`, `contact_email` (as email)
 * and each of `anonymous_ids[]`.
 */
export function userIdentifiers(user: Record<string, unknown>): Identifier[] {
  const out: Identifier[] = [];
  const seen = new Set<string>();
  const add = (type: ClaimType, v: unknown) => {
    if (typeof v !== "string" && typeof v !== "number") return;
    const value = normalizeIdentifier(type, String(v));
    if (!value || value.length > 1024) return;
    const k = `${type}:${value}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ type, value });
  };
  add("id", user.id);
  add("external_id", user.external_id);
  add("email", user.email);
  add("email", user.contact_email);
  if (Array.isArray(user.anonymous_ids)) {
    for (const a of user.anonymous_ids) add("anonymous_id", a);
  }
  return out;
}

/** Entries per generation of the hash cache (~150 bytes each). */
const CACHE_GENERATION = 100_000;

/**
 * The anonymous exposure tier's room for full-tier room `room`: as unguessable (it needs the
 * keyed hash), distinct, and no second MAC.
 */
export function anonymousRoom(room: string): string {
  return `${room}.anon`;
}

/** Keyed hashing of identifiers with the server secret (HMAC-SHA256, base64url). */
export class IdentifierHasher {
  // Two generations: when the young one is full it becomes the old one, so identifiers in use
  // (visitors reconnecting, users updated again) survive, up to 2 × CACHE_GENERATION entries.
  #young = new Map<string, string>();
  #old = new Map<string, string>();
  private constructor(private readonly key: string) {}

  // deno-lint-ignore require-await
  static async create(secret: string): Promise<IdentifierHasher> {
    return new IdentifierHasher(`hull-browser:rooms:${secret}`);
  }

  /**
   * Room name / index key of one identifier. Stable for a given secret. `tier` "anonymous"
   * names the separate room where sockets with only anonymous-safe exposure listen.
   */
  hash(id: Identifier, tier: "full" | "anonymous" = "full"): Promise<string> {
    return Promise.resolve(this.hashSync(id, tier));
  }

  /**
   * Synchronous HMAC (node:crypto): a webhook batch hashes hundreds of identifiers, and one
   * WebCrypto call each (an async op and a thread hop per MAC) cost ~10× more. Same bytes.
   * The anonymous tier's room is derived from the full one (`anonymousRoom`).
   */
  hashSync({ type, value }: Identifier, tier: "full" | "anonymous" = "full"): string {
    const input = `${type}:${value}`;
    let out = this.#young.get(input);
    if (!out) {
      out = this.#old.get(input) ??
        createHmac("sha256", this.key).update(input).digest("base64url");
      if (this.#young.size >= CACHE_GENERATION) {
        this.#old = this.#young;
        this.#young = new Map();
      }
      this.#young.set(input, out);
    }
    return tier === "full" ? out : anonymousRoom(out);
  }

  hashAll(ids: Identifier[], tier: "full" | "anonymous" = "full"): Promise<string[]> {
    return Promise.resolve(ids.map((id) => this.hashSync(id, tier)));
  }
}

/**
 * Masks a value for logs and the dashboard: enough to recognise, not enough to recover.
 * `ada@example.com` → `a**@e******.com`, `5f00000000000000000000a1` → `5f00…00a1`.
 */
export function maskValue(type: ClaimType | string, value: string): string {
  if (type === "email" && value.includes("@")) {
    const [local, domain] = [
      value.slice(0, value.lastIndexOf("@")),
      value.slice(value.lastIndexOf("@") + 1),
    ];
    const dot = domain.lastIndexOf(".");
    const host = dot > 0 ? domain.slice(0, dot) : domain;
    const tld = dot > 0 ? domain.slice(dot) : "";
    return `${stars(local)}@${stars(host)}${tld}`;
  }
  if (value.length <= 4) return "*".repeat(value.length);
  if (value.length <= 10) return value.slice(0, 2) + "*".repeat(value.length - 2);
  return `${value.slice(0, 4)}…${value.slice(-4)}`;
}

function stars(s: string): string {
  if (!s) return "";
  return s[0] + "*".repeat(Math.min(s.length - 1, 8));
}

/** Masked `{ type: value }` map of identifiers, for log entries. */
export function maskIdentifiers(ids: Identifier[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { type, value } of ids) {
    if (!(type in out)) out[type] = maskValue(type, value);
  }
  return out;
}
