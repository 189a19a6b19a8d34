/**
 * End to end on a real server: real socket.io-client, real HTTP, real Deno KV on a temp file.
 */
import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import { freshFixture, identify, knownProfile, once, startTestServer } from "../helpers/server.ts";
import type { PublicPayload } from "../../lib/types.ts";
import { adaWith } from "../helpers/marker.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Collects every user.update a socket receives. */
function collect(s: Socket): PublicPayload[] {
  const got: PublicPayload[] = [];
  s.on("user.update", (p: PublicPayload) => got.push(p));
  return got;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const planOf = (p: PublicPayload) => (p.user.traits as { plan?: string } | undefined)?.plan;

Deno.test({
  name: "connector - identified visitor receives the public profile pushed by a webhook",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const s = await identify(t, { email: "ADA@example.com " });
      const update = once<PublicPayload>(s, "user.update");
      const res = await t.postNotification(await freshFixture("user-update.json"));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        flow_control: { type: "next", size: 100, in: 100 },
        metrics: [],
        errors: [],
      });
      const p = await update;
      assert.equal(p.message, "ok");
      assert.equal(p.user.id, "5f00000000000000000000a1");
      assert.equal(p.user.email, "ada@example.com");
      assert.deepEqual(p.segments, ["Trial users"]);
      assert.deepEqual(p.account, { name: "Example Inc" });
      const text = JSON.stringify(p);
      assert.ok(!text.includes("internal_score"), "private trait leaked");
      assert.ok(!text.includes("last_seen_at"), "private trait leaked");
      assert.ok(!text.includes("120000"), "private account trait leaked");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - known profile is sent right after user.fetch, for every identifier type",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
      for (
        const claims of [
          { id: "5f00000000000000000000a1" },
          { external_id: "user-1001" },
          { email: "ada@example.com" },
          { anonymous_id: "a1b2c3d4-anon" },
          { anonymous_id: "intercom:64f1aa00b2" },
        ]
      ) {
        const s = t.connect();
        await once(s, "connect");
        const update = once<PublicPayload>(s, "user.update");
        s.emit("user.fetch", { claims });
        const p = await update;
        assert.equal(p.user.id, "5f00000000000000000000a1", JSON.stringify(claims));
        s.close();
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - unknown visitor stays joined and gets the first update",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      // The fetch's last word is in the event log: no known profile, so nothing was sent.
      const unknown = Promise.withResolvers<void>();
      const unsubscribe = t.server.ctx.events.subscribe((e) => {
        if (/unknown visitor/.test(e.message ?? "")) unknown.resolve();
      });
      const s = t.connect();
      const got = collect(s);
      await once(s, "connect");
      s.emit("user.fetch", { claims: { anonymous_id: "a1b2c3d4-anon" } });
      await unknown.promise;
      unsubscribe();
      assert.equal(got.length, 0, "nothing is sent for an unknown visitor");
      await t.postNotification(await freshFixture("user-update.json"));
      await waitFor(() => got.length, { what: "the first update" });
      assert.equal(got.length, 1);
      assert.equal(got[0].user.id, "5f00000000000000000000a1");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - a socket with several identifiers of one user receives each push once",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const s = await identify(t, {
        email: "ada@example.com",
        external_id: "user-1001",
        anonymous_id: "a1b2c3d4-anon",
      });
      const got = collect(s);
      await t.postNotification(await freshFixture("user-update.json"));
      // The second update is the marker: a second push of the first would come before it.
      await t.postNotification(await adaWith({ traits_plan: "marker" }));
      await waitFor(() => got.some((p) => planOf(p) === "marker"), { what: "the marker's push" });
      assert.deepEqual(got.map(planOf), ["pro", "marker"]);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - another visitor never receives someone else's profile",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const ada = await identify(t, { email: "ada@example.com" });
      const other = await identify(t, { email: "grace@example.com" });
      const adaGot = collect(ada);
      const otherGot = collect(other);
      await t.postNotification(await freshFixture("user-update.json"));
      await waitFor(() => adaGot.length, { what: "Ada's push" });
      // The other visitor's own update is the marker on its ordered channel: a push of Ada's
      // profile would have come before it.
      const grace = await adaWith({
        id: "5f00000000000000000000b2",
        email: "grace@example.com",
        external_id: "user-2002",
        anonymous_ids: [],
        name: "Grace Hopper",
      });
      await t.postNotification(grace);
      await waitFor(() => otherGot.length, { what: "Grace's own push" });
      assert.equal(adaGot.length, 1);
      assert.deepEqual(otherGot.map((p) => p.user.email), ["grace@example.com"]);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - a /<connectorId> namespace nobody registered is refused, / serves the page",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      // The original snippet's namespace exists only for a registered Hull connector
      // (tests/integration/connector_namespaces_test.ts); the standalone connector is `/`.
      const s = t.connect("http://localhost:3000", { namespace: "/5a1b2c3d4e5f60718293a4b5" });
      assert.equal((await once<Error>(s, "connect_error")).message, "Invalid namespace");
      const root = t.connect("http://localhost:3000");
      await once(root, "connect");
      const joined = once(root, "room.joined");
      root.emit("user.fetch", { claims: { external_id: "user-1001" } });
      await joined;
      const update = once<PublicPayload>(root, "user.update");
      await t.postNotification(await freshFixture("user-update.json"));
      assert.equal((await update).user.id, "5f00000000000000000000a1");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - the 100-user batch reaches 100 waiting sockets, each with its own profile",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const batch = await freshFixture("user-update-batch-100.json");
      const messages = batch.messages as { user: { id: string; email: string } }[];
      const sockets = await Promise.all(
        messages.map((m) => identify(t, { email: m.user.email })),
      );
      const received = sockets.map((s) => once<PublicPayload>(s, "user.update"));
      const sent = performance.now();
      const arrival: number[] = [];
      received.forEach((p) => p.then(() => arrival.push(performance.now() - sent)));
      assert.equal((await t.postNotification(batch)).status, 200);
      const payloads = await Promise.all(received);
      payloads.forEach((p, i) => {
        assert.equal(p.user.id, messages[i].user.id);
        assert.equal(p.user.email, messages[i].user.email);
      });
      arrival.sort((a, b) => a - b);
      const q = (f: number) =>
        arrival[Math.min(arrival.length - 1, Math.floor(f * arrival.length))];
      console.log(
        `batch-100 webhook→socket latency: p50 ${q(0.5).toFixed(1)} ms, p99 ${
          q(0.99).toFixed(1)
        } ms`,
      );
    } finally {
      await t.close();
    }
  },
});

for (
  const [label, env, claims] of [
    ["a restart on the same KV file still serves known profiles", {}, {
      email: "ada@example.com",
    }],
    ["without SECRET a generated one is persisted, so a restart keeps rooms", { SECRET: "" }, {
      external_id: "user-1001",
    }],
  ] as const
) {
  Deno.test({
    name: `connector - ${label}`,
    ...opts,
    async fn() {
      const first = await startTestServer({ env });
      const kvPath = first.kvPath;
      try {
        const res = await first.postNotification(await freshFixture("user-update.json"));
        assert.equal(res.status, 200);
      } finally {
        await first.close();
      }
      const second = await startTestServer({ kvPath, env });
      try {
        assert.equal((await knownProfile(second, claims)).user.id, "5f00000000000000000000a1");
      } finally {
        await second.close();
      }
    },
  });
}

Deno.test({
  name: "connector - settings seeded from env only when the store has none",
  ...opts,
  async fn() {
    const first = await startTestServer({ env: { PUBLIC_TRAITS: "traits_plan" } });
    const kvPath = first.kvPath;
    await first.close();
    const second = await startTestServer({ kvPath, env: { PUBLIC_TRAITS: "email" } });
    try {
      assert.deepEqual(second.server.ctx.live.settings.public_traits, ["traits_plan"]);
    } finally {
      await second.close();
    }
  },
});

Deno.test({
  name: "connector - healthz, install page and snippet routes answer",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const h = await fetch(`${t.url}/healthz`);
      assert.equal(h.status, 200);
      assert.equal((await h.json()).status, "ok");
      const page = await fetch(`${t.url}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.ok(
        html.includes(`&lt;script src=&quot;${t.url}/hull-browser.js&quot; async&gt;`) ||
          html.includes(`${t.url}/hull-browser.js`),
        "install page shows the tag for this host",
      );
      assert.ok(html.includes(`${t.url}/smart-notifier`));
      for (const path of ["/hull-browser.js", "/ship.js"]) {
        const js = await fetch(`${t.url}${path}`);
        assert.equal(js.status, 200, path);
        assert.match(js.headers.get("content-type") ?? "", /javascript/);
        assert.match(js.headers.get("cache-control") ?? "", /max-age=/);
        const etag = js.headers.get("etag")!;
        await js.body?.cancel();
        const again = await fetch(`${t.url}${path}`, { headers: { "if-none-match": etag } });
        assert.equal(again.status, 304);
        await again.body?.cancel();
      }
      const missing = await fetch(`${t.url}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const css = await fetch(`${t.url}/static/style.css`);
      assert.equal(css.status, 200);
      await css.body?.cancel();
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - visitors connecting while updates are in flight end with the newest profile",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { PUBLIC_TRAITS: "traits_seq" } });
    try {
      const base = await freshFixture("user-update.json");
      const message = (base.messages as Record<string, unknown>[])[0];
      const user = message.user as Record<string, unknown>;
      const shown: { version: number; seq: number }[][] = [];
      const updates = (async () => {
        for (let seq = 0; seq < 30; seq++) {
          const res = await t.postNotification({
            ...base,
            notification_id: crypto.randomUUID(),
            messages: [{ ...message, user: { ...user, traits_seq: seq } }],
          });
          assert.equal(res.status, 200);
        }
      })();
      const visitors = (async () => {
        for (let i = 0; i < 30; i++) {
          const s = t.connect();
          const got: { version: number; seq: number }[] = [];
          shown.push(got);
          s.on("user.update", (p: PublicPayload & { user: { traits: { seq: number } } }) => {
            got.push({ version: p.version!, seq: p.user.traits.seq });
          });
          s.once("connect", () => s.emit("user.fetch", { claims: { external_id: "user-1001" } }));
          // Paces the visitors so that they arrive between the updates; the outcome does not
          // depend on it (every visitor must end on the newest version, whenever it came).
          await sleep(5);
        }
      })();
      await Promise.all([updates, visitors]);
      await waitFor(() => shown.every((g) => g.some((p) => p.seq === 29)), {
        what: "every visitor shown update 29",
      }).catch(() => {/* the assertions below say which visitor */});
      for (const got of shown) {
        assert.ok(got.length > 0);
        // What a page shows: the highest version it received (the snippet drops older ones).
        const newest = got.reduce((a, b) => (b.version >= a.version ? b : a));
        assert.equal(newest.seq, 29, JSON.stringify(got));
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector - alone, a batch is broadcast only to rooms a local socket is in",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      // Count socket.io's broadcasts on the real adapter of namespace "/".
      const adapter = t.server.io.of("/").adapter;
      const broadcast = adapter.broadcast.bind(adapter);
      let broadcasts = 0;
      adapter.broadcast = (packet, o) => {
        broadcasts++;
        return broadcast(packet, o);
      };
      const s = await identify(t, { email: "visitor6@example.com" });
      const got = collect(s);
      const res = await t.postNotification(await freshFixture("user-update-batch-100.json"));
      assert.equal(res.status, 200);
      await waitFor(() => got.length, { what: "visitor6's push" });
      assert.equal(got[0].user.email, "visitor6@example.com");
      // One visitor online, identities off (no socket in an anonymous room): one broadcast,
      // not one per user and tier (200).
      assert.equal(broadcasts, 1);
      // The same batch again is the marker: a second push of the first would come before it.
      const again = await t.postNotification(await freshFixture("user-update-batch-100.json"));
      assert.equal(again.status, 200);
      await waitFor(() => got.length >= 2, { what: "the marker batch's push" });
      assert.equal(got.length, 2);
      assert.equal(broadcasts, 2);
    } finally {
      await t.close();
    }
  },
});
