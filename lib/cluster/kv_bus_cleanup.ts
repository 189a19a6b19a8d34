/**
 * Pruning of the Deno KV cluster bus's logs (protocol: kv_adapter.ts): this instance's own log
 * by age and count, from what the writer (kv_bus_writer.ts) reports it committed, and the logs
 * and records of publishers that died.
 */
import { DELETE_CHUNK, PART_BYTES, partCount, type Queued } from "./kv_bus_format.ts";

/** What the pruner needs of its bus. */
export interface CleanupOptions {
  prefix: Deno.KvKeyPart[];
  pubId: string;
  retention: number;
  maxEntries: number;
  deadAfter: number;
  onError: (err: unknown) => void;
  /** True once the bus is closed. */
  closed: () => boolean;
}

/** Keeps this instance's log within its bounds, and removes dead publishers' logs. */
export class LogCleanup {
  #kv: Deno.Kv;
  #p: Deno.KvKeyPart[];
  #pubId: string;
  #retention: number;
  #maxEntries: number;
  #deadAfter: number;
  #onError: (err: unknown) => void;
  #isClosed: () => boolean;
  #commits: { seq: number; t: number }[] = [];
  /** Sequence numbers that name a log value (a message, or the last of a pack), in order. */
  #written: number[] = [];
  #partsOf = new Map<number, number>();
  #cleaning = false;

  constructor(kv: Deno.Kv, o: CleanupOptions) {
    this.#kv = kv;
    this.#p = o.prefix;
    this.#pubId = o.pubId;
    this.#retention = o.retention;
    this.#maxEntries = o.maxEntries;
    this.#deadAfter = o.deadAfter;
    this.#onError = o.onError;
    this.#isClosed = o.closed;
  }

  get #closed(): boolean {
    return this.#isClosed();
  }

  /**
   * Records a committed batch: committed at `t`, up to `last`, with values named by `keys`
   * (see `layout`). A burst past the count bound triggers a cleanup of its own.
   */
  committed(batch: Queued[], t: number, last: number, keys: number[]): void {
    this.#commits.push({ seq: last, t });
    this.#written.push(...keys);
    for (const q of batch) {
      if (q.bytes.length > PART_BYTES) this.#partsOf.set(q.seq, partCount(q.bytes));
    }
    // The count bound holds between timer runs too: a burst triggers a cleanup of its own.
    if (this.#written.length > this.#maxEntries * 1.25) this.cleanup();
  }

  /** Prunes our own log by age and count, and the logs of publishers that died. */
  async cleanup(): Promise<void> {
    if (this.#cleaning || this.#closed) return;
    this.#cleaning = true;
    try {
      const now = Date.now();
      // #written holds only what is still stored, so every cutoff starts from nothing.
      let cutoff = 0;
      while (this.#commits.length && this.#commits[0].t < now - this.#retention) {
        cutoff = this.#commits.shift()!.seq;
      }
      const excess = this.#written.length - this.#maxEntries;
      if (excess > 0) cutoff = Math.max(cutoff, this.#written[excess - 1]);
      const keys: Deno.KvKey[] = [];
      // A pack straddling the cutoff stays until all of it is due.
      while (this.#written.length && this.#written[0] <= cutoff) {
        const s = this.#written.shift()!;
        const log = [...this.#p, "log", this.#pubId, s];
        keys.push(log);
        const n = this.#partsOf.get(s) ?? 0;
        for (let i = 0; i < n; i++) keys.push([...log, i]);
        this.#partsOf.delete(s);
      }
      await this.#deleteAll(keys);
      await this.#sweepDead(now);
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    } finally {
      this.#cleaning = false;
    }
  }

  async #sweepDead(now: number): Promise<void> {
    const pubs = this.#kv.list<{ t: number }>({ prefix: [...this.#p, "pub"] });
    for await (const pub of pubs) {
      // The time is in the value: expireIn alone would leave the record readable for a while.
      if (pub.value.t >= now - this.#deadAfter) continue;
      const id = pub.key.at(-1) as string;
      const keys: Deno.KvKey[] = [];
      for await (const e of this.#kv.list({ prefix: [...this.#p, "log", id] })) keys.push(e.key);
      await this.#deleteAll(keys);
      // Checked: a publisher that was only stalled and has committed since keeps its record.
      await this.#kv.atomic().check(pub).delete(pub.key).commit();
    }
  }

  async #deleteAll(keys: Deno.KvKey[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
      const op = this.#kv.atomic();
      for (const k of keys.slice(i, i + DELETE_CHUNK)) op.delete(k);
      await op.commit();
    }
  }
}
