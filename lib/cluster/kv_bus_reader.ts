/**
 * The reading side of the Deno KV cluster bus (protocol: kv_adapter.ts): one watch of the head
 * key per instance (and a poll, should a notification be lost), each publisher's log read from
 * this instance's cursor and delivered to the namespace adapters, adopting a peer's child
 * namespace where a parent accepts it.
 */
import { MessageType } from "socket.io-adapter";
import { binaryReviver, concat, decoder, type Header, type Pack } from "./kv_bus_format.ts";
import type { BusMember } from "./kv_bus.ts";

/** What the reader needs of its bus. */
export interface ReaderOptions {
  prefix: Deno.KvKeyPart[];
  pubId: string;
  /** Ms between polls of the head key (0: off). */
  pollMs: number;
  /** Create locally a child namespace that a peer uses (KvAdapterOptions.adoptNamespaces). */
  adopt: boolean;
  onError: (err: unknown) => void;
  /** The bus's adapters by namespace name, and by node id (responses). */
  adapters: ReadonlyMap<string, BusMember>;
  byUid: ReadonlyMap<string, BusMember>;
  /** The socket.io server of the registered adapters (null before the first). */
  // deno-lint-ignore no-explicit-any
  server: () => any;
  /** True while the bus is open (neither closing nor closed). */
  open: () => boolean;
  /** True once the bus is closed. */
  closed: () => boolean;
  /** A publisher appeared after our start (called before the namespaces are announced). */
  onNewcomer: () => void;
}

/** Reads the peers' logs and routes their messages. */
export class KvBusReader {
  #kv: Deno.Kv;
  #o: ReaderOptions;
  #p: Deno.KvKeyPart[];
  #cursors = new Map<string, number>();
  #draining = false;
  #dirty = false;
  #lastHead: string | null = null;
  #watch: ReadableStreamDefaultReader | null = null;
  #pollTimer: ReturnType<typeof setInterval> | undefined;

  constructor(kv: Deno.Kv, o: ReaderOptions) {
    this.#kv = kv;
    this.#o = o;
    this.#p = o.prefix;
  }

  get #closed(): boolean {
    return this.#o.closed();
  }

  /**
   * Starts from "now" (cursors at every publisher's current end), then watches and polls.
   * False when it did not start (the listing failed, or the bus closed meanwhile).
   */
  async start(): Promise<boolean> {
    // Publishing waits for this, so peers' answers to our first heartbeat are after our
    // starting point.
    try {
      for await (const e of this.#kv.list<{ seq: number }>({ prefix: [...this.#p, "pub"] })) {
        this.#cursors.set(e.key.at(-1) as string, e.value.seq);
      }
    } catch (err) {
      if (this.#o.open()) this.#o.onError(err);
      return false;
    }
    if (this.#closed) return false;
    this.#watchLoop();
    if (this.#o.pollMs > 0) this.#pollTimer = setInterval(() => this.#poll(), this.#o.pollMs);
    return true;
  }

  /** Stops polling and watching; a drain in progress finishes its current read. */
  async stop(): Promise<void> {
    clearInterval(this.#pollTimer);
    await this.#watch?.cancel().catch(() => {});
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
        this.#o.onError(err);
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
      if (!this.#closed) this.#o.onError(err);
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
      if (!this.#closed) this.#o.onError(err);
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
      if (id === this.#o.pubId) continue;
      if (!this.#cursors.has(id)) {
        newcomer = true;
        this.#cursors.set(id, 0); // appeared after our start: all of its log is new to us
      }
      if (end > this.#cursors.get(id)!) reads.push(this.#readPublisher(id, end));
    }
    if (newcomer) this.#o.onNewcomer();
    if (newcomer && this.#o.adopt) {
      for (const a of this.#o.adapters.values()) if (a.nsp.name !== "/") a.announce();
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
      if (h.r !== undefined) target = this.#o.byUid.get(h.r);
      else {
        target = this.#o.adapters.get(h.s);
        if (!target && this.#o.adopt && h.y !== MessageType.ADAPTER_CLOSE) {
          target = this.#adoptNsp(h.s);
        }
      }
      if (!target) return; // a namespace (or requester) that does not exist here
      const text = decoder.decode(bytes);
      target.receive(h.b ? JSON.parse(text, binaryReviver) : JSON.parse(text), h.r !== undefined);
    } catch (err) {
      this.#o.onError(err);
    }
  }

  /**
   * Creates child namespace `name` through the parent namespaces, exactly as a connection to it
   * would (so their rules, e.g. which names and how many, apply to adopted ones too).
   */
  #adoptNsp(name: string): BusMember | undefined {
    const server = this.#o.server();
    if (!server?._checkNamespace || !this.#o.open()) return;
    server._checkNamespace(name, {}, () => {});
    return this.#o.adapters.get(name);
  }
}
