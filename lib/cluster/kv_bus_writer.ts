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
  type Encoded,
  encoder,
  hasBinary,
  type Header,
  layout,
  type Pack,
  PACK_OVERHEAD,
  PART_BYTES,
  partAt,
  partCount,
  type PubRecord,
  type Queued,
  retry,
} from "./kv_bus_format.ts";

/** Adds messages, our record and the head bump to another writer's operation (`ride`). */
export type AddToCommit = (op: Deno.AtomicOperation) => void;

/** Messages committed in another writer's operation (`ride`). */
interface Rider {
  commit: (add: AddToCommit) => Promise<boolean>;
  done: PromiseWithResolvers<boolean>;
}

/** A queued message; those of a rider go in its commit, together. */
type Item = Queued & { rider?: Rider };

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
  #queue: Item[] = [];
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

  /** When our last commit landed (Date.now(); 0: never). */
  get lastCommitAt(): number {
    return this.#lastCommitAt;
  }

  /** Queues a message (a response when `to` is set) and returns its offset. */
  publish(message: ClusterMessage | ClusterResponse, to?: string): Promise<Offset> {
    if (this.#closed) return Promise.reject(new Error("kv adapter is closed"));
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new Error(`kv adapter: ${this.#maxQueue} messages waiting for KV`));
    }
    // Encoded now: the caller may mutate the packet once we return (offsets, acks).
    const seq = ++this.#seq;
    this.#queue.push({ ...encode(message, to), seq });
    this.#kickWriter();
    return Promise.resolve(`${this.#pubId}:${seq}`);
  }

  /**
   * Commits `cargo` in another writer's atomic operation, at our turn: numbered now, after
   * everything published so far, and committed after it and before anything published later.
   * `commit` builds that operation, calls `add(op)` (again for each operation it tries) to put
   * the messages, our record and the head bump in it, commits, and says whether it committed.
   * Resolves with that: false, nothing of ours was written (those numbers are skipped, as a
   * lost batch's are), and the caller publishes the messages as usual if it still must.
   */
  ride(cargo: Encoded[], commit: (add: AddToCommit) => Promise<boolean>): Promise<boolean> {
    if (this.#closed || this.#queue.length + cargo.length > this.#maxQueue) {
      return Promise.resolve(false);
    }
    const rider: Rider = { commit, done: Promise.withResolvers<boolean>() };
    for (const c of cargo) this.#queue.push({ ...c, seq: ++this.#seq, rider });
    this.#kickWriter();
    return rider.done.promise;
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
          const { batch, rider } = this.#takeBatch();
          try {
            const ok = await this.#commit(batch, rider);
            rider?.done.resolve(ok);
          } catch (err) {
            if (rider) {
              rider.done.reject(err); // its owner's error: its owner reports it
              continue;
            }
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

  #takeBatch(): { batch: Queued[]; rider?: Rider } {
    const batch: Queued[] = [];
    const rider = this.#queue[0]?.rider;
    if (rider) {
      while (this.#queue[0]?.rider === rider) batch.push(this.#queue.shift()!);
      return { batch, rider };
    }
    let bytes = 0;
    let mutations = 0;
    while (this.#queue.length) {
      const q = this.#queue[0];
      if (q.rider) break;
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
    return { batch };
  }

  /**
   * Commits `batch` on its own, or in the operation of its rider (`ride`); false: the rider's
   * commit did not happen (its messages are lost, later sequence numbers stay valid).
   */
  async #commit(batch: Queued[], rider?: Rider): Promise<boolean> {
    const big = batch[0];
    if (!rider && batch.length === 1 && big.bytes.length > BATCH_BYTES) {
      // Too large for one commit: parts go first, invisible to readers until the header commits
      // (reads stop at the publisher's recorded seq, which is below this one).
      const log = [...this.#p, "log", this.#pubId, big.seq];
      const n = partCount(big.bytes);
      for (let i = 0; i < n; i += 8) {
        const op = this.#kv.atomic();
        for (let j = i; j < Math.min(n, i + 8); j++) {
          op.set([...log, j], partAt(big.bytes, j), { expireIn: this.#retention * 2 });
        }
        await retry(() => op.commit());
      }
      big.partsWritten = true;
    }
    const t = Date.now();
    const last = batch.at(-1)?.seq ?? this.#recordSeq;
    const relay = this.#relay;
    let keys: number[] = [];
    if (rider) {
      const ok = await rider.commit((op) => keys = this.#fill(op, batch, t, last, relay));
      if (!ok) return false;
    } else {
      await retry(() => {
        const op = this.#kv.atomic();
        keys = this.#fill(op, batch, t, last, relay);
        return op.commit();
      });
    }
    this.#lastCommitAt = t;
    this.#recordSeq = last;
    // Wanted off meanwhile: not held (the next commit writes it off).
    if (relay && this.#relay) {
      this.#relayHeld = true;
      for (const w of this.#relayWaiters.splice(0)) w.resolve();
    }
    if (!batch.length) return true;
    this.#commits.push({ seq: last, t });
    this.#written.push(...keys);
    for (const q of batch) {
      if (q.bytes.length > PART_BYTES) this.#partsOf.set(q.seq, partCount(q.bytes));
    }
    // The count bound holds between timer runs too: a burst triggers a cleanup of its own.
    if (this.#written.length > this.#maxEntries * 1.25) this.cleanup();
    return true;
  }

  /**
   * Adds `batch` to `op`: its values (see `layout`), our record (up to `last`, with the relay
   * flag), the head bump and, when due, the roster bump. Returns the sequence numbers that
   * name a value.
   */
  #fill(op: Deno.AtomicOperation, batch: Queued[], t: number, last: number, relay: boolean) {
    const log = (seq: number) => [...this.#p, "log", this.#pubId, seq];
    const expireIn = this.#retention * 2; // a hint only; cleanup does not rely on it
    const keys: number[] = [];
    for (const v of layout(batch)) {
      const q = batch[v.end];
      const headers = batch.slice(v.start, v.end + 1).map((q) => {
        const h: Header = { t, s: q.nsp, y: q.type, n: partCount(q.bytes) };
        if (q.to !== undefined) h.r = q.to;
        if (q.binary) h.b = 1;
        if (h.n === 0) h.d = q.bytes;
        return h;
      });
      const value = headers.length === 1 ? headers[0] : { t, k: headers } satisfies Pack;
      op.set(log(q.seq), value, { expireIn });
      keys.push(q.seq);
      if (headers[0].n > 0 && !q.partsWritten) {
        for (let i = 0; i < headers[0].n; i++) {
          op.set([...log(q.seq), i], partAt(q.bytes, i), { expireIn });
        }
      }
    }
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
    return keys;
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

/** A message as the log stores it (binary data tagged), not numbered yet. */
export function encode(message: ClusterMessage | ClusterResponse, to?: string): Encoded {
  const binary = hasBinary(message);
  const text = binary ? JSON.stringify(message, binaryReplacer) : JSON.stringify(message);
  return { nsp: message.nsp, type: message.type, to, binary, bytes: encoder.encode(text) };
}

/** What committing `cargo` adds to an operation: bytes (an upper bound) and mutations. */
export function cargoCost(cargo: Encoded[]): { bytes: number; mutations: number } {
  let bytes = 1_000; // record, head, roster, keys
  let mutations = 3;
  for (const c of cargo) bytes += c.bytes.length + PACK_OVERHEAD;
  for (const v of layout(cargo)) mutations += 1 + partCount(cargo[v.start].bytes);
  return { bytes, mutations };
}
