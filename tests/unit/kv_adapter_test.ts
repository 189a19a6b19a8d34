/**
 * The Deno KV cluster adapter on its own: plain socket.io Servers in this isolate, each with its
 * own `Deno.openKv` handle on one temp file (watch sees writes from other handles in-process).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io as ioClient, type Socket } from "socket.io-client";
import { commit } from "../../lib/store/kv_retry.ts";
import { createKvAdapter, type KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const FAST: KvAdapterOptions = {
  heartbeatInterval: 200,
  heartbeatTimeout: 1_500,
  pollInterval: 250,
};

interface Node {
  io: Server;
  kv: Deno.Kv;
  adapter: ReturnType<typeof createKvAdapter>;
  connect(nsp?: string): Promise<Socket>;
  close(): Promise<void>;
}

async function startNode(kvPath: string, o: KvAdapterOptions = {}): Promise<Node> {
  const kv = await Deno.openKv(kvPath);
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], serveClient: false });
  const adapter = createKvAdapter(kv, { ...FAST, ...o });
  io.adapter(adapter);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const clients: Socket[] = [];
  let closed = false;
  return {
    io,
    kv,
    adapter,
    async connect(nsp = "/") {
      const s = ioClient(`http://127.0.0.1:${port}${nsp}`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
      });
      clients.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
      });
      return s;
    },
    async close() {
      if (closed) return;
      closed = true;
      clients.forEach((c) => c.close());
      await new Promise((r) => io.close(() => r(undefined)));
      http.closeAllConnections();
      await adapter.close();
      kv.close();
    },
  };
}

/** Starts `n` nodes on one fresh KV file and waits until each counts all of them. */
async function cluster(n: number, o: KvAdapterOptions = {}): Promise<Node[]> {
  const path = await Deno.makeTempFile({ suffix: ".sqlite" });
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) nodes.push(await startNode(path, o));
  await waitFor(async () => {
    const counts = await Promise.all(nodes.map((x) => x.io.of("/").adapter.serverCount()));
    return counts.every((c) => c === n);
  }, "every node counts the whole cluster");
  return nodes;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 8_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function next<T>(s: Socket, event: string, ms = 8_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    s.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

async function closeAll(nodes: Node[]) {
  await Promise.all(nodes.map((n) => n.close()));
}

Deno.test({
  name: "kv adapter - serverSideEmit with ack collects the answers of the other servers",
  ...opts,
  async fn() {
    const nodes = await cluster(3);
    try {
      nodes.slice(1).forEach((n, i) =>
        n.io.on("ping", (x: number, cb: (y: number) => void) => cb(x + i + 1))
      );
      const answers = await nodes[0].io.serverSideEmitWithAck("ping", 40);
      assert.deepEqual([...answers].sort(), [41, 42]);
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - socketsJoin, room emit, socketsLeave and disconnectSockets reach a peer",
  ...opts,
  async fn() {
    const [a, b] = await cluster(2);
    try {
      const client = await b.connect();
      // Published in this order by one server, so applied in this order by the peer.
      a.io.socketsJoin("vip");
      const hello = next(client, "hello");
      a.io.to("vip").emit("hello", "world");
      assert.equal(await hello, "world");
      a.io.in("vip").socketsLeave("vip");
      await waitFor(() => !b.io.of("/").adapter.rooms.has("vip"), "room left on the peer");
      const gone = next(client, "disconnect");
      a.io.disconnectSockets();
      assert.equal(await gone, "io server disconnect");
    } finally {
      await closeAll([a, b]);
    }
  },
});

Deno.test({
  name: "kv adapter - payloads over 64 KiB and over one commit arrive intact, binary included",
  ...opts,
  async fn() {
    const [a, b] = await cluster(2);
    try {
      const client = await b.connect();
      const bytes = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
      const big = next<{ bin: ArrayBuffer; tag: string }>(client, "big");
      a.io.emit("big", { bin: bytes, tag: "x" });
      const got = await big;
      assert.equal(got.tag, "x");
      assert.deepEqual(new Uint8Array(got.bin), bytes);

      // 1.5 MB: more than one atomic operation may carry; parts are written aside first.
      const text = "é".repeat(750_000);
      const seen = new Promise<string>((r) => b.io.on("huge", r));
      a.io.serverSideEmit("huge", text);
      assert.equal(await seen, text);
    } finally {
      await closeAll([a, b]);
    }
  },
});

Deno.test({
  name: "kv adapter - small messages packed around a large one arrive once and in order",
  ...opts,
  async fn() {
    const [a, b] = await cluster(2);
    try {
      const got: number[] = [];
      b.io.on("n", (i: number) => got.push(i));
      // One tick: these go out in one commit, small ones sharing values, #150 in parts.
      for (let i = 0; i < 300; i++) {
        a.io.serverSideEmit("n", i, i === 150 ? "z".repeat(100_000) : `${i}`);
      }
      await waitFor(() => got.length >= 300, "300 messages");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i));
      let values = 0;
      for await (const e of a.kv.list({ prefix: ["sio", "log"] })) if (e.key.length === 4) values++;
      assert.ok(values < 50, `300 messages took ${values} log values`);
    } finally {
      await closeAll([a, b]);
    }
  },
});

Deno.test({
  name: "kv adapter - fetchSockets returns the sockets of every server with rooms and data",
  ...opts,
  async fn() {
    const nodes = await cluster(2);
    try {
      nodes[1].io.on("connection", (s) => {
        s.data = { who: "b" };
        s.join("r1");
      });
      const clients = [
        await nodes[0].connect(),
        await nodes[1].connect(),
        await nodes[1].connect(),
      ];
      const sockets = await nodes[0].io.fetchSockets();
      assert.deepEqual(sockets.map((s) => s.id).sort(), clients.map((c) => c.id).sort());
      const remote = sockets.find((s) => s.id === clients[1].id)!;
      assert.deepEqual(remote.data, { who: "b" });
      assert.ok(remote.rooms.has("r1"));
      assert.equal((await nodes[0].io.in("r1").fetchSockets()).length, 2);
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - close() announces departure: peers drop the node long before the timeout",
  ...opts,
  async fn() {
    const nodes = await cluster(3, { heartbeatTimeout: 60_000 });
    try {
      await nodes[2].close();
      await waitFor(
        async () => {
          const counts = await Promise.all(
            nodes.slice(0, 2).map((n) => n.io.of("/").adapter.serverCount()),
          );
          return counts.every((c) => c === 2);
        },
        "peers count 2",
        5_000,
      );
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - a child namespace used on one server is adopted by the other",
  ...opts,
  async fn() {
    const [a, b] = await cluster(2);
    try {
      const parents = [a, b].map((n) => n.io.of(/^\/.+$/));
      parents.forEach((p) => p.on("connection", (s) => s.join("room-1")));
      const client = await a.connect("/connector-42");
      // b never saw a client on /connector-42, yet its parent broadcast must reach a's socket.
      await waitFor(() => b.io._nsps.has("/connector-42"), "b adopts the namespace");
      const got = next(client, "update");
      parents[1].to("room-1").emit("update", 7);
      assert.equal(await got, 7);
    } finally {
      await closeAll([a, b]);
    }
  },
});

Deno.test({
  name: "kv adapter - concurrent publishers: each message arrives once, in per-publisher order",
  ...opts,
  async fn() {
    const nodes = await cluster(3);
    try {
      const client = await nodes[2].connect();
      const got: Record<string, number[]> = { a: [], b: [] };
      client.on("m", (from: "a" | "b", i: number) => got[from].push(i));
      const N = 300;
      for (let i = 0; i < N; i++) {
        nodes[0].io.emit("m", "a", i);
        nodes[1].io.emit("m", "b", i);
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0)); // let commits interleave
      }
      await waitFor(() => got.a.length + got.b.length >= 2 * N, "all messages", 20_000);
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would show up meanwhile
      const all = Array.from({ length: N }, (_, i) => i);
      assert.deepEqual(got.a, all);
      assert.deepEqual(got.b, all);
    } finally {
      await closeAll(nodes);
    }
  },
});

/** Counts log entries per publisher id. */
async function logCounts(kv: Deno.Kv): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const e of kv.list({ prefix: ["sio", "log"] })) {
    const id = e.key[2] as string;
    if (e.key.length === 4) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

Deno.test({
  name: "kv adapter - cleanup bounds the log by age and count and removes dead publishers' logs",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const kv = await Deno.openKv(path);
    // A publisher that died long ago, whose keys' expireIn never took effect.
    const old = Date.now() - 3_600_000;
    await kv.atomic()
      .set(["sio", "pub", "dead"], { seq: 2, t: old })
      .set(["sio", "log", "dead", 1], { t: old, s: "/", y: 2, n: 0, d: new Uint8Array() })
      .set(["sio", "log", "dead", 2], { t: old, s: "/", y: 2, n: 1 })
      .set(["sio", "log", "dead", 2, 0], new Uint8Array(10))
      .commit();
    const byAge = await startNode(path, { logRetention: 300 });
    const byCount = await startNode(path, { logRetention: 600_000, maxLogEntries: 20 });
    try {
      // ~25 KB each, so that two share a log value (small ones would pack by the hundred).
      const big = "x".repeat(25_000);
      for (let i = 0; i < 100; i++) {
        byAge.io.emit("x", i, big);
        byCount.io.emit("x", i, big);
      }
      let counts = new Map<string, number>();
      await waitFor(
        async () => {
          counts = await logCounts(kv);
          counts.delete("dead");
          // byAge keeps only the last 300 ms (heartbeats); byCount at most 20 (+ one burst's slack).
          if (counts.size !== 2 || [...counts.values()].some((c) => c > 30)) return false;
          if ((await kv.get(["sio", "pub", "dead"])).versionstamp !== null) return false;
          // Both publishers done writing (the log may be bounded before the last emits land).
          const pubs = await Array.fromAsync(kv.list<{ seq: number }>({ prefix: ["sio", "pub"] }));
          return pubs.length === 2 && pubs.every((e) => e.value.seq >= 100);
        },
        "logs pruned",
        10_000,
      );
      // Two 25 KB messages per value: 100 messages took 50 values, now 30 at most.
      for await (const e of kv.list<{ seq: number }>({ prefix: ["sio", "pub"] })) {
        assert.ok(e.value.seq >= 100, `publisher ${String(e.key[2])} wrote all of its messages`);
      }
      const leftovers = await Array.fromAsync(kv.list({ prefix: ["sio", "log", "dead"] }));
      assert.equal(leftovers.length, 0);
    } finally {
      await closeAll([byAge, byCount]);
      kv.close();
    }
  },
});

Deno.test({
  name: "kv adapter - the fence fails a write once a peer appears, and is withheld from old peers",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const nodes = [await startNode(path)];
    const { adapter: a, kv } = nodes[0];
    const pubs = async () => {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["sio", "pub"] })) n++;
      return n;
    };
    try {
      await a.flush();
      assert.equal(a.fence(), null, "no fence before peers were counted");
      assert.equal(await a.livePeers(), 0);
      const alone = a.fence();
      assert.equal(alone?.peers, 0, "alone: a fence");
      // Fenced writes commit while no publisher appears, A's own heartbeats included...
      await waitFor(async () => (await pubs()) === 1, "A's first heartbeat");
      await new Promise((r) => setTimeout(r, 3 * FAST.heartbeatInterval!));
      const held = await commit(kv.atomic().check(alone!.check).set(["w", 1], 1));
      assert.equal(held.ok, true);
      // ...and fail once one has, even before A's watch noticed it.
      nodes.push(await startNode(path));
      await waitFor(async () => (await pubs()) === 2, "B's first commit");
      const after = await commit(kv.atomic().check(alone!.check).set(["w", 2], 2));
      assert.equal(after.ok, false, "a write fenced on 'alone' must fail once B exists");
      assert.equal(await a.livePeers(), 1);
      assert.equal(a.fence()?.peers, 1, "B sums the epoch: a fence with one peer");
      // A peer of an earlier version (its record without `e`) does not sum the epoch: no fence.
      await kv.set(["sio", "pub", "old-version"], { seq: 0, t: Date.now() });
      assert.equal(await a.livePeers(), 2);
      assert.equal(a.fence(), null);
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - the relay flag: committed before wantRelay resolves, fails older fences",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const nodes = [await startNode(path), await startNode(path)];
    const [{ adapter: a, kv }, { adapter: b }] = nodes;
    try {
      await Promise.all([a.flush(), b.flush()]);
      await waitFor(async () => (await a.peers()).peers === 1, "A counts B");
      // Both versions say they want no relay (no legacy socket anywhere yet).
      assert.deepEqual(await a.peers(), { peers: 1, relay: false });
      const before = a.fence();
      assert.equal(before?.relay, false);
      // B turns its flag on: once that resolves, a read (or a write fenced before it) sees it.
      await b.wantRelay(true);
      assert.deepEqual(await a.peers(), { peers: 1, relay: true }, "read after: relay");
      // Two handles on one file: a commit may find it locked for a moment.
      const fenced = await commit(kv.atomic().check(before!.check).set(["w", 1], 1));
      assert.equal(fenced.ok, false, "a write fenced before B's flag turned on must fail");
      assert.equal(a.fence()?.relay, true);
      // On again: held, nothing to wait for, and no roster change (fences keep holding).
      const held = a.fence()!;
      await b.wantRelay(true);
      await new Promise((r) => setTimeout(r, 3 * FAST.heartbeatInterval!));
      assert.equal((await commit(kv.atomic().check(held.check).set(["w", 2], 2))).ok, true);
      // Off: written by B's next commit (a heartbeat); peers may then skip the relay.
      await b.wantRelay(false);
      await waitFor(async () => !(await a.peers()).relay, "B's flag off");
      // A record without the flag (an instance of an earlier version) may hold legacy sockets.
      await kv.set(["sio", "pub", "old-version"], { seq: 0, t: Date.now(), e: 1 });
      assert.deepEqual(await a.peers(), { peers: 2, relay: true });
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - cargo rides another commit in publish order, exactly once, or not at all",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const nodes = [await startNode(path), await startNode(path)];
    const [a, b] = nodes;
    try {
      await Promise.all([a.adapter.flush(), b.adapter.flush()]);
      b.io.on("connection", (s) => s.join("r"));
      const client = await b.connect();
      const got: number[] = [];
      client.on("m", (n: number) => got.push(n));
      await waitFor(async () => (await a.adapter.peers()).peers === 1, "A counts B");
      // A ride whose own commit also writes ["x"], or checks a key that does not hold.
      const ride = (n: number, holds: boolean) =>
        a.adapter.cargo("/", [{ rooms: ["r"], event: "m", payload: n }])!.ride(async (add) => {
          const op = a.kv.atomic().set(["x", n], n);
          if (!holds) op.check({ key: ["x", n], versionstamp: "00000000000000010000" });
          add(op);
          return (await commit(op)).ok;
        });
      a.io.to("r").emit("m", 1);
      const second = ride(2, true); // numbered after 1, committed before 3
      a.io.to("r").emit("m", 3);
      const lost = ride(99, false);
      a.io.to("r").emit("m", 4);
      assert.equal(await second, true);
      assert.equal(await lost, false, "a failed check: nothing of the cargo is written");
      await waitFor(() => got.length >= 4, "4 messages on B", 8_000);
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive meanwhile
      assert.deepEqual(got, [1, 2, 3, 4]);
      assert.equal((await a.kv.get(["x", 99])).versionstamp, null);
      // The cargo's value and ["x", 2] landed in one commit.
      const stamp = (await a.kv.get(["x", 2])).versionstamp;
      const values = await Array.fromAsync(a.kv.list({ prefix: ["sio", "log"] }));
      assert.ok(values.some((e) => e.versionstamp === stamp), "the cargo in the same commit");
    } finally {
      await closeAll(nodes);
    }
  },
});
