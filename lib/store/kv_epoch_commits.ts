/**
 * Profile batches written while this instance is alone (the cluster fence holds), in commits
 * that check the fence, each batch's notification claim and the profile epoch instead of each
 * user's head (kv_head_cache.ts says why that is exact). Batches that arrive while a commit is
 * in flight share the next one, within one commit's limits: Hull sends several at once, and a
 * commit costs far more than its size (on a local file, mostly its fsync).
 */
import {
  addWrite,
  cost,
  type Encoded,
  type HeadMeta,
  type Meta,
  type SetOptions,
} from "./kv_profile_format.ts";
import type { HeadCache } from "./kv_head_cache.ts";
import { K } from "./kv_keys.ts";
import { commit, isLimitError } from "./kv_retry.ts";
import type { Cargo } from "./store.ts";

/** A notification's replay claim, taken along with a write (see KvProfileWriter). */
export interface WriteClaim {
  key: Deno.KvKey;
  /** The claim's value and lifetime, as `take` writes them. */
  value(): unknown;
  ttlMs: number;
  /** Claims on its own; false: claimed already (a replay). */
  take(): Promise<boolean>;
  release(): Promise<void>;
}

/** One batch for an epoch-checked commit. */
export interface EpochWrite {
  small: Encoded[];
  fence: Deno.AtomicCheck;
  claim?: WriteClaim;
  /**
   * Committed along (SaveOptions.cargo), in the order of the batches; set to null here when
   * the batch is committed without it (too large for one commit with it).
   */
  cargo?: Cargo | null;
}

/** Budget of one commit, below KV's 1,000 mutations, 800 KiB and 100 checks. */
export interface CommitLimits {
  mutations: number;
  bytes: number;
  checks: number;
}

/** How long batches take the checked path after a failed epoch-checked commit. */
const BACK_OFF_MS = 2_000;

interface Waiting {
  w: EpochWrite;
  done: PromiseWithResolvers<boolean>;
}

/** A waiting batch with its heads, exact as of epoch `stamp`. */
type Ready = Waiting & { heads: HeadMeta[]; stamp: string | null };

/** One instance's epoch-checked commits, one at a time, batches grouped. */
export class EpochCommits {
  #queue: Waiting[] = [];
  #running = false;
  /**
   * After a failed commit, batches take the checked path for a while: when other instances
   * write too, the epoch moves under every commit, and each try would cost a round trip.
   */
  #backOffUntil = 0;

  constructor(
    private readonly kv: Deno.Kv,
    private readonly cache: HeadCache,
    private readonly limits: CommitLimits,
    /** Told of each user a commit wrote (`written`: its new head, null when stale). */
    private readonly onWritten: (e: Encoded, head: HeadMeta, written: Meta | null) => void,
    /** How index entries and parts are set (kv_profile_format.ts). */
    private readonly set: SetOptions = {},
  ) {}

  /**
   * Writes `w`; true once committed. False when it could not be done this way (heads not known
   * as of one epoch, over one commit's limits) or its commit failed a check (a write
   * elsewhere, a new peer, a replay): the caller then takes the checked path, which tells these
   * apart. Throws when the store fails.
   */
  write(w: EpochWrite): Promise<boolean> {
    if (performance.now() < this.#backOffUntil) return Promise.resolve(false);
    const done = Promise.withResolvers<boolean>();
    this.#queue.push({ w, done });
    if (!this.#running) this.#run();
    return done.promise;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length) {
        const waiting = this.#queue;
        this.#queue = [];
        const ready = await this.#headsOf(waiting);
        // Heads read for a later batch may have found the epoch moved: earlier batches' heads
        // are then not known to be exact as of the one this commit checks.
        const epoch = this.cache.epoch;
        const { taken, later, fences } = this.#pack(ready, epoch);
        this.#queue = [...later, ...this.#queue];
        if (taken.length) await this.#commit(taken, epoch!, fences);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Each batch with its heads and the epoch they are exact as of (the rest get false). */
  async #headsOf(waiting: Waiting[]): Promise<Ready[]> {
    const ready: Ready[] = [];
    for (const q of waiting) {
      try {
        const heads = await this.cache.headsAtEpoch(q.w.small);
        if (heads && this.cache.epoch) ready.push({ ...q, heads, stamp: this.cache.epoch.stamp });
        else q.done.resolve(false);
      } catch (err) {
        q.done.reject(err);
      }
    }
    return ready;
  }

  /**
   * The batches of one commit, in order, within its limits; `later`: those for the next one.
   * A batch not exact as of `epoch`, too large on its own, or whose notification is already in
   * this commit gets false.
   */
  #pack(ready: Ready[], epoch: { stamp: string | null } | null) {
    const taken: Ready[] = [];
    const later: Waiting[] = [];
    let mutations = 1;
    let bytes = 0;
    let checks = 1;
    const fences = new Map<string, Deno.AtomicCheck>();
    const claims = new Set<string>();
    for (const r of ready) {
      const claim = r.w.claim && JSON.stringify(r.w.claim.key);
      // A notification sent twice at once: one commit would apply both; the second takes
      // the checked path, where it finds the claim taken.
      if (!epoch || r.stamp !== epoch.stamp || (claim && claims.has(claim))) {
        r.done.resolve(false);
        continue;
      }
      let m = r.w.claim ? 1 : 0;
      let b = 0;
      r.w.small.forEach((e, i) => {
        const c = cost(e, r.heads[i]);
        m += c.muts;
        b += c.size;
      });
      const fence = JSON.stringify([r.w.fence.key, r.w.fence.versionstamp]);
      const c = (r.w.claim ? 1 : 0) + (fences.has(fence) ? 0 : 1);
      const fits = (cargo: Cargo | null | undefined) =>
        mutations + m + (cargo?.mutations ?? 0) <= this.limits.mutations &&
        bytes + b + (cargo?.bytes ?? 0) <= this.limits.bytes && checks + c <= this.limits.checks;
      // Alone, a batch too large to carry its cargo goes without it (the caller publishes).
      if (!taken.length && !fits(r.w.cargo) && fits(null)) r.w.cargo = null;
      if (!fits(r.w.cargo)) {
        if (taken.length) later.push(r); // the next commit's
        else r.done.resolve(false); // larger than one commit on its own
        continue;
      }
      taken.push(r);
      if (claim) claims.add(claim);
      mutations += m;
      bytes += b;
      checks += c;
      fences.set(fence, r.w.fence);
    }
    return { taken, later, fences: [...fences.values()] };
  }

  async #commit(
    taken: Ready[],
    epoch: { stamp: string | null },
    fences: Deno.AtomicCheck[],
  ): Promise<void> {
    const op = this.kv.atomic()
      .check({ key: K.epoch, versionstamp: epoch.stamp })
      .sum(K.epoch, 1n);
    for (const f of fences) op.check(f);
    const written = taken.map(({ w, heads }) => {
      if (w.claim) {
        op.check({ key: w.claim.key, versionstamp: null });
        op.set(w.claim.key, w.claim.value(), { expireIn: w.claim.ttlMs });
      }
      return w.small.map((e, i) => addWrite(op, e, heads[i], { checked: false, set: this.set }));
    });
    let res: Deno.KvCommitResult | Deno.KvCommitError;
    const cargo = taken.flatMap(({ w }) => w.cargo ? [w.cargo] : []);
    try {
      if (cargo.length) {
        // At the cargo's owner's turn, with its writes in the same commit.
        const out: { res: Deno.KvCommitResult | Deno.KvCommitError } = { res: { ok: false } };
        await cargo[0].ride(async (add) => {
          add(op);
          out.res = await commit(op);
          return out.res.ok;
        }, cargo.slice(1));
        res = out.res;
      } else {
        res = await commit(op);
      }
    } catch (err) {
      if (!isLimitError(err)) {
        for (const t of taken) t.done.reject(err);
        return;
      }
      res = { ok: false };
    }
    if (!res.ok) {
      this.cache.moved();
      this.#backOffUntil = performance.now() + BACK_OFF_MS;
      for (const t of taken) t.done.resolve(false);
      return;
    }
    this.cache.epoch = { stamp: res.versionstamp };
    taken.forEach(({ w, heads }, j) => {
      heads.forEach((h, i) => {
        this.cache.remember(h, written[j][i], res.versionstamp);
        this.onWritten(w.small[i], h, written[j][i]);
      });
    });
    for (const t of taken) t.done.resolve(true);
  }
}
