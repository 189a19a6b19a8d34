/**
 * How one profile is stored in Deno KV: a head record (the JSON inline, or the count and
 * revision of its parts, with `updated_at` and the index keys written with it) and, above
 * PART_BYTES, parts written in the same atomic operation. KV values are limited to 64 KiB.
 * Reading a head back into a profile, and adding one version's mutations to a commit.
 */
import type { KvKeys } from "./kv_keys.ts";
import type { ProfileWrite, StoredProfile } from "./store.ts";

/** Bytes of JSON per part; below KV's 64 KiB value limit with room for serialization overhead. */
export const PART_BYTES = 60_000;
/** Parts of one profile: all are written in one atomic operation (at most 800 KiB). */
export const MAX_PARTS = 12;
/**
 * Identifiers of one user written with its profile in one operation and remembered in its head
 * (`ik`); a user with more (hundreds of anonymous ids) has its index written in commits of its
 * own.
 */
export const INLINE_INDEX_KEYS = 200;

/**
 * A profile's JSON is stored as UTF-8 bytes so its size in KV is known exactly; `ik`: the
 * identity-index keys written with this version (absent in older heads).
 */
export type ProfileHead =
  & ({ inline: Uint8Array } | { parts: number; rev: string })
  & { updated_at: number; ik?: string[] };

/** A write with its profile's JSON encoded (its size decides inline, parts or rejected). */
export type Encoded = ProfileWrite & { json: Uint8Array };

/** What a write needs of the current head: its versionstamp (checked) and metadata. */
type Meta = { updated_at: number; ik?: string[]; rev?: string; parts?: number };
export type HeadMeta = Deno.KvEntryMaybe<Meta>;

const decoder = new TextDecoder();

/** The profile a head read describes (its parts read when it has any). */
export async function readProfile(
  kv: Deno.Kv,
  K: KvKeys,
  userId: string,
  head: Deno.KvEntryMaybe<ProfileHead>,
): Promise<StoredProfile | null> {
  if (!head.value) return null;
  if ("inline" in head.value) return JSON.parse(decoder.decode(head.value.inline));
  const { parts, rev } = head.value;
  const chunks: Uint8Array[] = [];
  for await (const e of kv.list<Uint8Array>({ prefix: K.parts(userId, rev) })) {
    chunks.push(e.value);
  }
  if (chunks.length !== parts) return null; // parts are written atomically with the head
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return JSON.parse(decoder.decode(bytes));
}

/**
 * Adds one profile's writes to `op`, checked against `head`.
 * Returns the new head's metadata, or null for a stale update (older than the head: nothing
 * written). `indexed`: the index entries were written already.
 */
export function addWrite(
  op: Deno.AtomicOperation,
  e: Encoded,
  head: HeadMeta,
  K: KvKeys,
  indexed = false,
): Meta | null {
  const { profile, identKeys, json } = e;
  const userId = profile.user.id;
  op.check(head);
  if (head.value && head.value.updated_at > profile.updated_at) return null; // stale update
  const key = K.profile(userId);
  // A long key list would not fit beside the profile in one value: without `ik`, the next
  // update writes the index again.
  let meta: Meta = {
    updated_at: profile.updated_at,
    ik: identKeys.length <= INLINE_INDEX_KEYS ? identKeys : undefined,
  };
  if (json.length <= PART_BYTES) {
    op.set(key, { inline: json, ...meta });
  } else {
    const rev = crypto.randomUUID();
    const parts = Math.ceil(json.length / PART_BYTES);
    for (let i = 0; i < parts; i++) {
      op.set(K.part(userId, rev, i), json.slice(i * PART_BYTES, (i + 1) * PART_BYTES));
    }
    meta = { ...meta, rev, parts };
    op.set(key, meta);
  }
  if (head.value?.rev) {
    for (let i = 0; i < head.value.parts!; i++) op.delete(K.part(userId, head.value.rev, i));
  }
  // Most updates are for known users whose identifiers did not change: their index entries
  // are already in place (written with the head read above), and rewriting them would be
  // three quarters of a batch's mutations.
  if (indexed) return meta;
  for (const k of addedKeys(e, head)) op.set(K.ident(k), userId);
  return meta;
}

/** The index keys of `e` that `head` was not written with (the entries a write adds). */
function addedKeys(e: Encoded, head: HeadMeta): string[] {
  const written = new Set(head.value?.ik);
  return e.identKeys.filter((k) => !written.has(k));
}

/** One user's mutations and bytes in a commit: its head, new index entries, stale parts. */
export function cost(e: Encoded, head: HeadMeta): { muts: number; size: number } {
  const added = addedKeys(e, head).length;
  return {
    muts: 1 + added + (head.value?.rev ? head.value.parts! : 0),
    size: e.json.length + added * 64,
  };
}
