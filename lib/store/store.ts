/**
 * The storage contract of the connector: what the rest of the code may ask of persistent
 * state, independent of the engine (Deno KV today, Redis when self-hosted). Identifiers reach
 * the store only as keyed hashes, so raw emails and ids never become keys.
 */
import type { LogEntry, Settings, StoredConfig, StoredProfile } from "../types.ts";

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
    byUser.set(w.profile.user.id, { profile: w.profile, identKeys, json: w.json });
  }
  return [...byUser.values()];
}

/** What `saveProfiles` could not store, per user, and why. */
export interface SaveResult {
  rejected: { userId: string; reason: string }[];
  /** `SaveOptions.claim` was claimed before: nothing was applied, nothing is to be pushed. */
  replayed?: boolean;
}

/** Options of `saveProfiles`. */
export interface SaveOptions {
  /**
   * Claims this notification id (as `claimNotification`) before writing: nothing is written
   * if it was claimed before (`replayed`). If saving fails, the claim is released, so the
   * sender's retry is applied.
   */
  claim?: { id: string; ttlMs: number };
}

/**
 * `saveProfiles` of both engines: claim-then-write. Claims `opts.claim` first (nothing is
 * written for a replay), runs `write`, and releases the claim when writing fails so the
 * sender's retry is applied.
 */
export async function claimThenWrite(
  store: Pick<Store, "claimNotification" | "releaseNotification">,
  opts: SaveOptions,
  write: () => Promise<SaveResult["rejected"]>,
): Promise<SaveResult> {
  const { claim } = opts;
  if (claim && !(await store.claimNotification(claim.id, claim.ttlMs))) {
    return { rejected: [], replayed: true };
  }
  try {
    return { rejected: await write() };
  } catch (err) {
    if (claim) await store.releaseNotification(claim.id).catch(() => {});
    throw err;
  }
}

/** `lookupUserId` then `getProfile` (both engines' `lookupProfile`). */
export async function lookupThenGet(
  store: Pick<Store, "lookupUserId" | "getProfile">,
  identKeys: string[],
): Promise<{ userId: string; profile: StoredProfile | null } | null> {
  const userId = await store.lookupUserId(identKeys);
  return userId ? { userId, profile: await store.getProfile(userId) } : null;
}

/** What `registerConnector` did. */
export type Registration = "added" | "known" | "full";

/**
 * A connector id as a store scope accepts it (Hull's ids are 24 hex digits); nothing else
 * reaches a key, so an id cannot reach outside its scope.
 */
export const CONNECTOR_ID = /^[A-Za-z0-9_-]{1,100}$/;

/** `connectorId` when a scope may be made of it; throws otherwise (both engines' `scoped`). */
export function scopeId(connectorId: string): string {
  if (!CONNECTOR_ID.test(connectorId)) throw new Error("malformed connector id");
  return connectorId;
}

/** The settings of a store that holds none yet (both engines' `getConfig`). */
export const EMPTY_SETTINGS: Settings = {
  public_traits: [],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

/** Whitelist and settings as stored (domains as the raw patterns the admin typed). */
export type { StoredConfig };

export interface Store {
  /** Returns the persisted server secret, creating it with `generate()` on first use. */
  ensureSecret(generate: () => string): Promise<string>;
  /** Writes `seed` only when no settings exist yet; returns whether it did. */
  seedIfEmpty(seed: StoredConfig): Promise<boolean>;
  getConfig(): Promise<StoredConfig>;
  /**
   * Replaces the settings. Throws ConfigTooLargeError, writing nothing, when they are over
   * the size rule (config_size.ts); callers check first to refuse with a reason.
   */
  setSettings(settings: Settings): Promise<void>;
  /** Replaces the domain whitelist; the same size rule as `setSettings`. */
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

  /**
   * The store of one Hull connector: the same contract over keys of its own (settings,
   * domains, profiles, index, claims, documents, event log), on this store's connection. Its
   * `close()` stops its watchers only. `ensureSecret` and the connector registry stay
   * deployment-wide whichever store is asked. Throws on an id outside CONNECTOR_ID.
   */
  scoped(connectorId: string): Store;
  /** The connector a scoped store belongs to; null for the deployment's own (standalone). */
  readonly connectorId: string | null;
  /** Deletes every key of a scoped store (the operator removed the connector); throws on the root. */
  clear(): Promise<void>;

  /**
   * Registers a Hull connector id unless `max` are registered already, atomically across
   * instances: "added", "known" (registered before) or "full" (nothing changed).
   */
  registerConnector(id: string, max: number): Promise<Registration>;
  /** Forgets a registered id (its data is removed with `scoped(id).clear()`). */
  unregisterConnector(id: string): Promise<void>;
  /** Ids of the registered Hull connectors, in registration order. */
  listConnectors(): Promise<string[]>;

  /** Throws when the backend does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
