/**
 * The store away (a real redis-server killed mid-test, or the Deno KV handle closed): every
 * request that needs the store answers 503 with `Retry-After` (Hull, browsers and operators
 * retry), never 500; /healthz says so; a socket's user.fetch is told, and the process serves
 * on. Once Redis is back, the same requests succeed. Every webhook error answer carries
 * `flow_control` of type "retry".
 */
import assert from "node:assert/strict";
import { redisSkipReason, startRedis } from "../helpers/redis.ts";
import { fakeHullSkipReason, startFakeHull } from "../helpers/fake_hull.ts";
import {
  freshFixture,
  once,
  postSigned,
  startTestServer,
  type TestServer,
} from "../helpers/server.ts";
import { waitFor } from "../helpers/store_fixtures.ts";
import { waitFor as waitUntil } from "../helpers/wait.ts";
import type { KvStore } from "../../lib/store/kv_store.ts";
import { MAX_BODY_BYTES } from "../../lib/webhook/endpoint.ts";
import { adminLogin } from "../helpers/admin.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PASSWORD = "correct horse battery staple";
const skipRedis = redisSkipReason();
const skipHull = await fakeHullSkipReason();

/** Requests that read the store, as a browser or an operator sends them. */
const PAGES = [
  "/install",
  "/readme",
  "/admin",
  "/admin/rooms",
  "/admin/domains",
  "/admin/settings",
  "/admin/log",
  "/admin/preview",
  "/admin/api/stats",
  "/admin/api/log",
];

/**
 * Notifications (signed with our webhook secret) taking each path of the webhook to the store:
 * the claim of a ship:update, the settings of a user:update (applied, and the batch claimed,
 * first) and the users of a user:update (claimed with their write).
 */
async function notifications() {
  const settings = await freshFixture("user-update.json");
  settings.connector = {
    ...(settings.connector as object),
    private_settings: { public_traits: ["email"] },
  };
  return {
    "ship:update claim": await freshFixture("ship-update.json"),
    "settings": settings,
    "user:update": await freshFixture("user-update.json"),
  };
}

/**
 * Asserts that every request needing the store answers 503 with Retry-After, never 500, and
 * sends a socket's user.fetch; resolves with a check of the socket's answer.
 */
async function assertUnavailable(t: TestServer, cookie: string) {
  for (const [path, body] of Object.entries(await notifications())) {
    const res = await postSigned(t.url, body);
    const json = await res.json();
    assert.equal(res.status, 503, `webhook (${path}): ${JSON.stringify(json)}`);
    assert.ok(Number(res.headers.get("retry-after")) > 0, `webhook (${path}) Retry-After`);
    assert.equal(json.flow_control?.type, "retry", `webhook (${path}) flow_control`);
  }
  for (const path of PAGES) {
    const res = await fetch(`${t.url}${path}`, { headers: { cookie }, redirect: "manual" });
    const text = await res.text();
    assert.equal(res.status, 503, `${path}: ${text.slice(0, 200)}`);
    assert.ok(Number(res.headers.get("retry-after")) > 0, `${path} Retry-After`);
  }
  // A dashboard form (the session check reads the store before the CSRF token is looked at).
  const save = await fetch(`${t.url}/admin/domains`, {
    method: "POST",
    body: new URLSearchParams({ domains: "example.com" }),
    headers: { cookie, origin: t.url },
    redirect: "manual",
  });
  assert.equal(save.status, 503, await save.text());
  const health = await fetch(`${t.url}/healthz`);
  assert.equal(health.status, 503);
  assert.equal((await health.json()).status, "degraded");
  assert.ok(Number(health.headers.get("retry-after")) > 0);

  // A socket's user.fetch: told, and the socket stays (its rooms get later updates). Returns
  // once the request is sent; the answer is awaited by the caller.
  const s = t.connect();
  await once(s, "connect");
  const error = once<{ message: string; retry: boolean }>(s, "user.error", 20_000);
  s.emit("user.fetch", { claims: { email: "ada@example.com" } });
  return async () => {
    const told = await error;
    assert.match(told.message, /store unavailable/);
    assert.equal(told.retry, true);
    assert.equal(s.connected, true, "the socket keeps its rooms for later updates");
    s.close();
  };
}

Deno.test({
  name: "store outage - Redis down: every request needing the store answers 503, then recovers",
  ignore: skipRedis !== undefined,
  ...opts,
  async fn() {
    const redis = await startRedis();
    const t = await startTestServer({ env: { ADMIN_PASSWORD: PASSWORD, REDIS_URL: redis.url } });
    try {
      const cookie = (await adminLogin(t.url, PASSWORD)).cookie;
      await redis.stop();
      await waitFor(async () =>
        (await fetch(`${t.url}/healthz`).then((r) => r.json())).status !== "ok"
      );
      const socketTold = await assertUnavailable(t, cookie);

      await redis.start(); // empty: the session's revocation list and profiles went with it
      // With Redis, every emit to a socket goes through the adapter's stream (connection-state
      // recovery), so the answer reaches the socket once Redis is back.
      await socketTold();
      await waitFor(async () => (await fetch(`${t.url}/healthz`)).status === 200, 15_000);
      // The webhook workers' own Redis connections come back on their own backoff: a 503 until
      // then changes nothing, and Hull retries it.
      await waitUntil(async () => {
        const res = await postSigned(t.url, await freshFixture("user-update.json"));
        await res.body?.cancel();
        return res.status === 200;
      }, { timeoutMs: 15_000, intervalMs: 200, what: "a webhook applied again" });
      const page = await fetch(`${t.url}/install`);
      await page.body?.cancel();
      assert.equal(page.status, 200);
      const admin = await fetch(`${t.url}/admin/settings`, { headers: { cookie } });
      await admin.body?.cancel();
      assert.equal(admin.status, 200);
    } finally {
      await t.close().catch(() => {});
      await redis.stop();
    }
  },
});

Deno.test({
  name: "store outage - a closed Deno KV handle: every request needing the store answers 503",
  ...opts,
  async fn() {
    // The handle closed is this isolate's: webhooks are processed here, not in a worker with a
    // handle of its own (Redis going down, above, takes the workers' store with it).
    const t = await startTestServer({ env: { ADMIN_PASSWORD: PASSWORD, WEBHOOK_WORKERS: "0" } });
    try {
      const cookie = (await adminLogin(t.url, PASSWORD)).cookie;
      (t.server.ctx.store as KvStore).kv.close();
      await (await assertUnavailable(t, cookie))();
    } finally {
      await t.close().catch(() => {});
    }
  },
});

Deno.test({
  name: "store outage - a Hull-signed notification whose binding cannot be read answers 503",
  ignore: skipHull !== undefined,
  ...opts,
  async fn() {
    const hull = await startFakeHull();
    const t = await startTestServer({
      // The KV handle closed below is this isolate's: no webhook worker.
      env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url, WEBHOOK_WORKERS: "0" },
      start: { hullCaCerts: [hull.caCert] },
    });
    const signed = async () => {
      const body = await freshFixture("ship-update.json") as Record<string, unknown> & {
        notification_id: string;
      };
      body.configuration = {
        id: "5a1b2c3d4e5f60718293a4b5",
        organization: "acme.hullapp.io",
        secret: hull.secret,
      };
      const res = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(await hull.sign(body)) },
        body: JSON.stringify(body),
      });
      return { res, json: await res.json() };
    };
    try {
      assert.equal((await signed()).res.status, 200, "binds the deployment");
      (t.server.ctx.store as KvStore).kv.close();
      const { res, json } = await signed();
      assert.equal(res.status, 503, JSON.stringify(json));
      assert.ok(Number(res.headers.get("retry-after")) > 0);
      assert.equal(json.flow_control?.type, "retry");
    } finally {
      await t.close().catch(() => {});
      await hull.close();
    }
  },
});

Deno.test({
  name: "webhook - every error answer carries flow_control of type retry",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const answers = [
        // No signature, a bad one, a body that is not JSON, a body that is not a notification.
        await fetch(`${t.url}/smart-notifier`, { method: "POST", body: "{}" }),
        await fetch(`${t.url}/smart-notifier`, {
          method: "POST",
          body: "{}",
          headers: { "x-hull-browser-signature": "t=1,v1=00" },
        }),
        await postSigned(t.url, "not json"),
        await postSigned(t.url, { notification_id: "n1", channel: 3 }),
        // Over the body limit (refused before the signature is looked at).
        await fetch(`${t.url}/smart-notifier`, {
          method: "POST",
          body: new Uint8Array(MAX_BODY_BYTES + 1),
        }),
      ];
      for (const res of answers) {
        const json = await res.json();
        assert.ok(res.status >= 400, JSON.stringify(json));
        assert.equal(typeof json.error, "string");
        assert.equal(json.flow_control?.type, "retry", `${res.status}: ${JSON.stringify(json)}`);
      }
    } finally {
      await t.close();
    }
  },
});
