/**
 * How the Deno KV cluster bus stores messages (layout and protocol: kv_adapter.ts): value
 * headers and packs, the split of large payloads into parts, commit budgets, and JSON with
 * binary data tagged as base64.
 */
import { Buffer } from "node:buffer";

/** Bytes of payload per KV value, under the 64 KiB value limit with room for the header. */
export const PART_BYTES = 60_000;
/** Budget of one commit, under KV's 800 KiB / 1,000 mutations per atomic operation. */
export const BATCH_BYTES = 480_000;
export const BATCH_MUTATIONS = 400;
export const DELETE_CHUNK = 500;
/** Bytes counted per packed message for its header fields (nsp, type, time…). */
export const PACK_OVERHEAD = 200;
const BIN = "\u0000bin";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** One message's value (or an entry of a pack): time, namespace, type, to, binary, parts, data. */
export interface Header {
  t: number;
  s: string;
  y: number;
  r?: string;
  b?: 1;
  n: number;
  d?: Uint8Array;
}
/** Consecutive small messages stored as one value; the key carries the last one's seq. */
export interface Pack {
  t: number;
  k: Header[];
}
/** A message encoded for the log, not numbered yet. */
export type Encoded = Omit<Queued, "seq">;

/** A message waiting for its commit. */
export interface Queued {
  seq: number;
  nsp: string;
  type: number;
  to?: string;
  binary: boolean;
  bytes: Uint8Array;
  partsWritten?: boolean;
}

export function partCount(bytes: Uint8Array): number {
  return bytes.length <= PART_BYTES ? 0 : Math.ceil(bytes.length / PART_BYTES);
}

/**
 * How a batch is stored, as ranges of its indexes, each one value: consecutive small messages
 * share one (a pack, keyed by the last one's seq) up to PART_BYTES; a large one has its own (its
 * header, its payload in parts). Keys stay in seq order.
 */
export function layout(batch: { bytes: Uint8Array }[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let start = -1;
  let packBytes = 0;
  const endPack = (end: number) => {
    if (start >= 0) out.push({ start, end });
    start = -1;
    packBytes = 0;
  };
  batch.forEach((q, i) => {
    if (partCount(q.bytes) > 0) {
      endPack(i - 1);
      out.push({ start: i, end: i });
      return;
    }
    if (packBytes + q.bytes.length + PACK_OVERHEAD > PART_BYTES) endPack(i - 1);
    if (start < 0) start = i;
    packBytes += q.bytes.length + PACK_OVERHEAD;
  });
  endPack(batch.length - 1);
  return out;
}

export function partAt(bytes: Uint8Array, i: number): Uint8Array {
  return bytes.slice(i * PART_BYTES, (i + 1) * PART_BYTES);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Retries a commit that threw (transient KV errors); keys are unique, so a retry is idempotent. */
export async function retry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}

/** True when `v` holds binary data (socket.io packets may), which JSON cannot carry as is. */
export function hasBinary(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > 32) return false;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return true;
  if (Array.isArray(v)) return v.some((x) => hasBinary(x, depth + 1));
  for (const x of Object.values(v)) if (hasBinary(x, depth + 1)) return true;
  return false;
}

/** Tags binary values as base64; reads `this[key]` because Buffer's toJSON runs first. */
export function binaryReplacer(
  this: Record<string, unknown>,
  key: string,
  value: unknown,
): unknown {
  const raw = this[key];
  if (raw instanceof ArrayBuffer) return { [BIN]: Buffer.from(raw).toString("base64"), ab: 1 };
  if (ArrayBuffer.isView(raw)) {
    return { [BIN]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64") };
  }
  return value;
}

/** Restores tagged binary: ArrayBuffer stays ArrayBuffer, every view becomes a Uint8Array. */
export function binaryReviver(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const tag = (value as Record<string, unknown>)[BIN];
  if (typeof tag !== "string") return value;
  const bytes = new Uint8Array(Buffer.from(tag, "base64"));
  return (value as { ab?: 1 }).ab ? bytes.buffer : bytes;
}

/**
 * A publisher's record (`[prefix, "pub", id]`): its last sequence number and commit time; `e`:
 * this publisher's version sums the store's profile epoch (lib/store/kv_head_cache.ts); `l`:
 * its relay flag (KvBus.wantRelay), 1: it wants relays, 0: it does not, absent: a version that
 * does not say (so it may).
 */
export interface PubRecord {
  seq: number;
  t: number;
  e?: 1;
  l?: 0 | 1;
}
