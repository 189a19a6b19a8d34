/**
 * Sizes the connector refuses without falling over: an answer from Hull's API past its cap is
 * cut while it streams (memory stays flat, however large or endless the answer), and settings
 * from Hull too large to store are refused with a reason on the dashboard and in the live log
 * while the rest of the notification applies.
 */
import assert from "node:assert/strict";
import { fakeHullSkipReason, postSigned, startFakeHull } from "../helpers/fake_hull.ts";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { MAX_REPORT_BYTES } from "../../lib/hull/api_client.ts";
import { loadManaged } from "../../lib/hull/settings_sync.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skipHull = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";
const MB = 1024 * 1024;

/** This process's peak resident memory (VmHWM) in bytes, after resetting it to the current. */
function resetPeakRss(): void {
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
}
function peakRss(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** A connector that Hull has sent its credentials to, asking the fake Hull for profiles. */
async function installed() {
  const hull = await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url },
    start: { hullCaCerts: [hull.caCert] },
  });
  const body = await freshFixture("ship-update.json") as Record<string, unknown> & {
    notification_id: string;
  };
  body.configuration = { id: CONNECTOR_ID, organization: "acme.hullapp.io", secret: hull.secret };
  assert.equal((await postSigned(t.url, hull, body)).status, 200);
  return {
    hull,
    t,
    async close() {
      await t.close();
      await hull.close();
    },
  };
}

for (const [label, size] of [["a 200 MB", 200 * MB], ["an endless", Infinity]] as const) {
  Deno.test({
    name: `profile fetch - ${label} answer from Hull is cut at the cap while streaming, ` +
      "memory stays flat",
    ignore: skipHull !== undefined || Deno.build.os !== "linux",
    ...opts,
    async fn() {
      const { hull, t, close } = await installed();
      hull.reports = () => ({ streamBytes: size });
      try {
        // The fetcher of the connector Hull's notification registered, with its credentials.
        const connector = (await t.server.ctx.connectors.get(CONNECTOR_ID, true))!;
        const seen: string[] = [];
        connector.events.subscribe((e) => e.message && seen.push(e.message));
        resetPeakRss();
        const before = peakRss();
        const outcome = await connector.services.profiles!.fetch([
          { type: "email", value: `big-${size}@example.com` },
        ]);
        const growth = peakRss() - before;
        assert.equal(outcome, "failed");
        // Without a cap the answer is held whole: 200 MB as bytes, then as a string (~400 MB).
        assert.ok(growth < 50 * MB, `peak RSS grew by ${(growth / MB).toFixed(1)} MB`);
        assert.ok(
          seen.some((m) => m.includes(`larger than ${MAX_REPORT_BYTES} bytes`)),
          seen.join("\n"),
        );
        assert.ok(
          hull.streamed.bytes < 50 * MB,
          `Hull sent ${(hull.streamed.bytes / MB).toFixed(1)} MB before the connector hung up`,
        );
        console.log(
          `  ${label}: refused after ${(hull.streamed.bytes / MB).toFixed(1)} MB sent, ` +
            `peak RSS +${(growth / MB).toFixed(1)} MB`,
        );
      } finally {
        await close();
      }
    },
  });
}

const PASSWORD = "correct horse battery staple";

/** Lists that each pass the per-list limits (1,000 entries of 200 characters) but total 80 KB. */
function bigLists() {
  const names = (p: string) => Array.from({ length: 400 }, (_, i) => `${p}_${i}`.padEnd(100, "x"));
  return { public_traits: names("trait"), public_segments: names("seg") };
}

async function page(t: TestServer, path: string, cookie = ""): Promise<string> {
  const res = await fetch(`${t.url}${path}`, { headers: { cookie } });
  assert.equal(res.status, 200, path);
  return await res.text();
}

Deno.test({
  name: "hull settings - settings too large to store are refused with a reason on the dashboard " +
    "and in the live log; the notification's users apply (200)",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { ADMIN_PASSWORD: PASSWORD } });
    try {
      const { ctx } = t.server;
      const before = structuredClone(ctx.live.settings);
      const body = await freshFixture("user-update.json");
      body.connector = { ...(body.connector as object), private_settings: bigLists() };
      const res = await t.postNotification(body);
      assert.equal(res.status, 200, await res.text());
      // The users applied; the settings did not.
      const userId = (body.messages as { user: { id: string } }[])[0].user.id;
      assert.ok(await ctx.store.getProfile(userId), "the notification's user is stored");
      assert.deepEqual(ctx.live.settings, before);
      assert.deepEqual((await ctx.store.getConfig()).settings, before);
      const managed = await loadManaged(ctx.store);
      assert.match(managed.refused?.reason ?? "", /settings from Hull take \d+ bytes stored/);
      assert.equal(managed.managed.public_traits, undefined, "a refused key is not synced");
      // Every notification carrying them gets its 200 (Hull would otherwise retry forever).
      const again = await freshFixture("user-update.json");
      again.connector = body.connector;
      assert.equal((await t.postNotification(again)).status, 200);

      // In the live log...
      await ctx.flush();
      const log = await ctx.store.listEvents(100);
      assert.ok(
        log.some((e) =>
          e.event === "incoming.connection.error" && /settings from Hull refused/.test(e.message!)
        ),
        JSON.stringify(log.map((e) => e.message)),
      );
      // ...on the settings page and on Hull's installation tab.
      const res2 = await fetch(`${t.url}/admin/login`, {
        method: "POST",
        body: new URLSearchParams({ password: PASSWORD }),
        redirect: "manual",
      });
      await res2.body?.cancel();
      const cookie = res2.headers.get("set-cookie")!.split(";")[0];
      const settingsPage = await page(t, "/admin/settings", cookie);
      assert.match(settingsPage, /data-refused="hull-settings"/);
      assert.match(settingsPage, /were refused, too large to store/);
      assert.match(settingsPage, /settings from Hull take \d+ bytes stored/);
      assert.match(await page(t, "/install"), /were refused, too large to store/);

      // Settings that fit apply, and the notice goes.
      const fits = await freshFixture("ship-update.json");
      fits.connector = {
        ...(fits.connector as object),
        private_settings: { public_traits: ["email"] },
      };
      assert.equal((await t.postNotification(fits)).status, 200);
      assert.deepEqual(ctx.live.settings.public_traits, ["email"]);
      assert.equal((await loadManaged(ctx.store)).refused, null);
      assert.doesNotMatch(await page(t, "/admin/settings", cookie), /data-refused/);

      // The dashboard's own form follows the same rule: refused with the reason, not a 500.
      const csrf = (await (await fetch(`${t.url}/admin/api/session`, { headers: { cookie } }))
        .json()).csrf;
      const { public_traits } = bigLists();
      const form = await fetch(`${t.url}/admin/settings`, {
        method: "POST",
        headers: { cookie, origin: t.url },
        body: new URLSearchParams({
          _csrf: csrf,
          // (public_traits is managed in Hull now: the form leaves it alone)
          anonymous_traits: public_traits.join("\n"),
          public_account_segments: public_traits.join("\n"),
          identity_mode: "off",
        }),
        redirect: "manual",
      });
      const text = await form.text();
      assert.equal(form.status, 400, text.slice(0, 300));
      assert.match(text, /Not saved: settings take \d+ bytes stored/);
      assert.deepEqual(ctx.live.settings.public_traits, ["email"]);
    } finally {
      await t.close();
    }
  },
});
