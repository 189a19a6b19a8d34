/**
 * A socket.io cluster adapter over Deno KV: several isolates (Deno Deploy, or Workers of one
 * process) behave as one socket.io server. `io.to(room).emit()`, `fetchSockets()`,
 * `serverSideEmit()` (with acks), `socketsJoin()`/`socketsLeave()`, `disconnectSockets()` and
 * `serverCount()` work across instances; `ClusterAdapterWithHeartbeat` from `socket.io-adapter`
 * provides them on top of the publish/receive implemented here. Self-contained: depends only on
 * `socket.io-adapter` and Deno KV.
 *
 * Key layout, under `prefix` (default `["sio"]`):
 *
 *   [...prefix, "head"]                 KvU64 bumped (`sum`) by every commit; the only watched key
 *   [...prefix, "pub", pubId]           { seq, t }: last committed sequence number of a publisher
 *   [...prefix, "log", pubId, seq]      Header { t, s: nsp, y: type, r?: to, b?, n, d? }, or a
 *                                       Pack { t, k: Header[] } of messages up to seq
 *   [...prefix, "log", pubId, seq, i]   part i of a payload larger than PART_BYTES
 *
 * Ordering and delivery. Each instance (one `createKvAdapter()` call) is one *publisher* with
 * its own log. One writer loop per publisher numbers messages 1, 2, 3… in call order and commits
 * them in that order, batching whatever queued during the previous commit; a commit writes the
 * entries, the publisher's `{ seq }` record and the head bump in ONE atomic operation, so a
 * publisher's log is always complete up to its recorded `seq`. Readers watch the head (watch
 * coalesces, so the head carries no message), list the publisher records and read each
 * publisher's log from their own cursor up to its recorded `seq`. Hence, with no dependence on
 * clocks: every reader sees every publisher's messages exactly once and in publish order (one
 * webhook is processed by one instance, so a user's updates keep their order); messages from
 * different publishers may interleave differently on different readers. No key is ever written
 * by two publishers, so concurrent publishers never conflict or lose entries. Consecutive small
 * messages of one commit share one value (a pack, keyed by its last sequence number): a webhook
 * batch broadcasts hundreds of ~1 KB messages at once, and KV's cost is per value written.
 *
 * `doPublish` resolves once the message is queued (the offset is known then), so local delivery
 * never waits for KV and still happens when KV fails; a commit error is reported to `onError`.
 */
import { Buffer } from "node:buffer";
import {
  type ClusterAdapterOptions,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Offset,
} from "socket.io-adapter";

/** Options of {@link createKvAdapter}. */
export interface KvAdapterOptions {
  /** Key prefix of everything the adapter stores (default `["sio"]`). */
  prefix?: Deno.KvKeyPart[];
  /** Ms between two heartbeats of an idle namespace (default 5,000). */
  heartbeatInterval?: number;
  /** Ms without a message before a peer is considered gone (default 10,000). */
  heartbeatTimeout?: number;
  /** Ms a log entry is kept: how far behind a reader may fall without losing messages (default 60,000). */
  logRetention?: number;
  /** Most log values (messages or packs of them) kept per publisher, whatever their age (default 10,000). */
  maxLogEntries?: number;
  /** Ms between polls of the head key, a fallback should a watch notification be lost (default 1,000; 0: off). */
  pollInterval?: number;
  /** Messages waiting for a commit beyond which publishing fails (default 10,000). */
  maxQueue?: number;
  /**
   * Create locally a child namespace that a peer uses, when a parent namespace (`io.of(regex)`)
   * matches its name, so that a parent's broadcast from here also reaches that peer's sockets
   * (default true). Without it, `parent.to(room).emit()` reaches only children that exist here.
   */
  adoptNamespaces?: boolean;
  /** Called with background errors (commit, watch, cleanup); default `console.error`. */
  onError?: (err: unknown) => void;
}

/** What `io.adapter()` takes, plus the bus's lifecycle. Call `createKvAdapter` once per Server. */
export interface KvAdapterFactory {
  // deno-lint-ignore no-explicit-any
  (nsp: any): ClusterAdapterWithHeartbeat;
  /** Resolves once the reader has its starting point (publishing waits for it too). */
  readonly ready: Promise<void>;
  /** Closes every namespace's adapter (announcing departure), flushes, stops watch and timers. */
  close(): Promise<void>;
  /** Resolves once everything published so far is committed (e.g. the initial heartbeats). */
  flush(): Promise<void>;
  /**
   * Other instances that committed to the bus recently, read now: a strongly consistent read,
   * so an instance whose sockets could have read data committed before this call is counted.
   * 0 means a broadcast of such data needs no message on the bus.
   */
  livePeers(): Promise<number>;
}

/** Bytes of payload per KV value, under the 64 KiB value limit with room for the header. */
export const PART_BYTES = 60_000;
/** Budget of one commit, under KV's 800 KiB / 1,000 mutations per atomic operation. */
const BATCH_BYTES = 480_000;
const BATCH_MUTATIONS = 400;
const DELETE_CHUNK = 500;
/** Bytes counted per packed message for its header fields (nsp, type, time…). */
const PACK_OVERHEAD = 200;
const BIN = "\u0000bin";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Header {
  t: number;
  s: string;
  y: number;
  r?: string;
  b?: 1;
  n: number;
  d?: Uint8Array;
}
/** Consecutive small messages stored as one value; the key carries the last one's seq. */
interface Pack {
  t: number;
  k: Header[];
}
interface Queued {
  seq: number;
  nsp: string;
  type: number;
  to?: string;
  binary: boolean;
  bytes: Uint8Array;
  partsWritten?: boolean;
}

/**
 * Returns the adapter factory to pass to `io.adapter(...)`. Every namespace (also child
 * namespaces created later) gets its own adapter; all share one KV writer and one watch.
 */
export function createKvAdapter(kv: Deno.Kv, opts: KvAdapterOptions = {}): KvAdapterFactory {
  const bus = new KvBus(kv, opts);
  const heartbeat = {
    heartbeatInterval: opts.heartbeatInterval ?? 5_000,
    heartbeatTimeout: opts.heartbeatTimeout ?? 10_000,
  };
  // A plain function: socket.io calls it with `new`, which then returns the adapter.
  // deno-lint-ignore no-explicit-any
  const factory = function (nsp: any) {
    return new KvAdapter(nsp, bus, heartbeat);
  } as unknown as KvAdapterFactory;
  Object.defineProperty(factory, "ready", { value: bus.ready });
  factory.close = () => bus.close();
  factory.flush = () => bus.flush();
  factory.livePeers = () => bus.livePeers();
  return factory;
}

/** One namespace's adapter: hands messages to the bus and takes what the bus routes to it. */
class KvAdapter extends ClusterAdapterWithHeartbeat {
  #closed = false;

  // deno-lint-ignore no-explicit-any
  constructor(nsp: any, readonly bus: KvBus, opts: ClusterAdapterOptions) {
    super(nsp, opts);
    bus.register(this);
  }

  /** The node id peers see in `message.uid` (protected upstream). */
  get id(): string {
    return this.uid;
  }

  protected override doPublish(message: ClusterMessage): Promise<Offset> {
    return this.bus.publish(message);
  }

  protected override doPublishResponse(to: string, response: ClusterResponse): Promise<void> {
    return this.bus.publish(response, to).then(() => {});
  }

  /** Delivers a message read from the log. */
  receive(message: ClusterMessage | ClusterResponse, isResponse: boolean): void {
    if (isResponse) this.onResponse(message as ClusterResponse);
    else this.onMessage(message as ClusterMessage);
  }

  /** Makes this namespace known to a newly seen peer without waiting for the next heartbeat. */
  announce(): void {
    this.publish({ type: MessageType.HEARTBEAT });
  }

  override close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    super.close(); // publishes ADAPTER_CLOSE: peers drop this node at once
    this.bus.unregister(this);
    return this.bus.flush();
  }
}

/** The per-instance part: one writer (a publisher log), one watch, routing by namespace. */
class KvBus {
  readonly ready: Promise<void>;
  #kv: Deno.Kv;
  #p: Deno.KvKeyPart[];
  #retention: number;
  #maxEntries: number;
  #deadAfter: number;
  #pollMs: number;
  #maxQueue: number;
  #adopt: boolean;
  #onError: (err: unknown) => void;
  #pubId = crypto.randomUUID();
  #adapters = new Map<string, KvAdapter>();
  #byUid = new Map<string, KvAdapter>();
  // deno-lint-ignore no-explicit-any
  #server: any = null;
  #state: "open" | "closing" | "closed" = "open";
  // writer
  #seq = 0;
  #queue: Queued[] = [];
  #writing = false;
  #writer: Promise<void> = Promise.resolve();
  #commits: { seq: number; t: number }[] = [];
  /** Sequence numbers that name a log value (a message, or the last of a pack), in order. */
  #written: number[] = [];
  #partsOf = new Map<number, number>();
  // reader
  #cursors = new Map<string, number>();
  #draining = false;
  #dirty = false;
  #lastHead: string | null = null;
  #watch: ReadableStreamDefaultReader | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #cleaning = false;

  constructor(kv: Deno.Kv, opts: KvAdapterOptions) {
    this.#kv = kv;
    this.#p = opts.prefix ?? ["sio"];
    this.#retention = opts.logRetention ?? 60_000;
    this.#maxEntries = opts.maxLogEntries ?? 10_000;
    // A live publisher commits at least every heartbeatInterval (heartbeats), so a record
    // older than this belongs to a dead one.
    this.#deadAfter = Math.max(this.#retention, 2 * (opts.heartbeatTimeout ?? 10_000));
    this.#pollMs = opts.pollInterval ?? 1_000;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#adopt = opts.adoptNamespaces ?? true;
    this.#onError = opts.onError ?? ((err) => console.error("kv adapter:", err));
    this.ready = this.#start();
  }

  get #closed(): boolean {
    return this.#state === "closed";
  }

  register(a: KvAdapter): void {
    this.#server ??= a.nsp.server;
    this.#adapters.set(a.nsp.name, a);
    this.#byUid.set(a.id, a);
  }

  unregister(a: KvAdapter): void {
    if (this.#adapters.get(a.nsp.name) === a) this.#adapters.delete(a.nsp.name);
    this.#byUid.delete(a.id);
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
   * Publishers other than this one whose record was committed within the dead-publisher
   * window: generous, so that a peer's clock running behind, or a peer stalled for a few
   * heartbeats, still counts.
   */
  async livePeers(): Promise<number> {
    await this.ready;
    const since = Date.now() - this.#deadAfter;
    let n = 0;
    for await (const e of this.#kv.list<{ t: number }>({ prefix: [...this.#p, "pub"] })) {
      if (e.key.at(-1) !== this.#pubId && e.value.t >= since) n++;
    }
    return n;
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async flush(): Promise<void> {
    await this.ready;
    while (this.#writing) await this.#writer;
  }

  async close(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "closing";
    await this.ready;
    for (const a of [...this.#adapters.values()]) await a.close();
    await this.flush();
    this.#state = "closed";
    this.#timers.forEach(clearInterval);
    await this.#watch?.cancel().catch(() => {});
    // A drain in progress finishes its current read; nothing is delivered afterwards.
  }

  // ---- reader -------------------------------------------------------------------------------

  async #start(): Promise<void> {
    // Start from "now": cursors at every publisher's current end. Publishing waits for this,
    // so peers' answers to our first heartbeat are after our starting point.
    try {
      for await (const e of this.#kv.list<{ seq: number }>({ prefix: [...this.#p, "pub"] })) {
        this.#cursors.set(e.key.at(-1) as string, e.value.seq);
      }
    } catch (err) {
      if (this.#state === "open") this.#onError(err);
      return;
    }
    if (this.#closed) return;
    this.#watchLoop();
    if (this.#pollMs > 0) this.#timers.push(setInterval(() => this.#poll(), this.#pollMs));
    const every = Math.min(15_000, Math.max(250, this.#retention / 4));
    this.#timers.push(setInterval(() => this.#cleanup(), every));
  }

  async #watchLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#watch = this.#kv.watch([[...this.#p, "head"]]).getReader();
        while (true) {
          const { done, value } = await this.#watch.read();
          if (done) break;
          this.#lastHead = value[0].versionstamp;
          this.#drain();
        }
      } catch (err) {
        if (this.#closed) return;
        this.#onError(err);
      }
      if (!this.#closed) await new Promise((r) => setTimeout(r, 500));
    }
  }

  async #poll(): Promise<void> {
    try {
      const head = await this.#kv.get([...this.#p, "head"]);
      if (head.versionstamp === this.#lastHead) return;
      this.#lastHead = head.versionstamp;
      this.#drain();
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    }
  }

  /** Reads every publisher's new entries; re-runs when notified meanwhile. */
  async #drain(): Promise<void> {
    if (this.#draining) {
      this.#dirty = true;
      return;
    }
    this.#draining = true;
    try {
      do {
        this.#dirty = false;
        await this.#readOnce();
      } while (this.#dirty && !this.#closed);
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    } finally {
      this.#draining = false;
    }
  }

  async #readOnce(): Promise<void> {
    const ends = new Map<string, number>();
    for await (const e of this.#kv.list<{ seq: number }>({ prefix: [...this.#p, "pub"] })) {
      ends.set(e.key.at(-1) as string, e.value.seq);
    }
    for (const id of this.#cursors.keys()) if (!ends.has(id)) this.#cursors.delete(id);
    const reads: Promise<void>[] = [];
    let newcomer = false;
    for (const [id, end] of ends) {
      if (id === this.#pubId) continue;
      if (!this.#cursors.has(id)) {
        newcomer = true;
        this.#cursors.set(id, 0); // appeared after our start: all of its log is new to us
      }
      if (end > this.#cursors.get(id)!) reads.push(this.#readPublisher(id, end));
    }
    if (newcomer && this.#adopt) {
      for (const a of this.#adapters.values()) if (a.nsp.name !== "/") a.announce();
    }
    await Promise.all(reads);
  }

  /** Delivers publisher `id`'s entries after our cursor, up to `end`, in order. */
  async #readPublisher(id: string, end: number): Promise<void> {
    const base = [...this.#p, "log", id];
    let current: { seq: number; h: Header; parts: Uint8Array[] } | null = null;
    const finish = () => {
      if (!current) return;
      const { seq, h, parts } = current;
      current = null;
      if (seq <= this.#cursors.get(id)! || this.#closed) return;
      this.#cursors.set(id, seq); // before delivery: a throwing handler must not cause a replay
      if (h.n > 0 && parts.length !== h.n) return; // pruned while we read
      this.#deliver(h, h.n > 0 ? concat(parts) : h.d!);
    };
    const iter = this.#kv.list<Header | Pack | Uint8Array>({
      start: [...base, this.#cursors.get(id)! + 1],
      end: [...base, end + 1],
    }, { batchSize: 500 });
    for await (const e of iter) {
      if (e.key.length === base.length + 1) {
        finish();
        const seq = e.key[base.length] as number;
        if ("k" in (e.value as Header | Pack)) {
          if (seq <= this.#cursors.get(id)! || this.#closed) continue;
          this.#cursors.set(id, seq);
          for (const h of (e.value as Pack).k) this.#deliver(h, h.d!);
          continue;
        }
        current = { seq, h: e.value as Header, parts: [] };
      } else if (current && e.key[base.length] === current.seq) {
        current.parts.push(e.value as Uint8Array);
      }
    }
    finish();
  }

  #deliver(h: Header, bytes: Uint8Array): void {
    try {
      let target: KvAdapter | undefined;
      if (h.r !== undefined) target = this.#byUid.get(h.r);
      else {
        target = this.#adapters.get(h.s);
        if (!target && this.#adopt && h.y !== MessageType.ADAPTER_CLOSE) {
          target = this.#adoptNsp(h.s);
        }
      }
      if (!target) return; // a namespace (or requester) that does not exist here
      const text = decoder.decode(bytes);
      target.receive(h.b ? JSON.parse(text, binaryReviver) : JSON.parse(text), h.r !== undefined);
    } catch (err) {
      this.#onError(err);
    }
  }

  /**
   * Creates child namespace `name` through the parent namespaces, exactly as a connection to it
   * would (so their rules, e.g. which names and how many, apply to adopted ones too).
   */
  #adoptNsp(name: string): KvAdapter | undefined {
    const server = this.#server;
    if (!server?._checkNamespace || this.#state !== "open") return;
    server._checkNamespace(name, {}, () => {});
    return this.#adapters.get(name);
  }

  // ---- writer -------------------------------------------------------------------------------

  #kickWriter(): void {
    if (this.#writing) return;
    this.#writing = true;
    this.#writer = (async () => {
      try {
        await this.ready;
        while (this.#queue.length) {
          const batch = this.#takeBatch();
          try {
            await this.#commit(batch);
          } catch (err) {
            this.#onError(err); // the batch is lost; later sequence numbers stay valid
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
    const last = batch.at(-1)!.seq;
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
      endPack(last);
      op.set([...this.#p, "pub", this.#pubId], { seq: last, t }, { expireIn: this.#deadAfter * 4 });
      op.sum([...this.#p, "head"], 1n);
      return op.commit();
    });
    this.#commits.push({ seq: last, t });
    this.#written.push(...keys);
    for (const q of batch) {
      if (q.bytes.length > PART_BYTES) this.#partsOf.set(q.seq, partCount(q.bytes));
    }
    // The count bound holds between timer runs too: a burst triggers a cleanup of its own.
    if (this.#written.length > this.#maxEntries * 1.25) this.#cleanup();
  }

  // ---- cleanup ------------------------------------------------------------------------------

  /** Prunes our own log by age and count, and the logs of publishers that died. */
  async #cleanup(): Promise<void> {
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

function partCount(bytes: Uint8Array): number {
  return bytes.length <= PART_BYTES ? 0 : Math.ceil(bytes.length / PART_BYTES);
}

function partAt(bytes: Uint8Array, i: number): Uint8Array {
  return bytes.slice(i * PART_BYTES, (i + 1) * PART_BYTES);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Retries a commit that threw (transient KV errors); keys are unique, so a retry is idempotent. */
async function retry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}

/** True when `v` holds binary data (socket.io packets may), which JSON cannot carry as is. */
function hasBinary(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > 32) return false;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return true;
  if (Array.isArray(v)) return v.some((x) => hasBinary(x, depth + 1));
  for (const x of Object.values(v)) if (hasBinary(x, depth + 1)) return true;
  return false;
}

/** Tags binary values as base64; reads `this[key]` because Buffer's toJSON runs first. */
function binaryReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof ArrayBuffer) return { [BIN]: Buffer.from(raw).toString("base64"), ab: 1 };
  if (ArrayBuffer.isView(raw)) {
    return { [BIN]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64") };
  }
  return value;
}

/** Restores tagged binary: ArrayBuffer stays ArrayBuffer, every view becomes a Uint8Array. */
function binaryReviver(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const tag = (value as Record<string, unknown>)[BIN];
  if (typeof tag !== "string") return value;
  const bytes = new Uint8Array(Buffer.from(tag, "base64"));
  return (value as { ab?: 1 }).ab ? bytes.buffer : bytes;
}
