/**
 * The live log's feed: one poller per instance and connector reads that connector's shared
 * event log in the store (its scope) and hands new entries to every open stream (dashboard
 * tab) of that connector, instead of each stream polling the store on its own. Streams are
 * capped per session and per instance whatever their connector, each buffers at most
 * STREAM_BUFFER entries, and a closed stream frees everything it held.
 */
import type { LogEntry, Store } from "../store/store.ts";

/** Live-log streams one admin session may hold open (tabs). */
export const MAX_STREAMS_PER_SESSION = 3;
/** Live-log streams one instance serves at once. */
export const MAX_STREAMS = 30;
/** Entries a slow stream may have waiting; older ones are dropped. */
const STREAM_BUFFER = 500;
const POLL_MS = 500;

/** One open stream: entries newer than what it has shown, in order. */
export class LogSubscription {
  #queue: LogEntry[] = [];
  #wake: (() => void) | null = null;
  closed = false;

  constructor(
    readonly session: string,
    /** Id of the newest entry handed to this stream. */
    public after: string,
    private readonly onClose: (s: LogSubscription) => void,
    /** The log this stream follows (a connector's store scope). */
    readonly source: Store,
  ) {}

  /** Queues the entries newer than this stream's cursor, from `recent` (newest first). */
  offer(recent: LogEntry[]): void {
    if (this.closed) return;
    const fresh: LogEntry[] = [];
    for (const e of recent) {
      if ((e.id ?? "") <= this.after) break;
      fresh.push(e);
    }
    if (!fresh.length) return;
    this.after = fresh[0].id ?? this.after;
    this.#queue.push(...fresh.reverse());
    if (this.#queue.length > STREAM_BUFFER) {
      this.#queue.splice(0, this.#queue.length - STREAM_BUFFER);
    }
    this.#wake?.();
  }

  /** Waits up to `ms` for entries; resolves with what is queued (maybe none). */
  async next(ms: number): Promise<LogEntry[]> {
    if (!this.#queue.length && !this.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
    const out = this.#queue;
    this.#queue = [];
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.#wake?.();
    this.onClose(this);
  }
}

/** Fans each connector's shared event log out to the open streams of this instance. */
export class LogFeed {
  #subs = new Set<LogSubscription>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #polling = false;

  /** `store`: the log streams follow unless `open` names another (the standalone connector's). */
  constructor(private readonly store: Store) {}

  /** Open streams on this instance. */
  get size(): number {
    return this.#subs.size;
  }

  /**
   * Opens a stream for `session` that gets entries of `source` (a connector's store scope)
   * newer than `after`; null when the session or the instance is at its cap.
   */
  open(session: string, after = "", source: Store = this.store): LogSubscription | null {
    if (this.#subs.size >= MAX_STREAMS) return null;
    let mine = 0;
    for (const s of this.#subs) if (s.session === session) mine++;
    if (mine >= MAX_STREAMS_PER_SESSION) return null;
    const sub = new LogSubscription(session, after, (s) => {
      this.#subs.delete(s);
      this.#idle();
    }, source);
    this.#subs.add(sub);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#poll(), POLL_MS);
      this.#poll();
    }
    return sub;
  }

  /** Closes the streams of `source` (a removed connector's scope). */
  closeSource(source: Store): void {
    for (const s of [...this.#subs]) if (s.source === source) s.close();
  }

  /** Closes every stream (shutdown). */
  close(): void {
    for (const s of [...this.#subs]) s.close();
  }

  #idle(): void {
    if (this.#subs.size || this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      // One read of each followed log per instance, whatever the number of its streams.
      const bySource = new Map<Store, LogSubscription[]>();
      for (const s of this.#subs) {
        bySource.set(s.source, [...bySource.get(s.source) ?? [], s]);
      }
      await Promise.all([...bySource].map(async ([source, subs]) => {
        try {
          const recent = await source.listEvents(200);
          for (const s of subs) s.offer(recent);
        } catch {
          // The store is away for a moment (or the connector was just removed): the next
          // poll catches up.
        }
      }));
    } finally {
      this.#polling = false;
    }
  }
}
