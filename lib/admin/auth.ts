/**
 * Admin authentication: password check in constant time, a signed session cookie
 * (`issuedAt.nonce.mac`, HMAC-SHA256 with the server secret, 12 h), a CSRF token bound to the
 * session, and a per-IP throttle on failed logins.
 */

export const SESSION_COOKIE = "hb_session";
export const SESSION_TTL_MS = 12 * 3600_000;
/** Failed logins allowed per IP per window before further attempts are refused. */
export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 15 * 60_000;

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
  #failures = new Map<string, { first: number; count: number }>();

  private constructor(
    private readonly key: CryptoKey,
    private readonly password: string | null,
  ) {}

  static async create(secret: string, password: string | null): Promise<AdminAuth> {
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(`hull-browser:admin:${secret}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new AdminAuth(key, password);
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

  /** Seconds until `ip` may try again, or 0 when it may log in now. */
  throttled(ip: string, now = Date.now()): number {
    const f = this.#failures.get(ip);
    if (!f || now - f.first > LOGIN_WINDOW_MS) return 0;
    return f.count >= LOGIN_MAX_FAILURES ? Math.ceil((f.first + LOGIN_WINDOW_MS - now) / 1000) : 0;
  }

  recordFailure(ip: string, now = Date.now()): void {
    const f = this.#failures.get(ip);
    if (!f || now - f.first > LOGIN_WINDOW_MS) this.#failures.set(ip, { first: now, count: 1 });
    else f.count++;
    if (this.#failures.size > 10_000) this.#failures.clear(); // bounded under a spray
  }

  recordSuccess(ip: string): void {
    this.#failures.delete(ip);
  }
}
