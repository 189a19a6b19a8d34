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
 *   [...prefix, "pub", pubId]           { seq, t, e, l }: last committed sequence number of a
 *                                       publisher, commit time, flags (kv_bus_format.ts PubRecord)
 *   [...prefix, "log", pubId, seq]      Header { t, s: nsp, y: type, r?: to, b?, n, d? }, or a
 *                                       Pack { t, k: Header[] } of messages up to seq
 *   [...prefix, "log", pubId, seq, i]   part i of a payload larger than PART_BYTES
 *   [...prefix, "roster"]               KvU64 summed by a publisher's first commit (and its first
 *                                       after a long silence): writes fenced on it (KvBus.fence)
 *                                       fail once a peer appeared
 *   [...prefix, "sole"]                 { pubId } of the instance holding the sole-writer term,
 *                                       deleted when the term ends (kv_sole_term.ts)
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
 * Modules: this one (the adapter per namespace and the factory), kv_bus.ts (the bus of one
 * instance: routing by namespace, lifecycle), kv_bus_reader.ts (watching the head, reading and
 * delivering the peers' logs), kv_bus_writer.ts (this instance's log), kv_bus_relay.ts (its
 * relay flag), kv_bus_cleanup.ts (pruning the logs), kv_bus_peers.ts (counting live peers, the
 * roster fence), kv_bus_cargo.ts (broadcasts committed in another writer's operation),
 * kv_bus_format.ts (values), kv_sole_term.ts (the lease under which a lone instance answers
 * identifies from memory).
 *
 * Cargo. Broadcasts may also be committed in another writer's atomic operation (`cargo`, e.g.
 * with the profiles they carry: one commit instead of two). The writer numbers them when the
 * ride is asked for, after everything published before, and commits nothing else until that
 * operation has committed or failed; so the log stays complete up to the recorded `seq`, and a
 * failed ride leaves only a gap of numbers never written, like a lost batch.
 *
 * Relays. A publisher's record also carries its relay flag (`wantRelay`): whether it holds
 * sockets that only a server-side relay reaches (the app's legacy namespaces). It is committed,
 * with a roster bump, before such a socket is admitted, so a peer that reads the records (or
 * holds a fence on the roster) after storing data knows whether a relay is needed for sockets
 * that could not have read that data. A record without the flag (an older version) counts as on.
 *
 * `doPublish` resolves once the message is queued (the offset is known then), so local delivery
 * never waits for KV and still happens when KV fails; a commit error is reported to `onError`.
 */
import {
  type ClusterAdapterOptions,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Offset,
} from "socket.io-adapter";
import { type BusMember, type KvAdapterOptions, KvBus } from "./kv_bus.ts";
import type { Broadcast, BusCargo } from "./kv_bus_cargo.ts";
import type { BusFence, PeerView } from "./kv_bus_peers.ts";
import type { SoleTerm } from "./kv_sole_term.ts";

export type { KvAdapterOptions } from "./kv_bus.ts";
export type { Broadcast, BusCargo } from "./kv_bus_cargo.ts";
export type { BusFence, PeerView } from "./kv_bus_peers.ts";
export { PART_BYTES } from "./kv_bus_format.ts";

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
  /** `livePeers`, and whether one of them wants relays (KvBus.peers). */
  peers(): Promise<PeerView>;
  /** The last count of peers with the check that keeps it true for a write (KvBus.fence). */
  fence(): BusFence | null;
  /** Waits until no other instance serves from a sole-writer term, then counts peers (KvBus.settle). */
  settle(): Promise<void>;
  /** Call before writing profiles (KvBus.beforeWrite). */
  beforeWrite(): Promise<void>;
  /** This instance's sole-writer term (kv_sole_term.ts). */
  readonly term: SoleTerm;
  /** Announces whether this instance wants relays (KvBus.wantRelay). */
  wantRelay(on: boolean): Promise<void>;
  /** Broadcasts to commit with another write (KvBus.cargo). */
  cargo(nsp: string, broadcasts: Broadcast[], serverSide?: unknown[]): BusCargo | null;
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
  factory.peers = () => bus.peers();
  factory.fence = () => bus.fence();
  factory.settle = () => bus.settle();
  factory.beforeWrite = () => bus.beforeWrite();
  Object.defineProperty(factory, "term", { value: bus.term });
  factory.wantRelay = (on) => bus.wantRelay(on);
  factory.cargo = (nsp, broadcasts, serverSide) => bus.cargo(nsp, broadcasts, serverSide);
  return factory;
}

/** One namespace's adapter: hands messages to the bus and takes what the bus routes to it. */
class KvAdapter extends ClusterAdapterWithHeartbeat implements BusMember {
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
