/**
 * The failed-login throttle, after OWASP's "device cookies": a browser that signed in before
 * carries a signed device cookie (auth.ts) and has a failure budget of its own; every other
 * client shares its IP's budget. A guesser on the admin's IP (or behind the same proxy) can
 * exhaust the IP's budget but not the admin's device, so it cannot lock the admin out; a
 * device cookie that fails too often is itself delayed like an IP.
 *
 * A budget: LOGIN_FREE_FAILURES failures cost nothing, then each failure doubles the wait
 * before the next attempt (1 s, 2 s, 4 s, … up to LOGIN_MAX_DELAY_MS). A refused attempt does
 * not count; the right password after the wait signs in and clears that budget. Kept in memory
 * per instance; the clock is injectable so tests do not sleep.
 */

/** Failed logins per budget answered at once; after that each attempt waits. */
export const LOGIN_FREE_FAILURES = 5;
/** Longest wait between two attempts charged to one budget. */
export const LOGIN_MAX_DELAY_MS = 15 * 60_000;
/** Failures older than this are forgotten. */
const FAILURE_MEMORY_MS = 60 * 60_000;
/** Budgets kept at most (an address spray clears them rather than growing memory). */
const MAX_BUDGETS = 10_000;

/** Who is trying: the client's address and, when it carries a valid device cookie, its id. */
export interface LoginClient {
  ip: string;
  /** The nonce of a valid device cookie, or null for an untrusted client. */
  device: string | null;
}

/** Wait after `failures` failed logins (ms). */
export function loginDelay(failures: number): number {
  if (failures < LOGIN_FREE_FAILURES) return 0;
  return Math.min(LOGIN_MAX_DELAY_MS, 1000 * 2 ** (failures - LOGIN_FREE_FAILURES));
}

/** Failure budgets per device cookie and, for untrusted clients, per IP. */
export class LoginThrottle {
  #failures = new Map<string, { last: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The budget `client` is charged to: its device when it has one, else its IP's. */
  static budget(client: LoginClient): string {
    return client.device ? `device:${client.device}` : `ip:${client.ip}`;
  }

  /** Seconds until `client` may try again, or 0 when it may try now. */
  wait(client: LoginClient): number {
    const now = this.now();
    const f = this.#failures.get(LoginThrottle.budget(client));
    if (!f || now - f.last > FAILURE_MEMORY_MS || f.count < LOGIN_FREE_FAILURES) return 0;
    const wait = f.last + loginDelay(f.count) - now;
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  /** Charges a wrong password to `client`'s budget. */
  fail(client: LoginClient): void {
    const now = this.now();
    const key = LoginThrottle.budget(client);
    const f = this.#failures.get(key);
    if (!f || now - f.last > FAILURE_MEMORY_MS) this.#failures.set(key, { last: now, count: 1 });
    else {
      f.count++;
      f.last = now;
    }
    if (this.#failures.size > MAX_BUDGETS) this.#failures.clear();
  }

  /** The right password: `client`'s budget starts afresh (other budgets are untouched). */
  succeed(client: LoginClient): void {
    this.#failures.delete(LoginThrottle.budget(client));
  }
}
