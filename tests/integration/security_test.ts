/**
 * No visitor sees another's data: verified identities in every mode, tiered exposure, the
 * right to be forgotten and security headers, on a real server.
 */
import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import { signIdentity } from "../../lib/socket/verification.ts";
import { adaWith } from "../helpers/marker.ts";
import { freshFixture, once, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";
const ADA = "5f00000000000000000000a1";

type Payload = { user: Record<string, unknown>; segments: string[] };

/**
 * Identifies and resolves once the fetch has settled: `expect` known profiles received, or
 * (`expect` 0) the server done with it without sending one. Pushes keep landing in `got`.
 */
async function fetchAs(
  t: TestServer,
  message: Record<string, unknown>,
  expect = 1,
): Promise<{ socket: Socket; got: Payload[] }> {
  const socket = t.connect();
  const got: Payload[] = [];
  socket.on("user.update", (p: Payload) => got.push(p));
  await once(socket, "connect");
  // The fetch's last word in the event log: claims ignored (nothing accepted, nothing looked
  // up), no known profile, or a profile sent. Sockets are identified one at a time here.
  const settled: string[] = [];
  const unsubscribe = t.server.ctx.events.subscribe((e) => {
    if (/unverified claims ignored|unknown visitor|known profile sent/.test(e.message ?? "")) {
      settled.push(e.message!);
    }
  });
  try {
    const joined = once(socket, "room.joined");
    socket.emit("user.fetch", message);
    await joined;
    if (expect) await waitFor(() => got.length >= expect, { what: `${expect} known profile(s)` });
    else await waitFor(() => settled.length, { what: "the fetch settled without a profile" });
  } finally {
    unsubscribe();
  }
  return { socket, got };
}

/**
 * Marker on `socket`'s own ordered channel: once `witness` (a socket in the same rooms) got the
 * push awaited, the server has broadcast it; a `user.fetch` round trip on `socket` then flushes
 * anything sent to it before.
 */
async function flushAfter(socket: Socket, message: Record<string, unknown>): Promise<void> {
  const joined = once(socket, "room.joined");
  socket.emit("user.fetch", message);
  await joined;
}

async function server(mode: string, extra: Record<string, string> = {}) {
  const t = await startTestServer({
    env: {
      IDENTITY_SECRET,
      IDENTITY_MODE: mode,
      PUBLIC_TRAITS: "email,traits_plan,name",
      ANONYMOUS_TRAITS: "traits_plan",
      ANONYMOUS_SEGMENTS: "seg_trial",
      ...extra,
    },
  });
  assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
  return t;
}

Deno.test({
  name: "identity required - an email claim without its hash gets nothing",
  ...opts,
  async fn() {
    const t = await server("required");
    try {
      const claims = { email: "ada@example.com" };
      const { socket, got } = await fetchAs(t, { claims }, 0);
      assert.equal(got.length, 0);
      // ... and no later push either: a verified socket witnesses the push, then a round trip
      // on the unverified one flushes anything sent to it before.
      const hash = await signIdentity(IDENTITY_SECRET, "email", "ada@example.com");
      const witness = await fetchAs(t, { claims, hash });
      await t.postNotification(await adaWith({ traits_plan: "marker" }));
      await waitFor(() => witness.got.length >= 2, { what: "the witness's push" });
      await flushAfter(socket, { claims });
      assert.equal(got.length, 0);
      const health = await (await fetch(`${t.url}/healthz`)).json();
      assert.ok(health.counters.unverified_claims >= 1);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "identity required - an anonymous visitor gets only anonymous-safe data",
  ...opts,
  async fn() {
    const t = await server("required");
    try {
      const { got } = await fetchAs(t, {
        claims: { anonymous_id: "a1b2c3d4-anon", email: "ada@example.com" },
      });
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].user, { id: ADA, traits: { plan: "pro" } });
      assert.deepEqual(got[0].segments, ["Trial users"]);
      // Pushes to that socket are anonymous-safe too, and arrive once (the second update is
      // the marker: a second payload of the first would come before it).
      await t.postNotification(await freshFixture("user-update.json"));
      await t.postNotification(await adaWith({ traits_plan: "marker" }));
      await waitFor(() => got.some((p) => (p.user.traits as { plan: string }).plan === "marker"), {
        what: "the marker's push",
      });
      assert.equal(got.length, 3);
      assert.deepEqual(got[1].user, { id: ADA, traits: { plan: "pro" } });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "identity required - the right hash gives the full public payload, others fail",
  ...opts,
  async fn() {
    const t = await server("required");
    try {
      const good = await signIdentity(IDENTITY_SECRET, "email", "ada@example.com");
      const ok = await fetchAs(t, { claims: { email: "ada@example.com" }, hash: good });
      assert.equal(ok.got.length, 1);
      assert.equal(ok.got[0].user.email, "ada@example.com");
      // A backend that signed the address as typed (mixed case) still matches.
      const mixed = await signIdentity(IDENTITY_SECRET, "email", "Ada@Example.com");
      assert.equal(
        (await fetchAs(t, { claims: { email: "Ada@Example.com" }, hash: mixed })).got.length,
        1,
      );

      const wrong = [
        await signIdentity(IDENTITY_SECRET, "email", "grace@example.com"), // another identifier
        await signIdentity(IDENTITY_SECRET, "external_id", "ada@example.com"), // another type
        await signIdentity("another-secret-0123456789abcdef", "email", "ada@example.com"),
        "not-hex",
        good.slice(0, 10),
      ];
      for (const hash of wrong) {
        const r = await fetchAs(t, { claims: { email: "ada@example.com" }, hash }, 0);
        assert.equal(r.got.length, 0, hash);
      }
      // A verified socket that also has an anonymous id gets full pushes, exactly once.
      const both = await fetchAs(t, {
        claims: { email: "ada@example.com", anonymous_id: "a1b2c3d4-anon" },
        hash: good,
      });
      await t.postNotification(await freshFixture("user-update.json"));
      await t.postNotification(await adaWith({ traits_plan: "marker" }));
      await waitFor(
        () => both.got.some((p) => (p.user.traits as { plan: string }).plan === "marker"),
        { what: "the marker's push" },
      );
      assert.equal(both.got.length, 3);
      assert.equal(both.got[1].user.email, "ada@example.com");
      assert.equal((both.got[1].user.traits as { plan: string }).plan, "pro");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "identity report - unverified claims are served, logged and counted",
  ...opts,
  async fn() {
    const t = await server("report");
    try {
      const { got } = await fetchAs(t, { claims: { email: "ada@example.com" } });
      assert.equal(got.length, 1);
      assert.equal(got[0].user.email, "ada@example.com");
      await t.server.ctx.flush();
      const log = await t.server.ctx.store.listEvents(50);
      assert.ok(log.some((e) => /unverified claims served/.test(e.message ?? "")));
      assert.ok(!JSON.stringify(log).includes("ada@example.com"), "masked in the log");
      const health = await (await fetch(`${t.url}/healthz`)).json();
      assert.equal(health.counters.unverified_claims, 1);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "identity off - claims are served; the dashboard warns, / tells strangers no mode",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { ADMIN_PASSWORD: "correct horse battery staple" } });
    try {
      await t.postNotification(await freshFixture("user-update.json"));
      const { got } = await fetchAs(t, { claims: { email: "ada@example.com" } });
      assert.equal(got[0].user.email, "ada@example.com");
      const html = await (await fetch(`${t.url}/`)).text();
      assert.doesNotMatch(html, /verification is <strong>off/);
      assert.match(html, /IDENTITY_SECRET/, "/ explains how to verify identities");
      const login = await fetch(`${t.url}/admin/login`, {
        method: "POST",
        body: new URLSearchParams({ password: "correct horse battery staple" }),
        redirect: "manual",
      });
      await login.body?.cancel();
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      const admin = await (await fetch(`${t.url}/admin`, { headers: { cookie } })).text();
      assert.match(admin, /Identity verification is off: any browser that claims an email/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "forget - user:delete removes the profile and its index, and tells live sockets",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      await t.postNotification(await freshFixture("user-update.json"));
      const live = await fetchAs(t, { claims: { external_id: "user-1001" } });
      assert.equal(live.got.length, 1);
      const forgotten = once(live.socket, "user.delete");
      const del = { ...(await freshFixture("user-update.json")), channel: "user:delete" };
      assert.equal((await t.postNotification(del)).status, 200);
      await forgotten;
      const { store, hasher } = t.server.ctx.webhook;
      assert.equal(await store.getProfile(ADA), null);
      for (
        const id of [
          { type: "email", value: "ada@example.com" },
          { type: "anonymous_id", value: "a1b2c3d4-anon" },
          { type: "id", value: ADA },
        ] as const
      ) {
        assert.equal(await store.lookupUserId([await hasher.hash(id)]), null, id.type);
      }
      const later = await fetchAs(t, { claims: { email: "ada@example.com" } }, 0);
      assert.equal(later.got.length, 0);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "headers - every response carries nosniff, a referrer policy and a CSP",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      for (const path of ["/", "/healthz", "/hull-browser.js", "/static/style.css", "/nope"]) {
        const res = await fetch(`${t.url}${path}`);
        await res.body?.cancel();
        assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
        assert.ok(res.headers.get("referrer-policy"), path);
        assert.match(
          res.headers.get("content-security-policy") ?? "",
          /frame-ancestors 'none'/,
          path,
        );
      }
      const page = await fetch(`${t.url}/`);
      await page.body?.cancel();
      assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
      assert.doesNotMatch(
        page.headers.get("content-security-policy")!,
        /unsafe-inline|unsafe-eval/,
      );
    } finally {
      await t.close();
    }
  },
});
