/**
 * The storage contract of the connector: what the rest of the code may ask of persistent
 * state, independent of the engine (Deno KV today, Redis when self-hosted). Identifiers reach
 * the store only as keyed hashes, so raw emails and ids never become keys.
 */
import type { LogEntry, ProfileView, Settings, StoredProfile } from "../types.ts";

// Shapes the leaves share (payload, event log) live in lib/types.ts; re-exported for the engines.
export type { LogEntry, ProfileView, StoredProfile } from "../types.ts";

/** Largest profile kept whole (profile.ts trims larger ones; KV splits it into parts). */
export const MAX_PROFILE_BYTES = 512 * 1024;

/** Events kept in the shared log (either engine); older ones are pruned. */
export const EVENT_LOG_LIMIT = 2_000;

/** A profile to write together with the hashed identifiers that point at it. */
export interface ProfileWrite {
  profile: StoredProfile;
  /** Keyed hashes of `type:value` for every identifier of the user. */
  identKeys: string[];
  /** This version's public payloads, kept for identifies where the engine can (kv_view_cache.ts). */
  view?: ProfileView;
  /**
   * `JSON.stringify(profile)` as UTF-8, when the caller has it already (webhook/profile.ts
   * measures it); the store encodes the profile itself otherwise.
   */
  json?: Uint8Array;
}

/**
 * One write per user, in batch order: a user repeated in a batch keeps its later message (the
 * newer state) with the identifiers of both. Both engines start a save with this.
 */
export function lastWritePerUser(writes: ProfileWrite[]): ProfileWrite[] {
  const byUser = new Map<string, ProfileWrite>();
  for (const w of writes) {
    const earlier = byUser.get(w.profile.user.id);
    const identKeys = earlier ? [...new Set([...earlier.identKeys, ...w.identKeys])] : w.identKeys;
    byUser.delete(w.profile.user.id);
    byUser.set(w.profile.user.id, { profile: w.profile, identKeys, view: w.view, json: w.json });
  }
  return [...byUser.values()];
}

/** What `saveProfiles` could not store, per user, and why. */
export interface SaveResult {
  rejected: { userId: string; reason: string }[];
  /** Every commit carried `SaveOptions.fence` and it held. */
  fenced?: boolean;
  /** `SaveOptions.claim` was claimed before: nothing was applied, nothing is to be pushed. */
  replayed?: boolean;
  /** `SaveOptions.cargo` was committed with the profiles (all of them, in one commit). */
  carried?: boolean;
}

/**
 * Writes of another writer (the cluster bus's messages of a batch, see KvBus.cargo) that a
 * profile commit may carry, so that both land atomically: what they add to a commit (bytes,
 * an upper bound, and mutations), and `ride`, which runs `commit` at their owner's turn:
 * `commit` builds the operation, calls `add(op)` on it (on each one it tries), commits, and
 * says whether it committed; `ride` resolves with that. `also`: cargo of the same owner, to
 * carry in the same commit.
 */
export interface Cargo {
  bytes: number;
  mutations: number;
  ride(
    commit: (add: (op: Deno.AtomicOperation) => void) => Promise<boolean>,
    also?: Cargo[],
  ): Promise<boolean>;
}

/** Options of `saveProfiles`. */
export interface SaveOptions {
  /**
   * Claims this notification id (as `claimNotification`) with the write: nothing is written
   * if it was claimed before (`replayed`), and a store that can overlaps the two (one round
   * trip). If saving fails, a claim taken here is released, so the sender's retry is applied.
   */
  claim?: { id: string; ttlMs: number };
  /**
   * Deno KV only: a check every profile commit also carries (the cluster bus's roster, see
   * `KvBus.fence`): the caller's count of peers holds at the moment of the write, and every
   * live instance sums the profile epoch, so a batch may be checked against the epoch instead
   * of each head (kv_head_cache.ts).
   */
  fence?: Deno.AtomicCheck;
  /**
   * Deno KV only, with `fence`: the cargo for the users (ids) that a batch commits, when the
   * batch goes in one fenced commit; that commit then carries it (`SaveResult.carried`).
   * Null: nothing to carry. Otherwise it is not asked for, or not carried.
   */
  cargo?: (userIds: string[]) => Cargo | null;
}

/** Whitelist and settings as stored (domains as the raw patterns the admin typed). */
export interface StoredConfig {
  settings: Settings;
  domains: string[];
}

export interface Store {
  /** Returns the persisted server secret, creating it with `generate()` on first use. */
  ensureSecret(generate: () => string): Promise<string>;
  /** Writes `seed` only when no settings exist yet; returns whether it did. */
  seedIfEmpty(seed: StoredConfig): Promise<boolean>;
  getConfig(): Promise<StoredConfig>;
  setSettings(settings: Settings): Promise<void>;
  setDomains(domains: string[]): Promise<void>;
  /** Calls `onChange` whenever settings or domains change (any instance). Returns a stop function. */
  watchConfig(onChange: (config: StoredConfig) => void): () => void;

  /** Resolves the first hashed identifier that maps to a user id. */
  lookupUserId(identKeys: string[]): Promise<string | null>;
  getProfile(userId: string): Promise<StoredProfile | null>;
  /**
   * `lookupUserId` then `getProfile` of the user found (null: no identifier maps to a user;
   * `profile` null: the user has no stored profile). A store may read both at once, but never
   * returns a profile older than a `getProfile` issued after this call would.
   */
  lookupProfile(
    identKeys: string[],
  ): Promise<{ userId: string; profile: StoredProfile | null } | null>;
  /**
   * `lookupProfile`, seen through `view` (the public payloads for `settings`): answered from
   * memory where the engine can do so exactly (kv_view_cache.ts), else read and viewed.
   * Optional: without it, callers use `lookupProfile`.
   */
  lookupView?(
    identKeys: string[],
    settings: object,
    view: (profile: StoredProfile) => ProfileView,
  ): Promise<{ userId: string; view: ProfileView | null } | null>;
  /**
   * Stores profiles and their identity index; an older `updated_at` never overwrites a newer
   * one. A user that can never be stored (over the engine's limits) is left out and listed in
   * `rejected` with the reason, so one oversized user does not fail the rest; a failure of the
   * store itself throws.
   */
  saveProfiles(writes: ProfileWrite[], opts?: SaveOptions): Promise<SaveResult>;

  /** Deletes a user's profile and the given identity-index entries (right to be forgotten). */
  deleteProfile(userId: string, identKeys: string[]): Promise<void>;

  /** Atomically claims a notification id for `ttlMs`; false when it was already processed. */
  claimNotification(id: string, ttlMs: number): Promise<boolean>;
  /** Undoes a claim when processing failed, so Hull's retry is applied. */
  releaseNotification(id: string): Promise<void>;
  /**
   * Atomically claims the right to fetch the profile of identifier `identKey` from Hull for
   * `ttlMs` (across instances); false when it was claimed within that time.
   */
  claimProfileFetch(identKey: string, ttlMs: number): Promise<boolean>;

  /** Small named JSON documents (dashboard data such as attribute names seen). */
  getMeta<T>(name: string): Promise<T | null>;
  /**
   * `expireInMs`: the document is not needed after that long and may be dropped then (Redis
   * drops it on time; Deno KV deletes expired keys lazily, so it may still be read for a while).
   */
  setMeta(name: string, value: unknown, opts?: { expireInMs?: number }): Promise<void>;

  appendEvents(entries: LogEntry[]): Promise<void>;
  /** Newest first. */
  listEvents(limit: number): Promise<LogEntry[]>;

  /** Throws when the backend does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
