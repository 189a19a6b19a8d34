/**
 * Batches and answers as Hull expects them, on a real server with a real https server playing
 * Hull (tests/helpers/fake_hull.ts): a malformed message is skipped and logged while the rest
 * of its batch is applied, every error answer carries `flow_control`, bodies up to 20 MB are
 * taken and larger ones refused while they stream, and `whitelisted_domains` entries are read
 * one by one (a URL taken as its host, a bad entry left out alone).
 */
import assert from "node:assert/strict";
import {
  type FakeHull,
  fakeHullSkipReason,
  postSigned,
  startFakeHull,
} from "../helpers/fake_hull.ts";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/store_fixtures.ts";
import type { LogEntry } from "../../lib/types.ts";
import { MAX_BODY_BYTES } from "../../lib/webhook/endpoint.ts";
import { eventsOf, hullConnector } from "../helpers/hull_connectors.ts";
import { loadManaged } from "../../lib/hull/settings_sync.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";

type Body = Record<string, unknown> & { notification_id: string };

/**
 * A server installed in the fake Hull (its first notification registered the connector), and
 * the connector's live log from then on.
 */
async function installed(env: Record<string, string> = {}) {
  const hull = await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url, ...env },
    start: { hullCaCerts: [hull.caCert] },
  });
  assert.equal(
    (await postSigned(t.url, hull, await notification(hull, "ship-update.json"))).status,
    200,
  );
  const connector = (await hullConnector(t, CONNECTOR_ID))!;
  // The connector's live log as stored, oldest first (webhook workers' entries included).
  const log = async (): Promise<LogEntry[]> =>
    (await eventsOf(t, CONNECTOR_ID)).filter((e) => e.time >= since).reverse();
  const since = new Date().toISOString();
  return {
    hull,
    t,
    log,
    connector,
    async close() {
      await t.close();
      await hull.close();
    },
  };
}

/** A fixture with a fresh id and the fake Hull's connector credentials. */
async function notification(hull: FakeHull, name: string): Promise<Body> {
  const body = await freshFixture(name) as Body;
  body.configuration = { id: CONNECTOR_ID, organization: "acme.hullapp.io", secret: hull.secret };
  return body;
}

/** Whether the Hull connector's scope holds the user of `externalId`. */
async function stored(t: TestServer, externalId: string): Promise<boolean> {
  const { hasher } = t.server.ctx.webhook;
  const key = await hasher.hash({ type: "external_id", value: externalId });
  const connector = await hullConnector(t, CONNECTOR_ID);
  return (await connector?.store.lookupUserId([key]) ?? null) !== null;
}

Deno.test({
  name:
    "batches - a malformed message is skipped and logged, the rest applied, 200 with flow_control",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, log, close } = await installed();
    try {
      const body = await notification(hull, "user-update.json");
      const ada = (body.messages as Record<string, Record<string, unknown>>[])[0];
      const grace = structuredClone(ada);
      Object.assign(grace.user, {
        id: "5f00000000000000000000a2",
        email: "grace@example.com",
        external_id: "user-1002",
        anonymous_ids: [],
      });
      body.messages = [
        ada,
        { user: { email: "no-id@example.com", external_id: "user-bad-1" } }, // no user.id
        { user: { id: "5f00000000000000000000a3", email: "seg@example.com" }, segments: "vip" },
        "not a message",
        grace,
      ];
      const res = await postSigned(t.url, hull, body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.flow_control, { type: "next", size: 100, in: 100 });
      assert.equal(res.body.skipped, 3);
      assert.deepEqual(res.body.errors, [
        "skipped messages[1].user.id must be a non-empty string",
        "skipped messages[2].segments must be an array",
        "skipped messages[3] must be an object",
      ]);
      assert.ok(await stored(t, "user-1001"), "the first good message was applied");
      assert.ok(await stored(t, "user-1002"), "the last good message was applied");
      assert.equal(await stored(t, "user-bad-1"), false);

      const skipped = (await log()).filter((e) => e.event === "outgoing.user.error");
      assert.equal(skipped.length, 3, JSON.stringify(skipped));
      assert.match(skipped[0].message!, /user:update message skipped.*messages\[1\]\.user\.id/);
      assert.deepEqual(Object.keys(skipped[0].identifiers ?? {}).sort(), ["email", "external_id"]);
      // Masked identifiers only, and nothing of the body.
      const text = JSON.stringify(skipped);
      for (const raw of ["no-id@example.com", "user-bad-1", "seg@example.com", "not a message"]) {
        assert.ok(!text.includes(raw), `${raw} is not in the log`);
      }

      // A body that is not a notification is still refused whole, with flow_control.
      const notBatch = await notification(hull, "user-update.json");
      notBatch.messages = { not: "an array" };
      const refused = await postSigned(t.url, hull, notBatch);
      assert.equal(refused.status, 400);
      assert.equal((refused.body.flow_control as { type: string }).type, "retry");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "webhook answers - every error answer carries flow_control retry",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, close } = await installed();
    try {
      const body = await notification(hull, "user-update.json");
      const post = async (raw: BodyInit, headers: Record<string, string>) => {
        const res = await fetch(`${t.url}/smart-notifier`, { method: "POST", headers, body: raw });
        return { status: res.status, body: await res.json() };
      };
      const signed = await hull.sign(body);
      const answers = [
        await post(JSON.stringify(body), {}), // unsigned: 401
        await post("{", signed), // not JSON: 400
        await post(JSON.stringify({ ...body, messages: {} }), signed), // not a notification
        await post(
          JSON.stringify({
            ...body,
            configuration: { ...body.configuration as object, secret: "x" },
          }),
          signed,
        ), // another secret: 403
        await post(new Uint8Array(MAX_BODY_BYTES + 1), signed), // 413
      ];
      assert.deepEqual(answers.map((a) => a.status), [401, 400, 400, 403, 413]);
      for (const a of answers) {
        assert.equal(typeof a.body.error, "string");
        assert.equal(a.body.flow_control?.type, "retry", JSON.stringify(a.body));
      }
    } finally {
      await close();
    }
  },
});

/** A user:update batch of about `bytes` bytes: `count` users with padding traits. */
async function bigBatch(hull: FakeHull, bytes: number, count = 1000): Promise<string> {
  const body = await notification(hull, "user-update.json");
  const ada = (body.messages as Record<string, Record<string, unknown>>[])[0];
  const pad = "x".repeat(Math.floor(bytes / count) - 400);
  body.messages = Array.from({ length: count }, (_, i) => ({
    ...ada,
    user: { id: `big-${i}`, external_id: `big-ext-${i}`, traits_note: pad },
  }));
  return JSON.stringify(body);
}

Deno.test({
  name: "webhook body - a 19 MB batch is taken, a larger one refused at 20 MB while it streams",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, close } = await installed();
    try {
      assert.equal(MAX_BODY_BYTES, 20 * 1024 * 1024);
      const raw = await bigBatch(hull, 19 * 1024 * 1024);
      assert.ok(raw.length > 19 * 1024 * 1024 - 1_000_000 && raw.length < MAX_BODY_BYTES);
      const id = (JSON.parse(raw) as Body).notification_id;
      const rssBefore = Deno.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 5);
      const res = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(await hull.sign({ notification_id: id })),
        },
        body: raw,
      });
      clearInterval(sampler);
      const answer = await res.json();
      assert.equal(res.status, 200, JSON.stringify(answer).slice(0, 300));
      assert.ok(await stored(t, "big-ext-999"));
      const mb = (n: number) => Math.round(n / 1024 / 1024);
      console.log(
        `19 MB batch: RSS ${mb(rssBefore)} MB before, peak ${mb(peak)} MB (+${
          mb(peak - rssBefore)
        })`,
      );

      // No Content-Length (chunked): the server stops reading once past 20 MB and answers 413.
      let pulled = 0;
      const total = 100 * 1024 * 1024;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (pulled >= total) return c.close();
          const chunk = new Uint8Array(256 * 1024).fill(0x20);
          pulled += chunk.length;
          c.enqueue(chunk);
        },
      }, { highWaterMark: 0 });
      const big = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(await hull.sign({ notification_id: "s" })),
        },
        body: stream,
        // @ts-ignore: Deno's fetch streams a request body with duplex "half"
        duplex: "half",
      });
      assert.equal(big.status, 413);
      assert.equal((await big.json()).flow_control.type, "retry");
      assert.ok(pulled < total / 2, `read ${mb(pulled)} MB of ${mb(total)} MB before refusing`);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "whitelisted_domains - a URL is taken as its host, a bad entry is left out alone, both noted",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, log, connector, close } = await installed();
    try {
      const body = await notification(hull, "ship-update.json");
      body.connector = {
        ...(body.connector as object),
        private_settings: {
          whitelisted_domains: [
            "https://site.com/shop?token=abc#top",
            "http://localhost:3000/page",
            "*.shop.example.org",
            "not a domain",
            "ftp://files.example.com/",
            "https://admin:hunter2@site.com/",
          ],
        },
      };
      assert.equal((await postSigned(t.url, hull, body)).status, 200);
      const live = connector.live;
      await waitFor(() => live.domains.length === 3);
      assert.deepEqual(live.domains.map((d) => d.raw), [
        "site.com",
        "localhost:3000",
        "*.shop.example.org",
      ]);
      assert.equal(live.allows("https://site.com"), true);
      assert.equal(live.allows("http://localhost:3000"), true);
      assert.equal(live.allows("http://localhost:4000"), false, "a port given is kept");
      assert.equal(live.allows("https://evil.com"), false);

      // The connector's record for its dashboard panel and its live log say what was read
      // differently or left out.
      const managed = await loadManaged(connector.store);
      const noted = JSON.stringify([...managed.notes ?? [], ...managed.problems]);
      assert.match(noted, /\\"https:\/\/site.com\/…\\" taken as site.com/);
      assert.match(noted, /\\"http:\/\/localhost:3000\/…\\" taken as localhost:3000/);
      assert.match(noted, /invalid domain \\"not a domain\\".*entry left out/);
      assert.match(noted, /ftp:\/\/files.example.com\/\\": only http.*entry left out/);
      assert.ok(!noted.includes("token=abc"), "the path and query are not kept");
      assert.match(noted, /an entry with user info \(@\) is not a domain \(entry left out\)/);
      assert.ok(!noted.includes("hunter2"), "user info is never kept");
      assert.equal(t.server.ctx.live.allows("https://site.com"), false, "not the standalone's");
      await waitFor(async () =>
        (await log()).some((e) => /settings from Hull: .*taken as site.com/.test(e.message ?? ""))
      );

      // A list with no usable entry keeps the old one (every page refused otherwise).
      const bad = await notification(hull, "ship-update.json");
      bad.connector = {
        ...(bad.connector as object),
        private_settings: { whitelisted_domains: ["not a domain"] },
      };
      assert.equal((await postSigned(t.url, hull, bad)).status, 200);
      await waitFor(async () =>
        JSON.stringify(await connector.store.getMeta("hull_managed")).includes("no usable entry")
      );
      assert.equal(live.domains.length, 3);
    } finally {
      await close();
    }
  },
});
