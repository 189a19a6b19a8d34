/**
 * Profile writes to Deno KV: an older version never replaces a newer one. Alone (the cluster
 * fence holds), a batch goes in an epoch-checked commit shared with concurrent batches
 * (kv_epoch_commits.ts); otherwise in groups of commits checking each user's head (the one this
 * instance last wrote stands in for a read: kv_head_cache.ts). A notification's claim and the
 * fence ride in the same commits; oversized users are rejected with a reason, concurrent
 * batches on the same users take turns, conflicts are settled user by user; deletes. Every
 * commit sums the profile epoch. The stored shape: kv_profile_format.ts; keys: kv_keys.ts.
 */
import { KeyedLocks } from "./keyed_locks.ts";
import { K } from "./kv_keys.ts";
import {
  addedKeys,
  addWrite,
  cost,
  type Encoded,
  type HeadMeta,
  INLINE_INDEX_KEYS,
  MAX_PARTS,
  type Meta,
  PART_BYTES,
  type ProfileHead,
  type SetOptions,
} from "./kv_profile_format.ts";
import { commit, isLimitError } from "./kv_retry.ts";
import { EpochCommits, type EpochWrite, type WriteClaim } from "./kv_epoch_commits.ts";
import { getManyKeys, HeadCache } from "./kv_head_cache.ts";
import type { ViewCache } from "./kv_view_cache.ts";
import { lastWritePerUser, type ProfileWrite, type SaveOptions, type SaveResult } from "./store.ts";

/** Budget of one grouped commit, below KV's 800 KiB total mutation size. */
const GROUP_BYTES = 600_000;
/** Tries of one user's write against writes of other instances. */
const SAVE_ATTEMPTS = 12;
/** Checks (one per profile) and mutations of one grouped commit, below KV's 100 and 1,000. */
const GROUP_CHECKS = 100;
const GROUP_MUTATIONS = 900;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Rejected = SaveResult["rejected"][number];
type Group = [Encoded, HeadMeta][];
type GroupOutcome = { rejected: (Rejected | null)[]; fenced: boolean };

const encoder = new TextEncoder();

/** The writing half of KvProfiles. */
export class KvProfileWriter {
  /** The heads last written or read here, and the epoch they are exact as of. */
  #cache: HeadCache;
  #epochCommits: EpochCommits;
  #userLocks = new KeyedLocks();

  /**
   * `onIndexed(identKey, userId)`: told of each index entry a save is about to write; `set`:
   * how index entries and parts are set (kv_profile_format.ts).
   */
  constructor(
    private readonly kv: Deno.Kv,
    private readonly onIndexed: (identKey: string, userId: string) => void,
    private readonly views: ViewCache,
    private readonly set: SetOptions = {},
  ) {
    this.#cache = new HeadCache(kv);
    this.#epochCommits = new EpochCommits(
      kv,
      this.#cache,
      {
        mutations: GROUP_MUTATIONS,
        bytes: GROUP_BYTES,
        checks: GROUP_CHECKS,
      },
      (e, head, written) => this.#wrote(e, head, written),
      set,
    );
  }

  /** A commit wrote `e` over `head` (`written` null: stale, nothing written): cache it. */
  #wrote(e: Encoded, head: HeadMeta, written: Meta | null): void {
    if (written) this.views.wrote(e.profile.user.id, addedKeys(e, head), e.view);
    else this.views.writing(); // nothing changed, but reads in flight may predate the check
  }

  /**
   * Stores `writes` (see Store.saveProfiles). `fence`, when given, is checked in every commit
   * (`fenced` tells whether all of them held it) and, since every live instance then sums the
   * profile epoch, lets the batch go in one epoch-checked commit. `claim`: every profile commit
   * checks that the notification is not claimed yet and the last one issued sets it, so a
   * replay fails them all and writes nothing. `cargo`: see SaveOptions.cargo (the one commit
   * is the epoch-checked one).
   */
  async saveProfiles(
    writes: ProfileWrite[],
    fence?: Deno.AtomicCheck,
    claim?: WriteClaim,
    cargo?: SaveOptions["cargo"],
  ): Promise<SaveResult> {
    const byUser = new Map<string, Encoded>();
    for (const w of lastWritePerUser(writes)) {
      byUser.set(w.profile.user.id, {
        ...w,
        json: w.json ?? encoder.encode(JSON.stringify(w.profile)),
      });
      for (const k of w.identKeys) this.onIndexed(k, w.profile.user.id);
    }
    const result: SaveResult = { rejected: [] };
    let mine = false; // the claim was taken here
    this.views.writing();
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
        // Fenced (every live instance sums the epoch): the whole batch in one commit checked
        // against the epoch, shared with concurrent batches.
        if (fence && small.length && !alone.length) {
          const w: EpochWrite = {
            small,
            fence,
            claim,
            cargo: cargo?.(small.map((e) => e.profile.user.id)) ?? null,
          };
          if (await this.#epochCommits.write(w)) {
            mine = !!claim;
            result.fenced = true;
            result.carried = !!w.cargo;
            return;
          }
        }
        const checks = GROUP_CHECKS - (fence ? 1 : 0) - (claim ? 1 : 0);
        const groups = this.#group(small, await this.#cache.headsOf(small), checks);
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
      // Some commits may have landed: what the identify cache knows of these users is unsure.
      for (const e of byUser.values()) this.views.forget(e.profile.user.id, e.identKeys);
      // The sender's retry must be applied: forget a claim taken here.
      if (mine) await claim!.release().catch(() => {});
      throw err;
    }
    return result;
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
    const op = this.#op();
    if (fence) op.check(fence);
    if (claim) op.check({ key: claim.key, versionstamp: null });
    if (claim?.sets) {
      const { value, ttlMs } = claim.sets.claim;
      op.set(claim.key, value(), { expireIn: ttlMs });
    }
    const written = group.map(([e, head]) => addWrite(op, e, head, { set: this.set }));
    try {
      const res = await commit(op);
      if (res.ok) {
        claim?.sets?.settle(true);
        group.forEach(([e, h], i) => {
          this.#cache.remember(h, written[i], res.versionstamp);
          this.#wrote(e, h, written[i]);
        });
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
    for (const [e] of group) this.#cache.forget(e.profile.user.id);
    return { rejected: await Promise.all(group.map(([e]) => this.#saveOne(e))), fenced: false };
  }

  /**
   * Writes one user on its own, re-reading its head on conflict (another instance wrote it).
   * Returns why it cannot be stored when it is over KV's limits, null once stored.
   */
  async #saveOne(e: Encoded): Promise<Rejected | null> {
    const userId = e.profile.user.id;
    let indexed = false;
    // Written in several commits, or after failed tries: unknown to the identify cache until
    // this one lands.
    this.views.forget(userId, e.identKeys);
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
        const op = this.#op();
        const written = addWrite(op, e, head, { indexed, set: this.set });
        const res = await commit(op);
        if (res.ok) {
          this.#cache.remember(head, written, res.versionstamp);
          if (!indexed) this.#wrote(e, head, written);
          else this.views.forget(userId, e.identKeys);
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
      const op = this.#op();
      for (const k of keys.slice(i, i + 500)) op.set(K.ident(k), userId, this.set);
      await commit(op);
    }
  }

  /**
   * The operation every write that is not checked against the epoch starts from: it sums the
   * epoch (so others' epoch-checked commits see it), and the epoch is unknown here until an
   * epoch-checked commit, since others may write meanwhile.
   */
  #op(): Deno.AtomicOperation {
    this.#cache.moved();
    return this.kv.atomic().sum(K.epoch, 1n);
  }

  async deleteProfile(userId: string, identKeys: string[]): Promise<void> {
    this.#cache.forget(userId);
    this.views.writing();
    try {
      await this.#delete(userId, identKeys);
    } catch (err) {
      this.views.forget(userId, identKeys);
      throw err;
    }
    this.views.deleted(userId, identKeys);
  }

  async #delete(userId: string, identKeys: string[]): Promise<void> {
    const head = await this.kv.get<ProfileHead>(K.profile(userId));
    const keys: Deno.KvKey[] = [K.profile(userId)];
    // An identifier may point at another user by now (merged, reassigned): leave it alone.
    for (const e of await getManyKeys<string>(this.kv, identKeys.map(K.ident))) {
      if (e.value === userId) keys.push(e.key);
    }
    if (head.value && "rev" in head.value) {
      for (let i = 0; i < head.value.parts; i++) keys.push(K.part(userId, head.value.rev, i));
    }
    for (let i = 0; i < keys.length; i += 500) {
      const op = this.#op();
      for (const key of keys.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }
}
