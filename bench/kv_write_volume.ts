/**
 * What one webhook batch writes to the KV file: `deno run -A bench/kv_write_volume.ts
 * [--batches=200] [--visitors=10000] [--in-flight=1] [--dir=/tmp] [--ids=random] [--pick=random]
 * [--traits=0] [--json]`.
 *
 * Drives the real store (KvStore.saveProfiles, with the notification's claim) with the
 * bench's batches (bench/push.ts: 100 users, visitors (b*100 + j) % visitors, the fixture's
 * messages) on a fresh file, and reports per batch: KV mutations by key family and their
 * V8-serialized value sizes, bytes the process wrote (`wchar` of /proc/self/io: WAL frames and
 * checkpoints into the main file; `write_bytes`: what reached the block layer), WAL frames,
 * and commit latency. The first `visitors / 100` batches find new users; later ones update
 * known users (the steady state of a connector): both are reported. The bench's user ids
 * (`bench-user-<i>`) put a batch's users next to each other in key order; `--ids=random`
 * scatters them as Hull's ids are. `--pick=random`: after the first pass, each batch takes 100
 * visitors at random instead of the next 100 (users updated together were not written together
 * before). `--traits=N`: about N bytes of JSON traits more per user (Hull profiles often carry
 * hundreds of attributes; the bench's have a dozen).
 */
import { serialize } from "node:v8";
import { KvStore } from "../lib/store/kv_store.ts";
import { IdentifierHasher, userIdentifiers } from "../lib/identity.ts";
import { toStoredProfile } from "../lib/webhook/profile.ts";
import type { ProfileWrite } from "../lib/store/store.ts";
import type { Settings } from "../lib/types.ts";
import { pct } from "./push.ts";

const arg = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const BATCHES = Number(arg("batches", "200"));
const VISITORS = Number(arg("visitors", "10000"));
const IN_FLIGHT = Number(arg("in-flight", "1"));
const DIR = arg("dir", "/tmp");
const RANDOM_IDS = arg("ids", "bench") === "random";
const RANDOM_PICK = arg("pick", "next") === "random";
const TRAITS = Number(arg("traits", "0"));
/** Made-up traits, ~TRAITS bytes of JSON; their values change with each update. */
const traits = (i: number, now: number) =>
  Object.fromEntries(
    Array.from({ length: Math.ceil(TRAITS / 40) }, (_, k) => [
      `traits_attribute_${k}`,
      k % 3 ? `value ${(i * 7 + k) % 1000} of ${k}` : (now + k) % 100_000,
    ]),
  );

const fixture = JSON.parse(
  await Deno.readTextFile(
    new URL("../tests/fixtures/hull/user-update-batch-100.json", import.meta.url),
  ),
);
const settings: Settings = {
  public_traits: ["email", "name", "bench_sent"],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};
const hasher = await IdentifierHasher.create("bench-server-secret-0123456789abcdef");

/** A stable id for visitor `i` whose key order is unrelated to `i` (24 hex digits). */
function scattered(i: number): string {
  let h = 2166136261 ^ i;
  let out = "";
  for (let k = 0; k < 3; k++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) ^ Math.imul(h ^ (h >>> 13), 3266489909);
    out += (h >>> 0).toString(16).padStart(8, "0");
  }
  return out;
}

/** Batch `b` as the webhook hands it to the store. */
function batch(b: number): ProfileWrite[] {
  const now = Date.now();
  return (fixture.messages as Record<string, unknown>[]).map((m, j) => {
    const i = RANDOM_PICK && b >= VISITORS / 100
      ? Math.floor(Math.random() * VISITORS)
      : (b * 100 + j) % VISITORS;
    const user = {
      ...(m.user as Record<string, unknown>),
      id: RANDOM_IDS ? scattered(i) : `bench-user-${i}`,
      email: `visitor${i}@example.com`,
      external_id: `bench-ext-${i}`,
      anonymous_ids: [`bench-anon-${i}`],
      name: `Visitor ${i}`,
      bench_sent: now,
      ...traits(i, now),
    };
    const profile = toStoredProfile({ ...m, user } as never, settings, now);
    return { profile, identKeys: userIdentifiers(user).map((id) => hasher.hashSync(id)) };
  });
}

// Mutations by key family (the first key part), counted as the store issues them.
type Tally = Map<string, { n: number; bytes: number; max: number }>;
let tally: Tally = new Map();
const count = (key: Deno.KvKey, value?: unknown) => {
  const fam = String(key[0]) + (value === undefined ? " (delete)" : "");
  const t = tally.get(fam) ?? { n: 0, bytes: 0, max: 0 };
  const size = value === undefined ? 0 : serialize(value).length;
  t.n++;
  t.bytes += size;
  t.max = Math.max(t.max, size);
  tally.set(fam, t);
};
const proto = Deno.AtomicOperation.prototype;
const { set, sum, delete: del, commit } = proto;
let commitMs: number[] = [];
let commits = 0;
proto.set = function (key, value, opts) {
  count(key, value);
  return set.call(this, key, value, opts);
};
proto.sum = function (key, n) {
  count(key, new Deno.KvU64(n));
  return sum.call(this, key, n);
};
proto.delete = function (key) {
  count(key);
  return del.call(this, key);
};
proto.commit = async function () {
  const t = performance.now();
  try {
    return await commit.call(this);
  } finally {
    commitMs.push(performance.now() - t);
    commits++;
  }
};

function io(): { wchar: number; writeBytes: number } {
  const text = Deno.readTextFileSync("/proc/self/io");
  const get = (k: string) => Number(text.match(new RegExp(`^${k}: (\\d+)`, "m"))![1]);
  return { wchar: get("wchar"), writeBytes: get("write_bytes") };
}

const path = await Deno.makeTempFile({ dir: DIR, suffix: ".sqlite" });
const store = await KvStore.open(path);
const walSize = () => {
  try {
    return Deno.statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
};

/** Runs batches [from, to) with IN_FLIGHT at once; the phase's figures. */
async function phase(label: string, from: number, to: number) {
  tally = new Map();
  commitMs = [];
  commits = 0;
  const before = io();
  let walGrowth = 0;
  let wal = walSize();
  let next = from;
  const t0 = performance.now();
  const batchMs: number[] = [];
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < to) {
      const writes = batch(next++);
      const t = performance.now();
      const r = await store.saveProfiles(writes, {
        claim: { id: crypto.randomUUID(), ttlMs: 24 * 3600_000 },
      });
      batchMs.push(performance.now() - t);
      if (r.rejected.length || r.replayed) throw new Error(JSON.stringify(r));
      const w = walSize();
      walGrowth += w >= wal ? w - wal : w; // the WAL restarts after a checkpoint
      wal = w;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const after = io();
  const n = to - from;
  commitMs.sort((a, b) => a - b);
  batchMs.sort((a, b) => a - b);
  const families = Object.fromEntries(
    [...tally].map(([k, t]) => [k, {
      perBatch: +(t.n / n).toFixed(2),
      avgBytes: t.n ? Math.round(t.bytes / t.n) : 0,
      maxBytes: t.max,
    }]),
  );
  return {
    phase: label,
    batches: n,
    commitsPerBatch: +(commits / n).toFixed(2),
    mutations: families,
    valueBytesPerBatch: Math.round([...tally.values()].reduce((s, t) => s + t.bytes, 0) / n),
    wcharPerBatchKB: +((after.wchar - before.wchar) / n / 1024).toFixed(1),
    writeBytesPerBatchKB: +((after.writeBytes - before.writeBytes) / n / 1024).toFixed(1),
    walGrowthPerBatchKB: +(walGrowth / n / 1024).toFixed(1),
    walFramesPerBatch: +(walGrowth / n / 4120).toFixed(1),
    commitP50: +pct(commitMs, 50).toFixed(2),
    commitP99: +pct(commitMs, 99).toFixed(2),
    saveP50: +pct(batchMs, 50).toFixed(2),
    saveP99: +pct(batchMs, 99).toFixed(2),
    batchesPerSec: +(n / seconds).toFixed(1),
  };
}

const fresh = Math.ceil(VISITORS / 100);
const out = [await phase("new users", 0, Math.min(fresh, BATCHES))];
if (BATCHES > fresh) out.push(await phase("known users", fresh, BATCHES));
await store.close();
const dbSize = Deno.statSync(path).size;
for (const f of [path, `${path}-wal`, `${path}-shm`]) await Deno.remove(f).catch(() => {});
if (Deno.args.includes("--json")) console.log(JSON.stringify({ inFlight: IN_FLIGHT, out, dbSize }));
else {
  console.log(`in flight ${IN_FLIGHT}, db file ${(dbSize / 1024 / 1024).toFixed(1)} MB`);
  for (const o of out) console.log(JSON.stringify(o, null, 1));
}
