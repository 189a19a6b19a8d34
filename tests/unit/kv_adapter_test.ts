/**
 * The Deno KV cluster adapter on its own: plain socket.io Servers in this isolate, each with its
 * own `Deno.openKv` handle on one temp file (watch sees writes from other handles in-process).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io as ioClient, type Socket } from "socket.io-client";
import { waitFor as wait } from "../helpers/wait.ts";
import { createKvAdapter, type KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";

/** Sanitizers on: a closed node leaves no timer, watch or socket behind. */
const opts = {};
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

const waitFor = (cond: () => unknown, what: string, timeoutMs = 8_000) =>
  wait(cond, { what, timeoutMs });

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
  name: "kv adapter - payloads over 64 KiB arrive intact, binary included",
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

      // 400 KB: in attachments beside the log entry, in the same commit.
      const text = "é".repeat(200_000);
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
      // One tick: these go out in one or two commits (#150 makes the frame large).
      for (let i = 0; i < 300; i++) {
        a.io.serverSideEmit("n", i, i === 150 ? "z".repeat(100_000) : `${i}`);
      }
      await waitFor(() => got.length >= 300, "300 messages");
      // A duplicate would come before this marker, published after the 300.
      const marker = new Promise((r) => b.io.on("marker", r));
      a.io.serverSideEmit("marker");
      await marker;
      assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i));
      let values = 0;
      for await (const _ of a.kv.list({ prefix: ["sio", "log"] })) values++;
      assert.ok(values < 20, `300 messages took ${values} log values`);
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
      // A duplicate would come before these markers, published after the messages.
      const markers = Promise.all([0, 1].map(() => next(client, "marker")));
      nodes[0].io.emit("marker");
      nodes[1].io.emit("marker");
      await markers;
      const all = Array.from({ length: N }, (_, i) => i);
      assert.deepEqual(got.a, all);
      assert.deepEqual(got.b, all);
    } finally {
      await closeAll(nodes);
    }
  },
});

Deno.test({
  name: "kv adapter - livePeers reads the other live instances from KV, a new one once ready",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const a = await startNode(path);
    try {
      assert.equal(await a.adapter.livePeers(), 0);
      const b = await startNode(path);
      await b.adapter.ready;
      assert.equal(await a.adapter.livePeers(), 1, "counted once ready: before any socket");
      await b.close();
      assert.equal(await a.adapter.livePeers(), 0, "a closed instance removes its record");
    } finally {
      await a.close();
    }
  },
});

Deno.test({
  name: "kv adapter - a reader starts at the log's end: earlier messages are not replayed",
  ...opts,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".sqlite" });
    const a = await startNode(path);
    let b: Node | undefined;
    try {
      a.io.serverSideEmit("early", 1);
      await a.adapter.flush();
      b = await startNode(path);
      await b.adapter.ready;
      const early: unknown[] = [];
      b.io.on("early", (x) => early.push(x));
      const late = new Promise((r) => b!.io.on("late", r));
      a.io.serverSideEmit("late", 2);
      assert.equal(await late, 2);
      assert.deepEqual(early, [], "published before b started, so not delivered to b");
    } finally {
      await b?.close();
      await a.close();
    }
  },
});
