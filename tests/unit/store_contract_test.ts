/**
 * The Store contract (lib/store/store.ts), run against both backends: KvStore on `:memory:` and
 * RedisStore on a throwaway redis-server (flushed between cases). Engine-specific behaviour
 * lives in kv_store_test.ts and redis_store_test.ts.
 */
import assert from "node:assert/strict";
import { KvStore } from "../../lib/store/kv_store.ts";
import { ConfigTooLargeError, MAX_CONFIG_BYTES, storedSize } from "../../lib/store/config_size.ts";
import { RedisStore } from "../../lib/store/redis_store.ts";
import { EVENT_LOG_LIMIT, type Store, type StoredConfig } from "../../lib/store/store.ts";
import { redisSkipReason, withRedis } from "../helpers/redis.ts";
import { profile, SETTINGS, waitFor } from "../helpers/store_fixtures.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** One backend under test: a fresh store per case, and a second handle on the same data. */
interface Backend {
  store: Store;
  /** Another instance on the same data (KV `:memory:` cannot be shared: the same store). */
  peer(): Promise<Store>;
}

type Case = (b: Backend) => Promise<void>;

const cases: Record<string, Case> = {
  "profiles and their identity index round-trip": async ({ store: s }) => {
    await s.saveProfiles([{ profile: profile("u1", { plan: "pro" }), identKeys: ["k1", "k2"] }]);
    assert.equal(await s.lookupUserId(["nope", "k2"]), "u1");
    assert.equal(await s.lookupUserId(["nope"]), null);
    assert.equal(await s.lookupUserId([]), null);
    assert.equal((await s.getProfile("u1"))?.user.plan, "pro");
    assert.equal(await s.getProfile("nobody"), null);
  },

  "a user and its profile are looked up together, following the index as it changes": async (
    { store: s },
  ) => {
    await s.saveProfiles([{ profile: profile("u1", { v: 1 }, 1000), identKeys: ["k1", "k2"] }]);
    assert.equal(await s.lookupProfile(["nope"]), null);
    assert.equal(await s.lookupProfile([]), null);
    let found = await s.lookupProfile(["nope", "k2"]);
    assert.equal(found?.userId, "u1");
    assert.equal(found?.profile?.user.v, 1);
    await s.saveProfiles([{ profile: profile("u1", { v: 2 }, 2000), identKeys: ["k1", "k2"] }]);
    assert.equal((await s.lookupProfile(["k1"]))?.profile?.user.v, 2, "the newest version");
    // k1 now belongs to u2 (Hull merged or reassigned it).
    await s.saveProfiles([{ profile: profile("u2", { v: 7 }, 3000), identKeys: ["k1"] }]);
    found = await s.lookupProfile(["k1"]);
    assert.equal(found?.userId, "u2");
    assert.equal(found?.profile?.user.v, 7);
    await s.deleteProfile("u2", ["k1"]);
    assert.equal(await s.lookupProfile(["k1"]), null);
    await s.deleteProfile("u1", []);
    assert.deepEqual(await s.lookupProfile(["k2"]), { userId: "u1", profile: null });
  },

  "an older update never overwrites a newer profile nor indexes its identifiers": async (
    { store: s },
  ) => {
    await s.saveProfiles([{ profile: profile("u1", { v: 2 }, 2000), identKeys: ["k1"] }]);
    await s.saveProfiles([{ profile: profile("u1", { v: 1 }, 1000), identKeys: ["old"] }]);
    assert.equal((await s.getProfile("u1"))?.user.v, 2);
    assert.equal(await s.lookupUserId(["old"]), null);
    // The same version is applied (a retry of the same update).
    await s.saveProfiles([{ profile: profile("u1", { v: 3 }, 2000), identKeys: [] }]);
    assert.equal((await s.getProfile("u1"))?.user.v, 3);
  },

  "a batch is saved whole, the last message of a repeated user wins with merged identifiers":
    async ({ store: s }) => {
      const at = Date.now();
      const writes = Array.from({ length: 25 }, (_, i) => ({
        profile: profile(`u${i}`, { n: i }, at),
        identKeys: [`k${i}`],
      }));
      writes.push({ profile: profile("u3", { n: "last" }, at), identKeys: ["k3b"] });
      await s.saveProfiles(writes);
      for (let i = 0; i < 25; i++) assert.equal(await s.lookupUserId([`k${i}`]), `u${i}`);
      assert.equal((await s.getProfile("u3"))?.user.n, "last");
      assert.equal(await s.lookupUserId(["k3"]), "u3");
      assert.equal(await s.lookupUserId(["k3b"]), "u3");
    },

  "concurrent batches touching the same users all land, the newer wins": async ({ store: s }) => {
    const at = Date.now();
    const batch = (tag: string, t: number) =>
      Array.from({ length: 12 }, (_, i) => ({
        profile: profile(`u${i}`, { tag }, t),
        identKeys: [`k${i}`],
      }));
    await Promise.all([s.saveProfiles(batch("b", at + 1)), s.saveProfiles(batch("a", at))]);
    for (let i = 0; i < 12; i++) assert.equal((await s.getProfile(`u${i}`))?.user.tag, "b");
  },

  "four concurrent 100-user batches on the same users all land, the newest wins": async (
    { store: s },
  ) => {
    const at = Date.now();
    const batch = (n: number) =>
      Array.from({ length: 100 }, (_, i) => ({
        profile: profile(`u${i}`, { n }, at + n),
        identKeys: [`k${i}`, `k${i}-${n}`],
      }));
    const results = await Promise.all([3, 1, 0, 2].map((n) => s.saveProfiles(batch(n))));
    assert.deepEqual(results.map((r) => r.rejected.length), [0, 0, 0, 0]);
    for (let i = 0; i < 100; i++) assert.equal((await s.getProfile(`u${i}`))?.user.n, 3);
  },

  "a user with 1,000 identifiers is stored and indexed with the rest of its batch": async (
    { store: s },
  ) => {
    const many = Array.from({ length: 1_000 }, (_, i) => `anon-key-${i}`);
    const res = await s.saveProfiles([
      { profile: profile("before"), identKeys: ["kb"] },
      { profile: profile("many", { anonymous_ids: many }), identKeys: many },
      { profile: profile("after"), identKeys: ["ka"] },
    ]);
    assert.deepEqual(res.rejected, []);
    assert.equal(await s.lookupUserId(["anon-key-0"]), "many");
    assert.equal(await s.lookupUserId(["anon-key-999"]), "many");
    assert.equal(await s.lookupUserId(["kb"]), "before");
    assert.equal(await s.lookupUserId(["ka"]), "after");
    // Updated again: still whole.
    await s.saveProfiles([{ profile: profile("many", { v: 2 }, Date.now() + 5), identKeys: many }]);
    assert.equal((await s.getProfile("many"))?.user.v, 2);
    assert.equal(await s.lookupUserId(["anon-key-500"]), "many");
  },

  "a user too large to store is rejected with a reason, the rest of its batch stored": async (
    { store: s },
  ) => {
    const huge = "x".repeat(1_100_000);
    const res = await s.saveProfiles([
      { profile: profile("small"), identKeys: ["ks"] },
      { profile: profile("huge", { huge }), identKeys: ["kh"] },
    ]);
    assert.deepEqual(res.rejected.map((r) => r.userId), ["huge"]);
    assert.match(res.rejected[0].reason, /bytes/);
    assert.equal((await s.getProfile("small"))?.user.id, "small");
    assert.equal(await s.getProfile("huge"), null);
  },

  "a deleted profile is gone with the identifiers that still point at it": async (
    { store: s },
  ) => {
    await s.saveProfiles([
      { profile: profile("u1"), identKeys: ["a", "shared"] },
      { profile: profile("u2"), identKeys: ["b"] },
    ]);
    await s.deleteProfile("u1", ["a", "b"]);
    assert.equal(await s.getProfile("u1"), null);
    assert.equal(await s.lookupUserId(["a"]), null);
    assert.equal(await s.lookupUserId(["b"]), "u2", "another user's identifier is left alone");
    assert.equal(await s.lookupUserId(["shared"]), "u1", "only the given identifiers go");
  },

  "notification ids are claimed once, released, and claimable again after expiry": async (
    { store: s },
  ) => {
    assert.equal(await s.claimNotification("n1", 60_000), true);
    assert.equal(await s.claimNotification("n1", 60_000), false);
    await s.releaseNotification("n1");
    assert.equal(await s.claimNotification("n1", 60_000), true);
    assert.equal(await s.claimNotification("short", 5), true);
    // Claimable again once 5 ms have passed (by the store's clock): polled, not slept on.
    await waitFor(() => s.claimNotification("short", 60_000));
    assert.equal(await s.claimNotification("short", 60_000), false, "and held again");
  },

  "profile fetch claims hold across instances until they expire, apart from notification ids":
    async ({ store: s, peer }) => {
      const other = await peer();
      assert.equal(await s.claimProfileFetch("k1", 60_000), true);
      assert.equal(await other.claimProfileFetch("k1", 60_000), false, "seen by another instance");
      assert.equal(await s.claimProfileFetch("k2", 60_000), true, "per identifier");
      assert.equal(await s.claimNotification("k1", 60_000), true, "not a notification id");
      assert.equal(await s.claimProfileFetch("short", 5), true);
      // Claimable by the other instance once 5 ms have passed: polled, not slept on.
      await waitFor(() => other.claimProfileFetch("short", 60_000));
      assert.equal(await s.claimProfileFetch("short", 60_000), false, "and held again");
    },

  "settings are seeded only when none exist, defaults fill the rest": async ({ store: s }) => {
    const empty = await s.getConfig();
    assert.deepEqual(empty.domains, []);
    assert.deepEqual(empty.settings.public_traits, []);
    const seed = { settings: SETTINGS, domains: ["example.com"] };
    assert.equal(await s.seedIfEmpty(seed), true);
    assert.equal(await s.seedIfEmpty({ ...seed, domains: ["other.com"] }), false);
    const config = await s.getConfig();
    assert.deepEqual(config.domains, ["example.com"]);
    assert.deepEqual(config.settings.public_traits, ["email"]);
  },

  "settings or a whitelist over the size rule are refused whole, the stored ones kept": async (
    { store: s },
  ) => {
    await s.setSettings(SETTINGS);
    await s.setDomains(["example.com"]);
    // 80 KB in lists that each pass the per-list limits (1,000 entries of 200 characters).
    const names = (p: string) =>
      Array.from({ length: 400 }, (_, i) => `${p}_${i}`.padEnd(100, "x"));
    const big = { ...SETTINGS, public_traits: names("t"), public_segments: names("s") };
    assert.ok(storedSize(big) > MAX_CONFIG_BYTES);
    await assert.rejects(() => s.setSettings(big), ConfigTooLargeError);
    const domains = Array.from({ length: 1000 }, (_, i) => `shop-${i}.example.com`.padEnd(70, "x"));
    await assert.rejects(() => s.setDomains(domains), ConfigTooLargeError);
    await assert.rejects(() => s.seedIfEmpty({ settings: big, domains: [] }), ConfigTooLargeError);
    const config = await s.getConfig();
    assert.deepEqual(config.settings.public_traits, SETTINGS.public_traits);
    assert.deepEqual(config.domains, ["example.com"]);
    // Just under the rule is stored.
    const fits = { ...SETTINGS, public_traits: names("t") };
    assert.ok(storedSize(fits) <= MAX_CONFIG_BYTES);
    await s.setSettings(fits);
    assert.equal((await s.getConfig()).settings.public_traits.length, 400);
  },

  "config changes made by any instance are seen by watchers until stopped": async (b) => {
    const seen: StoredConfig[] = [];
    const stop = b.store.watchConfig((c) => seen.push(c));
    const other = await b.peer();
    // The watch is live once it reports a change (one made before it started is not reported).
    let n = 0;
    await waitFor(async () => (await other.setDomains([`warmup${n++}.com`]), seen.length > 0));
    await other.setDomains(["a.com"]);
    await waitFor(() => seen.at(-1)?.domains[0] === "a.com");
    assert.deepEqual(seen.at(-1)?.domains, ["a.com"]);
    await other.setSettings({ ...SETTINGS, public_traits: ["name"] });
    await waitFor(() => seen.at(-1)?.settings.public_traits[0] === "name");
    assert.deepEqual(seen.at(-1)?.settings.public_traits, ["name"]);
    assert.deepEqual(seen.at(-1)?.domains, ["a.com"], "a change carries the whole config");
    // A second watcher, live before the first stops, sees the next change: the stopped one
    // would have been called by then.
    const later: StoredConfig[] = [];
    const stopLater = b.store.watchConfig((c) => later.push(c));
    await waitFor(async () => (await other.setDomains([`warmup${n++}.com`]), later.length > 0));
    await other.setDomains(["c.com"]);
    await waitFor(() => [seen, later].every((l) => l.at(-1)?.domains[0] === "c.com"));
    stop();
    await other.setDomains(["b.com"]);
    await waitFor(() => later.at(-1)?.domains[0] === "b.com");
    stopLater();
    assert.equal(seen.filter((c) => c.domains[0] === "b.com").length, 0, "no call after stop");
  },

  "the generated secret is created once and shared": async (b) => {
    const a = await b.store.ensureSecret(() => "first");
    const other = await b.peer();
    assert.equal(await other.ensureSecret(() => "second"), "first");
    assert.equal(a, "first");
  },

  "the event log is bounded and listed newest first": async ({ store: s }) => {
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
    assert.ok(
      all.length >= EVENT_LOG_LIMIT && all.length <= EVENT_LOG_LIMIT + 200,
      `${all.length}`,
    );
    assert.equal(all[0].message, String(EVENT_LOG_LIMIT + 299));
    assert.ok(Number(all[0].message) > Number(all[1].message));
    assert.equal((await s.listEvents(3)).length, 3);
  },

  "named meta documents round-trip": async ({ store: s }) => {
    assert.equal(await s.getMeta("seen"), null);
    await s.setMeta("seen", { traits: ["email", "name"] });
    assert.deepEqual(await s.getMeta("seen"), { traits: ["email", "name"] });
    await s.setMeta("seen", []);
    assert.deepEqual(await s.getMeta("seen"), []);
  },

  "a meta document set with an expiry reads back until then; without one it stays": async (
    { store: s },
  ) => {
    await s.setMeta("brief", { n: 1 }, { expireInMs: 60_000 });
    assert.deepEqual(await s.getMeta("brief"), { n: 1 });
    await s.setMeta("brief", { n: 2 });
    assert.deepEqual(await s.getMeta("brief"), { n: 2 });
  },

  "a save with a notification's claim applies it once; a replay writes nothing, even after a delete":
    async ({ store: s }) => {
      const claim = { id: "n-1", ttlMs: 60_000 };
      const batch = (v: number) =>
        Array.from({ length: 100 }, (_, i) => ({
          profile: profile(`c${i}`, { v }, 1000 + v),
          identKeys: [`ck${i}`, `ce${i}`],
        }));
      const first = await s.saveProfiles(batch(1), { claim });
      assert.notEqual(first.replayed, true);
      assert.equal((await s.getProfile("c99"))?.user.v, 1);
      assert.equal(await s.claimNotification("n-1", 60_000), false, "the save took the claim");
      // The same id again, newer data: refused whole.
      assert.equal((await s.saveProfiles(batch(2), { claim })).replayed, true);
      assert.equal((await s.getProfile("c0"))?.user.v, 1);
      // Right to be forgotten, then the old notification replayed: it must not come back.
      await s.deleteProfile("c7", ["ck7", "ce7"]);
      assert.equal((await s.saveProfiles(batch(1), { claim })).replayed, true);
      assert.equal(await s.getProfile("c7"), null);
      assert.equal(await s.lookupUserId(["ck7"]), null);
      // Another id is applied; a claim taken by someone else first is a replay too.
      assert.notEqual(
        (await s.saveProfiles(batch(3), { claim: { ...claim, id: "n-2" } })).replayed,
        true,
      );
      assert.equal((await s.getProfile("c7"))?.user.v, 3);
      assert.equal(await s.claimNotification("n-3", 60_000), true);
      assert.equal(
        (await s.saveProfiles(batch(4), { claim: { ...claim, id: "n-3" } })).replayed,
        true,
      );
      assert.equal((await s.getProfile("c7"))?.user.v, 3);
    },

  "ping answers while the backend is up": async ({ store: s }) => {
    await s.ping();
  },

  "a connector's scope shares nothing with another connector or the standalone one": async (
    { store: root },
  ) => {
    const a = root.scoped("6a00000000000000000000a1");
    const b = root.scoped("6a00000000000000000000b1");
    try {
      assert.equal(root.connectorId, null);
      assert.equal(a.connectorId, "6a00000000000000000000a1");
      // The same user id and identifier in each: three users.
      for (const [s, v] of [[root, 0], [a, 1], [b, 2]] as const) {
        await s.saveProfiles([{ profile: profile("u1", { v }, 1000 + v), identKeys: ["k1"] }]);
        await s.setSettings({ ...SETTINGS, public_traits: [`t${v}`] });
        await s.setDomains([`site${v}.example`]);
        await s.setMeta("doc", { v });
        await s.appendEvents([{ time: new Date().toISOString(), event: `e${v}` } as never]);
      }
      assert.equal(await a.claimNotification("n1", 60_000), true);
      assert.equal(await b.claimNotification("n1", 60_000), true, "claims are per connector");
      assert.equal(await root.claimNotification("n1", 60_000), true);
      for (const [s, v] of [[root, 0], [a, 1], [b, 2]] as const) {
        assert.equal((await s.lookupProfile(["k1"]))?.profile?.user.v, v);
        assert.deepEqual((await s.getConfig()).domains, [`site${v}.example`]);
        assert.deepEqual((await s.getConfig()).settings.public_traits, [`t${v}`]);
        assert.deepEqual(await s.getMeta("doc"), { v });
        assert.deepEqual((await s.listEvents(10)).map((e) => e.event), [`e${v}`]);
      }
      // Removing one connector's data leaves the others' whole.
      await a.clear();
      assert.equal(await a.lookupUserId(["k1"]), null);
      assert.equal(await a.getProfile("u1"), null);
      assert.deepEqual((await a.getConfig()).domains, []);
      assert.equal(await a.getMeta("doc"), null);
      assert.deepEqual(await a.listEvents(10), []);
      assert.equal(await a.claimNotification("n1", 60_000), true, "its claims went too");
      assert.equal((await b.getProfile("u1"))?.user.v, 2);
      assert.equal((await root.getProfile("u1"))?.user.v, 0);
      assert.deepEqual(await b.getMeta("doc"), { v: 2 });
      await assert.rejects(() => root.clear(), /only a connector/);
      assert.throws(() => root.scoped("../x"), /malformed/);
      assert.throws(() => root.scoped("a:b*"), /malformed/);
    } finally {
      await a.close();
      await b.close();
    }
    await root.ping(); // closing a scope left the shared connection open
  },

  "a connector's settings changes reach its watchers only": async ({ store: root, peer }) => {
    const other = await peer();
    const a = root.scoped("6a00000000000000000000a1");
    const aElsewhere = other.scoped("6a00000000000000000000a1");
    const seen: string[][] = [];
    const seenRoot: string[][] = [];
    const stopA = aElsewhere.watchConfig((c) => seen.push(c.domains));
    const stopRoot = other.watchConfig((c) => seenRoot.push(c.domains));
    try {
      await root.setDomains(["root.example"]);
      await a.setDomains(["a.example"]);
      await waitFor(() => seen.some((d) => d[0] === "a.example"));
      await waitFor(() => seenRoot.some((d) => d[0] === "root.example"));
      assert.ok(seen.every((d) => d[0] !== "root.example"), "no root change reached the scope");
      assert.ok(seenRoot.every((d) => d[0] !== "a.example"), "no scope change reached the root");
    } finally {
      stopA();
      stopRoot();
      await a.close();
      await aElsewhere.close();
    }
  },

  "connectors register up to the most allowed, atomically across instances": async (
    { store: s, peer },
  ) => {
    const other = await peer();
    const ids = Array.from({ length: 6 }, (_, i) => `6a0000000000000000000${100 + i}`);
    const results = await Promise.all(
      ids.map((id, i) => (i % 2 ? other : s).registerConnector(id, 3)),
    );
    assert.equal(results.filter((r) => r === "added").length, 3);
    assert.equal(results.filter((r) => r === "full").length, 3);
    const listed = await other.listConnectors();
    assert.equal(listed.length, 3);
    assert.equal(await s.registerConnector(listed[1], 3), "known");
    assert.deepEqual(await s.scoped(listed[0]).listConnectors(), listed, "deployment-wide");
    await s.unregisterConnector(listed[1]);
    assert.deepEqual(await s.listConnectors(), [listed[0], listed[2]]);
    assert.equal(await s.registerConnector("6a00000000000000000000ff", 3), "added");
  },
};

Deno.test({
  name: "kv store - satisfies the store contract",
  // Sanitizers on: a closed KvStore leaves no watch, timer or handle behind.
  async fn(t) {
    for (const [name, run] of Object.entries(cases)) {
      await t.step(`kv store - ${name}`, async () => {
        const store = await KvStore.open(":memory:");
        try {
          await run({ store, peer: () => Promise.resolve(store) });
        } finally {
          await store.close();
        }
      });
    }
  },
});

const skip = redisSkipReason();

Deno.test({
  name: "redis store - satisfies the store contract",
  ignore: skip !== undefined,
  ...opts,
  fn: (t) =>
    withRedis(async (redis, raw) => {
      for (const [name, run] of Object.entries(cases)) {
        await t.step(`redis store - ${name}`, async () => {
          await raw.flushDb();
          const opened: RedisStore[] = [];
          const open = async () => {
            const s = await RedisStore.connect(redis.url);
            opened.push(s);
            return s;
          };
          try {
            await run({ store: await open(), peer: open });
          } finally {
            await Promise.all(opened.map((s) => s.close()));
          }
        });
      }
    }),
});
