/**
 * Profiles and the identity index in Deno KV. Reads: the user behind identifiers, then its
 * profile; concurrent sockets' reads share KV round trips (kv_read_batch.ts). Writes (after the
 * claim, store.ts `claimThenWrite`): every user's write is checked against the head it read, so
 * an older version never replaces a newer one whoever wrote it; a batch's users go in a few
 * grouped commits, and a group whose check fails (another instance wrote one of its users) is
 * retried user by user. The stored shape: kv_profile_format.ts; keys: kv_keys.ts.
 */
import type { KvKeys } from "./kv_keys.ts";
import { GET_MANY_KEYS, KvReadBatcher } from "./kv_read_batch.ts";
import {
  addWrite,
  cost,
  type Encoded,
  type HeadMeta,
  INLINE_INDEX_KEYS,
  MAX_PARTS,
  PART_BYTES,
  type ProfileHead,
  readProfile,
} from "./kv_profile_format.ts";
import { commit, isLimitError } from "./kv_retry.ts";
import {
  lastWritePerUser,
  type ProfileWrite,
  type SaveResult,
  type StoredProfile,
} from "./store.ts";

export { MAX_PARTS, PART_BYTES } from "./kv_profile_format.ts";

/** Budget of one grouped commit, below KV's 800 KiB, 1,000 mutations and 100 checks. */
const GROUP_BYTES = 600_000;
const GROUP_MUTATIONS = 900;
const GROUP_CHECKS = 100;
/** Tries of one user's write against writes of other instances. */
const SAVE_ATTEMPTS = 12;

type Rejected = SaveResult["rejected"][number];
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The profile part of KvStore. */
export class KvProfiles {
  /** Lookups and profile reads of concurrent sockets share KV round trips (no caching). */
  #reads: KvReadBatcher;

  constructor(private readonly kv: Deno.Kv, private readonly K: KvKeys) {
    this.#reads = new KvReadBatcher(kv);
  }

  async lookupUserId(identKeys: string[]): Promise<string | null> {
    if (!identKeys.length) return null;
    for (const e of await this.#getMany<string>(identKeys.map(this.K.ident))) {
      if (e.value) return e.value;
    }
    return null;
  }

  async getProfile(userId: string): Promise<StoredProfile | null> {
    return readProfile(
      this.kv,
      this.K,
      userId,
      await this.#reads.get<ProfileHead>(this.K.profile(userId)),
    );
  }

  /** Stores `writes` (see Store.saveProfiles); throws only when KV fails. */
  async saveProfiles(writes: ProfileWrite[]): Promise<Rejected[]> {
    const users = lastWritePerUser(writes).map((w): Encoded => ({
      ...w,
      json: w.json ?? encoder.encode(JSON.stringify(w.profile)),
    }));
    const rejected: Rejected[] = [];
    const small: Encoded[] = [];
    const alone: Encoded[] = [];
    for (const e of users) {
      if (e.json.length > MAX_PARTS * PART_BYTES) {
        const reason = `profile is ${e.json.length} bytes, above ${MAX_PARTS * PART_BYTES}`;
        rejected.push({ userId: e.profile.user.id, reason });
      } else if (e.json.length > PART_BYTES || e.identKeys.length > INLINE_INDEX_KEYS) {
        alone.push(e);
      } else {
        small.push(e);
      }
    }
    // Sent at once: packed with sockets' reads, one at a time, they would queue.
    const heads = await this.#getMany<ProfileHead>(
      small.map((e) => this.K.profile(e.profile.user.id)),
      true,
    );
    const done = await Promise.all([
      ...this.#group(small, heads).map((g) => this.#saveGroup(g)),
      ...alone.map(async (e) => [await this.#saveOne(e)]),
    ]);
    for (const r of done.flat()) if (r) rejected.push(r);
    return rejected;
  }

  /** Reads of any number of keys, ten to a `getMany`: shared with sockets' reads unless `direct`. */
  async #getMany<T>(keys: Deno.KvKey[], direct = false): Promise<Deno.KvEntryMaybe<T>[]> {
    const reads = [];
    for (let i = 0; i < keys.length; i += GET_MANY_KEYS) {
      const some = keys.slice(i, i + GET_MANY_KEYS);
      reads.push(direct ? this.kv.getMany<T[]>(some) : this.#reads.getMany<T>(some));
    }
    return (await Promise.all(reads)).flat();
  }

  /**
   * Small profiles in groups of one commit each (a commit costs far more than its size: a
   * 100-user batch is one or two commits, not a hundred), each user counted exactly (its head,
   * the index entries it adds, the parts of an earlier large version it deletes) against KV's
   * limits per atomic operation.
   */
  #group(small: Encoded[], heads: HeadMeta[]): [Encoded, HeadMeta][][] {
    const groups: [Encoded, HeadMeta][][] = [];
    let group: [Encoded, HeadMeta][] = [];
    let bytes = 0, mutations = 0;
    small.forEach((e, i) => {
      const { muts, size } = cost(e, heads[i]);
      if (
        group.length === GROUP_CHECKS || bytes + size > GROUP_BYTES ||
        mutations + muts > GROUP_MUTATIONS
      ) {
        groups.push(group);
        group = [];
        bytes = mutations = 0;
      }
      group.push([e, heads[i]]);
      bytes += size;
      mutations += muts;
    });
    if (group.length) groups.push(group);
    return groups;
  }

  /** One commit checking every user's head; on a failed check, each user on its own. */
  async #saveGroup(group: [Encoded, HeadMeta][]): Promise<(Rejected | null)[]> {
    const op = this.kv.atomic();
    for (const [e, head] of group) addWrite(op, e, head, this.K);
    try {
      if ((await commit(op)).ok) return [];
    } catch (err) {
      if (!isLimitError(err)) throw err; // over a KV limit: one user at a time below
    }
    return await Promise.all(group.map(([e]) => this.#saveOne(e)));
  }

  /**
   * Writes one user on its own, re-reading its head on conflict (another instance wrote it).
   * Returns why it cannot be stored when it is over KV's limits, null once stored.
   */
  async #saveOne(e: Encoded): Promise<Rejected | null> {
    const userId = e.profile.user.id;
    let indexed = false;
    for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
      if (attempt) await sleep(Math.random() * 5 * 2 ** Math.min(attempt, 6));
      try {
        const head = await this.kv.get<ProfileHead>(this.K.profile(userId));
        if (head.value && head.value.updated_at > e.profile.updated_at) return null; // stale
        // Many identifiers (hundreds of anonymous ids) do not fit one atomic operation: their
        // index entries go first, in commits of their own. Pointing at this user before its
        // head exists is harmless (a lookup then finds no profile yet).
        if (e.identKeys.length > INLINE_INDEX_KEYS && !indexed) {
          const known = new Set(head.value?.ik);
          await this.#setIndex(e.identKeys.filter((k) => !known.has(k)), userId);
          indexed = true;
        }
        const op = this.kv.atomic();
        addWrite(op, e, head, this.K, indexed);
        if ((await commit(op)).ok) return null;
      } catch (err) {
        if (!isLimitError(err)) throw err;
        return { userId, reason: `too large for the store: ${(err as Error).message}` };
      }
    }
    throw new Error(`could not store profile after ${SAVE_ATTEMPTS} attempts (contention)`);
  }

  /** Index entries `keys` → `userId`, in commits below KV's mutation limit. */
  async #setIndex(keys: string[], userId: string): Promise<void> {
    for (let i = 0; i < keys.length; i += 500) {
      const op = this.kv.atomic();
      for (const k of keys.slice(i, i + 500)) op.set(this.K.ident(k), userId);
      await commit(op);
    }
  }

  /** Deletes the head, its parts and the index entries that still point at this user. */
  async deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    const head = await this.kv.get<ProfileHead>(this.K.profile(userId));
    const keys: Deno.KvKey[] = [this.K.profile(userId)];
    // An identifier may point at another user by now (merged, reassigned): leave it alone.
    for (const e of await this.#getMany<string>(identKeys.map(this.K.ident))) {
      if (e.value === userId) keys.push(e.key);
    }
    if (head.value && "rev" in head.value) {
      for (let i = 0; i < head.value.parts; i++) keys.push(this.K.part(userId, head.value.rev, i));
    }
    for (let i = 0; i < keys.length; i += 500) {
      const op = this.kv.atomic();
      for (const key of keys.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }
}
