/**
 * Admin authentication: password check in constant time, a signed session cookie
 * (`issuedAt.nonce.mac`, HMAC-SHA256 with the server secret, 12 h) that logout revokes for
 * every instance (its nonce is recorded in the store), a CSRF token bound to the session, and
 * the signed device cookie that gives a browser which signed in before a failed-login budget of
 * its own (login_throttle.ts).
 */
import type { Store } from "../store/store.ts";
import { LoginThrottle } from "./login_throttle.ts";

export const SESSION_COOKIE = "hb_session";
export const SESSION_TTL_MS = 12 * 3600_000;
/** The device cookie (`nonce.mac`): set on every successful login, read only by the login. */
export const DEVICE_COOKIE = "hb_device";
/** How long a browser stays a known device after its last successful login. */
export const DEVICE_TTL_MS = 180 * 24 * 3600_000;
/** How long a revocation record outlives its cookie (clock differences between instances). */
export const REVOKED_GRACE_MS = 60_000;

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-f]{64}$/.test(s)) return null;
  return new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** A verified session: its nonce binds the CSRF token. */
export interface Session {
  nonce: string;
  issuedAt: number;
  csrf: string;
}

export class AdminAuth {
  /** Failed-login budgets per device cookie and per IP. */
  readonly throttle: LoginThrottle;
  /** Nonces known to be revoked (the store is the truth; this saves reads). */
  #revoked = new Set<string>();

  private constructor(
    private readonly key: CryptoKey,
    private readonly password: string | null,
    private readonly store: Store | null,
    now: () => number,
  ) {
    this.throttle = new LoginThrottle(now);
  }

  /**
   * `store` records revoked sessions for every instance (none: revocation is local); `now` is
   * the login throttle's clock (tests).
   */
  static async create(
    secret: string,
    password: string | null,
    store: Store | null = null,
    opts: { now?: () => number } = {},
  ): Promise<AdminAuth> {
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(`hull-browser:admin:${secret}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new AdminAuth(key, password, store, opts.now ?? Date.now);
  }

  get configured(): boolean {
    return this.password !== null;
  }

  async #mac(text: string): Promise<string> {
    return hex(await crypto.subtle.sign("HMAC", this.key, encoder.encode(text)));
  }

  /** Compares MACs of both strings, so the time taken says nothing about the password. */
  async checkPassword(candidate: string): Promise<boolean> {
    if (this.password === null) return false;
    const expected = fromHex(await this.#mac(`pw|${this.password}`))!;
    return await crypto.subtle.verify(
      "HMAC",
      this.key,
      expected,
      encoder.encode(`pw|${candidate}`),
    );
  }

  /** Issues a new session cookie value. */
  async issue(now = Date.now()): Promise<string> {
    const nonce = hex(crypto.getRandomValues(new Uint8Array(16)).buffer);
    const body = `${now}.${nonce}`;
    return `${body}.${await this.#mac(`session|${body}`)}`;
  }

  /** Verifies a cookie value; null when missing, forged or expired. */
  async verify(value: string | undefined, now = Date.now()): Promise<Session | null> {
    if (!value || value.length > 200) return null;
    const [issued, nonce, mac] = value.split(".");
    const bytes = mac ? fromHex(mac) : null;
    if (!bytes || !/^\d+$/.test(issued) || !/^[0-9a-f]{32}$/.test(nonce)) return null;
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.key,
      bytes,
      encoder.encode(`session|${issued}.${nonce}`),
    );
    const issuedAt = Number(issued);
    if (!ok || now - issuedAt > SESSION_TTL_MS || issuedAt > now + 60_000) return null;
    return { nonce, issuedAt, csrf: await this.#mac(`csrf|${nonce}`) };
  }

  /** True when `token` is the CSRF token of `session` (constant time). */
  async checkCsrf(session: Session, token: string | undefined | null): Promise<boolean> {
    const bytes = token ? fromHex(token) : null;
    if (!bytes) return false;
    return await crypto.subtle.verify(
      "HMAC",
      this.key,
      bytes,
      encoder.encode(`csrf|${session.nonce}`),
    );
  }

  /**
   * Revokes `session` on every instance: its cookie stays signed but is refused from now on.
   * The record expires a minute after the cookie (clocks of instances may differ a little): an
   * expired cookie is refused anyway, so logouts leave nothing behind for good.
   */
  async revoke(session: Session): Promise<void> {
    this.#revoked.add(session.nonce);
    const expiresAt = session.issuedAt + SESSION_TTL_MS;
    await this.store?.setMeta(`session_revoked:${session.nonce}`, { expires_at: expiresAt }, {
      expireInMs: Math.max(0, expiresAt - Date.now()) + REVOKED_GRACE_MS,
    });
  }

  /** True when `session` was logged out (here or on another instance). */
  async isRevoked(session: Session): Promise<boolean> {
    if (this.#revoked.has(session.nonce)) return true;
    const rec = await this.store?.getMeta(`session_revoked:${session.nonce}`);
    if (!rec) return false;
    this.#revoked.add(session.nonce);
    if (this.#revoked.size > 10_000) this.#revoked.clear(); // the store still knows
    return true;
  }

  /** A new device cookie value: a random id and its MAC (no expiry inside: the cookie's own). */
  async issueDevice(): Promise<string> {
    const nonce = hex(crypto.getRandomValues(new Uint8Array(16)).buffer);
    return `${nonce}.${await this.#mac(`device|${nonce}`)}`;
  }

  /** The id of a genuine device cookie, or null (missing or forged: an untrusted client). */
  async verifyDevice(value: string | undefined): Promise<string | null> {
    if (!value || value.length > 200) return null;
    const [nonce, mac, extra] = value.split(".");
    const bytes = mac ? fromHex(mac) : null;
    if (!bytes || extra !== undefined || !/^[0-9a-f]{32}$/.test(nonce)) return null;
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.key,
      bytes,
      encoder.encode(`device|${nonce}`),
    );
    return ok ? nonce : null;
  }
}
