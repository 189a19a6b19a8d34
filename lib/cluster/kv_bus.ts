/**
 * The reading side and lifecycle of the Deno KV cluster bus (protocol: kv_adapter.ts): one
 * watch of the head key per instance, each publisher's log read from this instance's cursor and
 * routed to the namespace adapters (adopting a peer's child namespace where a parent accepts
 * it); writing is kv_bus_writer.ts.
 */
import {
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Offset,
} from "socket.io-adapter";
import {
  BATCH_BYTES,
  binaryReviver,
  concat,
  decoder,
  type Encoded,
  type Header,
  type Pack,
  type PubRecord,
} from "./kv_bus_format.ts";
import { type AddToCommit, cargoCost, encode, KvBusWriter } from "./kv_bus_writer.ts";
import { SoleTerm, TERM_MS } from "./kv_sole_term.ts";

/** Options of `createKvAdapter` (kv_adapter.ts). */
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

/** Other live instances, as `KvBus.peers` read them. */
export interface PeerView {
  /** Live peers (0: a push needs no bus message). */
  peers: number;
  /**
   * Some live peer wants relays (its relay flag is on, or its version does not say): false
   * only when each one said it does not (KvBus.wantRelay).
   */
  relay: boolean;
}

/** A broadcast as `io.to(rooms).except(except).emit(event, payload)` makes it. */
export interface Broadcast {
  rooms: string[];
  except?: string[];
  event: string;
  payload: unknown;
}

/**
 * Messages of this instance's log committed in another writer's atomic operation (see
 * `KvBus.cargo`): what they add to it (bytes, an upper bound, and mutations), and `ride`.
 */
export class BusCargo {
  readonly bytes: number;
  readonly mutations: number;

  constructor(readonly writer: KvBusWriter, readonly encoded: Encoded[]) {
    ({ bytes: this.bytes, mutations: this.mutations } = cargoCost(encoded));
  }

  /**
   * Commits these messages, and those of `also` (cargo of the same bus) after them, in the
   * operation `commit` builds (KvBusWriter.ride): true once committed.
   */
  ride(commit: (add: AddToCommit) => Promise<boolean>, also: unknown[] = []): Promise<boolean> {
    const all = [this, ...also];
    if (!all.every((c) => c instanceof BusCargo && c.writer === this.writer)) {
      return Promise.reject(new Error("cargo of another bus"));
    }
    return this.writer.ride((all as BusCargo[]).flatMap((c) => c.encoded), commit);
  }
}

/** See `KvBus.fence`. */
export interface BusFence extends PeerView {
  check: Deno.AtomicCheck;
}

/** A namespace's adapter as the bus sees it. */
export interface BusMember {
  // deno-lint-ignore no-explicit-any
  readonly nsp: { name: string; server: any };
  /** The node id peers see in `message.uid`. */
  readonly id: string;
  /** Delivers a message read from the log. */
  receive(message: ClusterMessage | ClusterResponse, isResponse: boolean): void;
  /** Makes the namespace known to a newly seen peer. */
  announce(): void;
  close(): Promise<void>;
}

/** The per-instance part: one writer (a publisher log), one watch, routing by namespace. */
export class KvBus {
  readonly ready: Promise<void>;
  #kv: Deno.Kv;
  #p: Deno.KvKeyPart[];
  #retention: number;
  #deadAfter: number;
  #pollMs: number;
  #adopt: boolean;
  #onError: (err: unknown) => void;
  #pubId = crypto.randomUUID();
  #adapters = new Map<string, BusMember>();
  #byUid = new Map<string, BusMember>();
  // deno-lint-ignore no-explicit-any
  #server: any = null;
  #state: "open" | "closing" | "closed" = "open";
  #writer: KvBusWriter;
  // reader
  #cursors = new Map<string, number>();
  #draining = false;
  #dirty = false;
  #lastHead: string | null = null;
  #watch: ReadableStreamDefaultReader | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** See `fence`. */
  #fence: BusFence | null = null;
  /** This instance's sole-writer term (kv_sole_term.ts). */
  readonly term: SoleTerm;

  constructor(kv: Deno.Kv, opts: KvAdapterOptions) {
    this.#kv = kv;
    this.#p = opts.prefix ?? ["sio"];
    this.#retention = opts.logRetention ?? 60_000;
    // A live publisher commits at least every heartbeatInterval (heartbeats), so a record
    // older than this belongs to a dead one.
    this.#deadAfter = Math.max(this.#retention, 2 * (opts.heartbeatTimeout ?? 10_000));
    this.#pollMs = opts.pollInterval ?? 1_000;
    this.#adopt = opts.adoptNamespaces ?? true;
    this.#onError = opts.onError ?? ((err) => console.error("kv adapter:", err));
    this.term = new SoleTerm(kv, this.#p, this.#pubId);
    this.ready = this.#start();
    this.#writer = new KvBusWriter(kv, {
      prefix: this.#p,
      pubId: this.#pubId,
      retention: this.#retention,
      maxEntries: opts.maxLogEntries ?? 10_000,
      deadAfter: this.#deadAfter,
      maxQueue: opts.maxQueue ?? 10_000,
      onError: this.#onError,
      ready: this.ready,
      closed: () => this.#closed,
    });
  }

  get #closed(): boolean {
    return this.#state === "closed";
  }

  register(a: BusMember): void {
    this.#server ??= a.nsp.server;
    this.#adapters.set(a.nsp.name, a);
    this.#byUid.set(a.id, a);
  }

  unregister(a: BusMember): void {
    if (this.#adapters.get(a.nsp.name) === a) this.#adapters.delete(a.nsp.name);
    this.#byUid.delete(a.id);
  }

  /** Queues a message (a response when `to` is set) and returns its offset. */
  publish(message: ClusterMessage | ClusterResponse, to?: string): Promise<Offset> {
    return this.#writer.publish(message, to);
  }

  /** The number of live peers (`peers`). */
  async livePeers(): Promise<number> {
    return (await this.peers()).peers;
  }

  /**
   * Publishers other than this one whose record was committed within the dead-publisher
   * window (generous, so that a peer's clock running behind, or a peer stalled for a few
   * heartbeats, still counts), and whether one of them wants relays. A strongly consistent
   * read: a peer whose relay flag was committed before it is counted.
   */
  async peers(): Promise<PeerView> {
    await this.ready;
    const t0 = performance.now();
    // The roster first: a publisher appearing (or turning its relay flag on) after this read
    // changes it, which fails any write fenced on this reading.
    const roster = await this.#kv.get([...this.#p, "roster"]);
    const since = Date.now() - this.#deadAfter;
    let peers = 0;
    let legacy = 0;
    let relay = false;
    for await (const e of this.#kv.list<PubRecord>({ prefix: [...this.#p, "pub"] })) {
      if (e.key.at(-1) === this.#pubId || e.value.t < since) continue;
      peers++;
      if (!e.value.e) legacy++;
      if (e.value.l !== 0) relay = true;
    }
    this.#fence = legacy === 0
      ? { check: { key: roster.key, versionstamp: roster.versionstamp }, peers, relay }
      : null;
    if (this.#closed) return { peers, relay };
    // Alone: take (or keep) the sole-writer term, which moves the roster.
    const taken = await this.term.update({ t0, roster, peers, legacy });
    if (taken) this.#fence = taken;
    return { peers, relay };
  }

  /**
   * Before this instance's first profile write, and before any write after a silence long
   * enough for peers to have counted it gone: makes sure no other instance still serves from a
   * sole-writer term (kv_sole_term.ts). Costs nothing otherwise.
   */
  async beforeWrite(): Promise<void> {
    if (Date.now() - this.#writer.lastCommitAt <= this.#deadAfter / 2) return;
    // A heartbeat of the main namespace: its commit sums the roster after a silence.
    const main = this.#adapters.get("/");
    if (main) {
      await this.publish({ uid: main.id, nsp: "/", type: MessageType.HEARTBEAT } as ClusterMessage);
    }
    await this.settle();
  }

  /**
   * Waits until our roster commit has ended any other instance's term (see `beforeWrite`),
   * then counts the peers (which may start a term of our own).
   */
  async settle(): Promise<void> {
    await this.flush();
    await this.term.settle(performance.now());
    await this.livePeers();
  }

  /**
   * Announces whether this instance wants relays: messages that peers send with
   * `serverSideEmit` for sockets the adapter cannot reach (they may skip them when no live
   * peer wants them, see `peers`). On: resolves once peers reading after it see it.
   */
  wantRelay(on: boolean): Promise<void> {
    return this.#writer.wantRelay(on);
  }

  /**
   * What the last `peers` found, with a check of the roster to add to a write, so that the
   * write commits only while it still holds (no publisher appeared or turned its relay flag on
   * since): the peers alive then, all of them summing the store's profile epoch (see
   * lib/store/kv_head_cache.ts), and whether one wanted relays. Null when a peer of an earlier
   * version was alive, or nothing was counted lately; then ask `peers` after the write.
   */
  fence(): BusFence | null {
    return this.#fence;
  }

  /** Resolves once everything queued so far is committed (or failed). */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /**
   * The messages that broadcasting `broadcasts` in namespace `nsp` (and `serverSideEmit` of
   * `serverSide`, when given) publishes, as this instance's adapter of `nsp` would, to be
   * committed in another writer's operation instead (`BusCargo.ride`), e.g. with the data they
   * carry; the caller then emits to this instance's sockets only. Null when `nsp` has no
   * adapter here, or the messages would not fit in one commit.
   */
  cargo(nsp: string, broadcasts: Broadcast[], serverSide?: unknown[]): BusCargo | null {
    const a = this.#adapters.get(nsp);
    if (!a || this.#state !== "open" || !broadcasts.length) return null;
    const uid = a.id;
    const messages = broadcasts.map((b) =>
      encode({
        uid,
        nsp,
        type: MessageType.BROADCAST,
        data: {
          // socket.io's EVENT packet and encoded broadcast options (ClusterAdapter.broadcast).
          packet: { type: 2, data: [b.event, b.payload] },
          opts: { rooms: b.rooms, except: b.except ?? [], flags: {} },
        },
      } as ClusterMessage)
    );
    if (serverSide) {
      messages.push(
        encode({ uid, nsp, type: MessageType.SERVER_SIDE_EMIT, data: { packet: serverSide } }),
      );
    }
    const cargo = new BusCargo(this.#writer, messages);
    return cargo.bytes > BATCH_BYTES ? null : cargo;
  }

  async close(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "closing";
    await this.ready;
    await this.term.end();
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
    this.#timers.push(setInterval(() => this.#writer.cleanup(), every));
    // Peers that went away: recounted now and then, so a lone instance stops writing the bus
    // (and takes the sole-writer term).
    this.#timers.push(setInterval(() => {
      this.livePeers().catch((err) => this.#state === "open" && this.#onError(err));
    }, every));
    // A term's lease is renewed well before it runs out; a moved roster is recounted.
    this.#timers.push(setInterval(async () => {
      try {
        // Also a term whose lease ran out (this instance stalled): renewed, it serves again.
        if (this.term.held && !(await this.term.renew())) await this.livePeers();
      } catch (err) {
        if (this.#state === "open") this.#onError(err);
      }
    }, TERM_MS / 3));
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
    if (newcomer) {
      this.#fence = null;
      // Its writes must not meet a cache of ours: stop serving now, and tell it so.
      this.term.end().catch(() => {});
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
      let target: BusMember | undefined;
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
  #adoptNsp(name: string): BusMember | undefined {
    const server = this.#server;
    if (!server?._checkNamespace || this.#state !== "open") return;
    server._checkNamespace(name, {}, () => {});
    return this.#adapters.get(name);
  }
}
