/**
 * The Deno KV cluster bus of one instance (protocol: kv_adapter.ts): its options, the
 * namespace adapters it routes to, and its lifecycle (start, timers, close), over its parts:
 * kv_bus_reader.ts (watch and read the peers' logs), kv_bus_writer.ts (this instance's log),
 * kv_bus_peers.ts (live peers and the roster fence), kv_bus_cargo.ts (messages committed in
 * another writer's operation) and kv_sole_term.ts (the sole-writer term).
 */
import {
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Offset,
} from "socket.io-adapter";
import { BATCH_BYTES } from "./kv_bus_format.ts";
import { type Broadcast, BusCargo, cargoMessages } from "./kv_bus_cargo.ts";
import { type BusFence, PeerCount, type PeerView } from "./kv_bus_peers.ts";
import { KvBusReader } from "./kv_bus_reader.ts";
import { KvBusWriter } from "./kv_bus_writer.ts";
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
  #retention: number;
  #deadAfter: number;
  #onError: (err: unknown) => void;
  #pubId = crypto.randomUUID();
  #adapters = new Map<string, BusMember>();
  #byUid = new Map<string, BusMember>();
  // deno-lint-ignore no-explicit-any
  #server: any = null;
  #state: "open" | "closing" | "closed" = "open";
  #writer: KvBusWriter;
  #reader: KvBusReader;
  #peers: PeerCount;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** This instance's sole-writer term (kv_sole_term.ts). */
  readonly term: SoleTerm;

  constructor(kv: Deno.Kv, opts: KvAdapterOptions) {
    const prefix = opts.prefix ?? ["sio"];
    this.#retention = opts.logRetention ?? 60_000;
    // A live publisher commits at least every heartbeatInterval (heartbeats), so a record
    // older than this belongs to a dead one.
    this.#deadAfter = Math.max(this.#retention, 2 * (opts.heartbeatTimeout ?? 10_000));
    this.#onError = opts.onError ?? ((err) => console.error("kv adapter:", err));
    this.term = new SoleTerm(kv, prefix, this.#pubId);
    const closed = () => this.#closed;
    this.#peers = new PeerCount(kv, {
      prefix,
      pubId: this.#pubId,
      deadAfter: this.#deadAfter,
      term: this.term,
      closed,
      onError: (err) => this.#state === "open" && this.#onError(err),
    });
    this.#reader = new KvBusReader(kv, {
      prefix,
      pubId: this.#pubId,
      pollMs: opts.pollInterval ?? 1_000,
      adopt: opts.adoptNamespaces ?? true,
      onError: this.#onError,
      adapters: this.#adapters,
      byUid: this.#byUid,
      server: () => this.#server,
      open: () => this.#state === "open",
      closed,
      onNewcomer: () => {
        this.#peers.drop();
        // Its writes must not meet a cache of ours: stop serving now, and tell it so.
        this.term.end().catch(() => {});
      },
    });
    this.ready = this.#start();
    this.#writer = new KvBusWriter(kv, {
      prefix,
      pubId: this.#pubId,
      retention: this.#retention,
      maxEntries: opts.maxLogEntries ?? 10_000,
      deadAfter: this.#deadAfter,
      maxQueue: opts.maxQueue ?? 10_000,
      onError: this.#onError,
      ready: this.ready,
      closed,
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
   * window, and whether one of them wants relays (PeerCount.read); alone, this instance takes
   * (or keeps) the sole-writer term.
   */
  async peers(): Promise<PeerView> {
    await this.ready;
    return this.#peers.read();
  }

  /**
   * Before this instance's first profile write, and before any write after a silence long
   * enough for peers to have counted it gone: makes sure no other instance still serves from a
   * sole-writer term (kv_sole_term.ts). Costs nothing otherwise.
   */
  async beforeWrite(): Promise<void> {
    const recent = () => Date.now() - this.#writer.lastCommitAt <= this.#deadAfter / 2;
    if (recent()) return;
    // A heartbeat (of the main namespace, as its adapter sends them): its commit refreshes our
    // record and sums the roster after a silence, which is what ends another instance's term.
    const a = this.#adapters.get("/") ?? this.#adapters.values().next().value;
    if (a) {
      await this.publish({ uid: a.id, nsp: a.nsp.name, type: MessageType.HEARTBEAT });
      await this.flush();
    }
    // Not announced (no namespace, or the commit failed): writing now could meet a peer's
    // cache, so the write fails and its sender retries.
    if (!recent()) throw new Error("kv adapter: could not announce this instance before a write");
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
    return this.#peers.fence();
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
    const cargo = new BusCargo(this.#writer, cargoMessages(a.id, nsp, broadcasts, serverSide));
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
    await this.#reader.stop();
    // A drain in progress finishes its current read; nothing is delivered afterwards.
  }

  /** Starts reading from "now" (publishing waits for it), then the periodic work. */
  async #start(): Promise<void> {
    if (!(await this.#reader.start())) return;
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
}
