/**
 * The identify cache (lib/store/kv_view_cache.ts) through a real KvStore on a real Deno KV
 * file: what it serves, what it refuses to keep, and that it serves nothing outside a term.
 */
import assert from "node:assert/strict";
import { KvStore } from "../../lib/store/kv_store.ts";
import type { ProfileView, StoredProfile } from "../../lib/store/store.ts";
import { viewOf } from "../../lib/payload.ts";
import type { Settings } from "../../lib/types.ts";

const SETTINGS: Settings = {
  public_traits: ["name"],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

function profile(id: string, name: string, updated_at: number): StoredProfile {
  return { user: { id, name }, account: {}, segments: [], account_segments: [], updated_at };
}

function write(id: string, name: string, updated_at: number, settings = SETTINGS) {
  const p = profile(id, name, updated_at);
  return { profile: p, identKeys: [`k-${id}`], view: viewOf(p, settings) };
}

const nameOf = (v: ProfileView | null | undefined) =>
  (v?.full as { user?: { name?: string } } | null)?.user?.name;

async function withStore(fn: (store: KvStore, path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const store = await KvStore.open(path);
  try {
    await fn(store, path);
  } finally {
    try {
      await store.close();
    } catch { /* closed by the test */ }
    await Deno.remove(path).catch(() => {});
  }
}

const look = (store: KvStore, key: string, settings = SETTINGS) =>
  store.lookupView([key], settings, (p) => viewOf(p, settings));

Deno.test("identify cache - within a term, a write is served without reading KV", async () => {
  await withStore(async (store) => {
    store.views.useTerm(() => true);
    await store.saveProfiles([write("u1", "Ada", 1_000)]);
    // KV closed: only memory can answer now.
    store.kv.close();
    const got = await look(store, "k-u1");
    assert.equal(got?.userId, "u1");
    assert.equal(nameOf(got?.view), "Ada");
    assert.equal(store.views.hits, 1);
  });
});

Deno.test("identify cache - outside a term, every identify reads KV", async () => {
  await withStore(async (store) => {
    let term = false;
    store.views.useTerm(() => term);
    await store.saveProfiles([write("u1", "Ada", 1_000)]);
    assert.equal(nameOf((await look(store, "k-u1"))?.view), "Ada");
    assert.equal(store.views.hits, 0);
    assert.equal(store.views.size.users, 0, "nothing kept outside a term");
    term = true;
    assert.equal(nameOf((await look(store, "k-u1"))?.view), "Ada"); // read, then kept
    assert.equal(store.views.hits, 0);
    assert.equal(nameOf((await look(store, "k-u1"))?.view), "Ada");
    assert.equal(store.views.hits, 1);
    term = false; // the lease ran out: the next identify reads again
    assert.equal(nameOf((await look(store, "k-u1"))?.view), "Ada");
    assert.equal(store.views.hits, 1);
  });
});

Deno.test("identify cache - a KV read racing a write never replaces the newer version", async () => {
  await withStore(async (store) => {
    store.views.useTerm(() => true);
    await store.saveProfiles([write("u1", "v0", 1_000)]);
    store.views.clear(); // as after a term change: the next identify reads KV
    for (let round = 1; round <= 20; round++) {
      // A read that starts before the write commits may see either version; whatever it saw
      // must not outlive the write.
      const reading = look(store, "k-u1");
      const saving = store.saveProfiles([write("u1", `v${round}`, 1_000 + round)]);
      await Promise.all([reading, saving]);
      assert.equal(nameOf((await look(store, "k-u1"))?.view), `v${round}`);
      store.views.clear();
    }
  });
});

Deno.test("identify cache - a deleted user is never served", async () => {
  await withStore(async (store) => {
    store.views.useTerm(() => true);
    await store.saveProfiles([write("u1", "Ada", 1_000)]);
    assert.equal(nameOf((await look(store, "k-u1"))?.view), "Ada");
    await store.deleteProfile("u1", ["k-u1"]);
    const hits = store.views.hits;
    assert.equal(await look(store, "k-u1"), null);
    assert.equal(store.views.hits, hits + 1, "the delete itself told the cache");
    // And as KV says, after a cold read.
    store.views.clear();
    assert.equal(await look(store, "k-u1"), null);
  });
});

Deno.test("identify cache - payloads built with other settings are not served", async () => {
  await withStore(async (store) => {
    store.views.useTerm(() => true);
    await store.saveProfiles([write("u1", "Ada", 1_000)]);
    const other: Settings = { ...SETTINGS, public_traits: [] };
    const got = await look(store, "k-u1", other);
    assert.equal(nameOf(got?.view), undefined, "built again with the new settings");
    assert.equal(store.views.hits, 0);
  });
});

Deno.test("identify cache - an identifier moved to another user follows the move", async () => {
  await withStore(async (store) => {
    store.views.useTerm(() => true);
    await store.saveProfiles([write("u1", "Ada", 1_000)]);
    assert.equal((await look(store, "k-u1"))?.userId, "u1");
    // Hull merged: u2 now holds u1's identifier.
    const p = profile("u2", "Bob", 2_000);
    await store.saveProfiles([{
      profile: p,
      identKeys: ["k-u1", "k-u2"],
      view: viewOf(p, SETTINGS),
    }]);
    const got = await look(store, "k-u1");
    assert.equal(got?.userId, "u2");
    assert.equal(nameOf(got?.view), "Bob");
  });
});

Deno.test("identify cache - keeps at most its bound of users, the oldest dropped", async () => {
  const { ViewCache } = await import("../../lib/store/kv_view_cache.ts");
  const cache = new ViewCache(3);
  cache.useTerm(() => true);
  for (let i = 0; i < 5; i++) {
    cache.wrote(`u${i}`, [`k${i}`], { settings: SETTINGS, full: { i }, anonymous: null });
  }
  assert.deepEqual(cache.size, { users: 3, identifiers: 5 });
  assert.equal(cache.get(["k0"], SETTINGS), undefined, "the oldest view was dropped");
  assert.deepEqual(cache.get(["k4"], SETTINGS)?.view.full, { i: 4 });
});

Deno.test("identify cache - a read that began before a write of this instance is not kept", async () => {
  const { ViewCache } = await import("../../lib/store/kv_view_cache.ts");
  const cache = new ViewCache();
  cache.useTerm(() => true);
  const view = (name: string) => ({ settings: SETTINGS, full: { name }, anonymous: null });
  // The read's snapshot predates the write, and its answer arrives after the write landed.
  const ticket = cache.ticket();
  cache.writing();
  cache.wrote("u1", ["k1"], view("new"));
  cache.read(ticket, [["k1", "u1"]], { userId: "u1", view: view("old") });
  assert.deepEqual(cache.get(["k1"], SETTINGS)?.view.full, { name: "new" });
  // Same for a delete: the old read does not bring the user back.
  const t2 = cache.ticket();
  cache.writing();
  cache.deleted("u1", ["k1"]);
  cache.read(t2, [["k1", "u1"]], { userId: "u1", view: view("old") });
  assert.equal(cache.get(["k1"], SETTINGS), null);
  // A read with nothing in between is kept.
  const t3 = cache.ticket();
  cache.read(t3, [["k2", "u2"]], { userId: "u2", view: view("two") });
  assert.deepEqual(cache.get(["k2"], SETTINGS)?.view.full, { name: "two" });
});
