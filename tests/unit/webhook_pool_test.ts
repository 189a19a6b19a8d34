/**
 * The webhook pool against a scripted worker (tests/fixtures/workers): a worker's pushes and
 * counters are handled before its answer, the body travels whole, a worker that throws is
 * replaced and its request answered 500 (Hull retries), and the pool closes its workers.
 */
import assert from "node:assert/strict";
import { Metrics } from "../../lib/metrics.ts";
import type { Push } from "../../lib/types.ts";
import { poolSize, WebhookPool, type WorkerInit } from "../../lib/webhook/pool.ts";
import { loadConfig } from "../../lib/config.ts";
import { waitFor } from "../helpers/wait.ts";

const WORKER = new URL("../fixtures/workers/scripted_worker.ts", import.meta.url);
const init: WorkerInit = { config: loadConfig({}), secret: "s".repeat(32), stdoutLog: false };

async function withPool(
  size: number,
  fn: (pool: WebhookPool, log: string[], metrics: Metrics) => Promise<void>,
) {
  const log: string[] = [];
  const metrics = new Metrics();
  const pool = await WebhookPool.start(WORKER, size, init, {
    metrics,
    publish: async (id: string, pushes: Push[]) => {
      // An emit that takes a while must still come before the answer.
      await Promise.resolve();
      log.push(`publish ${id} ${JSON.stringify(pushes[0].payload)}`);
    },
  });
  try {
    await fn(pool, log, metrics);
  } finally {
    await pool.close();
  }
}

const headers = (script: string) => new Headers({ "x-script": script });
const body = (n: number) => new Uint8Array(n).fill(7);

Deno.test("webhook pool - a worker's pushes and counters are handled before its answer", async () => {
  await withPool(1, async (pool, log, metrics) => {
    const a = await pool.answer(body(1_000), headers("one"), performance.now());
    log.push(`answer ${a.status}`);
    assert.deepEqual(log, ['publish default {"script":"one"}', "answer 200"]);
    assert.deepEqual(a.body, { script: "one", seen: 1, bytes: 1_000 });
    assert.equal(metrics.counters.scripted, 1);
  });
});

Deno.test("webhook pool - requests in flight spread over the workers", async () => {
  await withPool(2, async (pool) => {
    const answers = await Promise.all(
      [1, 2, 3, 4].map((i) => pool.answer(body(10), headers(`r${i}`), performance.now())),
    );
    // Each worker counts its own requests: two each when four are handed out at once.
    assert.deepEqual(answers.map((a) => a.body.seen).sort(), [1, 1, 2, 2]);
  });
});

Deno.test("webhook pool - a worker that throws is replaced; its request gets a 500", async () => {
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    await withPool(1, async (pool) => {
      const lost = await pool.answer(body(10), headers("throw"), performance.now());
      assert.equal(lost.status, 500);
      assert.equal(lost.body.error, "internal error");
      // While its replacement starts, 503 (Hull retries); then the new worker answers.
      const next = await waitFor(async () => {
        const a = await pool.answer(body(10), headers("after"), performance.now());
        if (a.status !== 200) assert.equal(a.status, 503);
        return a.status === 200 ? a : null;
      }, { what: "the replacement worker's answer" });
      assert.deepEqual(next.body, { script: "after", seen: 1, bytes: 10 });
    });
  } finally {
    console.error = error;
  }
  assert.ok(logged.some((l) => /webhook worker 1 stopped: .*scripted failure/.test(String(l))));
});

Deno.test("webhook pool - size: by cores, as set, or none where a worker cannot reach the store", () => {
  const kv = { webhookWorkers: null, kvPath: "/data/kv.sqlite", redisUrl: null, instance: "h-1" };
  assert.deepEqual(poolSize(kv, false, 1), { size: 0 });
  assert.deepEqual(poolSize(kv, false, 2), { size: 1 });
  assert.deepEqual(poolSize(kv, false, 16), { size: 4 });
  assert.deepEqual(poolSize({ ...kv, webhookWorkers: 6 }, false, 2), { size: 6 });
  assert.deepEqual(poolSize({ ...kv, instance: "deploy-abc-12" }, false, 2), { size: 0 });
  const redis = { ...kv, kvPath: undefined, redisUrl: "redis://r:6379" };
  assert.deepEqual(poolSize(redis, false, 4), { size: 3 });
  // Deno's default KV location is per main module: a worker would open another database.
  assert.deepEqual(poolSize({ ...kv, kvPath: undefined }, false, 4), { size: 0 });
  const asked = { ...kv, kvPath: undefined, webhookWorkers: 2 };
  assert.match(poolSize(asked, false, 4).refused!, /set KV_PATH to a file/);
  assert.match(poolSize({ ...asked, kvPath: ":memory:" }, false, 4).refused!, /in-memory/);
  assert.match(poolSize({ ...kv, webhookWorkers: 2 }, true, 4).refused!, /handed in/);
  assert.deepEqual(poolSize({ ...kv, webhookWorkers: 0, kvPath: undefined }, false, 4), {
    size: 0,
  });
});
