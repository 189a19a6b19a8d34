/**
 * Settings from Hull: the keys a verified notification carries in `connector.private_settings`
 * become the live setting on every instance (through the store), absent keys keep their value,
 * a malformed key changes nothing, and the dashboard shows what Hull manages read-only.
 */
import assert from "node:assert/strict";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/store_fixtures.ts";
import { adminLogin } from "../helpers/admin.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PASSWORD = "correct horse battery staple";

/** A ship:update notification carrying `privateSettings`, as Hull sends after a settings save. */
async function shipUpdate(privateSettings: Record<string, unknown>) {
  const body = await freshFixture("ship-update.json");
  body.connector = { ...(body.connector as object), private_settings: privateSettings };
  body.segments = [{ id: "seg_vip", name: "VIP" }, { id: "seg_trial", name: "Trial users" }];
  return body;
}

async function post(t: TestServer, body: unknown) {
  const res = await t.postNotification(body);
  assert.equal(res.status, 200, JSON.stringify(await res.json()));
}

Deno.test({
  name: "hull settings - each key present becomes the live setting on every instance, absent keep",
  ...opts,
  async fn() {
    const a = await startTestServer();
    const b = await startTestServer({ kvPath: a.kvPath });
    try {
      const before = structuredClone(b.server.ctx.live.settings);
      const domainsBefore = b.server.ctx.live.domains.map((d) => d.raw);
      // Our fixtures send `{}`: nothing changes, nothing is marked as managed.
      await post(a, await freshFixture("user-update.json"));
      await post(a, await shipUpdate({}));
      assert.deepEqual(b.server.ctx.live.settings, before);
      assert.deepEqual(await a.server.ctx.store.getMeta("hull_managed"), null);

      await post(
        a,
        await shipUpdate({
          public_traits: ["email", " traits_plan ", "email"],
          synchronized_segments: ["seg_vip"],
          whitelisted_domains: ["localhost", "https://shop.example.com/"],
          identity_mode: "required", // no IDENTITY_SECRET here: refused, mode unchanged
          unrelated_setting: "ignored",
        }),
      );
      await waitFor(() => b.server.ctx.live.settings.public_traits.length === 2);
      const s = b.server.ctx.live.settings;
      assert.deepEqual(s.public_traits, ["email", "traits_plan"]);
      assert.deepEqual(s.user_filter_segments, ["seg_vip"]);
      assert.deepEqual(s.public_segments, before.public_segments, "absent key kept");
      assert.equal(s.identity_mode, before.identity_mode, "malformed key kept");
      await waitFor(() => b.server.ctx.live.domains.length === 2);
      assert.deepEqual(b.server.ctx.live.domains.map((d) => d.raw), [
        "localhost",
        "https://shop.example.com/",
      ]);
      assert.equal(b.server.ctx.live.allows("http://127.0.0.1:3000"), false);
      assert.equal(b.server.ctx.live.allows("https://shop.example.com"), true);
      const managed = await b.server.ctx.store.getMeta<
        { managed: Record<string, string>; problems: string[] }
      >("hull_managed");
      assert.deepEqual(Object.keys(managed!.managed).sort(), [
        "domains",
        "public_traits",
        "user_filter_segments",
      ]);
      assert.match(managed!.problems.join(), /identity_mode "required" needs IDENTITY_SECRET/);

      // A later notification without those keys keeps them; a bad whitelist entry is left out
      // alone; "All Users" in the user filter means everyone.
      await post(
        a,
        await shipUpdate({
          whitelisted_domains: ["example.com", "not a domain/"],
          synchronized_segments: ["ALL"],
        }),
      );
      await waitFor(() => b.server.ctx.live.settings.user_filter_segments.length === 0);
      assert.deepEqual(b.server.ctx.live.settings.user_filter_segments, []);
      assert.deepEqual(b.server.ctx.live.settings.public_traits, ["email", "traits_plan"]);
      await waitFor(() => b.server.ctx.live.domains.length === 1);
      assert.deepEqual(
        b.server.ctx.live.domains.map((d) => d.raw),
        ["example.com"],
        "the bad entry alone is left out",
      );
      assert.notDeepEqual(domainsBefore, b.server.ctx.live.domains.map((d) => d.raw));
      // Channels whose messages are not users are acknowledged, their segment names noted.
      for (const channel of ["ship:update", "account:update"]) {
        const odd = await shipUpdate({});
        Object.assign(odd, { channel, messages: [{ account: { id: "a1" } }] });
        await post(a, odd);
      }
    } finally {
      await b.close();
      await a.close();
    }
  },
});

Deno.test({
  name: "dashboard - settings managed in Hull are read-only with their last sync, not overwritten",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { ADMIN_PASSWORD: PASSWORD } });
    try {
      const cookie = (await adminLogin(t.url, PASSWORD)).cookie;
      const csrf = (await (await fetch(`${t.url}/admin/api/session`, { headers: { cookie } }))
        .json()).csrf;
      const form = (path: string, fields: Record<string, string>) =>
        fetch(`${t.url}${path}`, {
          method: "POST",
          body: new URLSearchParams({ _csrf: csrf, ...fields }),
          redirect: "manual",
          headers: { cookie },
        });
      await post(t, await shipUpdate({ public_traits: ["email"], whitelisted_domains: ["a.com"] }));
      await t.server.ctx.flush();

      const html = await (await fetch(`${t.url}/admin/settings`, { headers: { cookie } })).text();
      assert.match(html, /<textarea id="public_traits" name="public_traits"[^>]*readonly/);
      assert.doesNotMatch(html, /<textarea id="public_segments"[^>]*readonly/);
      assert.match(html, /managed in Hull · last sync \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      assert.match(html, /seg_vip · VIP/, "segment names from the notification");

      // An edit of a managed setting is not applied (Hull would overwrite it); others are.
      const saved = await form("/admin/settings", {
        public_traits: "phone",
        public_segments: "seg_vip",
        identity_mode: "off",
      });
      assert.equal(saved.status, 303);
      await saved.body?.cancel();
      assert.deepEqual(t.server.ctx.live.settings.public_traits, ["email"]);
      assert.deepEqual(t.server.ctx.live.settings.public_segments, ["seg_vip"]);

      const domains = await fetch(`${t.url}/admin/domains`, { headers: { cookie } });
      assert.match(await domains.text(), /managed in Hull/);
      const add = await form("/admin/domains", { action: "add", domain: "b.com" });
      assert.equal(add.status, 409);
      assert.match(await add.text(), /managed in Hull/);
      assert.deepEqual((await t.server.ctx.store.getConfig()).domains, ["a.com"]);
    } finally {
      await t.close();
    }
  },
});
