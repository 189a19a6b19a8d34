/**
 * Verified identities (the Intercom pattern): the site's backend signs the visitor's
 * identifier with IDENTITY_SECRET, `hash = hex(HMAC-SHA256(IDENTITY_SECRET, "<type>:<value>"))`,
 * and the snippet sends it with `user.fetch`. This module checks such hashes and decides, per
 * identity mode, which claims a socket may use and which exposure tier it gets.
 */
import type { Identifier } from "../identity.ts";
import type { IdentityMode } from "../types.ts";

/** Claim types a hash can verify; anonymous ids are never secret, so never "verified". */
export const VERIFIABLE_TYPES = new Set(["id", "external_id", "email"]);

/** What one `user.fetch` may use. */
export interface ClaimDecision {
  /** Identifiers the socket joins rooms for. */
  accepted: Identifier[];
  /** `id`/`external_id`/`email` claims with no valid hash. */
  unverified: Identifier[];
  /** The claims verified by their hash (each may join full-tier rooms). */
  verified: Identifier[];
}

const encoder = new TextEncoder();

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Checks identity hashes with a fixed secret. */
export class IdentityVerifier {
  private constructor(private readonly key: CryptoKey | null) {}

  /** A verifier for `secret`; with no secret nothing ever verifies. */
  static async create(secret: string | null): Promise<IdentityVerifier> {
    if (!secret) return new IdentityVerifier(null);
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    return new IdentityVerifier(key);
  }

  get configured(): boolean {
    return this.key !== null;
  }

  /**
   * True when `hash` signs `type:value`. `rawValue` (as the page sent it) is tried too, so a
   * backend that signed `Ada@Example.com` matches our lower-cased `ada@example.com`.
   */
  async verify(type: string, value: string, hash: string | undefined, rawValue?: string) {
    if (!this.key || !hash || !VERIFIABLE_TYPES.has(type)) return false;
    const mac = hexToBytes(hash.trim());
    if (!mac) return false;
    for (const v of rawValue && rawValue !== value ? [value, rawValue] : [value]) {
      // crypto.subtle.verify compares in constant time.
      if (await crypto.subtle.verify("HMAC", this.key, mac, encoder.encode(`${type}:${v}`))) {
        return true;
      }
    }
    return false;
  }

  /** Applies `mode` to the identifiers of one `user.fetch`. */
  async decide(
    mode: IdentityMode,
    identifiers: Identifier[],
    hash: string | undefined,
    raw: Record<string, unknown> = {},
  ): Promise<ClaimDecision> {
    const accepted: Identifier[] = [];
    const unverified: Identifier[] = [];
    const verified: Identifier[] = [];
    for (const id of identifiers) {
      if (!VERIFIABLE_TYPES.has(id.type)) {
        accepted.push(id);
        continue;
      }
      const rawValue = typeof raw[id.type] === "string"
        ? (raw[id.type] as string).trim()
        : undefined;
      if (await this.verify(id.type, id.value, hash, rawValue)) {
        verified.push(id);
        accepted.push(id);
      } else {
        unverified.push(id);
        if (mode !== "required") accepted.push(id);
      }
    }
    return { accepted, unverified, verified };
  }
}

/** Computes the hash a site's backend sends (used by tests, benches and docs). */
export async function signIdentity(secret: string, type: string, value: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(`${type}:${value}`)),
  );
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}
