/**
 * Connector events (DESIGN §3.5): the live log vocabulary, written as JSON lines to stdout and
 * kept (bounded) in the store for the dashboard. Entries are buffered and flushed in batches
 * so logging never blocks a push; identifiers arrive here already masked.
 *
 * Stdout gets every entry. The store gets at most `storeRatePerSecond` a second (bursts up to
 * STORE_BURST): it keeps only the newest EVENT_LOG_LIMIT entries anyway, and the dashboard
 * reads a few hundred a second, so a busy connector (three entries per pushed user) would
 * otherwise spend most of its store writes on entries deleted moments later. Errors are kept
 * first, then the newest of the rest. The store is written at most every `storeIntervalMs`
 * (stdout every flush): each write is a commit the webhooks' and sockets' store round trips
 * queue behind (on a local KV file, an fsync), and other instances' dashboards can wait a
 * second.
 */
import type { LogEntry, Store } from "./store/store.ts";

export const CONNECTOR_EVENTS = [
  "incoming.connection.start",
  "incoming.connection.error",
  "incoming.connection.success",
  "incoming.user.join-channel",
  "incoming.user.fetch.start",
  "incoming.user.fetch.success",
  "incoming.user.fetch.error",
  "incoming.user.start",
  "outgoing.user.start",
  "outgoing.user.success",
  "outgoing.user.skip",
  "outgoing.user.error",
  "outgoing.user.fetch.error",
] as const;
export type ConnectorEvent = typeof CONNECTOR_EVENTS[number];

export interface EventDetails {
  identifiers?: Record<string, string>;
  domain?: string;
  message?: string;
}

export interface EventLogOptions {
  instance: string;
  /** Write JSON lines to stdout (off in tests). */
  stdout?: boolean;
  /** Milliseconds between flushes. */
  flushIntervalMs?: number;
  /** Most entries buffered before the oldest are dropped (the store must not be outrun). */
  maxBuffered?: number;
  /** Entries per second kept in the store (default 500). */
  storeRatePerSecond?: number;
  /** Least milliseconds between two store writes of timed flushes (default 1,000). */
  storeIntervalMs?: number;
  /** Counts entries left out of the store (the dashboard shows counters). */
  counters?: { inc(name: string, by?: number): void };
}

/** Entries the store may take at once after a quiet spell. */
const STORE_BURST = 2_000;
const isError = (e: LogEntry) => e.event.endsWith(".error");

/** Bytes of the stdout buffer to start with, and the most kept between flushes. */
const INITIAL_BUFFER = 64 * 1024;
const MAX_KEPT_BUFFER = 1024 * 1024;

/** Buffered event log; call `close()` to flush the rest on shutdown. */
export class EventLog {
  #buffer: LogEntry[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Entries kept for the store, waiting for its next write. */
  #toStore: LogEntry[] = [];
  #storedAt = -Infinity;
  #storeTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #listeners = new Set<(e: LogEntry) => void>();
  #dropped = 0;
  #notStored = 0;
  #tokens = STORE_BURST;
  #refilledAt = performance.now();
  #seq = 0;
  readonly #tag = crypto.randomUUID().slice(0, 8);
  readonly #encoder = new TextEncoder();
  /** Where stdout lines are encoded (see #toStdout). */
  #out = new Uint8Array(INITIAL_BUFFER);

  constructor(private readonly store: Store, private readonly opts: EventLogOptions) {}

  /** Records one event; never throws and never waits. */
  emit(event: ConnectorEvent, details: EventDetails = {}): void {
    this.emitMany(event, [details]);
  }

  /**
   * Records one `event` per entry of `list` (a batch's users): one clock read, one timestamp
   * string and one flush check for all of them. Never throws and never waits.
   */
  emitMany(event: ConnectorEvent, list: readonly EventDetails[]): void {
    if (!list.length) return;
    const now = Date.now();
    const time = new Date(now).toISOString();
    const prefix = `${now.toString().padStart(15, "0")}-`;
    const suffix = `-${this.#tag}`;
    const max = this.opts.maxBuffered ?? 10_000;
    const listeners = this.#listeners.size ? [...this.#listeners] : undefined;
    for (const details of list) {
      const entry: LogEntry = {
        // Time-ordered and unique across instances, so readers can page and de-duplicate.
        id: prefix + (this.#seq++ % 1e6).toString().padStart(6, "0") + suffix,
        time,
        event,
        instance: this.opts.instance,
        ...details,
      };
      if (this.#buffer.length >= max) {
        this.#buffer.shift();
        this.#dropped++;
      }
      this.#buffer.push(entry);
      if (listeners) this.#notify(listeners, entry);
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flush(false);
    }, this.opts.flushIntervalMs ?? 100);
  }

  #notify(listeners: ((e: LogEntry) => void)[], entry: LogEntry): void {
    for (const l of listeners) {
      try {
        l(entry);
      } catch {
        // a broken listener must not break logging
      }
    }
  }

  /** Live subscription (dashboard); returns an unsubscribe function. */
  subscribe(listener: (e: LogEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes buffered entries to stdout and the store. */
  flush(): Promise<void> {
    return this.#flush(true);
  }

  /** `toStore`: write the store now, else only once `storeIntervalMs` has passed. */
  #flush(toStore: boolean): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const batch = this.#buffer;
      this.#buffer = [];
      if (batch.length) await this.#toStdout(batch);
      this.#toStore.push(...this.#withinRate(batch));
      if (!this.#toStore.length) return;
      const wait = this.#storedAt + (this.opts.storeIntervalMs ?? 1_000) - performance.now();
      if (!toStore && wait > 0) {
        this.#storeTimer ??= setTimeout(() => {
          this.#storeTimer = undefined;
          this.#flush(true);
        }, wait);
        return;
      }
      const kept = this.#toStore;
      this.#toStore = [];
      this.#storedAt = performance.now();
      try {
        await this.store.appendEvents(kept);
      } catch (err) {
        console.error(`event log: could not store ${kept.length} entries: ${err}`);
      }
    });
    return this.#flushing;
  }

  async #toStdout(batch: LogEntry[]): Promise<void> {
    if (this.opts.stdout === false) return;
    // Each line is encoded straight into one reused buffer: a busy connector logs hundreds of
    // entries per batch, and a joined string plus its encoded copy were a fifth of what a
    // webhook allocated. Flushes run one after another, so the buffer is never shared.
    let end = 0;
    for (const e of batch) end = this.#line(JSON.stringify(e), end);
    if (this.#dropped) {
      end = this.#line(
        JSON.stringify({ time: new Date().toISOString(), dropped: this.#dropped }),
        end,
      );
      this.#dropped = 0;
    }
    try {
      await writeAll(Deno.stdout, this.#out.subarray(0, end));
    } catch {
      // stdout closed (e.g. piped to a dead process): keep serving
    }
    if (this.#out.length > MAX_KEPT_BUFFER) this.#out = new Uint8Array(INITIAL_BUFFER);
  }

  /** Appends `text` and a newline to the stdout buffer at `at`; returns the new end. */
  #line(text: string, at: number): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const need = at + text.length * 3 + 1;
    if (need > this.#out.length) {
      const grown = new Uint8Array(Math.max(need, this.#out.length * 2));
      grown.set(this.#out.subarray(0, at));
      this.#out = grown;
    }
    const { written } = this.#encoder.encodeInto(text, this.#out.subarray(at));
    this.#out[at + written] = 10;
    return at + written + 1;
  }

  /** Entries left out of the store (not of stdout) by the rate limit so far. */
  get notStored(): number {
    return this.#notStored;
  }

  /** The entries of `batch` the store takes now: errors first, then the newest. */
  #withinRate(batch: LogEntry[]): LogEntry[] {
    const now = performance.now();
    const rate = this.opts.storeRatePerSecond ?? 500;
    this.#tokens = Math.min(STORE_BURST, this.#tokens + (now - this.#refilledAt) / 1000 * rate);
    this.#refilledAt = now;
    const budget = Math.floor(this.#tokens);
    if (batch.length <= budget) {
      this.#tokens -= batch.length;
      return batch;
    }
    const errors = budget > 0 ? batch.filter(isError).slice(-budget) : [];
    const rest = budget > errors.length
      ? batch.filter((e) => !isError(e)).slice(errors.length - budget)
      : [];
    const keep = new Set([...errors, ...rest]);
    this.#tokens -= keep.size;
    this.#notStored += batch.length - keep.size;
    this.opts.counters?.inc("events_not_stored", batch.length - keep.size);
    return batch.filter((e) => keep.has(e));
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#storeTimer !== undefined) clearTimeout(this.#storeTimer);
    this.#timer = this.#storeTimer = undefined;
    await this.flush();
  }
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}
