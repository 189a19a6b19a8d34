/**
 * Picks the store from the configuration: Redis when `REDIS_URL` is set, Deno KV otherwise.
 * The Redis modules are imported dynamically, so a KV-only instance (Deno Deploy, a laptop)
 * never loads the npm Redis client. (The Redis socket.io adapter: lib/cluster/redis_adapter.ts.)
 */
import type { Config } from "../config.ts";
import { KvStore } from "./kv_store.ts";
import type { Store } from "./store.ts";
import { StoreUnavailableError } from "./outage.ts";

/** A backend the instance needs is unreachable (at boot, or later: see outage.ts). */
export { StoreUnavailableError };

/** Opens the store: RedisStore when `config.redisUrl` is set, else Deno KV at `kvPath`. */
export async function openStore(config: Config): Promise<Store> {
  if (!config.redisUrl) {
    try {
      return await KvStore.open(config.kvPath);
    } catch (err) {
      const where = config.kvPath ?? "Deno's default location";
      throw new StoreUnavailableError(
        `KV_PATH: cannot open Deno KV at ${where}: ${(err as Error)?.message}`,
        { cause: err },
      );
    }
  }
  const { RedisStore } = await import("./redis_store.ts");
  return await wrapUnavailable(() => RedisStore.connect(config.redisUrl!));
}

/** Runs `open`, turning Redis being unreachable into a StoreUnavailableError. */
export async function wrapUnavailable<T>(open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if ((err as Error)?.name === "RedisUnavailableError") {
      throw new StoreUnavailableError((err as Error).message, { cause: err });
    }
    throw err;
  }
}
