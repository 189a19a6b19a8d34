/**
 * The sole-writer term (lib/cluster/kv_sole_term.ts) on real Deno KV: socket.io Servers with
 * the KV adapter, each with its own `Deno.openKv` handle on one temp file.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createKvAdapter, type KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";
import { SoleTerm, TERM_MS } from "../../lib/cluster/kv_sole_term.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const FAST: KvAdapterOptions = {
  heartbeatInterval: 200,
  heartbeatTimeout: 1_500,
  pollInterval: 250,
};

async function node(path: string, o: KvAdapterOptions = {}) {
  const kv = await Deno.openKv(path);
  const io = new Server(createServer(), { serveClient: false });
  const adapter = createKvAdapter(kv, { ...FAST, ...o });
  io.adapter(adapter);
  await adapter.flush();
  return {
    kv,
    adapter,
    async close() {
      await new Promise((r) => io.close(() => r(undefined)));
      await adapter.close();
      kv.close();
    },
  };
}

const SOLE = ["sio", "sole"];

Deno.test({
  name: "sole term - a lone instance takes a term, and a newcomer's settle ends it first",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const a = await node(path);
    const b = await (async () => {
      await a.adapter.settle();
      assert.ok(a.adapter.term.holds(), "alone: A takes a term");
      assert.equal(a.adapter.fence()?.peers, 0);
      const b = await node(path);
      const t = performance.now();
      await b.adapter.settle();
      assert.equal(a.adapter.term.holds(), false, "A stopped serving before B may write");
      assert.equal(b.adapter.term.holds(), false, "B is not alone");
      // A told B (its watch saw B's first commit): B did not wait out the lease.
      assert.ok(performance.now() - t < TERM_MS, "B waited for A's answer, not the lease");
      assert.equal((await b.kv.get(SOLE)).value, null);
      return b;
    })().finally(() => a.close());
    await b.close();
    await Deno.remove(path).catch(() => {});
  },
});

Deno.test({
  name: "sole term - a newcomer waits out the lease of a holder that does not answer",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const kv = await Deno.openKv(path);
    // A holder that stalled (or died) holding its term: nobody will delete its key.
    await kv.set(SOLE, { pub: "stalled-holder" });
    const b = await node(path);
    try {
      const t = performance.now();
      await b.adapter.settle();
      const waited = performance.now() - t;
      assert.ok(waited >= TERM_MS, `waited ${waited.toFixed(0)} ms, less than a lease`);
      // The dead holder's key is gone; B, alone, took a term of its own.
      assert.notEqual((await kv.get<{ pub: string }>(SOLE)).value?.pub, "stalled-holder");
      assert.ok(b.adapter.term.holds());
    } finally {
      await b.close();
      kv.close();
      await Deno.remove(path).catch(() => {});
    }
  },
});

Deno.test("sole term - a lease not renewed runs out; a moved roster is not renewed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const term = new SoleTerm(kv, ["t"], "me", 150);
    const changes: boolean[] = [];
    term.onChange(() => changes.push(term.holds()));
    const roster = await kv.get(["t", "roster"]);
    assert.ok(await term.update({ t0: performance.now(), roster, peers: 0, legacy: 0 }));
    assert.ok(term.holds());
    assert.ok(await term.renew(), "roster as the term left it: renewed");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(term.holds(), false, "a stalled holder serves nothing once the lease ran out");
    assert.ok(await term.renew(), "renewed again");
    assert.ok(term.holds());
    await kv.atomic().sum(["t", "roster"], 1n).commit(); // a peer appeared
    assert.equal(await term.renew(), false);
    const moved = await kv.get(["t", "roster"]);
    assert.equal(
      await term.update({ t0: performance.now(), roster: moved, peers: 1, legacy: 0 }),
      null,
    );
    assert.equal(term.holds(), false);
    assert.deepEqual(changes, [true, false]);
    assert.equal((await kv.get(["t", "sole"])).value, null, "the ended term's key is gone");
    // Not with a peer of an earlier version alive either.
    const r = await kv.get(["t", "roster"]);
    assert.equal(
      await term.update({ t0: performance.now(), roster: r, peers: 0, legacy: 1 }),
      null,
    );
  } finally {
    kv.close();
  }
});

Deno.test({
  name: "sole term - an instance back from a long silence announces itself before writing",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    // Short windows: a peer silent for 3 s counts as gone. B sends no heartbeats of its own.
    const short = { logRetention: 1_000, heartbeatTimeout: 1_500 };
    const a = await node(path, short);
    const b = await node(path, { ...short, heartbeatInterval: 60_000 });
    try {
      await a.adapter.settle();
      assert.equal(a.adapter.term.holds(), false, "B is alive");
      await new Promise((r) => setTimeout(r, 3_300));
      await a.adapter.livePeers();
      assert.ok(a.adapter.term.holds(), "B counted gone: A takes a term");
      await b.adapter.beforeWrite();
      assert.equal(a.adapter.term.holds(), false, "A's term ended before B's write");
    } finally {
      await b.close();
      await a.close();
      await Deno.remove(path).catch(() => {});
    }
  },
});
