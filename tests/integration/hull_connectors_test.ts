/**
 * Many Hull connectors on one deployment (issue 25, item 1): two Hull connectors and the
 * standalone one on one server, the same email in each with different settings; each
 * notification lands in its own connector's scope (profiles, settings, credentials, live log,
 * names seen, status); a known id needs its secret; HULL_MAX_CONNECTORS; registration only after
 * a verified token; webhooks in flight per connector; the previous release's single binding
 * migrated at boot. A real https server plays Hull (tests/helpers/fake_hull.ts); real HTTP, real
 * Deno KV, and Redis where it runs.
 */
import assert from "node:assert/strict";
import {
  type FakeHull,
  fakeHullSkipReason,
  postSigned,
  startFakeHull,
} from "../helpers/fake_hull.ts";
import { freshFixture, SECRET, startTestServer, type TestServer } from "../helpers/server.ts";
import { redisSkipReason, startRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import {
  credentialsOf,
  eventsOf,
  hullConnector,
  registeredIds,
} from "../helpers/hull_connectors.ts";
import { connectorSummary } from "../../lib/hull/summary.ts";
import { load as loadSeen } from "../../lib/webhook/seen.ts";
import { loadManaged } from "../../lib/hull/settings_sync.ts";
import { HullCredentials } from "../../lib/hull/credentials.ts";
import { migrateSingleBinding } from "../../lib/hull/migration.ts";
import { KvStore } from "../../lib/store/kv_store.ts";
import type { Store } from "../../lib/store/store.ts";
import { MAX_INFLIGHT_PER_CONNECTOR } from "../../lib/webhook/connector_limit.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const skipRedis = redisSkipReason();
const A = "5a1b2c3d4e5f60718293a4b5";
const B = "0b0b0b0b0b0b0b0b0b0b0b0b";
const C = "0c0c0c0c0c0c0c0c0c0c0c0c";
const SECRETS: Record<string, string> = {
  [A]: "secret-of-connector-a-0123",
  [B]: "secret-of-connector-b-4567",
  [C]: "secret-of-connector-c-8901",
};
const ORGANIZATION = "acme.hullapp.io";
const ADA_ID = "5f00000000000000000000a1"; // Ada in the fixtures

type Body = Record<string, unknown> & { notification_id: string };

/** A fake Hull and a server fetching keys from it (`env` added). */
async function setup(
  env: Record<string, string> = {},
  more: { kvPath?: string; hull?: FakeHull } = {},
) {
  const hull = more.hull ?? await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url, ...env },
    start: { hullCaCerts: [hull.caCert], hullKeyTimeoutMs: 30_000 },
    kvPath: more.kvPath,
  });
  return {
    hull,
    t,
    async close() {
      await t.close();
      if (!more.hull) await hull.close();
    },
  };
}

/** A user:update of Ada (plan `plan`) for connector `id`, with its name and private settings. */
async function adaFor(
  id: string,
  plan: string,
  privateSettings: Record<string, unknown> = {},
  secret = SECRETS[id],
): Promise<Body> {
  const body = await freshFixture("user-update.json") as Body;
  body.configuration = { id, organization: ORGANIZATION, secret };
  body.connector = { id, name: `Browser ${id.slice(0, 4)}`, private_settings: privateSettings };
  const m = (body.messages as Record<string, Record<string, unknown>>[])[0];
  m.user = { ...m.user, traits_plan: plan };
  return body;
}

/** Ada's plan as `store` holds her (null: not there). */
async function adaPlan(store: Store): Promise<unknown> {
  return (await store.getProfile(ADA_ID))?.user.traits_plan ?? null;
}

/** Everything of a scope a notification could change (credentials, config, Ada, names seen). */
async function scopeState(store: Store) {
  return JSON.stringify({
    credentials: await store.getMeta("hull_connector"),
    config: await store.getConfig(),
    managed: await store.getMeta("hull_managed"),
    ada: await store.getProfile(ADA_ID),
  });
}

/** The standalone connector's, A's and B's scopes, and the registry. */
async function everything(t: TestServer) {
  const root = t.server.ctx.store;
  return JSON.stringify({
    registered: await registeredIds(t),
    root: await scopeState(root),
    a: await scopeState(root.scoped(A)),
    b: await scopeState(root.scoped(B)),
  });
}

/** Posts `body` Hull-signed; asserts the status. */
async function post(t: TestServer, hull: FakeHull, body: Body, status = 200) {
  const r = await postSigned(t.url, hull, body);
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r;
}

/** Two Hull connectors and the standalone one, each with Ada on another plan and settings. */
async function threeAdas(t: TestServer, hull: FakeHull) {
  const standalone = await freshFixture("user-update.json");
  const m = (standalone.messages as Record<string, Record<string, unknown>>[])[0];
  m.user = { ...m.user, traits_plan: "standalone" };
  assert.equal((await t.postNotification(standalone)).status, 200);
  await post(
    t,
    hull,
    await adaFor(A, "pro", {
      public_traits: ["email", "traits_plan"],
      whitelisted_domains: ["a.example"],
    }),
  );
  await post(
    t,
    hull,
    await adaFor(B, "free", { public_traits: ["email"], whitelisted_domains: ["b.example"] }),
  );
}

async function noCrossing(t: TestServer, hull: FakeHull) {
  await threeAdas(t, hull);
  const ctx = t.server.ctx;
  assert.deepEqual((await registeredIds(t)).sort(), [B, A].sort());
  const a = (await hullConnector(t, A))!;
  const b = (await hullConnector(t, B))!;
  // The same email is three users, one per connector.
  assert.equal(await adaPlan(ctx.store), "standalone");
  assert.equal(await adaPlan(a.store), "pro");
  assert.equal(await adaPlan(b.store), "free");
  // Each has its own settings and whitelist; the standalone one keeps the env's.
  assert.deepEqual(a.live.settings.public_traits, ["email", "traits_plan"]);
  assert.deepEqual(b.live.settings.public_traits, ["email"]);
  assert.deepEqual(ctx.live.settings.public_traits, [
    "email",
    "traits_plan",
    "name",
    "account.name",
  ]);
  assert.deepEqual(a.live.domains.map((d) => d.raw), ["a.example"]);
  assert.deepEqual(b.live.domains.map((d) => d.raw), ["b.example"]);
  assert.equal(ctx.live.allows("https://a.example"), false);
  // Credentials in each scope, none in the root.
  assert.equal((await credentialsOf(t, A))?.organization, ORGANIZATION);
  assert.equal((await credentialsOf(t, B))?.id, B);
  assert.equal(await ctx.store.getMeta("hull_connector"), null);
  // One incoming user per live log: each connector's own.
  for (const [id, plan] of [["default", "standalone"], [A, "pro"], [B, "free"]]) {
    const log = await eventsOf(t, id);
    const incoming = log.filter((e) => e.event === "incoming.user.start");
    assert.equal(incoming.length, 1, `${id}: ${JSON.stringify(incoming)} (${plan})`);
  }
  const ids = (log: { id?: string }[]) => new Set(log.map((e) => e.id));
  const [la, lb] = [ids(await eventsOf(t, A)), ids(await eventsOf(t, B))];
  assert.equal([...la].some((id) => lb.has(id)), false, "no entry in both logs");
  // Names seen reach each connector's own store.
  await waitFor(async () => (await loadSeen(a.store)).recent_user === ADA_ID, {
    timeoutMs: 10_000,
    what: "names seen flushed into A's scope",
  });
  await waitFor(async () => (await loadSeen(b.store)).recent_user === ADA_ID, {
    timeoutMs: 10_000,
    what: "names seen flushed into B's scope",
  });
  // A replayed notification is refused within its connector.
  const again = await adaFor(A, "replayed");
  await post(t, hull, again);
  const replay = await post(t, hull, again);
  assert.equal(replay.body.replayed, true);
  // The dashboard's summary: name, organization, last notification, status.
  const summary = await connectorSummary(a);
  assert.equal(summary.id, A);
  assert.equal(summary.standalone, false);
  assert.equal(summary.name, "Browser 5a1b");
  assert.equal(summary.organization, ORGANIZATION);
  assert.ok(summary.last_notification_at, "last notification recorded");
  assert.equal(summary.status.status, "ok", JSON.stringify(summary.status));
  assert.equal(JSON.stringify(summary).includes(SECRETS[A]), false, "no secret");
  const plain = await connectorSummary(ctx.connectors.standalone);
  assert.equal(plain.standalone, true);
  assert.equal(plain.name, null);
}

Deno.test({
  name: "connectors - two Hull connectors and the standalone one: the same email, nothing crosses",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      await noCrossing(t, hull);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "connectors - on Redis too, each notification lands in its own connector's scope",
  ignore: skip !== undefined || skipRedis !== undefined,
  ...opts,
  async fn() {
    const redis = await startRedis();
    const { hull, t, close } = await setup({ REDIS_URL: redis.url });
    try {
      await noCrossing(t, hull);
    } finally {
      await close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "connectors - a wrong secret for a known id: 403, logged in its log, nothing changed",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      await threeAdas(t, hull);
      const before = await everything(t);
      // A's id with B's secret (B's own, valid elsewhere), and with a guess.
      for (const secret of [SECRETS[B], "guessed-secret"]) {
        const r = await post(t, hull, await adaFor(A, "hacked", {}, secret), 403);
        assert.match(String(r.body.error), /secret/);
        assert.equal(await everything(t), before, "nothing changed");
      }
      const log = await eventsOf(t, A);
      const refusals = log.filter((e) => /webhook refused \(403\)/.test(e.message ?? ""));
      assert.equal(refusals.length, 2, "each refusal in the connector's own log");
      for (const secret of Object.values(SECRETS)) {
        assert.equal(JSON.stringify(log).includes(secret), false, "no secret in the log");
      }
      const summary = await connectorSummary((await hullConnector(t, A))!);
      assert.equal(summary.refusals_here, 2);
      assert.match(summary.last_refusal?.reason ?? "", /secret/);
      assert.equal((await connectorSummary((await hullConnector(t, B))!)).refusals_here, 0);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "connectors - past HULL_MAX_CONNECTORS a new connector gets 403 and nothing is written",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup({ HULL_MAX_CONNECTORS: "2" });
    try {
      await threeAdas(t, hull);
      const before = await everything(t);
      const r = await post(t, hull, await adaFor(C, "third"), 403);
      assert.match(String(r.body.error), /HULL_MAX_CONNECTORS \(2\)/);
      assert.equal(await everything(t), before);
      assert.equal(await hullConnector(t, C), null);
      const scope = t.server.ctx.store.scoped(C);
      assert.equal(await scope.getMeta("hull_connector"), null, "no credentials kept");
      assert.equal(await scope.getProfile(ADA_ID), null, "no profile kept");
      // The known ones still apply.
      await post(t, hull, await adaFor(B, "still-b"));
      assert.equal(await adaPlan((await hullConnector(t, B))!.store), "still-b");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "connectors - a body whose token does not verify registers nothing",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    try {
      const body = await adaFor(C, "unverified");
      const send = async (headers: Record<string, string>) => {
        const res = await fetch(`${t.url}/smart-notifier`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: await res.json() };
      };
      const now = Math.floor(Date.now() / 1000);
      const cases: [string, Record<string, string>][] = [
        ["a token for another notification", await hull.sign({ notification_id: "other" })],
        ["an expired token", await hull.sign(body, undefined, { iat: now - 600, exp: now - 300 })],
        ["a key URL that is not a key", await hull.sign(body, `${hull.url}/api/v1/none`)],
        ["a token with a broken signature", {
          ...await hull.sign(body),
          "x-hull-smart-notifier-signature": (await hull.sign(body))[
            "x-hull-smart-notifier-signature"
          ].slice(0, -4) + "AAAA",
        }],
      ];
      for (const [what, headers] of cases) {
        const r = await send(headers);
        assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(await registeredIds(t), [], `${what}: nothing registered`);
        assert.equal(
          await scopeState(t.server.ctx.store.scoped(C)),
          await scopeState(
            t.server.ctx.store.scoped(B), // never written either: an empty scope
          ),
        );
      }
      // The same body with a genuine token registers it.
      await post(t, hull, body);
      assert.deepEqual(await registeredIds(t), [C]);
      assert.equal(await adaPlan((await hullConnector(t, C))!.store), "unverified");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "connectors - one connector's flood of webhooks waits on its own slots, not another's",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await setup();
    const gate = Promise.withResolvers<void>();
    try {
      await post(t, hull, await adaFor(A, "pro"));
      // A's notifications whose key Hull serves only when the test says: each holds a slot.
      const held = Array.from({ length: MAX_INFLIGHT_PER_CONNECTOR }, async (_, i) => {
        hull.pages.set(`/slow-key-${i}`, {
          type: "text/plain",
          body: hull.publicKeyPem,
          answerAfter: gate.promise,
        });
        return (await postSigned(
          t.url,
          hull,
          await adaFor(A, `held-${i}`),
          `${hull.url}/slow-key-${i}`,
        ))
          .status;
      });
      const slowHits = () =>
        [...hull.hits].filter(([path]) => path.startsWith("/slow-key-")).length;
      await waitFor(() => slowHits() === MAX_INFLIGHT_PER_CONNECTOR, { what: "slots held" });
      // One more of A's: answered at once, retry later.
      for (let i = 0; i < 2; i++) {
        const body = await adaFor(A, "one-too-many");
        const res = await fetch(`${t.url}/smart-notifier`, {
          method: "POST",
          headers: { "content-type": "application/json", ...await hull.sign(body) },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 429);
        assert.ok(Number(res.headers.get("retry-after")) > 0, "Retry-After");
        const answer = await res.json();
        assert.equal(answer.flow_control.type, "retry");
        assert.match(answer.error, /in flight/);
      }
      // B is served meanwhile.
      await post(t, hull, await adaFor(B, "b-served"));
      assert.equal(await adaPlan((await hullConnector(t, B))!.store), "b-served");
      gate.resolve();
      assert.deepEqual(await Promise.all(held), held.map(() => 200));
      const log = await eventsOf(t, A);
      const refused = log.filter((e) => /webhook refused \(429\)/.test(e.message ?? ""));
      assert.equal(refused.length, 1, "logged once per burst");
      assert.notEqual(await adaPlan((await hullConnector(t, A))!.store), "one-too-many");
    } finally {
      gate.resolve();
      await close();
    }
  },
});

Deno.test({
  name: "migration - the previous release's single binding becomes a connector of its own",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    // What the previous release left: credentials, settings and Hull's record in the root.
    const root = await KvStore.open(kvPath);
    const credentials = await HullCredentials.create(root, SECRET);
    await credentials.save({ id: A, organization: ORGANIZATION, secret: SECRETS[A] });
    await root.setSettings({
      ...(await root.getConfig()).settings,
      public_traits: ["email", "traits_plan"],
    });
    await root.setDomains(["shop.example"]);
    const managed = {
      managed: { domains: "2026-01-01T00:00:00.000Z" },
      problems: [],
      refused: null,
    };
    await root.setMeta("hull_managed", managed);
    await root.close();

    const hull = await startFakeHull();
    let s = await setup({}, { kvPath, hull });
    try {
      assert.deepEqual(await registeredIds(s.t), [A]);
      const info = await credentialsOf(s.t, A);
      assert.equal(info?.organization, ORGANIZATION);
      assert.equal(info?.secret_readable, true, "the same key reads the moved secret");
      assert.equal(await s.t.server.ctx.store.getMeta("hull_connector"), null, "moved");
      const a = (await hullConnector(s.t, A))!;
      assert.deepEqual(a.live.settings.public_traits, ["email", "traits_plan"]);
      assert.deepEqual(a.live.domains.map((d) => d.raw), ["shop.example"]);
      assert.deepEqual((await loadManaged(a.store)).managed, managed.managed);
      assert.ok(a.services.profiles, "opened at boot, it fetches profiles too");
      // Its notifications still need its secret, and then apply in its scope.
      await post(s.t, hull, await adaFor(A, "guess", {}, "guessed-secret"), 403);
      await post(s.t, hull, await adaFor(A, "migrated", { public_traits: ["email"] }));
      assert.equal(await adaPlan(a.store), "migrated");
      assert.equal(await adaPlan(s.t.server.ctx.store), null, "profiles are not in the root");
      await s.close();

      // A second boot changes nothing: the scope's own settings stay.
      s = await setup({}, { kvPath, hull });
      assert.deepEqual(await registeredIds(s.t), [A]);
      const again = (await hullConnector(s.t, A))!;
      assert.deepEqual(again.live.settings.public_traits, ["email"]);
      assert.equal((await credentialsOf(s.t, A))?.secret_readable, true);
    } finally {
      await s.close();
      await hull.close();
    }
  },
});

Deno.test("migration - safe to run again at any point, never over a scope's own data", async () => {
  const root = await KvStore.open(":memory:");
  try {
    assert.equal(await migrateSingleBinding(root), null, "nothing to move");
    const credentials = await HullCredentials.create(root, SECRET);
    await credentials.save({ id: A, organization: ORGANIZATION, secret: SECRETS[A] });
    const doc = await root.getMeta("hull_connector");
    // Interrupted after the copy: the scope already has the doc and settings of its own.
    await root.registerConnector(A, 20);
    const scope = root.scoped(A);
    await scope.setMeta("hull_connector", doc);
    await scope.setDomains(["own.example"]);
    await root.setDomains(["root.example"]);
    assert.equal(await migrateSingleBinding(root), A);
    assert.deepEqual((await scope.getConfig()).domains, ["own.example"], "not overwritten");
    assert.deepEqual(await scope.getMeta("hull_connector"), doc);
    assert.equal(await root.getMeta("hull_connector"), null);
    assert.deepEqual(await root.listConnectors(), [A]);
    assert.equal(await migrateSingleBinding(root), null, "done once");
    // Registered whatever the limit: it was served already.
    const full = await KvStore.open(":memory:");
    try {
      await (await HullCredentials.create(full, SECRET)).save({
        id: B,
        organization: ORGANIZATION,
        secret: SECRETS[B],
      });
      for (const id of ["111111111111111111111111", "222222222222222222222222"]) {
        assert.equal(await full.registerConnector(id, 2), "added");
      }
      assert.equal(await migrateSingleBinding(full), B);
      assert.equal((await full.listConnectors()).length, 3);
    } finally {
      await full.close();
    }
  } finally {
    await root.close();
  }
});

Deno.test({
  name: "connectors - each fetches profiles, answers Hull's cron and pushes its status as itself",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    // The fake Hull's API knows A's secret only: B's requests are refused there.
    const hull = await startFakeHull(SECRETS[A]);
    const { t, close } = await setup({}, { hull });
    try {
      await threeAdas(t, hull);
      const a = (await hullConnector(t, A))!;
      const b = (await hullConnector(t, B))!;
      for (const c of [a, b]) {
        c.services.profiles!.unknownVisitor([{ type: "email", value: "carol@example.com" }]);
        await c.services.profiles!.idle();
      }
      assert.equal(hull.api.length, 1, "only A's request was Hull's to answer");
      assert.equal(hull.api[0].headers.get("hull-app-id"), A);
      const cron = async (id: string, secret: string) => {
        const query = new URLSearchParams({ ship: id, secret, organization: ORGANIZATION });
        const res = await fetch(`${t.url}/status?${query}`, { method: "POST" });
        return { status: res.status, body: await res.json() };
      };
      const okA = await cron(A, SECRETS[A]);
      assert.deepEqual(okA.body, { status: "ok", messages: [] });
      const failingB = await waitFor(async () => {
        const r = await cron(B, SECRETS[B]);
        return r.body.status === "error" ? r : null;
      }, { what: "B's status shows its API failure" });
      assert.match(failingB.body.messages.join(), /Hull's API fails for profile fetches/);
      assert.equal((await cron(A, SECRETS[B])).status, 403, "A's cron needs A's secret");
      assert.equal((await cron(C, SECRETS[C])).status, 403, "an id not served here");
      assert.deepEqual(hull.statuses.map((s) => [s.id, s.body.status]), [[A, "ok"]]);
    } finally {
      await close();
      await hull.close();
    }
  },
});
