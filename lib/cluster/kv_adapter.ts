/**
 * A socket.io cluster adapter over one Deno KV log: several isolates (Deno Deploy, or Workers of
 * one process on one KV file) behave as one socket.io server. `ClusterAdapterWithHeartbeat`
 * (socket.io-adapter) provides broadcasts, `fetchSockets`, `serverSideEmit` with acks,
 * `socketsJoin`/`Leave`, `disconnectSockets`, `serverCount`, heartbeats and dead-node cleanup on
 * top of the two methods implemented here: publish a message, deliver what peers published. It is
 * socket.io-postgres-adapter's design with a KV log in place of NOTIFY.
 *
 * Keys:
 *
 *   ["sio", "log", versionstamp]  one commit's messages: a frame (below), or { a, n } when the
 *                                 frame is in n attachments
 *   ["sio", "att", id, i]         part i of a frame larger than one value (64 KiB)
 *   ["sio", "node", busId]        { at }: this instance is alive (refreshed by each commit)
 *   ["sio", "head"]               KvU64 summed by every commit: the one key readers watch
 *
 * A log key ends with the commit's versionstamp (`kv.commitVersionstamp()`), so the log is in
 * commit order and every reader, listing from its cursor after the head moved, sees each commit
 * once and in that order, whoever wrote it: a publisher's messages arrive in publish order. Log
 * and attachments expire after a minute (KV deletes expired keys itself; a local file sweeps
 * them within a minute): a reader that falls further behind loses messages, as with any
 * bounded broadcast log.
 *
 * One writer loop per instance commits the messages queued meanwhile in one commit (a webhook
 * batch's hundreds of broadcasts are one or two commits). A frame is the array of the messages,
 * each serialized with V8's serializer (binary payloads survive), serialized again.
 * `doPublish` resolves once a message is queued, so local delivery never waits for KV.
 */
import v8 from "node:v8";
import {
  type ClusterAdapterOptions,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  type Offset,
} from "socket.io-adapter";
import { retryLocked } from "../store/kv_retry.ts";

/** Options of `createKvAdapter`. */
export interface KvAdapterOptions {
  /** Ms between two heartbeats of an idle namespace (default 5,000). */
  heartbeatInterval?: number;
  /** Ms without a message before a peer is considered gone (default 10,000). */
  heartbeatTimeout?: number;
  /** Ms between reads of the log should a watch notification be lost (default 1,000; 0: off). */
  pollInterval?: number;
}

/** What `io.adapter()` takes, plus the bus's lifecycle. Call `createKvAdapter` once per Server. */
export interface KvAdapterFactory {
  // deno-lint-ignore no-explicit-any
  (nsp: any): ClusterAdapterWithHeartbeat;
  /** Resolves once the reader has its starting point and this instance's record is stored. */
  readonly ready: Promise<void>;
  /** Resolves once everything published so far is committed (or failed). */
  flush(): Promise<void>;
  /**
   * Other live instances, read now (a strongly consistent read of their records): an instance
   * that could have admitted a socket before this call is counted. 0: a broadcast of data
   * stored before the call needs no message on the bus (a later instance reads the store).
   */
  livePeers(): Promise<number>;
  /** Closes every namespace's adapter (announcing departure), flushes, stops reading. */
  close(): Promise<void>;
}

/** Bytes of one KV value we write (KV's limit is 64 KiB). */
export const PART_BYTES = 60_000;
/** Attachments of one commit: with the log entry, below KV's 800 KiB per atomic operation. */
const MAX_PARTS = 12;
/** A frame's budget: what one commit carries. */
const FRAME_BYTES = PART_BYTES * MAX_PARTS;
/** Ms a log entry is kept: how far behind a reader may fall. */
const LOG_RETENTION_MS = 60_000;
/** Messages waiting for a commit beyond which publishing fails. */
const MAX_QUEUE = 10_000;
const onError = (err: unknown) => console.error("kv adapter:", err);
/** A frame's bytes beyond its messages' own: at most this much per message. */
const OVERHEAD = 16;

/**
 * One message on the log: its namespace, whether it is a response and to which node, the
 * message, and (`b`, set when queued) the bus that wrote it, whose own messages it skips.
 */
type Envelope = {
  n: string;
  to?: string;
  r: boolean;
  m: ClusterMessage | ClusterResponse;
  b?: string;
};

/**
 * Returns the adapter factory to pass to `io.adapter(...)`. Every namespace gets its own
 * adapter; all share one writer and one watch.
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
  factory.flush = () => bus.flush();
  factory.livePeers = () => bus.livePeers();
  factory.close = () => bus.close();
  return factory;
}

/**
 * `createKvAdapter` over a handle of its own on the KV at `path` (the store's: `KV_PATH`, or
 * Deno's default), closed by `close()`. The bus needs no part of the store.
 */
export async function openKvAdapter(
  path: string | undefined,
  opts: KvAdapterOptions = {},
): Promise<KvAdapterFactory> {
  const kv = await retryLocked(() => Deno.openKv(path));
  const factory = createKvAdapter(kv, opts);
  const close = factory.close;
  factory.close = () => close().finally(() => kv.close());
  return factory;
}

/** One namespace's adapter: hands messages to the bus and takes what the bus routes to it. */
class KvAdapter extends ClusterAdapterWithHeartbeat {
  #closed = false;

  // deno-lint-ignore no-explicit-any
  constructor(nsp: any, readonly bus: KvBus, opts: ClusterAdapterOptions) {
    super(nsp, opts);
    bus.adapters.set(nsp.name, this);
  }

  protected override doPublish(message: ClusterMessage): Promise<Offset> {
    return this.bus.publish({ n: this.nsp.name, r: false, m: message });
  }

  protected override doPublishResponse(to: string, response: ClusterResponse): Promise<void> {
    return this.bus.publish({ n: this.nsp.name, to, r: true, m: response }).then(() => {});
  }

  /** Delivers a message read from the log. */
  receive(e: Envelope, offset: string): void {
    if (e.r) {
      if (e.to === this.uid) this.onResponse(e.m as ClusterResponse);
    } else this.onMessage(e.m as ClusterMessage, offset);
  }

  override close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    super.close(); // publishes ADAPTER_CLOSE: peers drop this node at once
    if (this.bus.adapters.get(this.nsp.name) === this) this.bus.adapters.delete(this.nsp.name);
    return this.bus.flush();
  }
}

/** The per-instance part: one writer, one reader (watch and poll), routing by namespace. */
class KvBus {
  readonly ready: Promise<void>;
  readonly adapters = new Map<string, KvAdapter>();
  readonly #id = crypto.randomUUID();
  readonly #aliveFor: number;
  #queue: Uint8Array[] = [];
  #seq = 0;
  #writing: Promise<void> | null = null;
  #cursor: Deno.KvKey | null = null;
  #draining: Promise<void> | null = null;
  #again = false;
  #watch: ReadableStreamDefaultReader | null = null;
  #poll: ReturnType<typeof setInterval> | undefined;
  #open = true;

  constructor(private readonly kv: Deno.Kv, opts: KvAdapterOptions) {
    // A live instance commits at least every heartbeat interval; a record three timeouts old
    // is a dead one's (counting a dead one costs a bus write, missing a live one a push).
    this.#aliveFor = 3 * (opts.heartbeatTimeout ?? 10_000);
    this.ready = this.#start(opts.pollInterval ?? 1_000);
  }

  /** Queues `e` for the next commit; resolves with its offset once queued. */
  publish(e: Envelope): Promise<Offset> {
    if (!this.#open) return Promise.reject(new Error("kv adapter closed"));
    if (this.#queue.length >= MAX_QUEUE) {
      return Promise.reject(new Error(`kv adapter: more than ${MAX_QUEUE} messages queued`));
    }
    const bytes = v8.serialize({ ...e, b: this.#id });
    if (bytes.length + OVERHEAD > FRAME_BYTES) {
      return Promise.reject(new Error(`kv adapter: a message of ${bytes.length} bytes`));
    }
    this.#queue.push(bytes);
    this.#writing ??= this.#writeLoop();
    return Promise.resolve(`${this.#id}:${++this.#seq}`);
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async flush(): Promise<void> {
    await this.ready;
    while (this.#writing) await this.#writing;
  }

  async livePeers(): Promise<number> {
    await this.ready;
    const now = Date.now();
    let n = 0;
    const nodes = this.kv.list<{ at: number }>({ prefix: ["sio", "node"] });
    for await (const e of nodes) {
      if (e.key.at(-1) !== this.#id && e.value.at > now - this.#aliveFor) n++;
    }
    return n;
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    await this.ready.catch(() => {});
    for (const a of [...this.adapters.values()]) await a.close();
    this.#open = false;
    await this.flush().catch(() => {});
    clearInterval(this.#poll);
    await this.#watch?.cancel().catch(() => {});
    await this.#draining?.catch(() => {});
    await this.kv.delete(["sio", "node", this.#id]).catch(() => {});
  }

  /** Reads from the log's current end; stores this instance's record; then watches and polls. */
  async #start(pollMs: number): Promise<void> {
    const last = this.kv.list({ prefix: ["sio", "log"] }, { reverse: true, limit: 1 });
    for await (const e of last) this.#cursor = e.key;
    await retryLocked(() => this.#nodeRecord(this.kv.atomic()).commit());
    this.#watch = this.kv.watch([["sio", "head"]]).getReader();
    (async () => {
      try {
        while (this.#open) {
          const { done } = await this.#watch!.read();
          if (done) break;
          this.#drain();
        }
      } catch (err) {
        if (this.#open) onError(err);
      }
    })();
    if (pollMs > 0) {
      this.#poll = setInterval(() => this.#drain(), pollMs);
      Deno.unrefTimer(this.#poll);
    }
  }

  #nodeRecord(op: Deno.AtomicOperation): Deno.AtomicOperation {
    return op.set(["sio", "node", this.#id], { at: Date.now() }, {
      expireIn: this.#aliveFor,
    });
  }

  /** Commits the queue, one frame per commit, in publish order. */
  async #writeLoop(): Promise<void> {
    await this.ready.catch(() => {});
    try {
      while (this.#queue.length) {
        let bytes = OVERHEAD, i = 0;
        while (i < this.#queue.length && bytes + this.#queue[i].length + OVERHEAD <= FRAME_BYTES) {
          bytes += this.#queue[i++].length + OVERHEAD;
        }
        const frame = v8.serialize(this.#queue.splice(0, i));
        try {
          await retryLocked(() => this.#commitFrame(frame));
        } catch (err) {
          onError(err); // lost, like a dropped notification: the store has the data
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  #commitFrame(frame: Uint8Array): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    const expireIn = LOG_RETENTION_MS;
    const op = this.#nodeRecord(this.kv.atomic()).sum(["sio", "head"], 1n);
    const log = ["sio", "log", this.kv.commitVersionstamp()];
    if (frame.length <= PART_BYTES) return op.set(log, frame, { expireIn }).commit();
    const a = crypto.randomUUID();
    const n = Math.ceil(frame.length / PART_BYTES);
    for (let i = 0; i < n; i++) {
      op.set(["sio", "att", a, i], frame.subarray(i * PART_BYTES, (i + 1) * PART_BYTES), {
        expireIn,
      });
    }
    return op.set(log, { a, n }, { expireIn }).commit();
  }

  /** Reads the log from the cursor and delivers it; one read at a time, again if asked meanwhile. */
  #drain(): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = (async () => {
      do {
        this.#again = false;
        try {
          await this.#readLog();
        } catch (err) {
          if (this.#open) onError(err);
        }
      } while (this.#again && this.#open);
    })().finally(() => (this.#draining = null));
  }

  async #readLog(): Promise<void> {
    const prefix = ["sio", "log"];
    const sel = this.#cursor ? { prefix, start: this.#cursor } : { prefix };
    for await (const e of this.kv.list<Uint8Array | { a: string; n: number }>(sel)) {
      if (!this.#open) return;
      const stamp = e.key.at(-1) as string;
      if (this.#cursor && stamp === this.#cursor.at(-1)) continue; // `start` is inclusive
      this.#cursor = e.key;
      const frame = e.value instanceof Uint8Array ? e.value : await this.#attachments(e.value);
      if (!frame) continue; // expired before it was read
      for (const message of v8.deserialize(frame) as Uint8Array[]) {
        const env: Envelope = v8.deserialize(message);
        if (env.b === this.#id) continue;
        this.adapters.get(env.n)?.receive(env, stamp);
      }
    }
  }

  async #attachments({ a, n }: { a: string; n: number }): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    for await (const e of this.kv.list<Uint8Array>({ prefix: ["sio", "att", a] })) {
      parts.push(e.value);
    }
    if (parts.length !== n) return null;
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) out.set(p, (off += p.length) - p.length);
    return out;
  }
}
