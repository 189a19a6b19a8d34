/**
 * Several connector instances as Web Workers of this process (one isolate, one server and one
 * `Deno.openKv` handle each, on one shared KV file): through the Deno KV cluster adapter they
 * behave as one socket.io server. Workers, not processes, because `kv.watch` does not see
 * another process's writes on a local file (docs/contracts.md §7).
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import type { KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";
import { Instance as KvInstance, waitEvent } from "../helpers/cluster_instance.ts";
import { freshFixture } from "../helpers/server.ts";
import { waitFor as wait } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ENV = {
  PUBLIC_TRAITS: "email,traits_seq,traits_plan,name,account.name",
  LIMITS_MODE: "observe",
};
const HEARTBEAT_TIMEOUT = 1_500;
const ADAPTER: KvAdapterOptions = {
  heartbeatInterval: 250,
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  pollInterval: 500,
};

type Payload = { user: { id: string; traits?: { seq?: number } } };

const Instance = {
  start: (kvPath: string) => KvInstance.start(kvPath, ENV, ADAPTER),
};
type Instance = KvInstance;

const waitFor = (cond: () => unknown, what: string, timeoutMs: number) =>
  wait(cond, { what, timeoutMs, intervalMs: 25 });

const counts = (xs: Instance[]) =>
  Promise.all(xs.map((x) => x.call<number>({ cmd: "serverCount" })));
const epochNow = () => performance.timeOrigin + performance.now();
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

Deno.test({
  name: "kv cluster - three worker isolates on one KV file behave as one socket.io server",
  ...opts,
  async fn(t) {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const nodes = await Promise.all([0, 1, 2].map(() => Instance.start(kvPath)));
    const [a, b, c] = nodes;
    try {
      await waitFor(async () => (await counts(nodes)).every((n) => n === 3), "count 3", 10_000);

      await t.step("push - a socket on A receives the push for a webhook posted to C", async () => {
        const s = await a.identify({ email: "ada@example.com" });
        const update = waitEvent<Payload>(s, "user.update");
        assert.equal((await c.post(await freshFixture("user-update.json"))).status, 200);
        assert.equal((await update).user.id, "5f00000000000000000000a1");
        a.closeSockets();
      });

      await t.step("fetchSockets - one worker sees the sockets of all workers", async () => {
        const clients = [
          await a.connect(),
          await b.connect(),
          await c.connect(),
          await c.connect(),
        ];
        const ids = await b.call<string[]>({ cmd: "fetchSockets" });
        assert.deepEqual([...ids].sort(), clients.map((s) => s.id).sort());
        nodes.forEach((n) => n.closeSockets());
      });

      await t.step(
        "burst - 1,000 updates for 100 users reach each socket once, in order",
        async () => {
          await burst(nodes);
          nodes.forEach((n) => n.closeSockets());
        },
      );

      await t.step("heartbeat - a terminated worker leaves the others' serverCount", async () => {
        const gone = performance.now();
        c.terminate();
        // Removal happens on the first heartbeat check (every second) past the timeout.
        await waitFor(
          async () => (await counts([a, b])).every((n) => n === 2),
          "count 2 after terminate",
          HEARTBEAT_TIMEOUT + 5_000,
        );
        console.log(`terminated worker dropped after ${(performance.now() - gone).toFixed(0)} ms`);
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      c.terminate();
      await Deno.remove(kvPath).catch(() => {});
    }
  },
});

/**
 * 100 users, 10 updates each (traits_seq 1..10). User u's updates all go to worker u % 3,
 * sequentially (each seq awaited before the next), in batches of 10 users; the three workers
 * publish concurrently. User u's socket sits on worker (u % 3 + ⌊u / 3⌋) % 3: a third local
 * to the publisher, two thirds on the other workers.
 */
async function burst(nodes: Instance[]): Promise<void> {
  const USERS = 100, UPDATES = 10;
  const user = (u: number) => ({ id: `cluster-user-${u}`, email: `cluster${u}@example.com` });
  const pubOf = (u: number) => u % 3;
  const sockOf = (u: number) => (pubOf(u) + Math.floor(u / 3)) % 3;
  const seen: number[][] = Array.from({ length: USERS }, () => []);
  const latency = { local: [] as number[], remote: [] as number[] };
  const sentAt = new Map<string, number>();
  await Promise.all(Array.from({ length: USERS }, async (_, u) => {
    const s = await nodes[sockOf(u)].identify({ email: user(u).email });
    s.on("user.update", (p: Payload) => {
      const seq = p.user.traits?.seq ?? -1;
      seen[u].push(p.user.id === user(u).id ? seq : -1);
      const sent = sentAt.get(`${u}:${seq}`);
      if (sent) latency[sockOf(u) === pubOf(u) ? "local" : "remote"].push(epochNow() - sent);
    });
  }));

  const send = (from: number, to: number) =>
    Promise.all(nodes.map(async (node, w) => {
      const mine = Array.from({ length: USERS }, (_, u) => u).filter((u) => pubOf(u) === w);
      const groups: number[][] = [];
      for (let i = 0; i < mine.length; i += 10) groups.push(mine.slice(i, i + 10));
      for (let seq = from; seq <= to; seq++) {
        await Promise.all(groups.map(async (g) => {
          const body = {
            notification_id: crypto.randomUUID(),
            channel: "user:update",
            messages: g.map((u) => ({ user: { ...user(u), traits_seq: seq }, segments: [] })),
          };
          const at = epochNow();
          g.forEach((u) => sentAt.set(`${u}:${seq}`, at));
          const res = await node.post(body);
          assert.equal(res.status, 200, `worker ${w} answered ${res.status}`);
        }));
      }
    }));

  await send(1, UPDATES);
  await waitFor(() => seen.every((l) => l.length >= UPDATES), "every update delivered", 60_000);
  // One more update per user, after all the others: a duplicate or a late older version of
  // theirs would arrive before it (one publisher per user keeps its order).
  await send(UPDATES + 1, UPDATES + 1);
  await waitFor(() => seen.every((l) => l.at(-1) === UPDATES + 1), "the last update", 60_000);
  seen.forEach((l) => l.pop());
  const expected = Array.from({ length: UPDATES }, (_, i) => i + 1);
  // A socket's known-profile read can race the first push and send that same version once
  // more right after it (the page drops a version it already shows); any other repeat, a gap or
  // an older version after a newer one fails.
  const collapsed = (l: number[]) => l.filter((v, i) => i === 0 || v !== l[i - 1]);
  seen.forEach((l, u) => {
    assert.deepEqual(collapsed(l), expected, `user ${u} saw ${l.join(",")}`);
    assert.ok(l.length <= UPDATES + 1, `user ${u} saw ${l.join(",")}`);
  });
  const fmt = (xs: number[]) =>
    `p50 ${quantile(xs, 0.5).toFixed(1)} ms, p99 ${
      quantile(xs, 0.99).toFixed(1)
    } ms (n=${xs.length})`;
  console.log(`burst webhook→socket, same worker: ${fmt(latency.local)}`);
  console.log(`burst webhook→socket, other worker (KV adapter): ${fmt(latency.remote)}`);
}

Deno.test({
  name: "kv cluster - alone, an instance keeps batches off the bus; one started later gets them",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const a = await Instance.start(kvPath);
    let b: Instance | null = null;
    const kv = await Deno.openKv(kvPath);
    /** Message types (socket.io-adapter MessageType) in the bus log. */
    const busTypes = async () => {
      const types = new Set<number>();
      for await (const e of kv.list<Uint8Array>({ prefix: ["sio", "log"] })) {
        // A frame: the V8-serialized array of V8-serialized envelopes.
        for (const m of v8.deserialize(e.value) as Uint8Array[]) {
          types.add(v8.deserialize(m).m.type);
        }
      }
      return types;
    };
    try {
      const s = await a.identify({ email: "ada@example.com" });
      const update = waitEvent<Payload>(s, "user.update");
      assert.equal((await a.post(await freshFixture("user-update.json"))).status, 200);
      assert.equal((await update).user.id, "5f00000000000000000000a1");
      assert.ok(!(await busTypes()).has(3), "no BROADCAST written while alone");

      // B starts and at once holds a socket of that user: A's next batch must reach it, though
      // A may not have read B's first heartbeat yet.
      b = await Instance.start(kvPath);
      const t = await b.connect();
      // Listening before user.fetch: the stored profile may arrive right behind room.joined.
      const first = waitEvent<Payload>(t, "user.update");
      const joined = waitEvent(t, "room.joined");
      t.emit("user.fetch", { claims: { email: "ada@example.com" } });
      await joined;
      await first;
      const pushed = waitEvent<Payload & { version: number }>(t, "user.update");
      const fixture = await freshFixture("user-update.json");
      assert.equal((await a.post(fixture)).status, 200);
      assert.equal((await pushed).user.id, "5f00000000000000000000a1");
      assert.ok((await busTypes()).has(3), "with a peer, batches go through the bus");
    } finally {
      kv.close();
      await Promise.all([a.stop(), b?.stop()]);
      await Deno.remove(kvPath).catch(() => {});
    }
  },
});
