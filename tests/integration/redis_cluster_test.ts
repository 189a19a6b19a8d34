/**
 * Redis mode as it runs in production: two `main.ts` PROCESSES on one redis-server (store and
 * socket.io streams adapter). A webhook on one process reaches sockets on the other, known
 * profiles are served by either, a Redis restart is survived (health degraded, then ok, and
 * nobody gets another user's data), and an unreachable Redis at boot exits 1 with a message.
 * Also prints push latency figures (no assertions: the machine is shared).
 */
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import {
  boot,
  type Client,
  health,
  hullUser,
  identify,
  ORIGIN,
  type Payload,
  post,
  type Proc,
  waitForHealth,
} from "../helpers/cluster.ts";
import { freePort, redisSkipReason, startRedis, type TestRedis } from "../helpers/redis.ts";
import { SECRET, startTestServer, WEBHOOK_SECRET } from "../helpers/server.ts";
import { ioV2 } from "../helpers/v2_client.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const skip = redisSkipReason();

function envFor(redisUrl: string): Record<string, string> {
  return {
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    NO_COLOR: "1",
    REDIS_URL: redisUrl,
    SECRET,
    WEBHOOK_SECRET,
    WHITELISTED_DOMAINS: "localhost,127.0.0.1",
    PUBLIC_TRAITS: "email,name",
    PUBLIC_SEGMENTS: "seg_vip",
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Median and p99 of `n` pushes: webhook posted to `postTo`, received by `c`. */
async function pushLatency(postTo: string, c: Client, userId: string, n: number) {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = `lat-${postTo.slice(-5)}-${i}`;
    const t0 = performance.now();
    const received = c.next((p) => p.user.name === name);
    const res = await post(postTo, [hullUser(userId, name)]);
    await res.body?.cancel();
    await received;
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return `p50 ${percentile(samples, 50).toFixed(1)} ms, p99 ${
    percentile(samples, 99).toFixed(1)
  } ms`;
}

Deno.test({
  name: "redis cluster - two processes on one Redis share pushes, profiles and outages",
  ignore: skip !== undefined,
  ...opts,
  async fn(t) {
    let redis: TestRedis | undefined;
    const procs: Proc[] = [];
    const clients: Client[] = [];
    try {
      redis = await startRedis();
      const [p1, p2] = await Promise.all([boot(envFor(redis.url)), boot(envFor(redis.url))]);
      procs.push(p1, p2);
      const join = async (url: string, claims: Record<string, unknown>) => {
        const c = await identify(url, claims);
        clients.push(c);
        return c;
      };

      await t.step(
        "redis cluster - a webhook on one process reaches a socket on the other",
        async () => {
          const ada = await join(p1.url, { email: "ada@example.com" });
          const res = await post(p2.url, [hullUser("ada", "Ada 1")]);
          assert.equal(res.status, 200, await res.text());
          const p = await ada.next((p) => p.user.name === "Ada 1");
          assert.equal(p.user.id, "ada");
          assert.equal(p.user.email, "ada@example.com");
          assert.ok(!JSON.stringify(p).includes("private-"), "private trait leaked");
        },
      );

      await t.step(
        "redis cluster - a profile stored by one process is served by the other",
        async () => {
          assert.equal((await post(p1.url, [hullUser("bob", "Bob 1")])).status, 200);
          const bob = await join(p2.url, { email: "bob@example.com" });
          const p = await bob.next(() => true);
          assert.equal(p.user.id, "bob");
          assert.equal(p.user.name, "Bob 1");
        },
      );

      await t.step(
        "redis cluster - a socket that drops briefly gets its missed pushes",
        async () => {
          const socket = io(p1.url, {
            transports: ["websocket"],
            forceNew: true,
            reconnectionDelay: 500,
            randomizationFactor: 0,
            extraHeaders: { origin: ORIGIN },
          });
          try {
            const got: string[] = [];
            socket.on("user.update", (p: Payload) => got.push(String(p.user.name)));
            await new Promise<void>((r) => socket.once("connect", () => r()));
            const joined = new Promise((r) => socket.once("room.joined", r));
            socket.emit("user.fetch", { claims: { email: "cat@example.com" } });
            await joined;
            // A first broadcast gives the client an offset in the stream to recover from.
            const first = new Promise((r) => socket.once("user.update", r));
            assert.equal((await post(p2.url, [hullUser("cat", "Cat 1")])).status, 200);
            await first;
            const back = new Promise<void>((r) => socket.io.once("reconnect", () => r()));
            socket.io.engine.close(); // the network drops; the client reconnects in 500 ms
            assert.equal((await post(p2.url, [hullUser("cat", "Cat 2")])).status, 200);
            await back;
            await waitFor(() => got.includes("Cat 2"), { what: "Cat 2 after the reconnect" })
              .catch(() => {/* the assertions below say what came */});
            assert.ok(socket.recovered, "connection state recovered");
            assert.deepEqual(got, ["Cat 1", "Cat 2"]);
          } finally {
            socket.close();
          }
        },
      );

      await t.step(
        "redis cluster - v2 clients of the original snippet get cross-process pushes",
        async () => {
          const s = ioV2(p1.url, ORIGIN);
          try {
            await new Promise((r) => s.once("connect", r));
            const joined = new Promise((r) => s.once("room.joined", r));
            s.emit("user.fetch", { claims: { email: "dan@example.com" } });
            await joined;
            const update = new Promise<Payload>((r) => s.once("user.update", r));
            assert.equal((await post(p2.url, [hullUser("dan", "Dan 1")])).status, 200);
            assert.equal((await update).user.name, "Dan 1");
          } finally {
            s.close();
          }
        },
      );

      await t.step("redis cluster - push latency (figures only)", async () => {
        const lat = await join(p1.url, { email: "lat@example.com" });
        const n = 100;
        // Warm both paths first (JIT, connections, Lua script cache).
        await pushLatency(p2.url, lat, "lat", 3);
        await pushLatency(p1.url, lat, "lat", 3);
        const cross = await pushLatency(p2.url, lat, "lat", n);
        const same = await pushLatency(p1.url, lat, "lat", n);
        console.log(`push latency over ${n} webhooks (post → socket receives):`);
        console.log(`  cross-process via Redis: ${cross}`);
        console.log(`  same process (Redis mode): ${same}`);
        // Baseline: one instance on Deno KV, in this test process (no Redis on the path).
        const kv = await startTestServer();
        try {
          const local = await join(kv.url, { email: "lat@example.com" });
          await pushLatency(kv.url, local, "lat", 3);
          console.log(`  single instance, Deno KV:  ${await pushLatency(kv.url, local, "lat", n)}`);
        } finally {
          await kv.close();
        }
      });

      await t.step(
        "redis cluster - a Redis restart degrades health, then service recovers",
        async () => {
          const ada = await join(p1.url, { email: "ada@example.com" });
          const bob = await join(p1.url, { email: "bob@example.com" });
          await bob.next(() => true); // Bob's known profile...
          bob.got.length = 0; // ...and from here on Bob must get nothing
          await redis!.stop();
          await Promise.all([waitForHealth(p1.url, "degraded"), waitForHealth(p2.url, "degraded")]);
          const h = await health(p1.url);
          assert.equal(h.code, 503);
          // A webhook during the outage is refused (Hull retries it), not acknowledged and lost.
          const during = await post(p2.url, [hullUser("ada", "Ada during outage")]);
          await during.body?.cancel();
          assert.ok(during.status >= 500, `status ${during.status} during the outage`);

          await redis!.start(); // same port, empty: no persistence
          await Promise.all([waitForHealth(p1.url, "ok"), waitForHealth(p2.url, "ok")]);
          assert.equal((await health(p2.url)).code, 200);
          const res = await post(p2.url, [hullUser("ada", "Ada after restart")]);
          assert.equal(res.status, 200, await res.text());
          const p = await ada.next((p) => p.user.name === "Ada after restart", 15_000);
          assert.equal(p.user.id, "ada");

          // Nothing served wrong: every socket only ever saw its own user.
          assert.equal(bob.got.length, 0, `bob got ${JSON.stringify(bob.got)}`);
          for (const c of clients) {
            const ids = new Set(c.got.map((p) => p.user.id));
            assert.ok(ids.size <= 1, `one socket saw several users: ${[...ids]}`);
          }
          // Bob's profile went with the restarted Redis: a new visitor gets none, not Ada's.
          // p2 logs its answer to that user.fetch after anything it sent: "unknown visitor".
          const bobUnknown = () =>
            p2.output().split("\n").filter((l) =>
              l.includes("unknown visitor") && l.includes(`"b**@e******.com"`)
            ).length;
          const before = bobUnknown();
          const bob2 = await join(p2.url, { email: "bob@example.com" });
          await waitFor(() => bobUnknown() > before, {
            timeoutMs: 10_000,
            what: "p2 answering bob2 as an unknown visitor",
          });
          assert.equal(bob2.got.length, 0, `bob2 got ${JSON.stringify(bob2.got)}`);
          // Ada's new profile is served by the other process too.
          const ada2 = await join(p2.url, { email: "ada@example.com" });
          assert.equal((await ada2.next(() => true)).user.name, "Ada after restart");
        },
      );

      await t.step("redis cluster - SIGTERM closes sockets and Redis clients, exit 0", async () => {
        for (const c of clients) c.socket.close();
        const codes = await Promise.all(procs.map((p) => p.stop()));
        assert.deepEqual(codes, [0, 0], procs.map((p) => p.output()).join("\n"));
      });
    } catch (err) {
      for (const [i, p] of procs.entries()) {
        console.error(`--- P${i + 1} output ---\n${p.output()}`);
      }
      throw err;
    } finally {
      for (const c of clients) c.socket.close();
      await Promise.all(procs.map((p) => p.stop()));
      await redis?.stop();
    }
  },
});

Deno.test({
  name: "redis cluster - an unreachable Redis at boot exits 1 with a clear message",
  ...opts,
  async fn() {
    const port = freePort(); // nobody listens here
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: envFor(`redis://127.0.0.1:${port}`),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(
      stderr,
      new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} is unreachable: ECONNREFUSED`),
    );
    assert.ok(!/\n\s+at /.test(stderr), `a stack trace was printed:\n${stderr}`);
  },
});
