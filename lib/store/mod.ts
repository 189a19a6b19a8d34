/**
 * The store part: the `Store` contract (store.ts) and its engines. Deno KV (kv_store.ts over
 * kv_profiles.ts — reads; kv_profile_writes.ts, kv_epoch_commits.ts and kv_head_cache.ts —
 * writes; kv_profile_format.ts — the stored shape — and kv_event_log.ts, with every key in
 * kv_keys.ts) by default; Redis
 * (redis_store.ts, redis_client.ts) when REDIS_URL is set, loaded dynamically by factory.ts so
 * KV-only instances never load the npm Redis client. Also the live config that every instance
 * watches, and per-key turn-taking for concurrent writes.
 *
 * May import: the leaves at the top of lib/ (types, config, domains). Nothing else: every
 * other part depends on the contract, not on an engine.
 */
export { openStore } from "./factory.ts";
export { isStoreOutage, OUTAGE_MESSAGE, RETRY_AFTER_S, StoreUnavailableError } from "./outage.ts";
export { KvStore } from "./kv_store.ts";
export { configSizeRefusal, ConfigTooLargeError, MAX_CONFIG_BYTES } from "./config_size.ts";
export { LiveConfig } from "./live_config.ts";
export type { LogEntry, ProfileWrite, SaveResult, Store, StoredProfile } from "./store.ts";
