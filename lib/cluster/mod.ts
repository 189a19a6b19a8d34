/**
 * The cluster part: how an emit reaches the sockets of every instance. The socket.io cluster
 * adapter over Deno KV (kv_adapter.ts: the protocol and its modules; kv_bus*.ts,
 * kv_sole_term.ts), or the official Redis streams adapter when REDIS_URL is set
 * (redis_adapter.ts).
 *
 * May import: socket.io-adapter, Deno KV, and the store's Redis client and error mapping. It
 * knows nothing of profiles, webhooks or the dashboard.
 */
export { createKvAdapter, type KvAdapterFactory, type KvAdapterOptions } from "./kv_adapter.ts";
export { openRedisAdapter, RECOVERY_WINDOW_MS } from "./redis_adapter.ts";
