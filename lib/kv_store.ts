/**
 * Deno KV implementation of the Store, and the one place that knows the KV key layout:
 *
 *   ["meta", "secret"]                      generated server secret (when SECRET is unset)
 *   ["config", "settings"]                  Settings
 *   ["config", "domains"]                   string[] of whitelisted domain patterns
 *   ["profiles", userId]                    { inline: JSON bytes, updated_at, ik } | { parts, rev, updated_at, ik }
 *                                           (ik: the ident keys last written for this user)
 *   ["profile_parts", userId, rev, i]       Uint8Array chunk of a large profile's JSON
 *   ["ident", identKey]                     userId (identKey = keyed hash of "type:value")
 *   ["notifications", notificationId]       { expires_at } replay protection
 *   ["fetch_claims", identKey]              { expires_at } profile fetched from Hull lately
 *   ["events", sortableId]                  EventChunk { n, json } of one flush, keyed by
 *                                           its newest entry's id (bounded, newest kept); a
 *                                           plain LogEntry in logs written by earlier versions
 *   ["meta", "doc", name]                   small dashboard documents (names seen, …)
 *
 * KV values are limited to 64 KiB, so profiles above PART_BYTES are split into parts written
 * in the same atomic operation as their head record.
 */
import type { LogEntry, ProfileWrite, Store, StoredConfig, StoredProfile } from "./store.ts";
import type { Settings } from "./types.ts";

/** Bytes of JSON per part; below KV's 64 KiB value limit with room for serialization overhead. */
export const PART_BYTES = 60_000;
/** Events kept in the log; older ones are pruned. */
export const EVENT_LOG_LIMIT = 2_000;
const EVENT_TTL_MS = 7 * 24 * 3600_000;
/**
 * JSON bytes of events per stored chunk: a flush of hundreds of entries is a few KV values, not
 * hundreds (KV's cost is per value written and deleted, and a busy connector logs thousands of
 * entries a second).
 */
const EVENT_CHUNK_BYTES = 40_000;

/** Several log entries stored as one value: their count, and their JSON array as UTF-8. */
interface EventChunk {
  n: number;
  json: Uint8Array;
}
const countOf = (v: EventChunk | LogEntry): number => "json" in v ? v.n : 1;
const entriesOf = (v: EventChunk | LogEntry): LogEntry[] =>
  "json" in v ? JSON.parse(decoder.decode(v.json)) : [v];

const EMPTY_SETTINGS: Settings = {
  public_traits: [],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

/**
 * A profile's JSON is stored as UTF-8 bytes so its size in KV is known exactly; `ik`: the
 * identity-index keys written with this version (absent in older heads).
 */
type ProfileHead =
  & ({ inline: Uint8Array } | { parts: number; rev: string })
  & { updated_at: number; ik?: string[] };

type Encoded = ProfileWrite & { json: Uint8Array };

/** What a write needs of the current head: its versionstamp (checked) and metadata. */
type Meta = { updated_at: number; ik?: string[]; rev?: string; parts?: number };
type HeadMeta = Deno.KvEntryMaybe<Meta>;
/** Heads remembered for the next write of the same user; cleared whole when full. */
const HEAD_CACHE_SIZE = 50_000;

/** Budget of one grouped commit, below KV's 800 KiB total mutation size. */
const GROUP_BYTES = 600_000;
/** Checks (one per profile) and mutations of one grouped commit, below KV's 100 and 1,000. */
const GROUP_CHECKS = 100;
const GROUP_MUTATIONS = 900;

const K = {
  secret: ["meta", "secret"] as const,
  settings: ["config", "settings"] as const,
  domains: ["config", "domains"] as const,
  profile: (userId: string) => ["profiles", userId] as const,
  part: (userId: string, rev: string, i: number) => ["profile_parts", userId, rev, i] as const,
  parts: (userId: string, rev: string) => ["profile_parts", userId, rev] as const,
  ident: (identKey: string) => ["ident", identKey] as const,
  notification: (id: string) => ["notifications", id] as const,
  fetchClaim: (identKey: string) => ["fetch_claims", identKey] as const,
  events: ["events"] as const,
};

/**
 * Runs `fn`, retrying briefly while SQLite reports the file locked: several isolates (Workers)
 * opening or writing one local KV file can collide; on Deploy's FoundationDB this does not
 * happen.
 */
async function retryLocked<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 8 || !/locked|busy/i.test(String((err as Error)?.message))) throw err;
      await new Promise((r) => setTimeout(r, 5 * 2 ** attempt + Math.random() * 10));
    }
  }
}

const commit = (op: Deno.AtomicOperation) => retryLocked(() => op.commit());

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Store over an open `Deno.Kv`. The caller owns opening; `close()` closes it. */
export class KvStore implements Store {
  #eventSeq = 0;
  #appendsSincePrune = 0;
  /** Entries in the event log as of the last prune (null: not counted yet). */
  #logCount: number | null = null;
  #prunes = 0;
  #watchers = new Set<ReadableStreamDefaultReader>();
  /**
   * The head this instance last wrote per user. A write is checked against it instead of a
   * fresh read, which saves a round trip per batch; if anyone else wrote the user since, the
   * check fails and the user is read and written again.
   */
  #heads = new Map<string, HeadMeta>();

  constructor(readonly kv: Deno.Kv) {}

  /** Opens KV at `path` (`:memory:`, a file, or Deno's default when undefined). */
  static async open(path?: string): Promise<KvStore> {
    // Opening sets up the SQLite file (WAL mode, migrations): isolates starting together on
    // one local file can find it locked for a moment.
    return new KvStore(await retryLocked(() => Deno.openKv(path)));
  }

  async ensureSecret(generate: () => string): Promise<string> {
    const existing = await this.kv.get<string>(K.secret);
    if (existing.value) return existing.value;
    const fresh = generate();
    const res = await commit(this.kv.atomic().check(existing).set(K.secret, fresh));
    if (res.ok) return fresh;
    // Another instance won the race: use its secret so room names agree.
    return (await this.kv.get<string>(K.secret)).value!;
  }

  async seedIfEmpty(seed: StoredConfig): Promise<boolean> {
    const res = await commit(
      this.kv.atomic()
        .check({ key: K.settings, versionstamp: null })
        .check({ key: K.domains, versionstamp: null })
        .set(K.settings, seed.settings)
        .set(K.domains, seed.domains),
    );
    return res.ok;
  }

  async getConfig(): Promise<StoredConfig> {
    const [settings, domains] = await this.kv.getMany<[Settings, string[]]>([
      K.settings,
      K.domains,
    ]);
    return {
      settings: { ...EMPTY_SETTINGS, ...(settings.value ?? {}) },
      domains: domains.value ?? [],
    };
  }

  async setSettings(settings: Settings): Promise<void> {
    await commit(this.kv.atomic().set(K.settings, settings));
  }

  async setDomains(domains: string[]): Promise<void> {
    await commit(this.kv.atomic().set(K.domains, domains));
  }

  watchConfig(onChange: (config: StoredConfig) => void): () => void {
    const reader = this.kv.watch([K.settings, K.domains]).getReader();
    this.#watchers.add(reader);
    let first = true;
    (async () => {
      try {
        while (true) {
          const { done } = await reader.read();
          if (done) break;
          // The first read reports the current value, which the caller already loaded.
          if (first) {
            first = false;
            continue;
          }
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

  async lookupUserId(identKeys: string[]): Promise<string | null> {
    if (!identKeys.length) return null;
    const entries = await this.kv.getMany<string[]>(identKeys.map(K.ident));
    for (const e of entries) if (e.value) return e.value;
    return null;
  }

  async getProfile(userId: string): Promise<StoredProfile | null> {
    const head = await this.kv.get<ProfileHead>(K.profile(userId));
    if (!head.value) return null;
    if ("inline" in head.value) return JSON.parse(decoder.decode(head.value.inline));
    const { parts, rev } = head.value;
    const chunks: Uint8Array[] = [];
    for await (const e of this.kv.list<Uint8Array>({ prefix: K.parts(userId, rev) })) {
      chunks.push(e.value);
    }
    if (chunks.length !== parts) return null; // parts are written atomically with the head
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    return JSON.parse(decoder.decode(bytes));
  }

  async saveProfiles(writes: ProfileWrite[]): Promise<void> {
    // The same user twice in one batch: the later message is the newer state.
    const byUser = new Map<string, Encoded>();
    for (const w of writes) {
      const earlier = byUser.get(w.profile.user.id);
      const identKeys = earlier
        ? [...new Set([...earlier.identKeys, ...w.identKeys])]
        : w.identKeys;
      byUser.delete(w.profile.user.id);
      byUser.set(w.profile.user.id, {
        profile: w.profile,
        identKeys,
        json: encoder.encode(JSON.stringify(w.profile)),
      });
    }
    // Small profiles are committed in groups (one commit costs far more than its size: a
    // 100-user batch is one commit, not ten), large ones alone; KV allows 100 checks, 1,000
    // mutations and 800 KiB of mutations per atomic operation.
    const groups: Encoded[][] = [];
    const large: Encoded[] = [];
    let group: Encoded[] = [];
    let bytes = 0;
    let mutations = 0;
    for (const e of byUser.values()) {
      if (e.json.length > PART_BYTES) {
        large.push(e);
        continue;
      }
      // The profile, its index entries and up to a few stale parts of an earlier large version.
      const muts = 1 + e.identKeys.length + 16;
      if (
        group.length === GROUP_CHECKS || bytes + e.json.length > GROUP_BYTES ||
        mutations + muts > GROUP_MUTATIONS
      ) {
        groups.push(group);
        group = [];
        bytes = 0;
        mutations = 0;
      }
      group.push(e);
      bytes += e.json.length + e.identKeys.length * 64;
      mutations += muts;
    }
    if (group.length) groups.push(group);
    await Promise.all([
      ...groups.map((g) => this.#saveGroup(g)),
      ...large.map((e) => this.#saveOne(e)),
    ]);
  }

  async #saveGroup(group: Encoded[]): Promise<void> {
    const heads: (HeadMeta | undefined)[] = group.map((e) => this.#heads.get(e.profile.user.id));
    const unknown = group.filter((_, i) => !heads[i]);
    const read = await this.#getMany<ProfileHead>(unknown.map((e) => K.profile(e.profile.user.id)));
    for (let i = 0, j = 0; i < group.length; i++) heads[i] ??= read[j++];
    const op = this.kv.atomic();
    const written = group.map((e, i) => this.#addWrite(op, e, heads[i]!));
    try {
      const res = await commit(op);
      if (res.ok) {
        heads.forEach((h, i) => this.#remember(h!, written[i], res.versionstamp));
        return;
      }
    } catch (err) {
      // Over a KV limit (e.g. many stale parts of earlier large versions): one user at a time.
      if (!/too many|too large|exceeded/i.test(String((err as Error)?.message))) throw err;
    }
    // Someone else wrote one of these users meanwhile: settle each user on its own.
    for (const e of group) this.#heads.delete(e.profile.user.id);
    await Promise.all(group.map((e) => this.#saveOne(e)));
  }

  /** `getMany` for any number of keys (it reads at most 10 at once), in parallel. */
  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const reads: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += 10) {
      reads.push(this.kv.getMany<T[]>(keys.slice(i, i + 10)));
    }
    return (await Promise.all(reads)).flat();
  }

  async #saveOne(e: Encoded): Promise<void> {
    const userId = e.profile.user.id;
    for (let attempt = 0; attempt < 5; attempt++) {
      const head = await this.kv.get<ProfileHead>(K.profile(userId));
      const op = this.kv.atomic();
      const written = this.#addWrite(op, e, head);
      const res = await commit(op);
      if (res.ok) return this.#remember(head, written, res.versionstamp);
    }
    throw new Error(`could not store profile after 5 attempts (contention)`);
  }

  /** Remembers the head a commit wrote, or the one it checked (a stale update wrote none). */
  #remember(head: HeadMeta, written: Meta | null, versionstamp: string): void {
    if (this.#heads.size >= HEAD_CACHE_SIZE) this.#heads.clear();
    const userId = head.key[1] as string;
    const value = written ?? head.value;
    if (!value) return;
    const { updated_at, ik, rev, parts } = value; // not a cached head's profile bytes
    this.#heads.set(userId, {
      key: head.key,
      value: { updated_at, ik, rev, parts },
      versionstamp: written ? versionstamp : head.versionstamp!,
    });
  }

  /**
   * Adds one profile's writes to `op`, checked against `head`. Returns the new head's
   * metadata, or null for a stale update (older than the head: nothing written).
   */
  #addWrite(op: Deno.AtomicOperation, e: Encoded, head: HeadMeta): Meta | null {
    const { profile, identKeys, json } = e;
    const userId = profile.user.id;
    op.check(head);
    if (head.value && head.value.updated_at > profile.updated_at) return null; // stale update
    const key = K.profile(userId);
    let meta: Meta = { updated_at: profile.updated_at, ik: identKeys };
    if (json.length <= PART_BYTES) {
      op.set(key, { inline: json, ...meta });
    } else {
      const rev = crypto.randomUUID();
      const parts = Math.ceil(json.length / PART_BYTES);
      for (let i = 0; i < parts; i++) {
        op.set(K.part(userId, rev, i), json.slice(i * PART_BYTES, (i + 1) * PART_BYTES));
      }
      meta = { ...meta, rev, parts };
      op.set(key, meta);
    }
    if (head.value?.rev) {
      for (let i = 0; i < head.value.parts!; i++) op.delete(K.part(userId, head.value.rev, i));
    }
    // Most updates are for known users whose identifiers did not change: their index entries
    // are already in place (written with the head read above), and rewriting them would be
    // three quarters of a batch's mutations.
    const written = new Set(head.value?.ik);
    for (const k of identKeys) if (!written.has(k)) op.set(K.ident(k), userId);
    return meta;
  }

  async deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    this.#heads.delete(userId);
    const head = await this.kv.get<ProfileHead>(K.profile(userId));
    const keys: Deno.KvKey[] = [K.profile(userId)];
    // An identifier may point at another user by now (merged, reassigned): leave it alone.
    for (const e of await this.#getMany<string>(identKeys.map(K.ident))) {
      if (e.value === userId) keys.push(e.key);
    }
    if (head.value && "rev" in head.value) {
      for (let i = 0; i < head.value.parts; i++) keys.push(K.part(userId, head.value.rev, i));
    }
    for (let i = 0; i < keys.length; i += 500) {
      const op = this.kv.atomic();
      for (const key of keys.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }

  claimNotification(id: string, ttlMs: number): Promise<boolean> {
    return this.#claim(K.notification(id), ttlMs);
  }

  claimProfileFetch(identKey: string, ttlMs: number): Promise<boolean> {
    return this.#claim(K.fetchClaim(identKey), ttlMs);
  }

  /** Claims `key` for `ttlMs` unless an unexpired claim exists. */
  async #claim(key: Deno.KvKey, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const value = { expires_at: now + ttlMs };
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
    await commit(this.kv.atomic().delete(K.notification(id)));
  }

  async getMeta<T>(name: string): Promise<T | null> {
    return (await this.kv.get<T>(["meta", "doc", name])).value;
  }

  async setMeta(name: string, value: unknown): Promise<void> {
    await commit(this.kv.atomic().set(["meta", "doc", name], value));
  }

  async appendEvents(entries: LogEntry[]): Promise<void> {
    if (!entries.length) return;
    const stamped = entries.map((e) => e.id ? e : { ...e, id: this.#eventId(e) })
      .sort((x, y) => x.id! < y.id! ? -1 : x.id! > y.id! ? 1 : 0);
    // Stored as JSON bytes: cheap for KV to write, read and skip (prunes only need `n`).
    const chunks: { last: string; json: string[] }[] = [];
    let bytes = Infinity;
    for (const e of stamped) {
      const json = JSON.stringify(e);
      if (bytes + json.length > EVENT_CHUNK_BYTES) {
        chunks.push({ last: e.id!, json: [] });
        bytes = 0;
      }
      chunks.at(-1)!.json.push(json);
      chunks.at(-1)!.last = e.id!;
      bytes += json.length;
    }
    // At most 10 chunks (~400 KB) per atomic operation, below KV's 800 KiB.
    for (let i = 0; i < chunks.length; i += 10) {
      const op = this.kv.atomic();
      for (const c of chunks.slice(i, i + 10)) {
        const value: EventChunk = {
          n: c.json.length,
          json: encoder.encode(`[${c.json.join(",")}]`),
        };
        op.set([...K.events, c.last], value, { expireIn: EVENT_TTL_MS });
      }
      await commit(op);
    }
    this.#appendsSincePrune += entries.length;
    if (this.#appendsSincePrune >= 200) {
      const added = this.#appendsSincePrune;
      this.#appendsSincePrune = 0;
      await this.#pruneEvents(added);
    }
  }

  async listEvents(limit: number): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    let kth = "";
    const newestFirst = (x: LogEntry, y: LogEntry) => x.id! < y.id! ? 1 : x.id! > y.id! ? -1 : 0;
    for await (
      const c of this.kv.list<EventChunk | LogEntry>({ prefix: K.events }, { reverse: true })
    ) {
      // A chunk holds entries no newer than its key: once `limit` entries newer than this key
      // are in hand, nothing older can make the cut.
      if (out.length >= limit && (c.key[1] as string) < kth) break;
      for (const e of entriesOf(c.value)) out.push(e.id ? e : { ...e, id: c.key[1] as string });
      if (out.length >= limit) kth = out.sort(newestFirst)[limit - 1].id!;
    }
    return out.sort(newestFirst).slice(0, limit);
  }

  async ping(): Promise<void> {
    await this.kv.get(K.secret);
  }

  close(): Promise<void> {
    for (const r of this.#watchers) r.cancel().catch(() => {});
    this.#watchers.clear();
    this.kv.close();
    return Promise.resolve();
  }

  /** Time-ordered and unique across instances: ms timestamp, local sequence, random tail. */
  #eventId(entry: LogEntry): string {
    const ms = Date.parse(entry.time) || Date.now();
    const seq = (this.#eventSeq++ % 1_000_000).toString().padStart(6, "0");
    return `${ms.toString().padStart(15, "0")}-${seq}-${crypto.randomUUID().slice(0, 8)}`;
  }

  /**
   * Keeps the newest EVENT_LOG_LIMIT entries (whole chunks: between the limit and one chunk
   * more). A full scan reads the whole log, so it runs only now and then (every 20th prune) to
   * learn the count; in between, once the log is full, each prune deletes about as many of the
   * oldest entries as this instance added, reading only those. Every instance deleting what it
   * added keeps the count near where the last scan left it.
   */
  async #pruneEvents(added: number): Promise<void> {
    const stale: Deno.KvKey[] = [];
    if (this.#logCount !== null && ++this.#prunes % 20 !== 0) {
      this.#logCount += added;
      for await (
        const c of this.kv.list<EventChunk | LogEntry>({ prefix: K.events }, { batchSize: 4 })
      ) {
        const n = countOf(c.value);
        if (this.#logCount - n < EVENT_LOG_LIMIT) break;
        this.#logCount -= n;
        stale.push(c.key);
      }
    } else {
      let kept = 0;
      for await (
        const c of this.kv.list<EventChunk | LogEntry>({ prefix: K.events }, { reverse: true })
      ) {
        if (kept >= EVENT_LOG_LIMIT) stale.push(c.key);
        else kept += countOf(c.value);
      }
      this.#logCount = kept;
    }
    for (let i = 0; i < stale.length; i += 500) {
      const op = this.kv.atomic();
      for (const key of stale.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }
}
