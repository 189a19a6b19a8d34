/**
 * node-redis v4 connections for Redis mode (store and socket.io adapter): capped exponential
 * backoff once up, a clear error when Redis is unreachable at boot (so a typo in REDIS_URL
 * fails fast instead of retrying forever), and 'error' listeners on every client — an
 * unhandled 'error' event would kill the process.
 */
import { createClient } from "redis";

/** A connected node-redis v4 client. */
export type RedisClient = ReturnType<typeof createClient>;

/** Key prefix used unless the caller picks another (several deployments can share a Redis). */
export const DEFAULT_REDIS_PREFIX = "hull-browser:";
/** Longest wait between reconnection attempts once the instance is up. */
const MAX_BACKOFF_MS = 3_000;

/** Thrown when Redis cannot be reached at boot; the message is meant for operators. */
export class RedisUnavailableError extends Error {
  constructor(url: string, cause: unknown) {
    const c = cause as { code?: string; message?: string };
    super(`Redis at ${redactUrl(url)} is unreachable: ${c?.code ?? c?.message ?? cause}`, {
      cause,
    });
    this.name = "RedisUnavailableError";
  }
}

/** The URL without its password, for messages and logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "(invalid REDIS_URL)";
  }
}

export interface ConnectOptions {
  /** Shown in reconnect logs. */
  label?: string;
  /** Queue commands while reconnecting (the adapter wants this); default false: fail fast. */
  offlineQueue?: boolean;
  /** Extra connection attempts at boot before giving up (default 2, 250 ms apart). */
  bootRetries?: number;
}

/**
 * Connects a client. At boot, failure throws RedisUnavailableError; once connected, a lost
 * connection is retried forever with capped exponential backoff (also by `duplicate()`s,
 * which share the strategy), logged once per outage, and never crashes the process.
 */
export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<RedisClient> {
  let booted = false;
  const bootRetries = opts.bootRetries ?? 2;
  const client = createClient({
    url,
    disableOfflineQueue: !opts.offlineQueue,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries: number) => {
        if (!booted) return retries < bootRetries ? 250 : false;
        // Jitter spreads the reconnect storm of many instances after a Redis restart.
        return Math.min(100 * 2 ** retries, MAX_BACKOFF_MS) + Math.floor(Math.random() * 100);
      },
    },
  });
  watchConnection(client, opts.label ?? "redis", () => booted);
  try {
    await client.connect();
  } catch (err) {
    throw new RedisUnavailableError(url, err);
  }
  booted = true;
  return client;
}

/**
 * Logs the outage and the recovery of `client`. The 'error' listener is mandatory (an
 * unhandled 'error' event kills the process); node-redis emits one per failed attempt, so
 * only the first of an outage is logged, then the recovery.
 */
export function watchConnection(client: RedisClient, label: string, booted: () => boolean): void {
  let down = false;
  client.on("error", (err: Error) => {
    if (down || !booted()) return;
    down = true;
    console.error(`${label}: connection lost (${err.message}); reconnecting with backoff`);
  });
  client.on("ready", () => {
    if (!down) return;
    down = false;
    console.log(`${label}: reconnected`);
  });
}

/** Closes a client whatever its state; QUIT would wait forever on a dead connection. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (!client.isOpen) return;
  try {
    if (client.isReady) await client.quit();
    else await client.disconnect();
  } catch {
    await client.disconnect().catch(() => {});
  }
}
