/**
 * The sole-writer term of the Deno KV cluster: while an instance counts no live peer, it may
 * take a term, a lease of TERM_MS renewed by reading the roster, during which it is the only
 * instance writing profiles, so what it keeps in memory of them is exact (the identify cache,
 * lib/store/kv_view_cache.ts).
 *
 * Why it holds:
 * - Taking a term is one commit that checks the roster read with no live peer, sums it and sets
 *   the `sole` key. A peer appearing later sums the roster with its first bus commit.
 * - The holder's lease runs TERM_MS from the start of the last read that found the roster as
 *   its term left it. The holder ends the term at once when its bus watch sees a newcomer, and
 *   at the latest when a renewal finds the roster moved, or the lease runs out unrenewed
 *   (a stalled holder serves nothing after that).
 * - A newcomer writes no profile before the holder ended its term (it deletes `sole`) or the
 *   lease that began before the newcomer's roster commit ran out: TERM_MS (plus a margin for
 *   clocks running at different rates) after that commit (`settle`).
 * - An instance silent long enough to be counted gone announces itself again and settles
 *   before its next write (KvBus.beforeWrite).
 */
import type { BusFence } from "./kv_bus_peers.ts";
import { retry } from "./kv_bus_format.ts";

/** How long a renewal read keeps a term valid. */
export const TERM_MS = 3_000;
/** Margin on a newcomer's wait, for clocks running at slightly different rates. */
const DRIFT = 1.2;
/** How often a newcomer looks whether the holder ended its term. */
const SETTLE_POLL_MS = 20;

/** What a count of live peers read (KvBus.livePeers), started at `t0` (performance.now()). */
export interface RosterRead {
  t0: number;
  roster: Deno.KvEntryMaybe<unknown>;
  peers: number;
  legacy: number;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** One instance's side of the sole-writer term. */
export class SoleTerm {
  #term: { stamp: string } | null = null;
  #deadline = 0;
  #key: Deno.KvKey;
  #rosterKey: Deno.KvKey;
  #onChange = new Set<() => void>();

  constructor(
    private readonly kv: Deno.Kv,
    prefix: Deno.KvKeyPart[],
    private readonly pubId: string,
    private readonly termMs = TERM_MS,
  ) {
    this.#key = [...prefix, "sole"];
    this.#rosterKey = [...prefix, "roster"];
  }

  /** True while this instance holds a term whose lease has not run out. */
  holds(): boolean {
    return this.#term !== null && performance.now() < this.#deadline;
  }

  /** True while this instance has a term, even one whose lease ran out (renew it). */
  get held(): boolean {
    return this.#term !== null;
  }

  /** Calls `cb` whenever a term starts or ends (what was kept under the last one is void). */
  onChange(cb: () => void): () => void {
    this.#onChange.add(cb);
    return () => this.#onChange.delete(cb);
  }

  /**
   * A renewal: one read of the roster. True when the term was renewed; false when there is no
   * term or the roster moved (then recount the peers and pass the count to `update`).
   */
  async renew(): Promise<boolean> {
    if (!this.#term) return false;
    const t0 = performance.now();
    const roster = await this.kv.get(this.#rosterKey);
    if (this.#term && roster.versionstamp === this.#term.stamp) {
      this.#deadline = Math.max(this.#deadline, t0 + this.termMs);
      return true;
    }
    return false;
  }

  /**
   * After a count of peers: renews the term if the roster is as the term left it, ends it
   * otherwise, and takes one when no peer is alive. Returns the fence that holds after a term
   * was taken (the roster moved with it), else null.
   */
  async update(read: RosterRead): Promise<BusFence | null> {
    if (this.#term) {
      if (read.roster.versionstamp === this.#term.stamp && read.peers === 0) {
        this.#deadline = Math.max(this.#deadline, read.t0 + this.termMs);
        return null;
      }
      await this.end();
    }
    if (read.peers !== 0 || read.legacy !== 0) return null;
    // Several isolates on one local file can find it locked for a moment.
    const res = await retry(
      () =>
        this.kv.atomic()
          .check({ key: this.#rosterKey, versionstamp: read.roster.versionstamp })
          .set(this.#key, { pub: this.pubId })
          .sum(this.#rosterKey, 1n)
          .commit(),
      8,
    );
    if (!res.ok || this.#term) return null;
    this.#term = { stamp: res.versionstamp };
    this.#deadline = read.t0 + this.termMs;
    this.#changed();
    return {
      check: { key: this.#rosterKey, versionstamp: res.versionstamp },
      peers: 0,
      relay: false,
    };
  }

  /** Ends the term at once (a peer appeared, or closing), and tells waiting newcomers. */
  async end(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    this.#term = null;
    this.#changed();
    await this.kv.atomic()
      .check({ key: this.#key, versionstamp: term.stamp })
      .delete(this.#key)
      .commit()
      .catch(() => {}); // a newcomer then waits out the lease
  }

  /**
   * Waits until no other instance can be serving from a term: this instance's roster commit
   * landed at `announcedAt` (performance.now()); the holder named by `sole` ends its term when
   * it sees it, or its lease runs out. A `sole` key left by a holder that died is removed
   * after the wait, so the next newcomer does not wait again.
   */
  async settle(announcedAt: number): Promise<void> {
    const until = announcedAt + this.termMs * DRIFT;
    let first: Deno.KvEntryMaybe<{ pub: string }>;
    try {
      first = await retry(() => this.kv.get<{ pub: string }>(this.#key), 8);
    } catch {
      // Unknown whether anyone holds a term: wait out any lease.
      await delay(until - performance.now());
      return;
    }
    if (!first.value || first.value.pub === this.pubId) return;
    const seen: string | null = first.versionstamp;
    while (performance.now() < until) {
      await delay(SETTLE_POLL_MS);
      const now: string | null = await this.kv.get(this.#key).then(
        (e): string | null => e.versionstamp,
        (): string | null => seen,
      );
      if (now !== seen) return;
    }
    await this.kv.atomic().check(first).delete(this.#key).commit().catch(() => {});
  }

  #changed(): void {
    for (const cb of this.#onChange) cb();
  }
}
