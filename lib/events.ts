/**
 * Connector events (DESIGN §3.5): the live log vocabulary, written as JSON lines to stdout and
 * kept (bounded) in the store for the dashboard. Entries are buffered and flushed in batches
 * so logging never blocks a push; identifiers arrive here already masked.
 */
import type { LogEntry, Store } from "./store.ts";

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
}

/** Buffered event log; call `close()` to flush the rest on shutdown. */
export class EventLog {
  #buffer: LogEntry[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #listeners = new Set<(e: LogEntry) => void>();
  #dropped = 0;
  #seq = 0;
  readonly #tag = crypto.randomUUID().slice(0, 8);
  readonly #encoder = new TextEncoder();

  constructor(private readonly store: Store, private readonly opts: EventLogOptions) {}

  /** Records one event; never throws and never waits. */
  emit(event: ConnectorEvent, details: EventDetails = {}): void {
    const now = Date.now();
    const entry: LogEntry = {
      // Time-ordered and unique across instances, so readers can page and de-duplicate.
      id: `${now.toString().padStart(15, "0")}-${
        (this.#seq++ % 1e6).toString().padStart(6, "0")
      }-${this.#tag}`,
      time: new Date(now).toISOString(),
      event,
      instance: this.opts.instance,
      ...details,
    };
    if (this.#buffer.length >= (this.opts.maxBuffered ?? 10_000)) {
      this.#buffer.shift();
      this.#dropped++;
    }
    this.#buffer.push(entry);
    for (const l of this.#listeners) {
      try {
        l(entry);
      } catch {
        // a broken listener must not break logging
      }
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.opts.flushIntervalMs ?? 100);
  }

  /** Live subscription (dashboard); returns an unsubscribe function. */
  subscribe(listener: (e: LogEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes buffered entries to stdout and the store. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const batch = this.#buffer;
      if (!batch.length) return;
      this.#buffer = [];
      if (this.opts.stdout !== false) {
        let text = batch.map((e) => JSON.stringify(e)).join("\n") + "\n";
        if (this.#dropped) {
          text += JSON.stringify({ time: new Date().toISOString(), dropped: this.#dropped }) +
            "\n";
          this.#dropped = 0;
        }
        try {
          await writeAll(Deno.stdout, this.#encoder.encode(text));
        } catch {
          // stdout closed (e.g. piped to a dead process): keep serving
        }
      }
      try {
        await this.store.appendEvents(batch);
      } catch (err) {
        console.error(`event log: could not store ${batch.length} entries: ${err}`);
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}
