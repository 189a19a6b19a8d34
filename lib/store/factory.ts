/**
 * Picks the backends from the configuration: Redis when `REDIS_URL` is set (store and
 * socket.io adapter), Deno KV otherwise. The Redis modules are imported dynamically, so a
 * KV-only instance (Deno Deploy, a laptop) never loads the npm Redis client.
 */
import type { ServerOptions } from "socket.io";
import type { Config } from "../config.ts";
import { KvStore } from "./kv_store.ts";
import type { Store } from "./store.ts";

/** A backend the instance needs is unreachable at boot; `message` is meant for operators. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** How long a disconnected socket's rooms and missed packets are kept for its return. */
export const RECOVERY_WINDOW_MS = 2 * 60_000;

/** Opens the store: RedisStore when `config.redisUrl` is set, else Deno KV at `kvPath`. */
export async function openStore(config: Config): Promise<Store> {
  if (!config.redisUrl) return await KvStore.open(config.kvPath);
  const { RedisStore } = await import("./redis_store.ts");
  return await wrapUnavailable(() => RedisStore.connect(config.redisUrl!));
}

/** The Redis streams adapter of one instance: options for the socket.io Server, and a closer. */
export interface RedisAdapterHandle {
  /** Spread into the socket.io Server options: the adapter and connection-state recovery. */
  serverOptions: Partial<ServerOptions>;
  /** Closes the adapter's own client; call after `io.close()` (which closes the adapter). */
  close(): Promise<void>;
}

/**
 * Connects the client of `@socket.io/redis-streams-adapter` (it duplicates it for reading the
 * stream and for pub/sub). Unlike the store's client this one queues commands while
 * reconnecting: the adapter's read loop retries at once on failure, and a queue makes it
 * wait for the connection instead of spinning.
 */
export async function openRedisAdapter(
  url: string,
  prefix?: string,
): Promise<RedisAdapterHandle> {
  const [{ connectRedis, closeRedis, DEFAULT_REDIS_PREFIX }, { createAdapter }] = await Promise
    .all([import("./redis_client.ts"), import("@socket.io/redis-streams-adapter")]);
  const p = prefix ?? DEFAULT_REDIS_PREFIX;
  const client = await wrapUnavailable(() =>
    connectRedis(url, { label: "redis adapter", offlineQueue: true })
  );
  return {
    serverOptions: {
      adapter: createAdapter(client, {
        streamName: `${p}socket.io`,
        channelPrefix: `${p}socket.io`,
        sessionKeyPrefix: `${p}sio:session:`,
        // The read loop notices shutdown only when XREAD returns: keep the block short.
        blockTimeInMs: 2_000,
      }),
      // A socket that reconnects within the window gets its rooms back and the packets it
      // missed (read from the stream), even on another instance.
      connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS },
    },
    close: () => closeRedis(client),
  };
}

async function wrapUnavailable<T>(open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if ((err as Error)?.name === "RedisUnavailableError") {
      throw new StoreUnavailableError((err as Error).message, { cause: err });
    }
    throw err;
  }
}
