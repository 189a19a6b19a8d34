/**
 * The count of live peers of the Deno KV cluster bus (protocol: kv_adapter.ts): publishers
 * whose record is recent, whether one wants relays, and the fence on the roster that a write
 * adds to commit only while that count still holds. Counting alone may take the sole-writer
 * term (kv_sole_term.ts).
 */
import type { PubRecord } from "./kv_bus_format.ts";
import type { SoleTerm } from "./kv_sole_term.ts";

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

/** See `KvBus.fence`. */
export interface BusFence extends PeerView {
  check: Deno.AtomicCheck;
}

/** What the count needs of its bus. */
export interface PeerCountOptions {
  prefix: Deno.KvKeyPart[];
  pubId: string;
  /** Ms after its last commit beyond which a publisher counts as gone. */
  deadAfter: number;
  term: SoleTerm;
  /** True once the bus is closed. */
  closed: () => boolean;
  /** Told of a term that could not be taken or renewed (the count itself stands). */
  onError: (err: unknown) => void;
}

/** Counts live peers and keeps the fence of the last count. */
export class PeerCount {
  #kv: Deno.Kv;
  #o: PeerCountOptions;
  /** See `fence`. */
  #fence: BusFence | null = null;

  constructor(kv: Deno.Kv, o: PeerCountOptions) {
    this.#kv = kv;
    this.#o = o;
  }

  /**
   * Publishers other than this one whose record was committed within the dead-publisher
   * window (generous, so that a peer's clock running behind, or a peer stalled for a few
   * heartbeats, still counts), and whether one of them wants relays. A strongly consistent
   * read: a peer whose relay flag was committed before it is counted.
   */
  async read(): Promise<PeerView> {
    const { prefix: p, pubId, deadAfter, term } = this.#o;
    const t0 = performance.now();
    // The roster first: a publisher appearing (or turning its relay flag on) after this read
    // changes it, which fails any write fenced on this reading.
    const roster = await this.#kv.get([...p, "roster"]);
    const since = Date.now() - deadAfter;
    let peers = 0;
    let legacy = 0;
    let relay = false;
    for await (const e of this.#kv.list<PubRecord>({ prefix: [...p, "pub"] })) {
      if (e.key.at(-1) === pubId || e.value.t < since) continue;
      peers++;
      if (!e.value.e) legacy++;
      if (e.value.l !== 0) relay = true;
    }
    this.#fence = legacy === 0
      ? { check: { key: roster.key, versionstamp: roster.versionstamp }, peers, relay }
      : null;
    if (this.#o.closed()) return { peers, relay };
    // Alone: take (or keep) the sole-writer term, which moves the roster.
    // Failing that only leaves identifies reading KV; the count stands.
    const taken = await term.update({ t0, roster, peers, legacy }).catch((err) => {
      this.#o.onError(err);
      return null;
    });
    if (taken) this.#fence = taken;
    return { peers, relay };
  }

  /** What the last `read` found, with a check of the roster (KvBus.fence); null: none. */
  fence(): BusFence | null {
    return this.#fence;
  }

  /** Forgets the last count's fence: a newcomer appeared since. */
  drop(): void {
    this.#fence = null;
  }
}
