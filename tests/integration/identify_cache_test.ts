/**
 * The identify cache across isolates: two connector instances in Workers on one KV file. An
 * instance alone answers identifies from memory (a sole-writer term); once another instance
 * exists, no identify on the first may ever return a profile older than one the second
 * acknowledged, nor a deleted one.
 */
import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import { Instance } from "../helpers/cluster_instance.ts";
import { hullUser, post } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ENV = { PUBLIC_TRAITS: "email,name", LIMITS_MODE: "observe" };
const ADAPTER = { heartbeatInterval: 250, heartbeatTimeout: 1_500, pollInterval: 500 };
const LANES = 6;
const ROUNDS = 8;

type Update = { user: { id: string; name?: string } };
type Cache = { term: boolean; users: number; hits: number; misses: number };

async function cacheOf(url: string): Promise<Cache> {
  return (await (await fetch(`${url}/healthz`)).json()).identify_cache;
}

/** A signed user:delete of user `id`, posted to `x`. */
async function postDelete(x: Instance, id: string): Promise<number> {
  const res = await x.post({
    notification_id: crypto.randomUUID(),
    channel: "user:delete",
    connector: { id: "c1" },
    messages: [{ user: hullUser(id, "gone") }],
  });
  return res.status;
}

/**
 * The versions (`v<n>` names) a fresh socket of `id` receives: until the first one (at most
 * `ms`), or for `ms` when `all`.
 */
async function identifyVersions(x: Instance, id: string, ms: number, all = false) {
  const s: Socket = await x.connect();
  const got: number[] = [];
  const first = Promise.withResolvers<void>();
  s.on("user.update", (p: Update) => {
    got.push(Number(p.user.name?.slice(1)));
    if (!all) first.resolve();
  });
  s.emit("user.fetch", { claims: { email: `${id}@example.com` } });
  await Promise.race([first.promise, new Promise((r) => setTimeout(r, ms))]);
  s.close();
  return got;
}

Deno.test({
  name: "identify cache - across isolates, never older than acknowledged, never deleted",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const a = await Instance.start(kvPath, ENV, ADAPTER);
    let b: Instance | null = null;
    try {
      // Alone, A answers from memory what it stored.
      assert.equal((await cacheOf(a.url)).term, true, "alone: A holds a term");
      const ids = Array.from({ length: LANES }, (_, i) => `lane${i}`);
      assert.equal((await post(a.url, ids.map((id) => hullUser(id, "v1")))).status, 200);
      for (const id of ids) assert.deepEqual(await identifyVersions(a, id, 5_000), [1]);
      assert.ok((await cacheOf(a.url)).hits >= LANES, "served from memory");

      // B starts on the same KV: from now on B writes, and A must not serve what it kept.
      b = await Instance.start(kvPath, ENV, ADAPTER);
      const peer = b;
      const bUrl = peer.url;
      assert.equal((await cacheOf(a.url)).term, false, "A's term ended before B was ready");

      // Each lane: B acknowledges v<n>, and at once a visitor identifies on A. Whatever A
      // answers first may be newer (a later push) but never older than v<n>.
      const lane = async (id: string) => {
        for (let n = 2; n < 2 + ROUNDS; n++) {
          assert.equal((await post(bUrl, [hullUser(id, `v${n}`)])).status, 200);
          const got = await identifyVersions(a, id, 5_000);
          assert.ok(got.length, `${id}: no profile after v${n} was acknowledged`);
          assert.ok(got[0] >= n, `${id}: got v${got[0]} after v${n} was acknowledged`);
        }
        assert.equal(await postDelete(peer, id), 200);
        const after = await identifyVersions(a, id, 400, true);
        assert.deepEqual(after, [], `${id}: a deleted profile was served`);
      };
      await Promise.all(ids.map(lane));
    } finally {
      await Promise.all([a.stop(), b?.stop()]);
      await Deno.remove(kvPath).catch(() => {});
    }
  },
});
