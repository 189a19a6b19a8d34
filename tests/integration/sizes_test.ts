/**
 * Sizes the connector refuses without falling over: an answer from Hull's API past its cap is
 * cut while it streams (memory stays flat, however large or endless the answer), and settings
 * from Hull too large to store are refused with a reason on the dashboard and in the live log
 * while the rest of the notification applies.
 */
import assert from "node:assert/strict";
import { fakeHullSkipReason, postSigned, startFakeHull } from "../helpers/fake_hull.ts";
import { freshFixture, startTestServer } from "../helpers/server.ts";
import { MAX_REPORT_BYTES } from "../../lib/hull/api_client.ts";

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
        const seen: string[] = [];
        t.server.ctx.events.subscribe((e) => e.message && seen.push(e.message));
        resetPeakRss();
        const before = peakRss();
        const outcome = await t.server.ctx.hull.profiles!.fetch([
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
