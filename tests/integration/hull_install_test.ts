/**
 * Installed in Hull: the manifest and installation pages, Hull's RS256 signature with the key
 * fetched from an allowed https URL (and never from any other), the connector binding, and
 * settings from `connector.private_settings`. A real https server plays Hull (tests/helpers/
 * fake_hull.ts); real connector, real KV, real HTTP.
 */
import assert from "node:assert/strict";
import { fakeHullSkipReason, postSigned, startFakeHull } from "../helpers/fake_hull.ts";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { credentialsOf, hullConnector, registeredIds } from "../helpers/hull_connectors.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";

/** A fake Hull and a connector that fetches keys from it (`env` added to the connector's). */
async function connectorWithFakeHull(env: Record<string, string> = {}) {
  const hull = await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", ...env },
    start: { hullCaCerts: [hull.caCert] },
  });
  return { hull, t };
}

/** Whether Ada is stored in the Hull connector's scope (Hull-signed notifications land there). */
const adaStored = async (t: TestServer) => {
  const connector = await hullConnector(t, CONNECTOR_ID);
  if (!connector) return false;
  const keys = await t.server.ctx.webhook.hasher.hashAll([
    { type: "email", value: "ada@example.com" },
  ]);
  return (await connector.store.lookupUserId(keys)) !== null;
};

Deno.test({
  name: "manifest - describes a Hull smart-notifier connector with its settings in Hull's formats",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const res = await fetch(`${t.url}/manifest.json`);
      assert.equal(res.status, 200);
      const m = await res.json();
      assert.ok(m.tags.includes("smart-notifier"));
      assert.deepEqual(m.subscriptions, [{ url: "/smart-notifier" }]);
      for (const k of ["name", "description", "version", "picture", "logo", "readme"]) {
        assert.equal(typeof m[k], "string", k);
      }
      assert.equal(m.tabs[0].url, "/install");
      const fields = new Map(m.private_settings.map((f: { name: string }) => [f.name, f]));
      const formats: Record<string, string> = {
        whitelisted_domains: "table",
        public_traits: "trait",
        public_segments: "segment",
        public_account_segments: "accountSegment",
        synchronized_segments: "segment",
        identity_mode: "select",
      };
      for (const [name, format] of Object.entries(formats)) {
        const f = fields.get(name) as Record<string, unknown> | undefined;
        assert.ok(f, `private setting ${name}`);
        assert.equal(f.format, format, name);
        assert.equal("default" in f, false, `${name} has no default that would wipe settings`);
      }
      // Everything the manifest names is served.
      for (const path of [m.picture, m.logo]) {
        const img = await fetch(`${t.url}/${path}`);
        assert.equal(img.headers.get("content-type"), "image/png");
        assert.deepEqual([...new Uint8Array(await img.arrayBuffer()).slice(1, 4)], [80, 78, 71]);
      }
      const readme = await (await fetch(`${t.url}/${m.readme}`)).text();
      assert.ok(readme.includes(`<script src="${t.url}/hull-browser.js" async></script>`));
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "install tab - shows the exact tag, checks Hull's credentials and never echoes them",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t } = await connectorWithFakeHull();
    const secret = "the-connector-secret-42";
    const page = async (query: string) => {
      const res = await fetch(`${t.url}/install?${query}`);
      return { res, html: await res.text() };
    };
    try {
      const creds = `ship=${CONNECTOR_ID}&organization=acme.hullapp.io&secret=${secret}`;
      let p = await page(creds);
      assert.equal(p.res.status, 200);
      assert.match(p.html, /has not sent a signed notification yet/);
      const text = p.html.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"');
      // The tag names the connector Hull opened the tab for (its namespace).
      const tag = `<script src="${t.url}/hull-browser.js" data-hull-id="${CONNECTOR_ID}" async>` +
        `</script>`;
      assert.ok(text.includes(tag), "the exact tag for this host and connector");
      assert.match(p.res.headers.get("content-security-policy")!, /frame-ancestors 'self' https:/);
      assert.equal(p.res.headers.get("referrer-policy"), "no-referrer");

      const body = await freshFixture("ship-update.json") as Record<string, unknown> & {
        notification_id: string;
      };
      body.configuration = { id: CONNECTOR_ID, organization: "acme.hullapp.io", secret };
      assert.equal((await postSigned(t.url, hull, body)).status, 200);
      await t.server.ctx.flush();
      p = await page(creds);
      assert.match(p.html, /Connected/);
      assert.equal(p.html.includes(secret), false, "the secret is never shown");
      p = await page(`ship=${CONNECTOR_ID}&organization=acme.hullapp.io&secret=wrong`);
      assert.match(p.html, /not the credentials this server holds for the connector/);
      p = await page("");
      assert.match(p.html, /Installation tab in Hull/);
      assert.equal((await fetch(`${t.url}/readme?${creds}`)).status, 200);
    } finally {
      await t.close();
      await hull.close();
    }
  },
});

Deno.test({
  name: "hull signature - the key from an allowed https URL verifies, is fetched once, checks jti",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t } = await connectorWithFakeHull({ WEBHOOK_SECRET: "" });
    try {
      const body = await freshFixture("user-update.json") as { notification_id: string };
      // A token whose jti names another notification is refused.
      const other = await hull.sign({ notification_id: "another-id" });
      const res = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: { "content-type": "application/json", ...other },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 401);
      assert.match((await res.json()).error, /jti/);
      assert.equal(await adaStored(t), false);
      // Unsupported or missing signature version: refused, as Hull's own library does.
      let r = await postSigned(t.url, hull, body, undefined, {
        "x-hull-smart-notifier-signature-version": "v9",
      });
      assert.equal(r.status, 401);
      assert.match(String(r.body.error), /signature version/);

      r = await postSigned(t.url, hull, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await adaStored(t), true);
      const again = await freshFixture("ship-update.json") as { notification_id: string };
      assert.equal((await postSigned(t.url, hull, again)).status, 200);
      assert.equal(hull.hits.get("/key"), 1, "the key is cached per URL");
    } finally {
      await t.close();
      await hull.close();
    }
  },
});

Deno.test({
  name: "hull signature - a key URL that is not https on an allowed host is refused, never fetched",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const hull = await startFakeHull();
    // Default HULL_KEY_HOSTS (Hull's own domains), and one allowing only localhost.
    const servers = [
      await startTestServer({ env: { WEBHOOK_SECRET: "" }, start: { hullCaCerts: [hull.caCert] } }),
      await startTestServer({
        env: { WEBHOOK_SECRET: "", HULL_KEY_HOSTS: "localhost" },
        start: { hullCaCerts: [hull.caCert] },
      }),
    ];
    try {
      for (const [i, t] of servers.entries()) {
        const urls = [
          `https://127.0.0.1:${hull.port}/key-a`, // not an allowed host on either server
          `http://localhost:${hull.port}/key-b`, // not https
          `https://user@localhost:${hull.port}/key-c`, // user info
          ...(i === 0 ? [`https://localhost:${hull.port}/key-d`] : []), // default: Hull's hosts
        ];
        for (const url of urls) {
          const body = await freshFixture("user-update.json") as { notification_id: string };
          const r = await postSigned(t.url, hull, body, url);
          assert.equal(r.status, 401, url);
          assert.match(String(r.body.error), /key URL/, url);
        }
        assert.equal(await adaStored(t), false);
        assert.deepEqual(await registeredIds(t), [], "no verified token, no registration");
      }
      // A redirect from an allowed URL is not followed.
      const body = await freshFixture("user-update.json") as { notification_id: string };
      const r = await postSigned(servers[1].url, hull, body, `${hull.url}/key-redirect`);
      assert.equal(r.status, 401);
      assert.match(String(r.body.error), /redirect/);
      for (const path of ["/key-a", "/key-b", "/key-c", "/key-d", "/key"]) {
        assert.equal(hull.hits.get(path), undefined, `no request to ${path}`);
      }
      assert.equal(hull.hits.get("/key-redirect"), 1);
    } finally {
      for (const t of servers) await t.close();
      await hull.close();
    }
  },
});

Deno.test({
  name:
    "hull connector - a notification for another connector past HULL_MAX_CONNECTORS is refused, logged",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t } = await connectorWithFakeHull({ HULL_MAX_CONNECTORS: "1" });
    try {
      const bind = await freshFixture("ship-update.json") as { notification_id: string };
      assert.equal((await postSigned(t.url, hull, bind)).status, 200);
      const info = await credentialsOf(t, CONNECTOR_ID);
      assert.equal(info?.id, CONNECTOR_ID);
      // Stored encrypted in the connector's scope: no trace of the secret.
      const scope = (await hullConnector(t, CONNECTOR_ID))!.store;
      const raw = JSON.stringify(await scope.getMeta("hull_connector"));
      assert.notEqual(raw, "null");
      assert.equal(raw.includes("not-a-real-secret"), false);

      const other = await freshFixture("user-update.json") as Record<string, unknown> & {
        notification_id: string;
      };
      other.configuration = {
        id: "ffffffffffffffffffffffff",
        organization: "x.hullapp.io",
        secret: "another-connector-secret",
      };
      other.connector = { id: "ffffffffffffffffffffffff", private_settings: { public_traits: [] } };
      const r = await postSigned(t.url, hull, other);
      assert.equal(r.status, 403);
      assert.match(String(r.body.error), /HULL_MAX_CONNECTORS \(1\)/);
      assert.equal(await adaStored(t), false, "nothing of it was applied");
      assert.deepEqual(await registeredIds(t), [CONNECTOR_ID], "nor registered");
      assert.ok(t.server.ctx.live.settings.public_traits.length > 0, "settings unchanged");
      await t.server.ctx.flush();
      const log = await t.server.ctx.store.listEvents(50);
      assert.ok(
        log.some((e) => e.event === "incoming.connection.error" && /refused/.test(e.message!)),
      );
      const text = JSON.stringify(log);
      assert.equal(text.includes("not-a-real-secret"), false);
      assert.equal(text.includes("another-connector-secret"), false);
      // The fixtures' own connector id, with its secret, still passes.
      const own = await freshFixture("user-update.json") as { notification_id: string };
      assert.equal((await postSigned(t.url, hull, own)).status, 200);
      assert.equal(await adaStored(t), true);
    } finally {
      await t.close();
      await hull.close();
    }
  },
});
