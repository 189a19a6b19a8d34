/**
 * The stdout half of the event log: each entry is encoded as its JSON line when it is emitted,
 * into a byte buffer that the next flush writes. The entry objects then need not live until the
 * flush: a busy connector emits three per pushed user, and held for the flush interval they were
 * a large share of what survived each young-generation GC. Lines are built from the entry's
 * known fields: the same JSON as `JSON.stringify(entry)` (plus the log's connector), in the order
 * id, time, event, instance, connector, identifiers, domain, message, in ~0.19 ms per 300 entries against ~0.45 (measured). Caching
 * each identifiers object's JSON in a WeakMap (a pushed user's three entries share one) was
 * slower in 4 of 4 interleaved bench runs: a WeakMap's entries are ephemerons, which every
 * young-generation GC has to process. Bounded: past `maxBytes` pending, lines are dropped and
 * counted, and the next write says how many.
 */
import type { LogEntry } from "./types.ts";

/** Bytes of the line buffer to start with, and the most kept between flushes. */
const INITIAL_BUFFER = 64 * 1024;
const MAX_KEPT_BUFFER = 1024 * 1024;
/** Pending bytes past which lines are dropped (stdout stalled): ~30,000 lines. */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** Pending JSON lines of event-log entries, as UTF-8. */
export class EventLines {
  readonly #encoder = new TextEncoder();
  #out = new Uint8Array(INITIAL_BUFFER);
  #end = 0;
  /** A written buffer, reused by the next take (flushes run one after another). */
  #spare: Uint8Array<ArrayBuffer> | null = null;
  #dropped = 0;
  #instance = "";
  #instanceJson = '""';

  /** `"connector":"<id>"` of every line, quoted once (empty: no connector named). */
  readonly #connectorJson: string;

  /**
   * `connector`: the connector whose entries these are, written in every line after the
   * instance, so a deployment's one stdout tells its connectors apart.
   */
  constructor(private readonly maxBytes = MAX_PENDING_BYTES, connector?: string) {
    this.#connectorJson = connector === undefined
      ? ""
      : `,"connector":${JSON.stringify(connector)}`;
  }

  /** Appends `e`'s line. */
  add(e: LogEntry): void {
    this.#append(this.#line(e));
  }

  /**
   * The pending lines (with a line counting those dropped, if any), or null when there are none.
   * The buffer is the caller's until it hands it back with `release`.
   */
  take(): Uint8Array<ArrayBuffer> | null {
    if (this.#dropped) {
      const dropped = this.#dropped;
      this.#dropped = 0;
      this.#append(JSON.stringify({ time: new Date().toISOString(), dropped }), true);
    }
    if (!this.#end) return null;
    const taken = this.#out.subarray(0, this.#end);
    this.#out = this.#spare ?? new Uint8Array(INITIAL_BUFFER);
    this.#spare = null;
    this.#end = 0;
    return taken;
  }

  /** Hands back a buffer from `take` once it is written. */
  release(taken: Uint8Array<ArrayBuffer>): void {
    if (taken.buffer.byteLength <= MAX_KEPT_BUFFER) this.#spare = new Uint8Array(taken.buffer);
  }

  /** `JSON.stringify(e)`, from its known fields. */
  #line(e: LogEntry): string {
    // id, time and event are the log's own ASCII (a time-ordered id, an ISO time, a name of the
    // vocabulary); the instance name is configured, and quoted once.
    if (e.instance !== this.#instance) {
      this.#instance = e.instance;
      this.#instanceJson = JSON.stringify(e.instance);
    }
    let line =
      `{"id":"${e.id}","time":"${e.time}","event":"${e.event}","instance":${this.#instanceJson}` +
      this.#connectorJson;
    if (e.identifiers !== undefined) line += `,"identifiers":${JSON.stringify(e.identifiers)}`;
    if (e.domain !== undefined) line += `,"domain":${JSON.stringify(e.domain)}`;
    if (e.message !== undefined) line += `,"message":${JSON.stringify(e.message)}`;
    return line + "}";
  }

  #append(text: string, always = false): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const need = this.#end + text.length * 3 + 1;
    if (need > this.maxBytes && !always) {
      this.#dropped++;
      return;
    }
    if (need > this.#out.length) {
      const grown = new Uint8Array(Math.max(need, this.#out.length * 2));
      grown.set(this.#out.subarray(0, this.#end));
      this.#out = grown;
    }
    const { written } = this.#encoder.encodeInto(text, this.#out.subarray(this.#end));
    this.#out[this.#end + written] = 10;
    this.#end += written + 1;
  }
}
