/**
 * The writing side of the Deno KV cluster bus (protocol: kv_adapter.ts): this instance's
 * publisher log. Messages are numbered in call order and committed in that order, batching
 * whatever queued during the previous commit, with the publisher record and the head bump in
 * the same atomic operation; small ones share a value (a pack). The record also carries this
 * instance's relay flag (`PubRecord.l`), committed on its own when it turns on. It also prunes
 * its own log by age and count, and removes the logs of publishers that died.
 */
import type { ClusterMessage, ClusterResponse, Offset } from "socket.io-adapter";
import {
  BATCH_BYTES,
  BATCH_MUTATIONS,
  binaryReplacer,
  DELETE_CHUNK,
  encoder,
  hasBinary,
  type Header,
  type Pack,
  PACK_OVERHEAD,
  PART_BYTES,
  partAt,
  partCount,
  type PubRecord,
  type Queued,
  retry,
} from "./kv_bus_format.ts";

/** What the writer needs of its bus. */
export interface WriterOptions {
  prefix: Deno.KvKeyPart[];
  pubId: string;
  retention: number;
  maxEntries: number;
  deadAfter: number;
  maxQueue: number;
  onError: (err: unknown) => void;
  /** Resolves once the bus has its starting point (nothing commits before). */
  ready: Promise<void>;
  /** True once the bus is closed. */
  closed: () => boolean;
}

/** One instance's publisher log. */
export class KvBusWriter {
  #kv: Deno.Kv;
  #p: Deno.KvKeyPart[];
  #pubId: string;
  #retention: number;
  #maxEntries: number;
  #deadAfter: number;
  #maxQueue: number;
  #onError: (err: unknown) => void;
  #ready: Promise<void>;
  #isClosed: () => boolean;
  #seq = 0;
  #queue: Queued[] = [];
  #writing = false;
  #writer: Promise<void> = Promise.resolve();
  #commits: { seq: number; t: number }[] = [];
  /** Sequence numbers that name a log value (a message, or the last of a pack), in order. */
  #written: number[] = [];
  #partsOf = new Map<number, number>();
  #cleaning = false;
  /** When our last commit landed (0: never); see the roster bump in #commit. */
  #lastCommitAt = 0;
  /** The sequence number our record holds (what a record-only commit writes again). */
  #recordSeq = 0;
  /** The relay flag wanted (`wantRelay`). */
  #relay = false;
  /** A committed record holds the relay flag on, and no commit since wanting it off. */
  #relayHeld = false;
  /** `wantRelay(true)` calls waiting for a record that holds the flag. */
  #relayWaiters: PromiseWithResolvers<void>[] = [];

  constructor(kv: Deno.Kv, o: WriterOptions) {
    this.#kv = kv;
    this.#p = o.prefix;
    this.#pubId = o.pubId;
    this.#retention = o.retention;
    this.#maxEntries = o.maxEntries;
    this.#deadAfter = o.deadAfter;
    this.#maxQueue = o.maxQueue;
    this.#onError = o.onError;
    this.#ready = o.ready;
    this.#isClosed = o.closed;
  }

  get #closed(): boolean {
    return this.#isClosed();
  }

  /** Queues a message (a response when `to` is set) and returns its offset. */
  publish(message: ClusterMessage | ClusterResponse, to?: string): Promise<Offset> {
    if (this.#closed) return Promise.reject(new Error("kv adapter is closed"));
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new Error(`kv adapter: ${this.#maxQueue} messages waiting for KV`));
    }
    // Encoded now: the caller may mutate the packet once we return (offsets, acks).
    const binary = hasBinary(message);
    const text = binary ? JSON.stringify(message, binaryReplacer) : JSON.stringify(message);
    const seq = ++this.#seq;
    this.#queue.push({
      seq,
      nsp: message.nsp,
      type: message.type,
      to,
      binary,
      bytes: encoder.encode(text),
    });
    this.#kickWriter();
    return Promise.resolve(`${this.#pubId}:${seq}`);
  }

  /**
   * Sets the relay flag of our publisher record. On: resolves once a committed record holds it
   * (at once if one does), with the roster bumped as it turns on, so that a write fenced on an
   * older roster fails (KvBus.fence); rejects when that commit fails. Off: written by the next
   * commit (a heartbeat's at the latest).
   */
  wantRelay(on: boolean): Promise<void> {
    this.#relay = on;
    if (!on) {
      this.#relayHeld = false; // a commit in flight may have it on, the next one has it off
      for (const w of this.#relayWaiters.splice(0)) w.reject(new Error("relay flag turned off"));
      return Promise.resolve();
    }
    if (this.#relayHeld) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error("kv adapter is closed"));
    const w = Promise.withResolvers<void>();
    this.#relayWaiters.push(w);
    this.#kickWriter();
    return w.promise;
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async flush(): Promise<void> {
    await this.#ready;
    while (this.#writing) await this.#writer;
  }

  #kickWriter(): void {
    if (this.#writing) return;
    this.#writing = true;
    this.#writer = (async () => {
      try {
        await this.#ready;
        // An empty batch: only the record, for a relay flag that is waited for.
        while (this.#queue.length || this.#relayWaiters.length) {
          const batch = this.#takeBatch();
          try {
            await this.#commit(batch);
          } catch (err) {
            // The batch is lost; later sequence numbers stay valid. Whoever waits for the
            // relay flag learns that it is not committed.
            for (const w of this.#relayWaiters.splice(0)) w.reject(err);
            this.#onError(err);
          }
        }
      } finally {
        this.#writing = false;
      }
    })();
  }

  #takeBatch(): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    let mutations = 0;
    while (this.#queue.length) {
      const q = this.#queue[0];
      const m = 1 + partCount(q.bytes);
      if (
        batch.length && (bytes + q.bytes.length > BATCH_BYTES || mutations + m > BATCH_MUTATIONS)
      ) {
        break;
      }
      batch.push(this.#queue.shift()!);
      bytes += q.bytes.length;
      mutations += m;
    }
    return batch;
  }

  async #commit(batch: Queued[]): Promise<void> {
    const log = (seq: number) => [...this.#p, "log", this.#pubId, seq];
    const expireIn = this.#retention * 2; // a hint only; cleanup below does not rely on it
    const big = batch[0];
    if (batch.length === 1 && big.bytes.length > BATCH_BYTES) {
      // Too large for one commit: parts go first, invisible to readers until the header commits
      // (reads stop at the publisher's recorded seq, which is below this one).
      const n = partCount(big.bytes);
      for (let i = 0; i < n; i += 8) {
        const op = this.#kv.atomic();
        for (let j = i; j < Math.min(n, i + 8); j++) {
          op.set([...log(big.seq), j], partAt(big.bytes, j), { expireIn });
        }
        await retry(() => op.commit());
      }
      big.partsWritten = true;
    }
    const t = Date.now();
    const last = batch.at(-1)?.seq ?? this.#recordSeq;
    const relay = this.#relay;
    const keys: number[] = [];
    await retry(() => {
      const op = this.#kv.atomic();
      keys.length = 0;
      let pack: Header[] = [];
      let packBytes = 0;
      const endPack = (seq: number) => {
        if (!pack.length) return;
        op.set(log(seq), pack.length === 1 ? pack[0] : { t, k: pack } satisfies Pack, {
          expireIn,
        });
        keys.push(seq);
        pack = [];
        packBytes = 0;
      };
      batch.forEach((q, i) => {
        const n = partCount(q.bytes);
        const h: Header = { t, s: q.nsp, y: q.type, n };
        if (q.to !== undefined) h.r = q.to;
        if (q.binary) h.b = 1;
        if (n === 0) {
          // The previous message's seq closes the pack: keys stay in seq order.
          if (packBytes + q.bytes.length + PACK_OVERHEAD > PART_BYTES) endPack(batch[i - 1].seq);
          h.d = q.bytes;
          pack.push(h);
          packBytes += q.bytes.length + PACK_OVERHEAD;
          return;
        }
        endPack(batch[i - 1]?.seq);
        op.set(log(q.seq), h, { expireIn });
        keys.push(q.seq);
        if (!q.partsWritten) {
          for (let i = 0; i < n; i++) op.set([...log(q.seq), i], partAt(q.bytes, i), { expireIn });
        }
      });
      if (batch.length) endPack(last);
      // `e`: this version sums the store's profile epoch (peers may then skip per-user checks);
      // `l`: the relay flag (this version says whether it wants relays).
      const record: PubRecord = { seq: last, t, e: 1, l: relay ? 1 : 0 };
      op.set([...this.#p, "pub", this.#pubId], record, { expireIn: this.#deadAfter * 4 });
      // A record alone carries no message: readers need not look.
      if (batch.length) op.sum([...this.#p, "head"], 1n);
      // The roster changes when a publisher appears, comes back after a silence long enough
      // for peers to have counted it gone, or turns its relay flag on: a write fenced on it
      // (KvBus.fence) then fails.
      if (t - this.#lastCommitAt > this.#deadAfter / 2 || (relay && !this.#relayHeld)) {
        op.sum([...this.#p, "roster"], 1n);
      }
      return op.commit();
    });
    this.#lastCommitAt = t;
    this.#recordSeq = last;
    // Wanted off meanwhile: not held (the next commit writes it off).
    if (relay && this.#relay) {
      this.#relayHeld = true;
      for (const w of this.#relayWaiters.splice(0)) w.resolve();
    }
    if (!batch.length) return;
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
