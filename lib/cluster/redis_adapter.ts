/**
 * The Redis side of the cluster bus: `@socket.io/redis-streams-adapter` on its own Redis
 * client, with connection-state recovery, used instead of the Deno KV adapter when
 * `REDIS_URL` is set. Its npm modules are imported on first use, so KV-only instances never
 * load them.
 */
import type { ServerOptions } from "socket.io";
import { wrapUnavailable } from "../store/factory.ts";
import { isStoreOutage } from "../store/outage.ts";

/** How long a disconnected socket's rooms and missed packets are kept for its return. */
const RECOVERY_WINDOW_MS = 2 * 60_000;

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
    .all([import("../store/redis_client.ts"), import("@socket.io/redis-streams-adapter")]);
  const p = prefix ?? DEFAULT_REDIS_PREFIX;
  const client = await wrapUnavailable(() =>
    connectRedis(url, { label: "redis adapter", offlineQueue: true })
  );
  const unguard = guardOutageRejections();
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
    close: async () => {
      await closeRedis(client);
      // Commands the library still held reject as the client closes: let them land first.
      Deno.unrefTimer(setTimeout(unguard, 1_000));
    },
  };
}

/**
 * The adapter publishes without awaiting (socket.io's emit is synchronous), so a command in
 * flight when Redis drops rejects with nobody to catch it, and Deno ends the process on an
 * unhandled rejection. Rejections that are Redis being away are logged (once per burst) and
 * kept from crashing the instance; every other rejection is left alone. Returns the remover.
 */
function guardOutageRejections(): () => void {
  let lastLogged = 0;
  const onRejection = (e: PromiseRejectionEvent) => {
    if (!isStoreOutage(e.reason)) return;
    e.preventDefault();
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    console.error(`redis adapter: a broadcast failed while Redis was away (${e.reason})`);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => globalThis.removeEventListener("unhandledrejection", onRejection);
}
