/**
 * The memory reducer on a real socket.io server: one full GC once a burst of connections has
 * settled, none while the server is busy (a webhook in flight, broadcasts going out), none for a
 * trickle.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { Adapter } from "socket.io-adapter";
import { io as ioClient, type Socket } from "socket.io-client";
import { startMemoryReducer } from "../../lib/socket/memory_reducer.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withServer(
  fn: (io: Server, connect: (n: number) => Promise<void>) => Promise<void>,
) {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], serveClient: false });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const clients: Socket[] = [];
  const connect = async (n: number) => {
    await Promise.all(Array.from({ length: n }, () => {
      const s = ioClient(url, { transports: ["websocket"], forceNew: true, reconnection: false });
      clients.push(s);
      return new Promise<void>((resolve) => s.once("connect", () => resolve()));
    }));
  };
  try {
    await fn(io, connect);
  } finally {
    clients.forEach((c) => c.close());
    await new Promise((r) => io.close(() => r(undefined)));
    http.closeAllConnections();
  }
}

Deno.test({
  name: "memory reducer - one full GC after a settled burst, none while busy or for a trickle",
  ...opts,
  async fn() {
    await withServer(async (io, connect) => {
      let busy = true;
      const ran: number[] = [];
      const reducer = startMemoryReducer(
        io,
        () => busy,
        { minConnections: 20, quietMs: 100, minIntervalMs: 0 },
        (ms) => ran.push(ms),
      );
      try {
        await connect(5);
        await sleep(400);
        assert.equal(reducer.runs, 0, "a trickle below the burst size");
        await connect(20);
        await sleep(400);
        assert.equal(reducer.runs, 0, "never while busy (a webhook in flight)");
        busy = false;
        await sleep(400);
        assert.equal(reducer.runs, 1, "once the burst has settled and the server is idle");
        assert.equal(ran.length, 1);
        assert.ok(reducer.last!.heapAfterMB <= reducer.last!.heapBeforeMB);
        await sleep(400);
        assert.equal(reducer.runs, 1, "not again without another burst");
        // The server still serves its sockets after the pause.
        const got = new Promise((r) => io.once("connection", (s) => r(s.id)));
        await connect(1);
        assert.ok(await got);
      } finally {
        reducer.stop();
      }
    });
  },
});

Deno.test({
  name: "memory reducer - waits while sockets get broadcasts, through a replaced adapter too",
  ...opts,
  async fn() {
    await withServer(async (io, connect) => {
      const reducer = startMemoryReducer(
        io,
        () => false,
        { minConnections: 20, quietMs: 150, minIntervalMs: 0 },
      );
      let ticker: ReturnType<typeof setInterval> | undefined;
      try {
        await connect(20);
        // What a cluster adapter does when another instance pushes: the adapter broadcasts, no
        // webhook is in flight here. The adapter is replaced first, as `io.adapter()` does.
        io.adapter(Adapter);
        ticker = setInterval(() => io.to("visitors").emit("user.update", { n: 1 }), 40);
        await sleep(700);
        assert.equal(reducer.runs, 0, "never while broadcasts go out");
        clearInterval(ticker);
        ticker = undefined;
        await sleep(600);
        assert.equal(reducer.runs, 1, "once the broadcasts have stopped");
      } finally {
        if (ticker) clearInterval(ticker);
        reducer.stop();
      }
    });
  },
});
