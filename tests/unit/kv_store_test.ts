/**
 * Deno KV specifics of KvStore: the 64 KiB value limit (profiles split into parts), the
 * expiry kept in the value, grouped commits checked per user. The behaviour every store shares
 * is in store_contract_test.ts.
 */
import assert from "node:assert/strict";
import { KvStore, PART_BYTES } from "../../lib/store/kv_store.ts";
import { profile } from "../helpers/store_fixtures.ts";

async function withStore(fn: (s: KvStore) => Promise<void>) {
  const s = await KvStore.open(":memory:");
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

Deno.test("kv store - a profile over the 64 KiB value limit is split and read back whole", () =>
  withStore(async (s) => {
    const big = "é".repeat(PART_BYTES * 2); // multi-byte: 4 parts of UTF-8
    await s.saveProfiles([{ profile: profile("u1", { big }), identKeys: ["k"] }]);
    assert.equal((await s.getProfile("u1"))?.user.big, big);
    // Replacing it with a small one removes the parts.
    await s.saveProfiles([{ profile: profile("u1", { small: 1 }, Date.now() + 1), identKeys: [] }]);
    assert.equal((await s.getProfile("u1"))?.user.small, 1);
    let parts = 0;
    for await (const _ of s.kv.list({ prefix: ["profile_parts"] })) parts++;
    assert.equal(parts, 0);
  }));

Deno.test("kv store - an expired claim (expiry kept in the value) can be claimed again", () =>
  withStore(async (s) => {
    await s.kv.set(["notifications", "old"], { expires_at: Date.now() - 1 });
    assert.equal(await s.claimNotification("old", 60_000), true);
  }));

Deno.test("kv store - a flush of events is a few values; two instances' flushes list in time order", () =>
  withStore(async (s) => {
    // An entry written by an earlier version, one per value.
    await s.kv.set(["events", "000000000000001-000000-legacy"], {
      id: "000000000000001-000000-legacy",
      time: new Date(1).toISOString(),
      event: "incoming.user.start",
      instance: "old",
    });
    const entry = (ms: number, instance: string) => ({
      id: `${String(ms).padStart(15, "0")}-000000-${instance}`,
      time: new Date(ms).toISOString(),
      event: "outgoing.user.success" as const,
      instance,
      message: `${instance} ${ms}`,
    });
    // Two instances flushing interleaved time ranges, each a chunk of its own.
    await s.appendEvents(Array.from({ length: 300 }, (_, i) => entry(1000 + 2 * i, "a")));
    await s.appendEvents(Array.from({ length: 300 }, (_, i) => entry(1001 + 2 * i, "b")));
    let values = 0;
    for await (const _ of s.kv.list({ prefix: ["events"] })) values++;
    assert.ok(values <= 6, `${values} values for 601 entries`);
    const newest = await s.listEvents(5);
    assert.deepEqual(newest.map((e) => e.message), [
      "b 1599",
      "a 1598",
      "b 1597",
      "a 1596",
      "b 1595",
    ]);
    const all = await s.listEvents(10_000);
    assert.equal(all.length, 601);
    assert.equal(all.at(-1)!.instance, "old");
  }));

Deno.test("kv store - an update rewrites only the index entries its user did not have", () =>
  withStore(async (s) => {
    await s.saveProfiles([{ profile: profile("u1", { n: 1 }, 1_000), identKeys: ["k1", "k2"] }]);
    const before = await s.kv.get(["ident", "k1"]);
    await s.saveProfiles([{
      profile: profile("u1", { n: 2 }, 2_000),
      identKeys: ["k1", "k2", "k3"],
    }]);
    assert.equal((await s.kv.get(["ident", "k1"])).versionstamp, before.versionstamp);
    assert.equal(await s.lookupUserId(["k3"]), "u1");
    assert.equal((await s.getProfile("u1"))?.user.n, 2);
    // After a delete the index is rebuilt in full.
    await s.deleteProfile("u1", ["k1", "k2", "k3"]);
    assert.equal(await s.lookupUserId(["k1"]), null);
    await s.saveProfiles([{ profile: profile("u1", { n: 3 }, 3_000), identKeys: ["k1"] }]);
    assert.equal(await s.lookupUserId(["k1"]), "u1");
  }));

Deno.test("kv store - a write checked against the head it read still sees another instance's write", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const a = await KvStore.open(path);
  const b = await KvStore.open(path);
  try {
    await a.saveProfiles([{ profile: profile("u1", { by: "a1" }, 1_000), identKeys: ["k1"] }]);
    await b.saveProfiles([{ profile: profile("u1", { by: "b" }, 3_000), identKeys: ["k1"] }]);
    // A remembers its own head, now outdated: an older update must not overwrite B's...
    await a.saveProfiles([{ profile: profile("u1", { by: "a2" }, 2_000), identKeys: ["k1"] }]);
    assert.equal((await b.getProfile("u1"))?.user.by, "b");
    // ...and a newer one lands.
    await a.saveProfiles([{ profile: profile("u1", { by: "a3" }, 4_000), identKeys: ["k1"] }]);
    assert.equal((await b.getProfile("u1"))?.user.by, "a3");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("kv store - two instances writing the same users concurrently all land, the newest wins", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const a = await KvStore.open(path);
  const b = await KvStore.open(path);
  try {
    const at = Date.now();
    const batch = (n: number) =>
      Array.from({ length: 100 }, (_, i) => ({
        profile: profile(`u${i}`, { n }, at + n),
        identKeys: [`k${i}`],
      }));
    // Both instances, each with two batches in flight, on the same 100 users.
    await Promise.all([
      a.saveProfiles(batch(1)),
      b.saveProfiles(batch(4)),
      a.saveProfiles(batch(3)),
      b.saveProfiles(batch(2)),
    ]);
    for (let i = 0; i < 100; i++) assert.equal((await a.getProfile(`u${i}`))?.user.n, 4);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("kv store - a lookup never returns another instance's stale version, follows moves and deletes", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const [a, b] = [await KvStore.open(path), await KvStore.open(path)];
  try {
    await b.saveProfiles([{ profile: profile("u1", { v: 1 }, 1000), identKeys: ["k1"] }]);
    assert.equal((await a.lookupProfile(["k1"]))?.profile?.user.v, 1); // a learns k1 → u1
    await b.saveProfiles([{ profile: profile("u1", { v: 2 }, 2000), identKeys: ["k1"] }]);
    assert.equal((await a.lookupProfile(["k1"]))?.profile?.user.v, 2, "b's newer version");
    // b moves k1 to u2.
    await b.saveProfiles([{ profile: profile("u2", { v: 9 }, 3000), identKeys: ["k1"] }]);
    const found = await a.lookupProfile(["k1"]);
    assert.equal(found?.userId, "u2");
    assert.equal(found?.profile?.user.v, 9);
    // b deletes u2 with its identifiers.
    await b.deleteProfile("u2", ["k1"]);
    assert.equal(await a.lookupProfile(["k1"]), null);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(path).catch(() => {});
  }
});

Deno.test("kv store - a 100-user batch of new users with several identifiers each is one commit", () =>
  withStore(async (s) => {
    const writes = Array.from({ length: 100 }, (_, i) => ({
      profile: profile(`g${i}`),
      identKeys: [`id-${i}`, `email-${i}`, `anon-${i}`],
    }));
    await s.saveProfiles(writes);
    // Every key written by one atomic operation carries its versionstamp.
    const stamps = new Set<string>();
    for (let i = 0; i < 100; i += 10) {
      const keys = Array.from({ length: 10 }, (_, j) => ["profiles", `g${i + j}`]);
      for (const e of await s.kv.getMany(keys)) stamps.add(e.versionstamp!);
    }
    assert.equal(stamps.size, 1);
    assert.equal(await s.lookupUserId(["anon-57"]), "g57");
  }));

Deno.test("kv store - a claimed batch whose commit meets another instance's write is still applied once", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const a = await KvStore.open(path);
  const b = await KvStore.open(path);
  const batch = (v: number) =>
    Array.from({ length: 100 }, (_, i) => ({
      profile: profile(`u${i}`, { v }, 1_000 * v),
      identKeys: [`k${i}`],
    }));
  try {
    await a.saveProfiles(batch(1)); // A remembers these heads
    await b.saveProfiles([{ profile: profile("u42", { v: 2 }, 2_000), identKeys: ["k42"] }]);
    // A's grouped commit fails its check on u42's head: the users are settled one by one, once
    // the claim (issued after the commit) is known to be this batch's.
    const r = await a.saveProfiles(batch(3), { claim: { id: "n", ttlMs: 60_000 } });
    assert.notEqual(r.replayed, true);
    for (const u of ["u0", "u42", "u99"]) assert.equal((await b.getProfile(u))?.user.v, 3);
    assert.equal(
      (await a.saveProfiles(batch(4), { claim: { id: "n", ttlMs: 60_000 } })).replayed,
      true,
    );
    assert.equal((await b.getProfile("u42"))?.user.v, 3);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("kv store - one notification sent twice at once is applied once", () =>
  withStore(async (s) => {
    const batch = (b: number) =>
      Array.from({ length: 10 }, (_, i) => ({
        profile: profile(`d${b * 10 + i}`, { b }),
        identKeys: [`dk${b * 10 + i}`],
      }));
    await s.saveProfiles(batch(9));
    const claim = { id: "twice", ttlMs: 60_000 };
    const results = await Promise.all([
      s.saveProfiles(batch(0), { claim: { id: "first", ttlMs: 60_000 } }),
      s.saveProfiles(batch(1), { claim }),
      // The same id with other users (users in common would take turns anyway).
      s.saveProfiles(batch(2), { claim }),
    ]);
    assert.equal(results.filter((r) => r.replayed).length, 1, "one of the two is a replay");
    assert.notEqual(results[0].replayed, true);
  }));

Deno.test("kv store - instances racing on the same users: the newest always wins", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const a = await KvStore.open(path);
  const b = await KvStore.open(path);
  try {
    const at = Date.now();
    const batch = (n: number, from: number) =>
      Array.from({ length: 60 }, (_, i) => ({
        profile: profile(`r${from + i}`, { n }, at + n),
        identKeys: [`rk${from + i}`],
      }));
    // Rounds of overlapping batches from both, versions shuffled between them.
    let n = 0;
    for (let round = 0; round < 6; round++) {
      const writes = [];
      for (const s of [a, b, a, b]) {
        n++;
        writes.push(s.saveProfiles(batch(n * 7 % 23 + round * 23, (n % 3) * 20)));
      }
      await Promise.all(writes);
    }
    // Expected: per user, the highest version any batch carried.
    const best = new Map<string, number>();
    n = 0;
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 4; k++) {
        n++;
        const v = n * 7 % 23 + round * 23;
        for (const w of batch(v, (n % 3) * 20)) {
          best.set(w.profile.user.id, Math.max(best.get(w.profile.user.id) ?? -1, v));
        }
      }
    }
    for (const [id, v] of best) assert.equal((await b.getProfile(id))?.user.n, v, id);
  } finally {
    await a.close();
    await b.close();
  }
});
