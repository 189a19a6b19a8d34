/**
 * Telling a store outage from other failures. An outage is the store not answering: Redis
 * down or reconnecting (node-redis fails fast while offline), a Deno KV handle closed, the
 * SQLite file locked past the retries or failing to read. A request that needs the store
 * answers 503 with `Retry-After` on an outage, never 500: nothing is wrong with the request,
 * and whoever sent it (Hull, a browser, an operator) only has to try again. Other errors stay
 * errors (500), so a bug is not mistaken for bad weather.
 */

/** Seconds a client is asked to wait before retrying a request refused during an outage. */
export const RETRY_AFTER_S = 5;

/** The store (Deno KV or Redis) does not answer; `message` is meant for operators. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** node-redis v4 errors meaning "not connected" (their `name` is "Error": the class names). */
const REDIS_OFFLINE = new Set([
  "ClientOfflineError",
  "ClientClosedError",
  "ConnectionTimeoutError",
  "DisconnectsClientError",
  "SocketClosedUnexpectedlyError",
  "ReconnectStrategyError",
  "RedisUnavailableError",
  "StoreUnavailableError",
]);

/** Socket errors (Node's codes) of a connection to Redis that failed or broke. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** SQLite (Deno KV's local engine) failing to read or write its file. */
const KV_FILE_FAILURE =
  /database is (locked|busy)|disk I\/O error|unable to open database|readonly database|database or disk is full|disk image is malformed/i;

/** Deno's own errors for a closed handle or a broken connection. */
const DENO_OUTAGE: (new (...args: never[]) => Error)[] = [
  Deno.errors.BadResource,
  Deno.errors.Interrupted,
  Deno.errors.ConnectionRefused,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.BrokenPipe,
  Deno.errors.TimedOut,
];

/**
 * True when `err` (or an error it was caused by) means the store did not answer, as opposed to
 * refusing the operation (a value over KV's limits is not an outage) or a bug.
 */
export function isStoreOutage(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    if (DENO_OUTAGE.some((cls) => e instanceof cls)) return true;
    const { name, code, message, constructor } = e as {
      name?: unknown;
      code?: unknown;
      message?: unknown;
      constructor?: { name?: string };
    };
    if (REDIS_OFFLINE.has(String(name)) || REDIS_OFFLINE.has(String(constructor?.name))) {
      return true;
    }
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (typeof message === "string" && KV_FILE_FAILURE.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The answer's `error` text for a request refused during an outage (no detail leaks). */
export const OUTAGE_MESSAGE = "store unavailable, retry later";
