/**
 * Webhook workers end to end: real workers (lib/webhook_worker.ts) on the instance's Deno KV
 * file, real HTTP, real socket.io-client. The instance holding the sockets only emits what the
 * workers send; nothing acknowledged is lost when the process is killed mid-stream.
 */
import assert from "node:assert/strict";
import type { PublicPayload } from "../../lib/types.ts";
import type { WebhookPool } from "../../lib/webhook/pool.ts";
import { bootMain } from "../helpers/process.ts";
import {
  fakeHullSkipReason,
  postSigned as postHullSigned,
  startFakeHull,
} from "../helpers/fake_hull.ts";
import {
  freshFixture,
  identify,
  once,
  postSigned,
  SECRET,
  startTestServer,
  WEBHOOK_SECRET,
} from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const hullSkip = await fakeHullSkipReason();

/** A user:update of one made-up user `i` (own id and identifiers). */
async function userUpdate(i: number): Promise<Record<string, unknown>> {
  const body = await freshFixture("user-update.json");
  const [m] = body.messages as { user: Record<string, unknown> }[];
  m.user = {
    ...m.user,
    id: `5f0000000000000000${i.toString(16).padStart(6, "0")}`,
    email: `user-${i}@example.com`,
    external_id: `user-${i}`,
    anonymous_ids: [],
  };
  body.messages = [m];
  return body;
}

Deno.test({
  name: "webhook workers - a batch is applied in a worker and pushed by the instance",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { WEBHOOK_WORKERS: "2" } });
    try {
      const { ctx } = t.server;
      assert.equal((ctx.webhook.pool as WebhookPool).size, 2);
      const s = await identify(t, { email: "user-7@example.com" });
      const update = once<PublicPayload>(s, "user.update");
      const res = await t.postNotification(await userUpdate(7));
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await update).user.email, "user-7@example.com");
      // The worker's counters reach the instance's metrics (the dashboard reads them).
      assert.equal(ctx.metrics.counters.webhooks_received, 1);
      assert.equal(ctx.metrics.counters.pushes_sent, 1);
      assert.equal(ctx.metrics.latencies().length, 1);
      // Its store handle wrote what the instance reads.
      assert.ok(await ctx.store.getProfile("5f0000000000000000000007"));
      // Settings a worker applied are in force here once Hull has its answer.
      const ship = await freshFixture("ship-update.json");
      ship.connector = {
        ...(ship.connector as object),
        private_settings: { public_traits: ["email", "name"] },
      };
      assert.equal((await t.postNotification(ship)).status, 200);
      assert.deepEqual(ctx.live.settings.public_traits, ["email", "name"]);
      // A refusal is answered by the worker and logged by the instance.
      const forged = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: { "x-hull-browser-signature": "sha256=00" },
        body: "{}",
      });
      assert.equal(forged.status, 401);
      await forged.body?.cancel();
      assert.equal(ctx.metrics.counters.webhooks_refused, 1);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook workers - settings the dashboard saved apply to the very next webhook",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { WEBHOOK_WORKERS: "1" } });
    try {
      const { ctx } = t.server;
      const s = await identify(t, { email: "user-5@example.com" });
      // As the settings page does: write, apply here, then have the workers read them again.
      await ctx.store.setSettings({ ...ctx.live.settings, public_traits: ["email"] });
      ctx.live.apply(await ctx.store.getConfig());
      await ctx.configChanged("default");
      const update = once<PublicPayload>(s, "user.update");
      assert.equal((await t.postNotification(await userUpdate(5))).status, 200);
      const p = await update;
      assert.equal(p.user.email, "user-5@example.com");
      assert.equal((p.user as Record<string, unknown>).name, undefined, "name is not public now");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook workers - WEBHOOK_WORKERS=0 applies webhooks in the instance itself",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { WEBHOOK_WORKERS: "0" } });
    try {
      assert.equal(t.server.ctx.webhook.pool, undefined);
      const s = await identify(t, { email: "user-3@example.com" });
      const update = once<PublicPayload>(s, "user.update");
      assert.equal((await t.postNotification(await userUpdate(3))).status, 200);
      assert.equal((await update).user.email, "user-3@example.com");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook workers - SIGKILL mid-stream loses no acknowledged update",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const env = { KV_PATH: kvPath, SECRET, WEBHOOK_SECRET, WEBHOOK_WORKERS: "2" };
    const { child, url } = await bootMain(env);
    const acknowledged: number[] = [];
    let killed = false;
    try {
      // Four senders in flight; the process is killed once 20 updates were acknowledged, while
      // others are being applied.
      let next = 0;
      const sender = async () => {
        while (!killed && next < 200) {
          const i = next++;
          try {
            const res = await postSigned(url, await userUpdate(i));
            await res.body?.cancel();
            if (res.status === 200 && !killed) acknowledged.push(i);
            if (acknowledged.length >= 20 && !killed) {
              killed = true;
              child.kill("SIGKILL");
            }
          } catch {
            // The connection died with the process: not acknowledged.
          }
        }
      };
      await Promise.all([sender(), sender(), sender(), sender()]);
      assert.equal((await child.status).signal, "SIGKILL");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    assert.ok(acknowledged.length >= 20);
    // Reopened on the same file: every acknowledged user is there.
    const t = await startTestServer({ kvPath, env: { WEBHOOK_WORKERS: "0" } });
    try {
      for (const i of acknowledged) {
        const id = `5f0000000000000000${i.toString(16).padStart(6, "0")}`;
        assert.ok(await t.server.ctx.store.getProfile(id), `acknowledged user ${i} was lost`);
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook workers - a removed connector's scope stays empty: the workers let go first",
  ignore: hullSkip !== undefined,
  ...opts,
  async fn() {
    const hull = await startFakeHull();
    const t = await startTestServer({
      env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url, WEBHOOK_WORKERS: "1" },
      start: { hullCaCerts: [hull.caCert] },
    });
    const id = "5a1b2c3d4e5f60718293a4b5";
    try {
      // A Hull connector's notification, applied in the worker: its names seen wait there for
      // the next flush.
      const body = await userUpdate(1) as Record<string, unknown> & { notification_id: string };
      body.configuration = { id, organization: "acme.hullapp.io", secret: hull.secret };
      assert.equal((await postHullSigned(t.url, hull, body)).status, 200);
      const { connectors, store } = t.server.ctx;
      await connectors.remove(id);
      // What the worker held back is written now: nothing of the removed connector.
      await t.server.ctx.flush();
      const scope = store.scoped(id);
      try {
        assert.equal(await scope.getMeta("seen"), null, "no names seen written back");
        assert.equal(
          await scope.getProfile(JSON.parse(JSON.stringify(body)).messages[0].user.id),
          null,
        );
        assert.deepEqual(await store.listConnectors(), []);
      } finally {
        await scope.close();
      }
    } finally {
      await t.close();
      await hull.close();
    }
  },
});
