/**
 * KvReadBatcher: concurrent point reads share `getMany` calls, each caller gets its own
 * entries, and no read is answered from a `getMany` sent before it was asked for.
 */
import assert from "node:assert/strict";
import { GET_MANY_KEYS, KvReadBatcher } from "../../lib/store/kv_read_batch.ts";
import { waitFor } from "../helpers/wait.ts";

/** A KV whose `getMany` calls are counted and whose answers can be held back. */
async function countingKv() {
  const kv = await Deno.openKv(":memory:");
  const calls: Deno.KvKey[][] = [];
  let read = 0;
  let gate: Promise<void> = Promise.resolve();
  const getMany = kv.getMany.bind(kv);
  // deno-lint-ignore no-explicit-any
  (kv as any).getMany = async (keys: Deno.KvKey[]) => {
    calls.push(keys);
    const entries = await getMany(keys);
    read++;
    await gate;
    return entries;
  };
  return {
    kv,
    calls,
    /** `getMany` calls that have read the store (answered or held back). */
    reads: () => read,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => release = r);
      return release;
    },
  };
}

Deno.test("kv read batch - concurrent reads share getMany calls, each caller gets its own keys", async () => {
  const { kv, calls } = await countingKv();
  try {
    for (let i = 0; i < 30; i++) await kv.set(["k", i], i);
    const reads = new KvReadBatcher(kv);
    const got = await Promise.all([
      ...Array.from({ length: 25 }, (_, i) => reads.get<number>(["k", i])),
      reads.getMany<number>([["k", 25], ["nope"], ["k", 26]]),
    ]);
    assert.deepEqual(got.slice(0, 25).map((e) => (e as Deno.KvEntryMaybe<number>).value), [
      ...Array(25).keys(),
    ]);
    assert.deepEqual((got[25] as Deno.KvEntryMaybe<number>[]).map((e) => e.value), [25, null, 26]);
    // 28 keys, one caller's keys never split: 4 calls (the first goes alone at once).
    assert.ok(calls.length <= 4, `${calls.length} getMany calls`);
    assert.ok(calls.every((c) => c.length <= GET_MANY_KEYS));
  } finally {
    kv.close();
  }
});

Deno.test("kv read batch - a read asked for while a getMany is on its way is sent after it", async () => {
  const { kv, calls, reads: storeReads, hold } = await countingKv();
  try {
    await kv.set(["p"], "old");
    const reads = new KvReadBatcher(kv);
    const release = hold();
    const first = reads.get<string>(["p"]); // sent now, answer held back
    await waitFor(() => storeReads() === 1, { what: "the first getMany read the store" });
    await kv.set(["p"], "new"); // committed after the first read was done
    const second = reads.get<string>(["p"]);
    release();
    assert.equal((await first).value, "old");
    // Not answered by the read already on its way: the store as of after the call.
    assert.equal((await second).value, "new");
    assert.equal(calls.length, 2);
  } finally {
    kv.close();
  }
});

Deno.test("kv read batch - a failed getMany fails its callers only; later reads go on", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["ok"], 1);
    const reads = new KvReadBatcher(kv);
    const bad = reads.get([{} as unknown as string]); // not a valid key part
    const later = reads.get<number>(["ok"]);
    await assert.rejects(bad);
    // Sent with the bad key or after it: a caller with a valid key may share its failure.
    const v = await later.then((e) => e.value, () => "failed with the batch");
    assert.ok(v === 1 || v === "failed with the batch");
    assert.equal((await reads.get<number>(["ok"])).value, 1);
  } finally {
    kv.close();
  }
});
