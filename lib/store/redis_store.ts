/**
 * Redis implementation of the Store (self-hosted scale-out, `REDIS_URL`), with the same
 * semantics as KvStore. Key layout (every key under a prefix, default "hull-browser:"):
 *
 *   meta:secret                 generated server secret (SET NX: the first instance wins)
 *   meta:doc:<name>             small named JSON documents (getMeta / setMeta)
 *   config:settings             Settings as JSON
 *   config:domains              string[] of whitelisted domain patterns as JSON
 *   config                      pub/sub channel: "settings" | "domains" after each change
 *   profile:<userId>            hash { updated_at, json }; written/deleted by Lua scripts
 *   ident:<identKey>            userId (identKey = keyed hash of "type:value")
 *   notification:<id>           replay protection (SET NX PX: Redis expiry is exact)
 *   fetch:<identKey>            profile fetched from Hull lately (SET NX PX)
 *   events                      list of LogEntry JSON, newest first, capped by LTRIM
 *   connectors                  list of the registered Hull connector ids (deployment-wide)
 *
 * Those are the standalone connector's keys; a Hull connector's are the same under
 * "<prefix>connector:<id>:" (`scoped`), except the secret and the connector list.
 *
 * Connections (see redis_client.ts): one command client without offline queue, so commands
 * fail fast while Redis is away and /healthz reports it, and one subscriber for config changes.
 */
import {
  closeRedis,
  connectRedis,
  DEFAULT_REDIS_PREFIX,
  type RedisClient,
  RedisUnavailableError,
  watchConnection,
} from "./redis_client.ts";
import { StoreUnavailableError } from "./outage.ts";
import { assertConfigSize } from "./config_size.ts";
import {
  claimThenWrite,
  EMPTY_SETTINGS,
  EVENT_LOG_LIMIT,
  lastWritePerUser,
  type LogEntry,
  lookupThenGet,
  MAX_PROFILE_BYTES,
  type ProfileWrite,
  type Registration,
  type SaveOptions,
  type SaveResult,
  scopeId,
  type Store,
  type StoredConfig,
  type StoredProfile,
} from "./store.ts";
import type { Settings } from "../types.ts";
import { DELETE_SCRIPT, REGISTER_SCRIPT, SAVE_SCRIPT } from "./redis_scripts.ts";

/**
 * Largest profile JSON we store. profile.ts trims anything above MAX_PROFILE_BYTES to the
 * identifiers and public attributes, so only absurd public traits get here; leaving that user
 * out (reported, the rest of the batch stored) beats letting one user fill Redis memory.
 */
export const MAX_REDIS_PROFILE_BYTES = 2 * MAX_PROFILE_BYTES;
const EVENT_TTL_MS = 7 * 24 * 3600_000;
/** Users per Lua call: bounds how long one script blocks Redis. */
const SCRIPT_BATCH = 100;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface RedisStoreOptions {
  /** Prefix of every key and channel (default DEFAULT_REDIS_PREFIX). */
  prefix?: string;
  /** Attempts at boot, see ConnectOptions. */
  bootRetries?: number;
}

/** A Store over Redis. `RedisStore.connect` opens it; `close()` closes both connections. */
export class RedisStore implements Store {
  readonly #k;
  #watchers = new Set<(config: StoredConfig) => void>();
  #closed = false;
  readonly #onReady = () => this.#resync();
  readonly #onMessage = () => this.#notify();

  private constructor(
    readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    /** The deployment's prefix (the root store's). */
    readonly prefix: string,
    readonly connectorId: string | null = null,
  ) {
    const p = connectorId === null ? prefix : `${prefix}connector:${connectorId}:`;
    this.#k = {
      scope: p,
      connectors: `${prefix}connectors`,
      secret: `${prefix}meta:secret`,
      meta: (name: string) => `${p}meta:doc:${name}`,
      settings: `${p}config:settings`,
      domains: `${p}config:domains`,
      channel: `${p}config`,
      profile: (userId: string) => `${p}profile:${userId}`,
      ident: (identKey: string) => `${p}ident:${identKey}`,
      notification: (id: string) => `${p}notification:${id}`,
      fetch: (identKey: string) => `${p}fetch:${identKey}`,
      events: `${p}events`,
    };
  }

  /** Connects to `url`; throws RedisUnavailableError when Redis does not answer. */
  static async connect(url: string, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    const client = await connectRedis(url, { label: "redis store", bootRetries: opts.bootRetries });
    let subscriber: RedisClient | undefined;
    try {
      subscriber = client.duplicate();
      watchConnection(subscriber, "redis config subscriber", () => true);
      await subscriber.connect();
      const store = new RedisStore(client, subscriber, opts.prefix ?? DEFAULT_REDIS_PREFIX);
      await store.#subscribe();
      return store;
    } catch (err) {
      if (subscriber) await closeRedis(subscriber);
      await closeRedis(client);
      throw err instanceof RedisUnavailableError ? err : new RedisUnavailableError(url, err);
    }
  }

  scoped(connectorId: string): RedisStore {
    const store = new RedisStore(
      this.client,
      this.subscriber,
      this.prefix,
      scopeId(connectorId),
    );
    store.#subscribe().catch((err) =>
      console.error(`redis: could not watch connector settings: ${err.message}`)
    );
    return store;
  }

  async clear(): Promise<void> {
    if (this.connectorId === null) throw new Error("only a connector's store can be cleared");
    for await (const keys of this.client.scanIterator({ MATCH: `${this.#k.scope}*`, COUNT: 500 })) {
      // node-redis 4 yields one key per step, 5 a page of them.
      const batch = Array.isArray(keys) ? keys : [keys];
      if (batch.length) await this.client.unlink(batch);
    }
  }

  async registerConnector(id: string, max: number): Promise<Registration> {
    return await this.#eval(REGISTER_SCRIPT, [this.#k.connectors], [
      id,
      String(max),
    ]) as Registration;
  }

  async unregisterConnector(id: string): Promise<void> {
    await this.client.lRem(this.#k.connectors, 0, id);
  }

  async listConnectors(): Promise<string[]> {
    return await this.client.lRange(this.#k.connectors, 0, -1);
  }

  async ensureSecret(generate: () => string): Promise<string> {
    const existing = await this.client.get(this.#k.secret);
    if (existing) return existing;
    const fresh = generate();
    if (await this.client.set(this.#k.secret, fresh, { NX: true })) return fresh;
    // Another instance won the race: use its secret so room names agree.
    return (await this.client.get(this.#k.secret))!;
  }

  async seedIfEmpty(seed: StoredConfig): Promise<boolean> {
    assertConfigSize("settings", seed.settings);
    assertConfigSize("domains", seed.domains);
    // MSETNX writes both keys only when neither exists: the atomic check of KvStore.
    const seeded = await this.client.mSetNX([
      [this.#k.settings, JSON.stringify(seed.settings)],
      [this.#k.domains, JSON.stringify(seed.domains)],
    ]);
    if (seeded) await this.client.publish(this.#k.channel, "seed");
    return seeded;
  }

  async getConfig(): Promise<StoredConfig> {
    const [settings, domains] = await this.client.mGet([this.#k.settings, this.#k.domains]);
    return {
      settings: { ...EMPTY_SETTINGS, ...(settings ? JSON.parse(settings) : {}) },
      domains: domains ? JSON.parse(domains) : [],
    };
  }

  async setSettings(settings: Settings): Promise<void> {
    assertConfigSize("settings", settings);
    await this.client.multi()
      .set(this.#k.settings, JSON.stringify(settings))
      .publish(this.#k.channel, "settings")
      .exec();
  }

  async setDomains(domains: string[]): Promise<void> {
    assertConfigSize("domains", domains);
    await this.client.multi()
      .set(this.#k.domains, JSON.stringify(domains))
      .publish(this.#k.channel, "domains")
      .exec();
  }

  watchConfig(onChange: (config: StoredConfig) => void): () => void {
    this.#watchers.add(onChange);
    return () => void this.#watchers.delete(onChange);
  }

  async lookupUserId(identKeys: string[]): Promise<string | null> {
    if (!identKeys.length) return null;
    const ids = await this.client.mGet(identKeys.map(this.#k.ident));
    return ids.find((id) => id) ?? null;
  }

  lookupProfile(identKeys: string[]) {
    return lookupThenGet(this, identKeys);
  }

  async getProfile(userId: string): Promise<StoredProfile | null> {
    const json = await this.client.hGet(this.#k.profile(userId), "json");
    return json ? JSON.parse(json) : null;
  }

  saveProfiles(writes: ProfileWrite[], opts: SaveOptions = {}): Promise<SaveResult> {
    return claimThenWrite(this, opts, () => this.#save(writes));
  }

  async #save(writes: ProfileWrite[]): Promise<SaveResult["rejected"]> {
    const byUser = lastWritePerUser(writes).map((w) => {
      const json = w.json ? decoder.decode(w.json) : JSON.stringify(w.profile);
      return { ...w, json, bytes: w.json?.length ?? encoder.encode(json).length };
    });
    // An oversized user is left out (and reported); the rest of the batch is stored.
    const rejected: SaveResult["rejected"] = [];
    const all = byUser.filter((e) => {
      if (e.bytes <= MAX_REDIS_PROFILE_BYTES) return true;
      const reason = `profile is ${e.bytes} bytes, above ${MAX_REDIS_PROFILE_BYTES}`;
      rejected.push({ userId: e.profile.user.id, reason });
      return false;
    });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < all.length; i += SCRIPT_BATCH) {
      const keys: string[] = [];
      const args = [String(Math.min(SCRIPT_BATCH, all.length - i))];
      for (const e of all.slice(i, i + SCRIPT_BATCH)) {
        const userId = e.profile.user.id;
        keys.push(this.#k.profile(userId), ...e.identKeys.map(this.#k.ident));
        args.push(userId, String(e.profile.updated_at), e.json, String(e.identKeys.length));
      }
      calls.push(this.#eval(SAVE_SCRIPT, keys, args));
    }
    await Promise.all(calls);
    return rejected;
  }

  async deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    const keys = [this.#k.profile(userId), ...identKeys.map(this.#k.ident)];
    await this.#eval(DELETE_SCRIPT, keys, [userId]);
  }

  claimNotification(id: string, ttlMs: number): Promise<boolean> {
    return this.#claim(this.#k.notification(id), ttlMs);
  }

  async releaseNotification(id: string): Promise<void> {
    await this.client.del(this.#k.notification(id));
  }

  claimProfileFetch(identKey: string, ttlMs: number): Promise<boolean> {
    return this.#claim(this.#k.fetch(identKey), ttlMs);
  }

  /** SET NX PX: Redis's expiry is exact, so an unexpired claim is one that exists. */
  async #claim(key: string, ttlMs: number): Promise<boolean> {
    const px = Math.max(1, Math.ceil(ttlMs));
    return await this.client.set(key, String(Date.now() + ttlMs), { NX: true, PX: px }) === "OK";
  }

  async getMeta<T>(name: string): Promise<T | null> {
    const json = await this.client.get(this.#k.meta(name));
    return json === null ? null : JSON.parse(json);
  }

  async setMeta(name: string, value: unknown, opts: { expireInMs?: number } = {}): Promise<void> {
    const px = opts.expireInMs && Math.max(1, Math.ceil(opts.expireInMs));
    await this.client.set(this.#k.meta(name), JSON.stringify(value), px ? { PX: px } : undefined);
  }

  async appendEvents(entries: LogEntry[]): Promise<void> {
    if (!entries.length) return;
    const key = this.#k.events;
    // LPUSH of a chronological batch leaves the newest entry at the head; LTRIM caps the list.
    await this.client.multi()
      .lPush(key, entries.map((e) => JSON.stringify(e)))
      .lTrim(key, 0, EVENT_LOG_LIMIT - 1)
      .pExpire(key, EVENT_TTL_MS)
      .exec();
  }

  async listEvents(limit: number): Promise<LogEntry[]> {
    if (limit <= 0) return [];
    const raw = await this.client.lRange(this.#k.events, 0, limit - 1);
    // Entries older than KV's per-entry TTL are dropped too; they sit at the tail.
    const oldest = Date.now() - EVENT_TTL_MS;
    return raw.map((r) => JSON.parse(r) as LogEntry)
      .filter((e) => !(Date.parse(e.time) < oldest));
  }

  async ping(): Promise<void> {
    if (!this.client.isReady) {
      throw new StoreUnavailableError("redis is unreachable (reconnecting)");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new StoreUnavailableError("redis did not answer PING in 2 s")),
            2_000,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
    if (this.connectorId !== null) {
      // The connections are the deployment's: only this connector's subscription goes.
      this.subscriber.off("ready", this.#onReady);
      await this.subscriber.unsubscribe(this.#k.channel, this.#onMessage).catch(() => {});
      return;
    }
    await Promise.all([closeRedis(this.subscriber), closeRedis(this.client)]);
  }

  /** EVAL (Redis caches the compiled script; a script is a few hundred bytes to send). */
  #eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.eval(script, { keys, arguments: args });
  }

  async #subscribe(): Promise<void> {
    await this.subscriber.subscribe(this.#k.channel, this.#onMessage);
    // Attached after the first 'ready', so it fires on reconnects only: changes published
    // while the subscriber was away were missed, so re-read the config once it is back.
    this.subscriber.on("ready", this.#onReady);
  }

  #notify(): void {
    if (this.#closed || !this.#watchers.size) return;
    this.getConfig().then((config) => {
      for (const w of this.#watchers) {
        try {
          w(config);
        } catch (err) {
          console.error(`config watcher failed: ${(err as Error).message}`);
        }
      }
    }).catch((err) => console.error(`redis: could not read config: ${err.message}`));
  }

  async #resync(): Promise<void> {
    // The command client may come back later than the subscriber: retry a few times.
    for (let i = 0; i < 10 && !this.#closed; i++) {
      try {
        // A Redis that lost its data (restart without persistence) must not wipe the
        // whitelist in force: only a config that exists is applied.
        if (await this.client.exists([this.#k.settings, this.#k.domains])) this.#notify();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
