/**
 * Profiles and the identity index in Deno KV, the reading half: lookups of the user behind
 * identifiers and its profile in one snapshot where this instance can guess the user, shared
 * KV round trips for concurrent sockets. Writes: kv_profile_writes.ts; the stored shape:
 * kv_profile_format.ts; keys: kv_keys.ts.
 */
import { K } from "./kv_keys.ts";
import { GET_MANY_KEYS, KvReadBatcher } from "./kv_read_batch.ts";
import { type ProfileHead, readProfile, type SetOptions } from "./kv_profile_format.ts";
import { KvProfileWriter } from "./kv_profile_writes.ts";
import type { WriteClaim } from "./kv_epoch_commits.ts";
import type { ProfileView, ProfileWrite, SaveOptions, SaveResult, StoredProfile } from "./store.ts";
import { ViewCache } from "./kv_view_cache.ts";

export { MAX_PARTS, PART_BYTES } from "./kv_profile_format.ts";
export type { WriteClaim } from "./kv_epoch_commits.ts";

/** Identifier → user guesses kept per generation (lookupProfile). */
const USER_GUESSES = 50_000;

/** The profile part of KvStore. */
export class KvProfiles {
  #writer: KvProfileWriter;
  /** Lookups and profile reads of concurrent sockets share KV round trips (no caching). */
  #reads: KvReadBatcher;
  /**
   * Which user an identity-index key pointed at when last read or written here: only a guess
   * of which head to read along with the index (`lookupProfile` checks it in the same
   * snapshot), never an answer. Two generations, the older dropped when the newer is full.
   */
  #users = new Map<string, string>();
  #usersOld = new Map<string, string>();
  /** Identify answers kept while this instance is the only writer (kv_view_cache.ts). */
  readonly views = new ViewCache();

  /** `set`: how index entries and profile parts are set (kv_profile_format.ts). */
  constructor(private readonly kv: Deno.Kv, readsInFlight = 1, set: SetOptions = {}) {
    this.#reads = new KvReadBatcher(kv, readsInFlight);
    this.#writer = new KvProfileWriter(
      kv,
      (k, userId) => this.#rememberUser(k, userId),
      this.views,
      set,
    );
  }

  async lookupUserId(identKeys: string[]): Promise<string | null> {
    if (!identKeys.length) return null;
    const entries = await this.#reads.getMany<string>(identKeys.map(K.ident));
    for (const e of entries) if (e.value) return e.value;
    return null;
  }

  /**
   * The user the first mapped identifier points at and its profile, in one KV read when this
   * instance has seen that identifier's user before: the index entries and the remembered
   * user's head are read in one snapshot, and the head is used only if that same snapshot
   * shows the identifiers pointing at that user. Otherwise (first sight, user changed) the
   * head of the user found is read after, as `getProfile` would.
   */
  async lookupProfile(
    identKeys: string[],
  ): Promise<{ userId: string; profile: StoredProfile | null } | null> {
    return (await this.#lookup(identKeys)).found;
  }

  /**
   * `lookupProfile` seen through `view`: from the identify cache when it knows the answer
   * (no KV read), else read, viewed and offered to the cache.
   */
  async lookupView(
    identKeys: string[],
    settings: object,
    view: (profile: StoredProfile) => ProfileView,
  ): Promise<{ userId: string; view: ProfileView | null } | null> {
    const hit = this.views.get(identKeys, settings);
    if (hit !== undefined) return hit;
    const ticket = this.views.ticket();
    const { found, entries } = await this.#lookup(identKeys);
    const seen = found && { userId: found.userId, view: found.profile && view(found.profile) };
    this.views.read(ticket, entries, seen);
    return seen;
  }

  /** `lookupProfile`, with the index entries read (identKey, userId or null). */
  async #lookup(identKeys: string[]): Promise<{
    found: { userId: string; profile: StoredProfile | null } | null;
    entries: [string, string | null][];
  }> {
    if (!identKeys.length) return { found: null, entries: [] };
    let guess: string | undefined;
    for (const k of identKeys) if ((guess = this.#userOf(k))) break;
    const keys: Deno.KvKey[] = identKeys.map(K.ident);
    if (guess && keys.length < GET_MANY_KEYS) keys.push(K.profile(guess));
    else guess = undefined;
    const entries = await this.#reads.getMany<unknown>(keys);
    const read = identKeys.map((k, i): [string, string | null] => [
      k,
      (entries[i].value as string | null) ?? null,
    ]);
    let userId: string | null = null;
    for (const [, u] of read) {
      if (u) {
        userId = u;
        break;
      }
    }
    if (!userId) return { found: null, entries: read };
    for (const k of identKeys) this.#rememberUser(k, userId);
    const head = userId === guess
      ? entries[identKeys.length] as Deno.KvEntryMaybe<ProfileHead>
      : await this.#reads.get<ProfileHead>(K.profile(userId));
    const profile = await readProfile(this.kv, userId, head);
    return { found: { userId, profile }, entries: read };
  }

  async getProfile(userId: string): Promise<StoredProfile | null> {
    return readProfile(this.kv, userId, await this.#reads.get<ProfileHead>(K.profile(userId)));
  }

  #userOf(identKey: string): string | undefined {
    return this.#users.get(identKey) ?? this.#usersOld.get(identKey);
  }

  #rememberUser(identKey: string, userId: string): void {
    if (this.#users.get(identKey) === userId) return;
    if (this.#users.size >= USER_GUESSES) {
      this.#usersOld = this.#users;
      this.#users = new Map();
    }
    this.#users.set(identKey, userId);
  }

  /** See KvProfileWriter.saveProfiles. */
  saveProfiles(
    writes: ProfileWrite[],
    fence?: Deno.AtomicCheck,
    cargo?: SaveOptions["cargo"],
    claim?: WriteClaim,
  ): Promise<SaveResult> {
    return this.#writer.saveProfiles(writes, fence, claim, cargo);
  }

  deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    return this.#writer.deleteProfile(userId, identKeys);
  }
}
