/**
 * What the operator and strangers see: the public `/` shows no settings and the true webhook
 * authentication state; refused webhooks and replays reach the live log without the body;
 * an HMAC-signed webhook on a server without WEBHOOK_SECRET is told so; env seeds that lost to
 * stored settings are named.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { ignoredSeeds } from "../../lib/seeds.ts";
import { signHmac } from "../../lib/webhook/signature.ts";
import { freshFixture, startTestServer, WEBHOOK_SECRET } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "public / - shows the tag, no domains, traits or identity mode, and the true auth state",
  ...opts,
  async fn() {
    const t = await startTestServer({
      env: {
        WEBHOOK_SECRET: "",
        IDENTITY_MODE: "report",
        IDENTITY_SECRET: "identity-secret-0123456789abcdef",
      },
    });
    try {
      const html = await (await fetch(`${t.url}/`)).text();
      assert.match(html, /hull-browser\.js/);
      assert.ok(html.includes("forEach(function(m){hullBrowser[m]"), "the stub is shown");
      for (const secret of ["*.example.com", "traits_plan", "seg_vip", "report"]) {
        assert.ok(!html.includes(secret), `/ leaks ${secret}`);
      }
      assert.doesNotMatch(html, /notice-ok/, "nothing green without WEBHOOK_SECRET");
      assert.match(html, /<code>WEBHOOK_SECRET<\/code> is not set/);
    } finally {
      await t.close();
    }
    const signed = await startTestServer();
    try {
      const html = await (await fetch(`${signed.url}/`)).text();
      assert.match(html, /notice-ok[^>]*>Webhooks are authenticated with X-Hull-Browser-Signature/);
    } finally {
      await signed.close();
    }
  },
});

Deno.test({
  name: "webhook - an HMAC signature without WEBHOOK_SECRET is told so, and refusals are logged",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { WEBHOOK_SECRET: "" } });
    try {
      const body = JSON.stringify(await freshFixture("user-update.json"));
      const res = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: { "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, body) },
        body,
      });
      assert.equal(res.status, 401);
      assert.match((await res.json()).error, /WEBHOOK_SECRET is not set on this server/);
      await t.server.ctx.flush();
      const log = await t.server.ctx.store.listEvents(20);
      const refused = log.find((e) => e.message?.startsWith("webhook refused (401)"));
      assert.ok(refused, "the refusal is in the live log");
      assert.equal(refused.event, "incoming.connection.error");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook - refusals and replays appear in the live log, never with the body",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const fixture = await freshFixture("user-update.json");
      assert.equal((await t.postNotification(fixture)).status, 200);
      const replay = await t.postNotification(fixture);
      assert.equal((await replay.json()).replayed, true);
      const notJson = '{"secret-body-text": ';
      assert.equal((await t.postNotification(notJson)).status, 400);
      const unsigned = await fetch(`${t.url}/smart-notifier`, { method: "POST", body: "{}" });
      assert.equal(unsigned.status, 401);
      await unsigned.body?.cancel();
      await t.server.ctx.flush();
      const log = await t.server.ctx.store.listEvents(50);
      const messages = log.map((e) => `${e.event} ${e.message}`);
      assert.ok(
        messages.some((m) => /^incoming\.user\.start replayed notification \S+ ignored/.test(m)),
        messages.join("\n"),
      );
      assert.ok(messages.includes(
        "incoming.connection.error webhook refused (400): body is not valid JSON",
      ));
      assert.ok(
        messages.some((m) => m.startsWith("incoming.connection.error webhook refused (401)")),
      );
      assert.ok(!messages.some((m) => m.includes("secret-body-text")), "no body in the log");
      // A push names rooms, not sockets: nobody listens here.
      assert.ok(
        messages.some((m) =>
          /^outgoing\.user\.success published to the rooms of \d+ identifiers \(whoever listens/
            .test(m)
        ),
      );
      assert.ok(!messages.some((m) => m.includes(WEBHOOK_SECRET)), "no secret in the log");
    } finally {
      await t.close();
    }
  },
});

Deno.test("ignoredSeeds - names the variables whose seed lost to stored settings", () => {
  const config = loadConfig({
    WHITELISTED_DOMAINS: "shop.example.com",
    PUBLIC_TRAITS: "email,traits_plan",
    PUBLIC_SEGMENTS: "seg_vip",
    IDENTITY_SECRET: "identity-secret-0123456789abcdef",
  });
  const seeded = {
    domains: ["shop.example.com"],
    settings: { ...config.seed.settings, public_traits: ["traits_plan", "email"] },
  };
  assert.deepEqual(ignoredSeeds(config.seed, seeded), [], "applied seeds (any order) are fine");
  const edited = {
    domains: ["other.example.com"],
    settings: {
      ...config.seed.settings,
      public_traits: ["email"],
      identity_mode: "report" as const,
    },
  };
  assert.deepEqual(ignoredSeeds(config.seed, edited), [
    "WHITELISTED_DOMAINS",
    "PUBLIC_TRAITS",
    "IDENTITY_MODE",
  ]);
  // Unset variables are never reported, whatever the store holds.
  const bare = loadConfig({});
  assert.deepEqual(ignoredSeeds(bare.seed, edited), []);
});
