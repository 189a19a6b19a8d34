/**
 * Regression tests for the third attack run (issue 22, items 1-4): only Hull, for this
 * connector, can change this connector. A Hull token paired with a body someone else wrote, a
 * body without the bound connector's secret, an organization off Hull's domains, an old token,
 * a page that merely contains a PEM, a flood of junk key URLs, a trickled key, and idle
 * namespaces filling the cap. A real https server plays Hull (tests/helpers/fake_hull.ts);
 * real connector, real KV, real HTTP, real socket.io-client.
 */
import assert from "node:assert/strict";
import {
  type FakeHull,
  fakeHullSkipReason,
  postSigned,
  startFakeHull,
} from "../helpers/fake_hull.ts";
import { freshFixture, identify, startTestServer, type TestServer } from "../helpers/server.ts";
import {
  credentialsOf,
  eventsOf,
  hullConnector,
  registeredIds,
} from "../helpers/hull_connectors.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";
const OTHER_ID = "ffffffffffffffffffffffff";
/** The fixtures' connector secret: what the bound connector's notifications carry. */
const FIXTURE_SECRET = "not-a-real-secret";
const ADA_ID = "5f00000000000000000000a1";

type Body = Record<string, unknown> & { notification_id: string };
const fresh = async (name: string) => await freshFixture(name) as Body;

/** A fake Hull and a connector fetching keys from it (`env` added); not bound yet. */
async function setup(env: Record<string, string> = {}, start: Record<string, unknown> = {}) {
  const hull = await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", ...env },
    start: { hullCaCerts: [hull.caCert], ...start },
  });
  return {
    hull,
    t,
    async close() {
      await t.close();
      await hull.close();
    },
  };
}

/** Binds `t` to the fixtures' connector with a genuine Hull-signed user:update (Ada, plan pro). */
async function bind(t: TestServer, hull: FakeHull) {
  const r = await postSigned(t.url, hull, await fresh("user-update.json"));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await credentialsOf(t, CONNECTOR_ID))?.id, CONNECTOR_ID);
}

/** The standalone connector's live log and the Hull connector's. */
async function log(t: TestServer) {
  return [...await eventsOf(t), ...await eventsOf(t, CONNECTOR_ID)];
}

/**
 * What an attacker would like to change: settings, domains, credentials and Ada's profile, of
 * the standalone connector and of the Hull connector; and which connectors are registered.
 */
async function snapshot(t: TestServer) {
  const ctx = t.server.ctx;
  const hullOne = await hullConnector(t, CONNECTOR_ID);
  const of = async (c: typeof ctx.connectors.standalone | null) =>
    c && {
      settings: c.live.settings,
      domains: c.live.domains.map((d) => d.raw),
      stored: await c.store.getConfig(),
      binding: await c.store.getMeta("hull_connector"),
      ada: await c.store.getProfile(ADA_ID),
    };
  return JSON.stringify({
    registered: await registeredIds(t),
    standalone: await of(ctx.connectors.standalone),
    connector: await of(hullOne),
  });
}

/** A body an attacker writes: Ada rewritten, settings opened up, the attacker's site allowed. */
async function attackerBody(configuration: unknown, channel = "user:update"): Promise<Body> {
  const body = await fresh("user-update.json");
  const m = (body.messages as Record<string, Record<string, unknown>>[])[0];
  m.user = { ...m.user, traits_plan: "hacked" };
  body.channel = channel;
  if (configuration === undefined) delete body.configuration;
  else body.configuration = configuration;
  body.connector = {
    id: (configuration as { id?: string } | undefined)?.id ?? CONNECTOR_ID,
    private_settings: {
      identity_mode: "off",
      public_traits: ["email", "external_id", "traits_internal_score"],
      whitelisted_domains: ["attacker.example"],
    },
  };
  return body;
}

Deno.test({
  name:
    "hull trust - a Hull token with a body the attacker wrote changes nothing without the secret",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      await bind(t, hull);
      const before = await snapshot(t);
      const attacks: [string, Body, number][] = [
        [
          "the bound id, another secret and organization",
          await attackerBody({
            id: CONNECTOR_ID,
            organization: "evil.hullapp.io",
            secret: "attacker-secret-1",
          }),
          403,
        ],
        [
          "the bound id, no secret",
          await attackerBody({ id: CONNECTOR_ID, organization: "acme.hullapp.io" }),
          400,
        ],
        ["no configuration at all", await attackerBody(undefined), 400],
        ["an empty configuration", await attackerBody({}), 400],
        [
          "a delete with the wrong secret",
          await attackerBody(
            { id: CONNECTOR_ID, organization: "acme.hullapp.io", secret: "attacker-secret-2" },
            "user:delete",
          ),
          403,
        ],
        ["a delete without configuration", await attackerBody(undefined, "user:delete"), 400],
      ];
      for (const [what, body, status] of attacks) {
        // A genuine Hull token for the attacker's own notification: Hull signs only its jti.
        const r = await postSigned(t.url, hull, body);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
        assert.match(String(r.body.error), /configuration|secret/, what);
        assert.equal(await snapshot(t), before, `${what} changed nothing`);
      }
      const entries = await log(t);
      const refusals = entries.filter((e) =>
        e.event === "incoming.connection.error" && /webhook refused/.test(e.message ?? "")
      );
      assert.equal(refusals.length, attacks.length, "every refusal is logged");
      const text = JSON.stringify(entries);
      for (const secret of [FIXTURE_SECRET, "attacker-secret-1", "attacker-secret-2"]) {
        assert.equal(text.includes(secret), false, "no secret in the log");
      }
      // The bound connector's own notifications, with its secret, still apply.
      const own = await fresh("user-update.json");
      const m = (own.messages as Record<string, Record<string, unknown>>[])[0];
      m.user = { ...m.user, traits_plan: "enterprise" };
      assert.equal((await postSigned(t.url, hull, own)).status, 200);
      const scope = (await hullConnector(t, CONNECTOR_ID))!.store;
      assert.equal((await scope.getProfile(ADA_ID))?.user.traits_plan, "enterprise");
      assert.equal(await t.server.ctx.store.getProfile(ADA_ID), null, "not the standalone's");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "hull trust - an organization off Hull's domains binds nothing and is never requested",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    // No HULL_API_BASE_URL: a stored organization would be requested as https://<organization>.
    const { hull, t, close } = await setup();
    try {
      for (
        const organization of [
          `127.0.0.1:${hull.port}`,
          `localhost:${hull.port}`,
          "127.0.0.1",
          "10.0.0.7",
          "[::1]",
          `acme.hullapp.io:${hull.port}`,
          "attacker.example.com",
          "hullapp.io.attacker.example",
        ]
      ) {
        const body = await fresh("user-update.json");
        body.configuration = { id: CONNECTOR_ID, organization, secret: FIXTURE_SECRET };
        const r = await postSigned(t.url, hull, body);
        assert.equal(r.status, 403, `${organization}: ${JSON.stringify(r.body)}`);
        assert.match(String(r.body.error), /organization/);
        assert.deepEqual(await registeredIds(t), [], `${organization} registers nothing`);
      }
      // An unknown visitor: with no usable credentials, no request goes anywhere.
      const s = await identify(t, { email: "someone@example.com" });
      s.close();
      await t.server.ctx.hull.profiles!.idle();
      assert.equal(hull.api.length, 0, "no request to an organization a body named");
      assert.equal(hull.hits.get("/api/v1/me/user_report"), undefined);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "hull trust - HULL_ORGANIZATIONS and HULL_CONNECTOR_ID decide who binds a fresh deployment",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const orgs = await setup({ HULL_ORGANIZATIONS: "acme.hullapp.io" });
    const ids = await setup({ HULL_CONNECTOR_ID: OTHER_ID });
    try {
      const other = await fresh("ship-update.json");
      other.configuration = {
        id: CONNECTOR_ID,
        organization: "other.hullapp.io",
        secret: FIXTURE_SECRET,
      };
      let r = await postSigned(orgs.t.url, orgs.hull, other);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.match(String(r.body.error), /acme\.hullapp\.io/);
      assert.deepEqual(await registeredIds(orgs.t), []);
      r = await postSigned(orgs.t.url, orgs.hull, await fresh("ship-update.json"));
      assert.equal(r.status, 200, "acme.hullapp.io binds");

      r = await postSigned(ids.t.url, ids.hull, await fresh("ship-update.json"));
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.match(String(r.body.error), /HULL_CONNECTOR_ID/);
      const named = await fresh("ship-update.json");
      named.configuration = { id: OTHER_ID, organization: "acme.hullapp.io", secret: "s-2" };
      named.connector = { id: OTHER_ID, private_settings: {} };
      r = await postSigned(ids.t.url, ids.hull, named);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((await credentialsOf(ids.t, OTHER_ID))?.id, OTHER_ID);
      assert.deepEqual(await registeredIds(ids.t), [OTHER_ID]);
    } finally {
      await orgs.close();
      await ids.close();
    }
  },
});

Deno.test({
  name:
    "hull trust - the operator's HMAC webhooks apply while a connector is bound, credentials kept",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      await bind(t, hull);
      const scope = (await hullConnector(t, CONNECTOR_ID))!.store;
      const binding = JSON.stringify(await scope.getMeta("hull_connector"));
      const hullAda = JSON.stringify(await scope.getProfile(ADA_ID));
      const body = await fresh("user-update.json");
      body.configuration = { id: OTHER_ID, organization: "x.hullapp.io", secret: "other" };
      body.connector = { id: OTHER_ID, private_settings: {} };
      const m = (body.messages as Record<string, Record<string, unknown>>[])[0];
      m.user = { ...m.user, traits_plan: "from-hmac" };
      const res = await t.postNotification(body);
      assert.equal(res.status, 200, JSON.stringify(await res.json()));
      assert.equal((await t.server.ctx.store.getProfile(ADA_ID))?.user.traits_plan, "from-hmac");
      assert.equal(
        JSON.stringify(await scope.getMeta("hull_connector")),
        binding,
        "an HMAC webhook never changes Hull credentials",
      );
      assert.equal(JSON.stringify(await scope.getProfile(ADA_ID)), hullAda, "nor its profiles");
      assert.deepEqual(await registeredIds(t), [CONNECTOR_ID], "nor registers a connector");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "hull trust - a second connector registers; past HULL_MAX_CONNECTORS: 403, until one is removed",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup({ HULL_MAX_CONNECTORS: "1" });
    try {
      await bind(t, hull);
      const before = await snapshot(t);
      const other = await fresh("ship-update.json");
      other.configuration = { id: OTHER_ID, organization: "acme.hullapp.io", secret: "s-2" };
      other.connector = { id: OTHER_ID, private_settings: { public_traits: ["email"] } };
      let r = await postSigned(t.url, hull, other);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.match(String(r.body.error), /HULL_MAX_CONNECTORS \(1\)/);
      assert.equal(await snapshot(t), before, "nothing written");
      assert.equal(await hullConnector(t, OTHER_ID), null);
      // Removing the first frees its slot: the other one registers, with its own scope.
      await t.server.ctx.connectors.remove(CONNECTOR_ID);
      other.notification_id = crypto.randomUUID();
      r = await postSigned(t.url, hull, other);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(await registeredIds(t), [OTHER_ID]);
      assert.equal((await credentialsOf(t, OTHER_ID))?.id, OTHER_ID);
      assert.equal(await credentialsOf(t, CONNECTOR_ID), null, "the removed one is gone");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "hull token - refused once expired or issued before the replay window; neither claim passes",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      const now = Math.floor(Date.now() / 1000);
      const cases: [string, { iat?: number | null; exp?: number | null }, number][] = [
        ["expired", { iat: now - 600, exp: now - 300 }, 401],
        ["issued 400 days ago, no exp", { iat: now - 400 * 86_400, exp: null }, 401],
        ["issued 25 hours ago, exp far ahead", { iat: now - 25 * 3600, exp: now + 3600 }, 401],
        ["issued an hour ahead", { iat: now + 3600, exp: null }, 401],
        ["neither iat nor exp", { iat: null, exp: null }, 200],
        ["fresh", {}, 200],
      ];
      for (const [what, claims, status] of cases) {
        const body = await fresh("ship-update.json");
        const r = await postSigned(t.url, hull, body, undefined, {}, claims);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
        // Registration is a write: only once the token verified.
        if (status === 401) assert.deepEqual(await registeredIds(t), [], `${what}: unregistered`);
      }
      assert.deepEqual(await registeredIds(t), [CONNECTOR_ID]);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "key fetch - a page that contains a PEM is not a key: exactly one PEM, not HTML",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      const pem = hull.publicKeyPem;
      const pages = {
        "/echo-html": { type: "text/html", body: `<html><body><pre>${pem}</pre></body></html>` },
        "/echo-json": { type: "application/json", body: JSON.stringify({ q: pem }) },
        "/echo-text": { type: "text/plain", body: `you searched for: ${pem}` },
        "/pem-as-html": { type: "text/html; charset=utf-8", body: pem },
        "/escaped": { type: "text/plain", body: pem.trim().replaceAll("\n", "\\n") },
        "/two-keys": { type: "text/plain", body: pem + pem },
      };
      for (const [path, page] of Object.entries(pages)) hull.pages.set(path, page);
      for (const path of Object.keys(pages)) {
        const r = await postSigned(t.url, hull, await fresh("user-update.json"), hull.url + path);
        assert.equal(r.status, 401, `${path}: ${JSON.stringify(r.body)}`);
        assert.match(String(r.body.error), /key URL/, path);
        assert.equal(hull.hits.get(path), 1, `${path} was fetched`);
      }
      assert.equal(await t.server.ctx.store.getProfile(ADA_ID), null, "nothing applied");
      assert.equal(await t.server.ctx.hull.credentials.info(), null, "nothing bound");
      // The same key served as a key document verifies.
      hull.pages.set("/plain", { type: "application/x-pem-file", body: `\n${pem}\n` });
      const ok = await postSigned(
        t.url,
        hull,
        await fresh("user-update.json"),
        `${hull.url}/plain`,
      );
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "key fetch - a flood of junk key URLs does not starve a genuine notification",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      await bind(t, hull);
      // 40 unauthenticated requests naming key URLs that fail (404 on Hull's host): bodies
      // without configuration, or with the bound id and a guessed secret.
      const junk = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const body = await fresh("ship-update.json");
        if (i % 2) delete body.configuration;
        else {body.configuration = {
            id: CONNECTOR_ID,
            organization: "acme.hullapp.io",
            secret: "x",
          };}
        return (await postSigned(t.url, hull, body, `${hull.url}/junk-${i}`)).status;
      }));
      // A genuine notification whose key URL is not cached yet is served at once.
      const r = await postSigned(t.url, hull, await fresh("ship-update.json"), `${hull.url}/key-2`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(junk.every((s) => s === 400 || s === 403), junk.join());
      const fetched = [...hull.hits.keys()].filter((p) => p.startsWith("/junk-"));
      assert.deepEqual(fetched, [], "no key fetched for a body that could change nothing");
      assert.equal(hull.hits.get("/key-2"), 1);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "key fetch - only failed fetches use the budget: many good key URLs are all fetched",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      // 40 key URLs that each serve the key (more than the 30 fetches a minute of the budget).
      for (let i = 0; i < 40; i++) {
        const r = await postSigned(
          t.url,
          hull,
          await fresh("ship-update.json"),
          `${hull.url}/key-${i}`,
        );
        assert.equal(r.status, 200, `key-${i}: ${JSON.stringify(r.body)}`);
      }
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "key fetch - a key trickled byte by byte answers 503 at the deadline, not 500",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup({}, { hullKeyTimeoutMs: 500 });
    try {
      // ~450 bytes, one every 100 ms: far longer than the deadline.
      hull.pages.set("/slow-key", { type: "text/plain", body: hull.publicKeyPem, trickleMs: 100 });
      const r = await postSigned(
        t.url,
        hull,
        await fresh("user-update.json"),
        `${hull.url}/slow-key`,
      );
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(String(r.body.error), /in time/);
      assert.equal(await t.server.ctx.store.getProfile(ADA_ID), null);
      assert.deepEqual(await registeredIds(t), [], "no key, no registration");
      // The server is fine afterwards: the genuine key URL verifies.
      assert.equal((await postSigned(t.url, hull, await fresh("user-update.json"))).status, 200);
    } finally {
      await close();
    }
  },
});
