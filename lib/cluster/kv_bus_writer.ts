/**
 * The writing side of the Deno KV cluster bus (protocol: kv_adapter.ts): this instance's
 * publisher log. Messages are numbered in call order and committed in that order, batching
 * whatever queued during the previous commit, with the publisher record and the head bump in
 * the same atomic operation; small ones share a value (a pack). The record also carries this
 * instance's relay flag (`PubRecord.l`, kv_bus_relay.ts), committed on its own when it turns
 * on. Pruning the logs is kv_bus_cleanup.ts.
 */
import type { ClusterMessage, ClusterResponse, Offset } from "socket.io-adapter";
import {
  BATCH_BYTES,
  BATCH_MUTATIONS,
  binaryReplacer,
  type Encoded,
  encoder,
  hasBinary,
  type Header,
  layout,
  type Pack,
  partAt,
  partCount,
  type PubRecord,
  type Queued,
  retry,
} from "./kv_bus_format.ts";
import { LogCleanup } from "./kv_bus_cleanup.ts";
import { RelayFlag } from "./kv_bus_relay.ts";

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
  #deadAfter: number;
  #maxQueue: number;
  #onError: (err: unknown) => void;
  #ready: Promise<void>;
  #isClosed: () => boolean;
  #seq = 0;
  #queue: Item[] = [];
  #writing = false;
  #writer: Promise<void> = Promise.resolve();
  /** When our last commit landed (0: never); see the roster bump in #commit. */
  #lastCommitAt = 0;
  /** The sequence number our record holds (what a record-only commit writes again). */
  #recordSeq = 0;
  #relay: RelayFlag;
  #cleanup: LogCleanup;

  constructor(kv: Deno.Kv, o: WriterOptions) {
    this.#kv = kv;
    this.#p = o.prefix;
    this.#pubId = o.pubId;
    this.#retention = o.retention;
    this.#deadAfter = o.deadAfter;
    this.#maxQueue = o.maxQueue;
    this.#onError = o.onError;
    this.#ready = o.ready;
    this.#isClosed = o.closed;
    this.#relay = new RelayFlag(o.closed, () => this.#kickWriter());
    this.#cleanup = new LogCleanup(kv, o);
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

  /** Sets the relay flag of our publisher record (see `RelayFlag.want`). */
  wantRelay(on: boolean): Promise<void> {
    return this.#relay.want(on);
  }

  /** Prunes our own log by age and count, and the logs of publishers that died. */
  cleanup(): Promise<void> {
    return this.#cleanup.cleanup();
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
        while (this.#queue.length || this.#relay.waiting) {
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
            this.#relay.failed(err);
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
    const relay = this.#relay.wanted;
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
    this.#relay.committed(relay);
    if (!batch.length) return true;
    this.#cleanup.committed(batch, t, last, keys);
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
    if (t - this.#lastCommitAt > this.#deadAfter / 2 || (relay && !this.#relay.held)) {
      op.sum([...this.#p, "roster"], 1n);
    }
    return keys;
  }
}

/** A message as the log stores it (binary data tagged), not numbered yet. */
export function encode(message: ClusterMessage | ClusterResponse, to?: string): Encoded {
  const binary = hasBinary(message);
  const text = binary ? JSON.stringify(message, binaryReplacer) : JSON.stringify(message);
  return { nsp: message.nsp, type: message.type, to, binary, bytes: encoder.encode(text) };
}
