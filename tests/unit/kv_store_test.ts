import assert from "node:assert/strict";
import { EVENT_LOG_LIMIT, KvStore, PART_BYTES } from "../../lib/kv_store.ts";
import type { StoredProfile } from "../../lib/store.ts";

function profile(id: string, extra: Record<string, unknown> = {}, at = Date.now()): StoredProfile {
  return {
    user: { id, ...extra },
    account: {},
    segments: [],
    account_segments: [],
    updated_at: at,
  };
}

async function withStore(fn: (s: KvStore) => Promise<void>) {
  const s = await KvStore.open(":memory:");
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

Deno.test("kv store - profiles and their identity index round-trip", () =>
  withStore(async (s) => {
    await s.saveProfiles([{ profile: profile("u1", { plan: "pro" }), identKeys: ["k1", "k2"] }]);
    assert.equal(await s.lookupUserId(["nope", "k2"]), "u1");
    assert.equal(await s.lookupUserId(["nope"]), null);
    assert.equal((await s.getProfile("u1"))?.user.plan, "pro");
  }));

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

Deno.test("kv store - an older update never overwrites a newer profile", () =>
  withStore(async (s) => {
    await s.saveProfiles([{ profile: profile("u1", { v: 2 }, 2000), identKeys: [] }]);
    await s.saveProfiles([{ profile: profile("u1", { v: 1 }, 1000), identKeys: [] }]);
    assert.equal((await s.getProfile("u1"))?.user.v, 2);
  }));

Deno.test("kv store - notification ids are claimed once and can be released", () =>
  withStore(async (s) => {
    assert.equal(await s.claimNotification("n1", 60_000), true);
    assert.equal(await s.claimNotification("n1", 60_000), false);
    await s.releaseNotification("n1");
    assert.equal(await s.claimNotification("n1", 60_000), true);
  }));

Deno.test("kv store - an expired claim (expiry kept in the value) can be claimed again", () =>
  withStore(async (s) => {
    await s.kv.set(["notifications", "old"], { expires_at: Date.now() - 1 });
    assert.equal(await s.claimNotification("old", 60_000), true);
  }));

Deno.test("kv store - settings are seeded only when none exist", () =>
  withStore(async (s) => {
    const seed = {
      settings: {
        public_traits: ["email"],
        public_segments: [],
        public_account_segments: [],
        user_filter_segments: [],
      },
      domains: ["example.com"],
    };
    assert.equal(await s.seedIfEmpty(seed), true);
    assert.equal(await s.seedIfEmpty({ ...seed, domains: ["other.com"] }), false);
    assert.deepEqual((await s.getConfig()).domains, ["example.com"]);
  }));

Deno.test("kv store - config changes are seen by watchers", () =>
  withStore(async (s) => {
    const seen: string[][] = [];
    const stop = s.watchConfig((c) => seen.push(c.domains));
    await new Promise((r) => setTimeout(r, 50));
    await s.setDomains(["a.com"]);
    for (let i = 0; i < 50 && !seen.length; i++) await new Promise((r) => setTimeout(r, 20));
    stop();
    assert.deepEqual(seen.at(-1), ["a.com"]);
  }));

Deno.test("kv store - the generated secret is created once and shared", () =>
  withStore(async (s) => {
    const a = await s.ensureSecret(() => "first");
    const b = await s.ensureSecret(() => "second");
    assert.equal(a, "first");
    assert.equal(b, "first");
  }));

Deno.test("kv store - the event log is bounded and listed newest first", () =>
  withStore(async (s) => {
    const base = Date.now() - 100_000;
    for (let i = 0; i < EVENT_LOG_LIMIT + 300; i += 100) {
      await s.appendEvents(
        Array.from({ length: 100 }, (_, j) => ({
          time: new Date(base + i + j).toISOString(),
          event: "incoming.user.start",
          instance: "t",
          message: String(i + j),
        })),
      );
    }
    const all = await s.listEvents(10_000);
    assert.ok(all.length <= EVENT_LOG_LIMIT + 200, `bounded: ${all.length}`);
    assert.equal(all[0].message, String(EVENT_LOG_LIMIT + 299));
    assert.ok(Number(all[0].message) > Number(all[1].message));
  }));

Deno.test("kv store - a batch is saved whole, the last message of a repeated user wins", () =>
  withStore(async (s) => {
    const at = Date.now();
    const writes = Array.from({ length: 25 }, (_, i) => ({
      profile: profile(`u${i}`, { n: i }, at),
      identKeys: [`k${i}`],
    }));
    writes.push({ profile: profile("u3", { n: "last" }, at), identKeys: ["k3b"] });
    await s.saveProfiles(writes);
    for (let i = 0; i < 25; i++) assert.equal(await s.lookupUserId([`k${i}`]), `u${i}`);
    assert.equal((await s.getProfile("u3"))?.user.n, "last");
    assert.equal(await s.lookupUserId(["k3b"]), "u3");
  }));

Deno.test("kv store - concurrent batches touching the same users all land", () =>
  withStore(async (s) => {
    const at = Date.now();
    const batch = (tag: string, t: number) =>
      Array.from({ length: 12 }, (_, i) => ({
        profile: profile(`u${i}`, { tag }, t),
        identKeys: [`k${i}`],
      }));
    await Promise.all([s.saveProfiles(batch("a", at)), s.saveProfiles(batch("b", at + 1))]);
    for (let i = 0; i < 12; i++) assert.equal((await s.getProfile(`u${i}`))?.user.tag, "b");
  }));
