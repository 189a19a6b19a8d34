/**
 * Profile writes to Deno KV: grouped and checked commits (an older version never replaces a
 * newer one; the head this instance last wrote stands in for a read), a notification's claim
 * and the cluster fence carried in the same commits, oversized users rejected with a reason,
 * concurrent batches on the same users in turns, conflicts settled user by user, and deletes.
 * The stored shape: kv_profile_format.ts; keys: kv_keys.ts.
 */
import { KeyedLocks } from "./keyed_locks.ts";
import { K } from "./kv_keys.ts";
import {
  addWrite,
  type Encoded,
  type HeadMeta,
  INLINE_INDEX_KEYS,
  MAX_PARTS,
  type Meta,
  PART_BYTES,
  type ProfileHead,
} from "./kv_profile_format.ts";
import { commit } from "./kv_retry.ts";
import { lastWritePerUser, type ProfileWrite, type SaveResult } from "./store.ts";

/** Heads remembered for the next write of the same user; cleared whole when full. */
const HEAD_CACHE_SIZE = 50_000;
/** Budget of one grouped commit, below KV's 800 KiB total mutation size. */
const GROUP_BYTES = 600_000;
/** Tries of one user's write against writes of other instances. */
const SAVE_ATTEMPTS = 12;
/** Checks (one per profile) and mutations of one grouped commit, below KV's 100 and 1,000. */
const GROUP_CHECKS = 100;
const GROUP_MUTATIONS = 900;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** KV refuses an operation over its limits (mutations, sizes): retrying cannot help. */
const isLimitError = (err: unknown) =>
  /too many|too large|exceeded|value too large/i.test(String((err as Error)?.message));

type Rejected = SaveResult["rejected"][number];
type Group = [Encoded, HeadMeta][];
type GroupOutcome = { rejected: (Rejected | null)[]; fenced: boolean };

/** A notification's replay claim, taken along with a write (see `saveProfiles`). */
export interface WriteClaim {
  key: Deno.KvKey;
  /** The claim's value and lifetime, as `take` writes them. */
  value(): unknown;
  ttlMs: number;
  /** Claims on its own; false: claimed already (a replay). */
  take(): Promise<boolean>;
  release(): Promise<void>;
}

const encoder = new TextEncoder();

/** One user's mutations and bytes in a commit: its head, new index entries, stale parts. */
function cost(e: Encoded, head: HeadMeta): { muts: number; size: number } {
  const known = head.value?.ik;
  let added = 0;
  for (const k of e.identKeys) if (!known?.includes(k)) added++;
  return {
    muts: 1 + added + (head.value?.rev ? head.value.parts! : 0),
    size: e.json.length + added * 64,
  };
}

/** The writing half of KvProfiles. */
export class KvProfileWriter {
  /**
   * The head this instance last wrote per user. A write is checked against it instead of a
   * fresh read, which saves a round trip per batch; if anyone else wrote the user since, the
   * check fails and the user is read and written again.
   */
  #heads = new Map<string, HeadMeta>();
  #userLocks = new KeyedLocks();
  /**
   * The profile epoch's versionstamp as of which every head in #heads is exact (null: not
   * known). Every commit that writes profiles or the index sums the epoch, so while it is
   * unchanged nobody has written since, and one check of it stands for a check of each head.
   */
  #epoch: { stamp: string | null } | null = null;
  /** Epoch-checked commits of this instance, one at a time (each moves the epoch). */
  #epochTail: Promise<unknown> = Promise.resolve();

  /** `onIndexed(identKey, userId)`: told of each index entry a save is about to write. */
  constructor(
    private readonly kv: Deno.Kv,
    private readonly onIndexed: (identKey: string, userId: string) => void,
  ) {}

  /**
   * Stores `writes` (see Store.saveProfiles); `fence`, when given, is checked in every commit
   * and `fenced` tells whether all of them held it. `claim`: every profile commit checks that
   * the notification is not claimed yet, and the claim itself is issued right after them, so
   * on one KV file (SQLite applies them in that order) a batch costs one round trip; a replay
   * fails those checks and writes nothing.
   */
  async saveProfiles(
    writes: ProfileWrite[],
    fence?: Deno.AtomicCheck,
    claim?: WriteClaim,
  ): Promise<SaveResult> {
    const byUser = new Map<string, Encoded>();
    for (const w of lastWritePerUser(writes)) {
      byUser.set(w.profile.user.id, { ...w, json: encoder.encode(JSON.stringify(w.profile)) });
      for (const k of w.identKeys) this.onIndexed(k, w.profile.user.id);
    }
    const result: SaveResult = { rejected: [] };
    let mine = false; // the claim was taken here
    try {
      // Concurrent batches on the same users (Hull sends several at once) take turns here
      // instead of failing each other's checks until the retries run out.
      await this.#userLocks.run([...byUser.keys()], async () => {
        const small: Encoded[] = [];
        const alone: Encoded[] = [];
        for (const e of byUser.values()) {
          if (e.json.length > MAX_PARTS * PART_BYTES) {
            const reason = `profile is ${e.json.length} bytes, above ${MAX_PARTS * PART_BYTES}`;
            result.rejected.push({ userId: e.profile.user.id, reason });
          } else if (e.json.length > PART_BYTES || e.identKeys.length > INLINE_INDEX_KEYS) {
            alone.push(e);
          } else {
            small.push(e);
          }
        }
        // Alone (the cluster fence): the whole batch in one commit checked against the epoch.
        if (fence && small.length && !alone.length) {
          const done = this.#epochTail.then(() => this.#saveAtEpoch(small, fence, claim));
          this.#epochTail = done.catch(() => {});
          if (await done) {
            mine = !!claim;
            result.fenced = true;
            return;
          }
        }
        const checks = GROUP_CHECKS - (fence ? 1 : 0) - (claim ? 1 : 0);
        const groups = this.#group(small, await this.#headsOf(small), checks);
        // Large profiles are written without the claim's check: the claim goes first then.
        if (claim && (alone.length || !groups.length)) {
          if (!(mine = await claim.take())) {
            result.replayed = true;
            return;
          }
        }
        const along = claim && !mine ? claim : undefined;
        const taken = Promise.withResolvers<boolean>();
        taken.promise.catch(() => {}); // awaited below; a failure must not go unhandled
        // Issued in order, the last group setting the claim: on one KV file (SQLite applies
        // commits in the order issued) every group finds it unset, and a replay fails them all.
        const last = groups.length - 1;
        const saving = Promise.all(groups.map((g, i) =>
          this.#saveGroup(
            g,
            fence,
            along && {
              key: along.key,
              taken: taken.promise,
              sets: i === last ? { claim: along, settle: taken.resolve } : undefined,
            },
          )
        ));
        saving.catch(() => {}); // awaited below unless the claim failed first
        if (along) {
          if (!(mine = await taken.promise)) {
            // A replay: its commits failed the check (or, racing a duplicate of itself, wrote
            // the same versions); nothing of it is pushed.
            await saving.catch(() => {});
            result.replayed = true;
            return;
          }
        }
        const outcomes = await saving;
        const ones = await Promise.all(alone.map((e) => this.#saveOne(e)));
        for (const o of outcomes) for (const r of o.rejected) if (r) result.rejected.push(r);
        for (const r of ones) if (r) result.rejected.push(r);
        result.fenced = !!fence && groups.length > 0 && !alone.length &&
          outcomes.every((o) => o.fenced);
      });
    } catch (err) {
      // The sender's retry must be applied: forget a claim taken here.
      if (mine) await claim!.release().catch(() => {});
      throw err;
    }
    return result;
  }

  /**
   * The batch in one commit that checks the fence, the claim (unset, then set) and the profile
   * epoch instead of each user's head. False when that cannot be done (heads not known as of
   * one epoch, over one commit's limits) or the commit failed a check (a write elsewhere, a
   * peer, a replay): the caller then takes the checked path, which tells these apart.
   */
  async #saveAtEpoch(
    small: Encoded[],
    fence: Deno.AtomicCheck,
    claim?: WriteClaim,
  ): Promise<boolean> {
    const heads = await this.#headsAtEpoch(small);
    if (!heads || !this.#epoch) return false;
    let mutations = 2;
    let bytes = 0;
    small.forEach((e, i) => {
      const { muts, size } = cost(e, heads[i]);
      mutations += muts;
      bytes += size;
    });
    if (mutations > GROUP_MUTATIONS || bytes > GROUP_BYTES) return false;
    const op = this.kv.atomic()
      .check(fence)
      .check({ key: K.epoch, versionstamp: this.#epoch.stamp })
      .sum(K.epoch, 1n);
    if (claim) {
      op.check({ key: claim.key, versionstamp: null });
      op.set(claim.key, claim.value(), { expireIn: claim.ttlMs });
    }
    const written = small.map((e, i) => addWrite(op, e, heads[i], { checked: false }));
    let res: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      res = await commit(op);
    } catch (err) {
      if (!isLimitError(err)) throw err;
      res = { ok: false };
    }
    if (!res.ok) {
      this.#epoch = null;
      return false;
    }
    this.#epoch = { stamp: res.versionstamp };
    small.forEach((_, i) => this.#remember(heads[i], written[i], res.versionstamp));
    return true;
  }

  /**
   * The heads of `list` as of the known epoch: from #heads, else read between two reads of the
   * epoch (equal: nothing was written meanwhile, so they are exact as of it). Null while
   * someone is writing.
   */
  async #headsAtEpoch(list: Encoded[]): Promise<HeadMeta[] | null> {
    if (this.#epoch) {
      const cached = list.map((e) => this.#heads.get(e.profile.user.id));
      if (cached.every((h) => h)) return cached as HeadMeta[];
    }
    const before = await this.kv.get(K.epoch);
    const read = await this.#getMany<ProfileHead>(list.map((e) => K.profile(e.profile.user.id)));
    const after = await this.kv.get(K.epoch);
    if (before.versionstamp !== after.versionstamp) return null;
    // Other heads remembered here are exact as of this epoch only if it did not move.
    if (this.#epoch?.stamp !== before.versionstamp) this.#heads.clear();
    this.#epoch = { stamp: before.versionstamp };
    return read;
  }

  /**
   * Small profiles in groups of one commit each (one commit costs far more than its size: a
   * 100-user batch is one or two commits, not ten). The heads are known here, so each user's
   * mutations are counted exactly (its profile, the index entries it adds, the parts of an
   * earlier large version it deletes) against KV's limits of 100 checks, 1,000 mutations and
   * 800 KiB per atomic operation.
   */
  #group(small: Encoded[], heads: HeadMeta[], checks: number): Group[] {
    const groups: Group[] = [];
    let group: Group = [];
    let bytes = 0;
    let mutations = 0;
    small.forEach((e, i) => {
      const head = heads[i];
      const { muts, size } = cost(e, head);
      if (
        group.length === checks || bytes + size > GROUP_BYTES ||
        mutations + muts > GROUP_MUTATIONS
      ) {
        groups.push(group);
        group = [];
        bytes = 0;
        mutations = 0;
      }
      group.push([e, head]);
      bytes += size;
      mutations += muts;
    });
    if (group.length) groups.push(group);
    return groups;
  }

  /** The head of each user: the one this instance last wrote, else read (one round trip). */
  async #headsOf(list: Encoded[]): Promise<HeadMeta[]> {
    const heads: (HeadMeta | undefined)[] = list.map((e) => this.#heads.get(e.profile.user.id));
    const unknown = list.filter((_, i) => !heads[i]);
    if (!unknown.length) return heads as HeadMeta[];
    const read = await this.#getMany<ProfileHead>(unknown.map((e) => K.profile(e.profile.user.id)));
    for (let i = 0, j = 0; i < list.length; i++) heads[i] ??= read[j++];
    return heads as HeadMeta[];
  }

  /**
   * Commits one group (with the fence, and the check that `claim`'s key is unset; the group
   * that `sets` it writes it too and settles `taken`). On a failed check, once the claim is
   * known to be this batch's, each user on its own.
   */
  async #saveGroup(
    group: Group,
    fence?: Deno.AtomicCheck,
    claim?: {
      key: Deno.KvKey;
      taken: Promise<boolean>;
      sets?: { claim: WriteClaim; settle(taken: boolean | Promise<boolean>): void };
    },
  ): Promise<GroupOutcome> {
    const op = this.kv.atomic().sum(K.epoch, 1n);
    this.#epoch = null; // a commit not checked against the epoch: others may write meanwhile
    if (fence) op.check(fence);
    if (claim) op.check({ key: claim.key, versionstamp: null });
    if (claim?.sets) {
      const { value, ttlMs } = claim.sets.claim;
      op.set(claim.key, value(), { expireIn: ttlMs });
    }
    const written = group.map(([e, head]) => addWrite(op, e, head));
    try {
      const res = await commit(op);
      if (res.ok) {
        claim?.sets?.settle(true);
        group.forEach(([, h], i) => this.#remember(h, written[i], res.versionstamp));
        return { rejected: [], fenced: true };
      }
    } catch (err) {
      // Over a KV limit (e.g. a value larger than counted): one user at a time.
      if (!isLimitError(err)) {
        claim?.sets?.settle(Promise.reject(err));
        throw err;
      }
    }
    claim?.sets?.settle(claim.sets.claim.take());
    // A replay (nothing to write), this batch's own claim landing first (another KV than one
    // SQLite file may order them so), someone else's write of one of these users, or a peer
    // that appeared (the fence).
    if (claim && !(await claim.taken)) return { rejected: [], fenced: false };
    for (const [e] of group) this.#heads.delete(e.profile.user.id);
    return { rejected: await Promise.all(group.map(([e]) => this.#saveOne(e))), fenced: false };
  }

  /** `getMany` for any number of keys (it reads at most 10 at once), in parallel. */
  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const reads: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += 10) {
      reads.push(this.kv.getMany<T[]>(keys.slice(i, i + 10)));
    }
    return (await Promise.all(reads)).flat();
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
        const head = await this.kv.get<ProfileHead>(K.profile(userId));
        if (head.value && head.value.updated_at > e.profile.updated_at) return null; // stale
        // Many identifiers (a user with hundreds of anonymous ids) do not fit one atomic
        // operation: their index entries go first, in commits of their own. Pointing at this
        // user before its head exists is harmless (a lookup then finds no profile yet).
        if (e.identKeys.length > INLINE_INDEX_KEYS && !indexed) {
          const known = new Set(head.value?.ik);
          await this.#setIndex(e.identKeys.filter((k) => !known.has(k)), userId);
          indexed = true;
        }
        const op = this.kv.atomic().sum(K.epoch, 1n);
        this.#epoch = null;
        const written = addWrite(op, e, head, { indexed });
        const res = await commit(op);
        if (res.ok) {
          this.#remember(head, written, res.versionstamp);
          return null;
        }
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
      const op = this.kv.atomic().sum(K.epoch, 1n);
      this.#epoch = null;
      for (const k of keys.slice(i, i + 500)) op.set(K.ident(k), userId);
      await commit(op);
    }
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
      const op = this.kv.atomic().sum(K.epoch, 1n);
      this.#epoch = null;
      for (const key of keys.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }
}
