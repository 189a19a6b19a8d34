/**
 * Connector events (docs/contracts.md §6): the live log vocabulary, written as JSON lines to stdout
 * and kept (bounded) in the store for the dashboard. Stdout lines are encoded as entries are
 * emitted (event_lines.ts) and written in batches, so logging never blocks a push; identifiers
 * arrive here already masked.
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
import { EventLines } from "./event_lines.ts";
import type { LogEntry } from "./types.ts";

/** Where entries are kept for the dashboard: the store (its `appendEvents`). */
export interface EventSink {
  appendEvents(entries: LogEntry[]): Promise<void>;
}

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

/**
 * The time and timers that pace the store writes (default: `performance.now` and the global
 * timers; tests drive them by hand). A timer's callback returns its flush, so a hand-driven clock
 * can await it.
 */
export interface EventClock {
  /** Milliseconds, never going back. */
  now(): number;
  setTimeout(fn: () => unknown, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const REAL_CLOCK: EventClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

export interface EventLogOptions {
  instance: string;
  /** The connector whose log this is: stdout lines carry it as `"connector"` (none: left out). */
  connector?: string;
  /** Write JSON lines to stdout (off in tests). */
  stdout?: boolean;
  /** Milliseconds between flushes. */
  flushIntervalMs?: number;
  /**
   * Most entries waiting for the store between flushes, past which the oldest (not errors) are
   * left out (default 10,000).
   */
  maxBuffered?: number;
  /** Entries per second kept in the store (default 500). */
  storeRatePerSecond?: number;
  /** Least milliseconds between two store writes of timed flushes (default 1,000). */
  storeIntervalMs?: number;
  /** Counts entries left out of the store (the dashboard shows counters). */
  counters?: { inc(name: string, by?: number): void };
  /** Time and timers of the flushes and the store's rate (default: the real ones). */
  clock?: EventClock;
}

/** Entries the store may take at once after a quiet spell. */
const STORE_BURST = 2_000;
const isError = (e: LogEntry) => e.event.endsWith(".error");

/** Buffered event log; call `close()` to flush the rest on shutdown. */
export class EventLog {
  /**
   * Candidates for the store since the last flush: errors, and the newest others, as many as its
   * rate could take by the next flush (the rest are counted as not stored at once, so that at
   * full speed almost no entry outlives its emit).
   */
  #errors: LogEntry[] = [];
  #others: LogEntry[] = [];
  #othersCap = STORE_BURST;
  /** Entries left out of the store at emit, counted at the next flush. */
  #skipped = 0;
  #timer: unknown;
  /** Entries kept for the store, waiting for its next write. */
  #toStore: LogEntry[] = [];
  #storedAt = -Infinity;
  #storeTimer: unknown;
  #flushing: Promise<void> = Promise.resolve();
  #listeners = new Set<(e: LogEntry) => void>();
  #notStored = 0;
  #tokens = STORE_BURST;
  #refilledAt: number;
  #seq = 0;
  readonly #tag = crypto.randomUUID().slice(0, 8);
  /** Stdout lines, encoded at emit (null: stdout off). */
  readonly #lines: EventLines | null;
  readonly #clock: EventClock;

  constructor(private readonly store: EventSink, private readonly opts: EventLogOptions) {
    this.#clock = opts.clock ?? REAL_CLOCK;
    this.#refilledAt = this.#clock.now();
    this.#lines = opts.stdout === false ? null : new EventLines(undefined, opts.connector);
  }

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
    // What the store could take by the next flush: its tokens now and the refill until then.
    const rate = this.opts.storeRatePerSecond ?? 500;
    const soon = this.#clock.now() - this.#refilledAt + (this.opts.flushIntervalMs ?? 100);
    const cap = Math.min(max, STORE_BURST, Math.ceil(this.#tokens + soon / 1000 * rate));
    this.#othersCap = cap;
    const listeners = this.#listeners.size ? [...this.#listeners] : undefined;
    const lines = this.#lines;
    for (const details of list) {
      const entry: LogEntry = {
        // Time-ordered and unique across instances, so readers can page and de-duplicate.
        id: prefix + (this.#seq++ % 1e6).toString().padStart(6, "0") + suffix,
        time,
        event,
        instance: this.opts.instance,
        ...details,
      };
      lines?.add(entry);
      if (isError(entry)) {
        if (this.#errors.length >= max) {
          this.#errors.shift();
          this.#skipped++;
        }
        this.#errors.push(entry);
      } else {
        this.#others.push(entry);
      }
      if (listeners) this.#notify(listeners, entry);
    }
    // Trimmed in steps (at twice the cap), not one shift per entry.
    if (this.#others.length > 2 * cap) {
      const over = this.#others.length - cap;
      this.#others.splice(0, over);
      this.#skipped += over;
    }
    this.#timer ??= this.#clock.setTimeout(() => {
      this.#timer = undefined;
      return this.#flush(false);
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
      await this.#toStdout();
      const batch = this.#candidates();
      if (batch.length || this.#skipped) this.#toStore.push(...this.#withinRate(batch));
      if (!this.#toStore.length) return;
      const wait = this.#storedAt + (this.opts.storeIntervalMs ?? 1_000) - this.#clock.now();
      if (!toStore && wait > 0) {
        this.#storeTimer ??= this.#clock.setTimeout(() => {
          this.#storeTimer = undefined;
          return this.#flush(true);
        }, wait);
        return;
      }
      const kept = this.#toStore;
      this.#toStore = [];
      this.#storedAt = this.#clock.now();
      try {
        await this.store.appendEvents(kept);
      } catch (err) {
        console.error(`event log: could not store ${kept.length} entries: ${err}`);
      }
    });
    return this.#flushing;
  }

  async #toStdout(): Promise<void> {
    const taken = this.#lines?.take();
    if (!taken) return;
    try {
      await writeAll(Deno.stdout, taken);
    } catch {
      // stdout closed (e.g. piped to a dead process): keep serving
    }
    this.#lines!.release(taken);
  }

  /** The store's candidates since the last flush, in the order they were emitted. */
  #candidates(): LogEntry[] {
    const errors = this.#errors;
    let others = this.#others;
    this.#errors = [];
    this.#others = [];
    if (others.length > this.#othersCap) {
      this.#skipped += others.length - this.#othersCap;
      others = others.slice(others.length - this.#othersCap);
    }
    if (!errors.length) return others;
    if (!others.length) return errors;
    // Merged by id (time-ordered), as they were emitted.
    const out: LogEntry[] = [];
    let i = 0, j = 0;
    while (i < errors.length || j < others.length) {
      if (j >= others.length || (i < errors.length && errors[i].id! < others[j].id!)) {
        out.push(errors[i++]);
      } else out.push(others[j++]);
    }
    return out;
  }

  /** Entries left out of the store (not of stdout) by the rate limit so far. */
  get notStored(): number {
    return this.#notStored;
  }

  /** The entries of `batch` the store takes now: errors first, then the newest. */
  #withinRate(batch: LogEntry[]): LogEntry[] {
    const now = this.#clock.now();
    const rate = this.opts.storeRatePerSecond ?? 500;
    this.#tokens = Math.min(STORE_BURST, this.#tokens + (now - this.#refilledAt) / 1000 * rate);
    this.#refilledAt = now;
    const budget = Math.floor(this.#tokens);
    const skipped = this.#skipped;
    this.#skipped = 0;
    if (batch.length <= budget) {
      this.#tokens -= batch.length;
      if (skipped) this.#countNotStored(skipped);
      return batch;
    }
    const errors = budget > 0 ? batch.filter(isError).slice(-budget) : [];
    const rest = budget > errors.length
      ? batch.filter((e) => !isError(e)).slice(errors.length - budget)
      : [];
    const keep = new Set([...errors, ...rest]);
    this.#tokens -= keep.size;
    this.#countNotStored(skipped + batch.length - keep.size);
    return batch.filter((e) => keep.has(e));
  }

  #countNotStored(n: number): void {
    this.#notStored += n;
    this.opts.counters?.inc("events_not_stored", n);
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#storeTimer !== undefined) this.#clock.clearTimeout(this.#storeTimer);
    this.#timer = this.#storeTimer = undefined;
    await this.flush();
  }
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}
