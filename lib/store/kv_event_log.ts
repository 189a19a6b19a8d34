/**
 * The connector's event log in Deno KV (the live log's history, shared by all instances):
 * entries stored in JSON chunks (`K.events`, keyed by the id of the chunk's newest entry), listed
 * newest first across instances, and pruned to the newest EVENT_LOG_LIMIT entries.
 */
import type { KvKeys } from "./kv_keys.ts";
import { commit } from "./kv_retry.ts";
import { EVENT_LOG_LIMIT, type LogEntry } from "./store.ts";

const EVENT_TTL_MS = 7 * 24 * 3600_000;
/**
 * JSON bytes of events per stored chunk: a flush of hundreds of entries is a few KV values, not
 * hundreds (KV's cost is per value written and deleted, and a busy connector logs thousands of
 * entries a second).
 */
const EVENT_CHUNK_BYTES = 40_000;

/** Several log entries stored as one value: their count, and their JSON array as UTF-8. */
interface EventChunk {
  n: number;
  json: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const countOf = (v: EventChunk | LogEntry): number => "json" in v ? v.n : 1;
// A plain LogEntry per value in logs written by earlier versions.
const entriesOf = (v: EventChunk | LogEntry): LogEntry[] =>
  "json" in v ? JSON.parse(decoder.decode(v.json)) : [v];

/** One instance's handle on the shared event log. */
export class KvEventLog {
  #eventSeq = 0;
  #appendsSincePrune = 0;

  constructor(private readonly kv: Deno.Kv, private readonly K: KvKeys) {}

  /** Stores `entries` (ids assigned where missing), pruning now and then. */
  async append(entries: LogEntry[]): Promise<void> {
    if (!entries.length) return;
    const stamped = entries.map((e) => e.id ? e : { ...e, id: this.#eventId(e) })
      .sort((x, y) => x.id! < y.id! ? -1 : x.id! > y.id! ? 1 : 0);
    // Stored as JSON bytes: cheap for KV to write, read and skip (prunes only need `n`).
    const chunks: { last: string; json: string[] }[] = [];
    let bytes = Infinity;
    for (const e of stamped) {
      const json = JSON.stringify(e);
      if (bytes + json.length > EVENT_CHUNK_BYTES) {
        chunks.push({ last: e.id!, json: [] });
        bytes = 0;
      }
      chunks.at(-1)!.json.push(json);
      chunks.at(-1)!.last = e.id!;
      bytes += json.length;
    }
    // At most 10 chunks (~400 KB) per atomic operation, below KV's 800 KiB.
    for (let i = 0; i < chunks.length; i += 10) {
      const op = this.kv.atomic();
      for (const c of chunks.slice(i, i + 10)) {
        const value: EventChunk = {
          n: c.json.length,
          json: encoder.encode(`[${c.json.join(",")}]`),
        };
        op.set([...this.K.events, c.last], value, { expireIn: EVENT_TTL_MS });
      }
      await commit(op);
    }
    this.#appendsSincePrune += entries.length;
    if (this.#appendsSincePrune >= 200) {
      this.#appendsSincePrune = 0;
      await this.#prune();
    }
  }

  /** The newest `limit` entries, newest first. */
  async list(limit: number): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    let kth = "";
    const newestFirst = (x: LogEntry, y: LogEntry) => x.id! < y.id! ? 1 : x.id! > y.id! ? -1 : 0;
    for await (
      const c of this.kv.list<EventChunk | LogEntry>({ prefix: this.K.events }, { reverse: true })
    ) {
      // A chunk holds entries no newer than its key: once `limit` entries newer than this key
      // are in hand, nothing older can make the cut.
      if (out.length >= limit && (c.key[1] as string) < kth) break;
      for (const e of entriesOf(c.value)) out.push(e.id ? e : { ...e, id: c.key[1] as string });
      if (out.length >= limit) kth = out.sort(newestFirst)[limit - 1].id!;
    }
    return out.sort(newestFirst).slice(0, limit);
  }

  /** Time-ordered and unique across instances: ms timestamp, local sequence, random tail. */
  #eventId(entry: LogEntry): string {
    const ms = Date.parse(entry.time) || Date.now();
    const seq = (this.#eventSeq++ % 1_000_000).toString().padStart(6, "0");
    return `${ms.toString().padStart(15, "0")}-${seq}-${crypto.randomUUID().slice(0, 8)}`;
  }

  /**
   * Keeps the newest EVENT_LOG_LIMIT entries (whole chunks: between the limit and one chunk
   * more), reading the whole log: a few dozen chunks, about once a second when busy (the event
   * log writes to the store about once a second, lib/events.ts).
   */
  async #prune(): Promise<void> {
    const stale: Deno.KvKey[] = [];
    let kept = 0;
    const chunks = this.kv.list<EventChunk | LogEntry>({ prefix: this.K.events }, {
      reverse: true,
    });
    for await (const c of chunks) {
      if (kept >= EVENT_LOG_LIMIT) stale.push(c.key);
      else kept += countOf(c.value);
    }
    for (let i = 0; i < stale.length; i += 500) {
      const op = this.kv.atomic();
      for (const key of stale.slice(i, i + 500)) op.delete(key);
      await commit(op);
    }
  }
}
