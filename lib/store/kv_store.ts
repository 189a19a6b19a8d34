/**
 * Deno KV implementation of the Store: settings, domains, the secret, replay ids and small
 * documents here; profiles and the identity index in kv_profiles.ts, the event log in
 * kv_event_log.ts; every key in kv_keys.ts.
 */
import { assertConfigSize } from "./config_size.ts";
import {
  claimThenWrite,
  EMPTY_SETTINGS,
  type LogEntry,
  lookupThenGet,
  type ProfileWrite,
  type Registration,
  type SaveOptions,
  type SaveResult,
  scopeId,
  type Store,
  type StoredConfig,
  type StoredProfile,
} from "./store.ts";
import { KvEventLog } from "./kv_event_log.ts";
import { connectorScope, keysFor, type KvKeys } from "./kv_keys.ts";
import { KvProfiles } from "./kv_profiles.ts";
import { commit, retryLocked } from "./kv_retry.ts";
import type { Settings } from "../types.ts";

export { MAX_PARTS, PART_BYTES } from "./kv_profiles.ts";

/** A claim's value: its expiry is kept in it, since KV's `expireIn` is only a hint. */
const claimValue = (ttlMs: number, now = Date.now()) => ({ expires_at: now + ttlMs });

/**
 * A Store over an open `Deno.Kv`. The caller owns opening; `close()` closes it (a scoped
 * store's `close()` leaves the shared handle open).
 */
export class KvStore implements Store {
  #events: KvEventLog;
  #profiles: KvProfiles;
  #watchers = new Set<ReadableStreamDefaultReader>();
  readonly #k: KvKeys;

  constructor(readonly kv: Deno.Kv, readonly connectorId: string | null = null) {
    this.#k = keysFor(connectorId === null ? [] : connectorScope(connectorId));
    this.#events = new KvEventLog(kv, this.#k);
    this.#profiles = new KvProfiles(kv, this.#k);
  }

  scoped(connectorId: string): KvStore {
    return new KvStore(this.kv, scopeId(connectorId));
  }

  async clear(): Promise<void> {
    if (this.connectorId === null) throw new Error("only a connector's store can be cleared");
    let op = this.kv.atomic();
    let n = 0;
    for await (const e of this.kv.list({ prefix: this.#k.scope })) {
      op.delete(e.key);
      if (++n % 500 === 0) {
        await commit(op);
        op = this.kv.atomic();
      }
    }
    await commit(op);
  }

  async registerConnector(id: string, max: number): Promise<Registration> {
    for (;;) {
      const list = await this.kv.get<string[]>(this.#k.connectors);
      const ids = list.value ?? [];
      if (ids.includes(id)) return "known";
      if (ids.length >= max) return "full";
      const res = await commit(this.kv.atomic().check(list).set(this.#k.connectors, [...ids, id]));
      if (res.ok) return "added";
    }
  }

  async unregisterConnector(id: string): Promise<void> {
    for (;;) {
      const list = await this.kv.get<string[]>(this.#k.connectors);
      if (!list.value?.includes(id)) return;
      const rest = list.value.filter((x) => x !== id);
      if ((await commit(this.kv.atomic().check(list).set(this.#k.connectors, rest))).ok) return;
    }
  }

  async listConnectors(): Promise<string[]> {
    return (await this.kv.get<string[]>(this.#k.connectors)).value ?? [];
  }

  /** Opens KV at `path` (`:memory:`, a file, or Deno's default when undefined). */
  static async open(path?: string): Promise<KvStore> {
    // Opening sets up the SQLite file (WAL mode, migrations): isolates starting together on
    // one local file can find it locked for a moment.
    return new KvStore(await retryLocked(() => Deno.openKv(path)));
  }

  async ensureSecret(generate: () => string): Promise<string> {
    const existing = await this.kv.get<string>(this.#k.secret);
    if (existing.value) return existing.value;
    const fresh = generate();
    const res = await commit(this.kv.atomic().check(existing).set(this.#k.secret, fresh));
    if (res.ok) return fresh;
    // Another instance won the race: use its secret so room names agree.
    return (await this.kv.get<string>(this.#k.secret)).value!;
  }

  async seedIfEmpty(seed: StoredConfig): Promise<boolean> {
    assertConfigSize("settings", seed.settings);
    assertConfigSize("domains", seed.domains);
    const res = await commit(
      this.kv.atomic()
        .check({ key: this.#k.settings, versionstamp: null })
        .check({ key: this.#k.domains, versionstamp: null })
        .set(this.#k.settings, seed.settings)
        .set(this.#k.domains, seed.domains),
    );
    return res.ok;
  }

  async getConfig(): Promise<StoredConfig> {
    const [settings, domains] = await this.kv.getMany<[Settings, string[]]>([
      this.#k.settings,
      this.#k.domains,
    ]);
    return {
      settings: { ...EMPTY_SETTINGS, ...(settings.value ?? {}) },
      domains: domains.value ?? [],
    };
  }

  async setSettings(settings: Settings): Promise<void> {
    assertConfigSize("settings", settings);
    await commit(this.kv.atomic().set(this.#k.settings, settings));
  }

  async setDomains(domains: string[]): Promise<void> {
    assertConfigSize("domains", domains);
    await commit(this.kv.atomic().set(this.#k.domains, domains));
  }

  watchConfig(onChange: (config: StoredConfig) => void): () => void {
    const reader = this.kv.watch([this.#k.settings, this.#k.domains]).getReader();
    this.#watchers.add(reader);
    (async () => {
      try {
        while (true) {
          const { done } = await reader.read();
          if (done) break;
          // The first read reports the current value, which the caller may have loaded before
          // a change that this watch then started after: it is passed on too.
          onChange(await this.getConfig());
        }
      } catch {
        // The stream errors when KV closes; nothing to do.
      }
    })();
    return () => {
      this.#watchers.delete(reader);
      reader.cancel().catch(() => {});
    };
  }

  lookupUserId(identKeys: string[]): Promise<string | null> {
    return this.#profiles.lookupUserId(identKeys);
  }

  getProfile(userId: string): Promise<StoredProfile | null> {
    return this.#profiles.getProfile(userId);
  }

  lookupProfile(identKeys: string[]) {
    return lookupThenGet(this, identKeys);
  }

  saveProfiles(writes: ProfileWrite[], opts: SaveOptions = {}): Promise<SaveResult> {
    return claimThenWrite(this, opts, () => this.#profiles.saveProfiles(writes));
  }

  deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    return this.#profiles.deleteProfile(userId, identKeys);
  }

  claimNotification(id: string, ttlMs: number): Promise<boolean> {
    return this.#claim(this.#k.notification(id), ttlMs);
  }

  claimProfileFetch(identKey: string, ttlMs: number): Promise<boolean> {
    return this.#claim(this.#k.fetchClaim(identKey), ttlMs);
  }

  /** Claims `key` for `ttlMs` unless an unexpired claim exists. */
  async #claim(key: Deno.KvKey, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const value = claimValue(ttlMs, now);
    // The usual case, an id never seen: one round trip.
    const fresh = await commit(
      this.kv.atomic().check({ key, versionstamp: null }).set(key, value, { expireIn: ttlMs }),
    );
    if (fresh.ok) return true;
    const current = await this.kv.get<{ expires_at: number }>(key);
    // expireIn is only a hint, so the expiry kept in the value decides.
    if (current.value && current.value.expires_at > now) return false;
    const res = await commit(this.kv.atomic().check(current).set(key, value, { expireIn: ttlMs }));
    return res.ok;
  }

  async releaseNotification(id: string): Promise<void> {
    await commit(this.kv.atomic().delete(this.#k.notification(id)));
  }

  async getMeta<T>(name: string): Promise<T | null> {
    return (await this.kv.get<T>(this.#k.doc(name))).value;
  }

  async setMeta(name: string, value: unknown, opts: { expireInMs?: number } = {}): Promise<void> {
    const expireIn = opts.expireInMs && Math.max(1, Math.ceil(opts.expireInMs));
    await commit(
      this.kv.atomic().set(this.#k.doc(name), value, expireIn ? { expireIn } : undefined),
    );
  }

  appendEvents(entries: LogEntry[]): Promise<void> {
    return this.#events.append(entries);
  }

  listEvents(limit: number): Promise<LogEntry[]> {
    return this.#events.list(limit);
  }

  async ping(): Promise<void> {
    await this.kv.get(this.#k.secret);
  }

  close(): Promise<void> {
    for (const r of this.#watchers) r.cancel().catch(() => {});
    this.#watchers.clear();
    if (this.connectorId === null) this.kv.close();
    return Promise.resolve();
  }
}
