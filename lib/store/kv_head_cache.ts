/**
 * What this instance knows of the profile heads in Deno KV: the head it last wrote or read per
 * user (so a write is checked against it instead of a fresh read), and the profile epoch as of
 * which all of them are exact. Every commit that writes profiles or the index sums the epoch
 * (kv_profile_writes.ts), so while its versionstamp is unchanged nobody has written since, and
 * one check of it stands for a check of each head (kv_epoch_commits.ts).
 */
import { K } from "./kv_keys.ts";
import type { Encoded, HeadMeta, Meta, ProfileHead } from "./kv_profile_format.ts";

/** Heads remembered for the next write of the same user; cleared whole when full. */
const HEAD_CACHE_SIZE = 50_000;

/** `getMany` for any number of keys (it reads at most 10 at once), in parallel. */
export async function getManyKeys<T>(
  kv: Deno.Kv,
  keys: Deno.KvKey[],
): Promise<Deno.KvEntryMaybe<T>[]> {
  const reads: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
  for (let i = 0; i < keys.length; i += 10) reads.push(kv.getMany<T[]>(keys.slice(i, i + 10)));
  return (await Promise.all(reads)).flat();
}

/** The heads this instance knows, and the epoch they are exact as of. */
export class HeadCache {
  #heads = new Map<string, HeadMeta>();
  /** The epoch's versionstamp as of which every head here is exact; null: not known. */
  epoch: { stamp: string | null } | null = null;

  constructor(private readonly kv: Deno.Kv) {}

  get(userId: string): HeadMeta | undefined {
    return this.#heads.get(userId);
  }

  forget(userId: string): void {
    this.#heads.delete(userId);
  }

  /** Marks the epoch unknown: this instance committed without checking it. */
  moved(): void {
    this.epoch = null;
  }

  /** The head of each user: the one remembered, else read (one round trip). */
  async headsOf(list: Encoded[]): Promise<HeadMeta[]> {
    const heads: (HeadMeta | undefined)[] = list.map((e) => this.#heads.get(e.profile.user.id));
    const unknown = list.filter((_, i) => !heads[i]);
    if (!unknown.length) return heads as HeadMeta[];
    const read = await getManyKeys<ProfileHead>(
      this.kv,
      unknown.map((e) => K.profile(e.profile.user.id)),
    );
    for (let i = 0, j = 0; i < list.length; i++) heads[i] ??= read[j++];
    return heads as HeadMeta[];
  }

  /**
   * The heads of `list` as of `epoch`: remembered, else read between two reads of the epoch
   * (equal: nothing was written meanwhile, so they are exact as of it, which becomes `epoch`).
   * Null while someone is writing.
   */
  async headsAtEpoch(list: Encoded[]): Promise<HeadMeta[] | null> {
    if (this.epoch) {
      const cached = list.map((e) => this.#heads.get(e.profile.user.id));
      if (cached.every((h) => h)) return cached as HeadMeta[];
    }
    const before = await this.kv.get(K.epoch);
    const read = await getManyKeys<ProfileHead>(
      this.kv,
      list.map((e) => K.profile(e.profile.user.id)),
    );
    const after = await this.kv.get(K.epoch);
    if (before.versionstamp !== after.versionstamp) return null;
    // Other heads remembered here are exact as of this epoch only if it did not move.
    if (this.epoch?.stamp !== before.versionstamp) this.#heads.clear();
    this.epoch = { stamp: before.versionstamp };
    return read;
  }

  /** Remembers the head a commit wrote, or the one it checked (a stale update wrote none). */
  remember(head: HeadMeta, written: Meta | null, versionstamp: string): void {
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
}
