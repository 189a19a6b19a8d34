/**
 * Profiles fetched from Hull's API for visitors the connector has no profile of: the fetched
 * profile reaches a real socket.io client through the same filter as pushes, failures are
 * logged, the limits hold across instances, and a push newer than a fetch in flight wins.
 * A real https server plays Hull (tests/helpers/fake_hull.ts).
 */
import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import { fakeHullSkipReason, startFakeHull } from "../helpers/fake_hull.ts";
import {
  fixture,
  freshFixture,
  once,
  startTestServer,
  type TestServer,
} from "../helpers/server.ts";
import { waitFor } from "../helpers/store_fixtures.ts";
import { adaWith } from "../helpers/marker.ts";
import type { PublicPayload } from "../../lib/types.ts";
import { signIdentity } from "../../lib/socket/verification.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";

/** Ada as Hull's user report returns her: attributes with account and segments inside. */
async function adaReport(plan = "pro") {
  const m = (await fixture<{ messages: Record<string, unknown>[] }>("user-update.json"))
    .messages[0] as Record<string, Record<string, unknown>>;
  return {
    ...m.user,
    traits_plan: plan,
    account: m.account,
    segments: m.segments,
    account_segments: m.account_segments,
  };
}

/**
 * A connector that Hull has sent its credentials to, and (optionally) a second instance. The
 * fetch rate limit runs on a clock that only `advance` moves.
 */
async function installed(env: Record<string, string> = {}, instances = 1) {
  const hull = await startFakeHull();
  let clockMs = 0;
  const start = { hullCaCerts: [hull.caCert], hullFetchClock: () => clockMs };
  const all = { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url, ...env };
  const t = await startTestServer({ env: all, start });
  const servers: TestServer[] = [t];
  for (let i = 1; i < instances; i++) {
    servers.push(await startTestServer({ env: all, start, kvPath: t.kvPath }));
  }
  servers.forEach(countUnknown);
  // The fetcher is the same in every connector's scope (its own credentials, store, settings,
  // log and token bucket): here the standalone connector's, given Hull credentials, so that
  // pages on the namespace "/" use it. A Hull connector's own fetcher, registered by Hull's
  // notification, is checked in hull_connectors_test.ts.
  await t.server.ctx.hull.credentials.save({
    id: CONNECTOR_ID,
    organization: "acme.hullapp.io",
    secret: hull.secret,
  });
  return {
    hull,
    t,
    servers,
    /** Moves the rate limit's clock `ms` forward. */
    advance(ms: number) {
      clockMs += ms;
    },
    async close() {
      for (const s of servers) await s.close();
      await hull.close();
    },
  };
}

/** Connects to `t`, sends user.fetch with `claims`, collects every user.update. */
async function visitor(t: TestServer, claims: Record<string, string>) {
  const s: Socket = t.connect();
  const updates: PublicPayload[] = [];
  s.on("user.update", (p: PublicPayload) => updates.push(p));
  await once(s, "connect");
  const joined = once(s, "room.joined");
  s.emit("user.fetch", { claims });
  await joined;
  return { s, updates };
}

const UNKNOWN = "unknown visitor: waiting for the first update";
const unknowns = new WeakMap<TestServer, number>();

/** Counts the unknown visitors `t` handed to the profile fetcher from now on. */
function countUnknown(t: TestServer): void {
  unknowns.set(t, 0);
  t.server.ctx.events.subscribe((e) => {
    if (e.message === UNKNOWN) unknowns.set(t, unknowns.get(t)! + 1);
  });
}

/** Waits until `t` has seen `n` unknown visitors in all, and every fetch they started ended. */
async function settle(t: TestServer, n: number) {
  await waitFor(() => unknowns.get(t)! >= n, 5_000);
  assert.ok(unknowns.get(t)! >= n, `${n} unknown visitors on ${t.url}`);
  await t.server.ctx.hull.profiles!.idle();
}
async function log(t: TestServer) {
  await t.server.ctx.flush();
  return await t.server.ctx.store.listEvents(500);
}

Deno.test({
  name:
    "profile fetch - an unknown visitor receives the profile fetched from Hull, public traits only",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await installed();
    const ada = await adaReport();
    hull.reports = (c) => c.email === "ada@example.com" ? { body: ada } : undefined;
    try {
      const { updates } = await visitor(t, { email: "ada@example.com" });
      await waitFor(() => updates.length > 0, 5_000);
      const p = updates[0];
      assert.equal(p.user.email, "ada@example.com");
      assert.deepEqual(p.user.traits, { plan: "pro" });
      assert.deepEqual(p.segments, ["Trial users"], "only whitelisted segment names");
      assert.equal(p.account.name, "Example Inc");
      const json = JSON.stringify(p);
      for (const secret of ["internal_score", "last_seen_at", "arr_internal", "Churn risk"]) {
        assert.equal(json.includes(secret), false, `${secret} never leaves the server`);
      }
      // The request Hull received: the connector's headers and a token acting as the visitor.
      assert.equal(hull.api.length, 1);
      const req = hull.api[0];
      assert.equal(req.headers.get("hull-app-id"), CONNECTOR_ID);
      assert.equal(req.headers.get("hull-organization"), "acme.hullapp.io");
      assert.equal(req.token.iss, CONNECTOR_ID);
      assert.equal(typeof req.token.iat, "number");
      assert.equal(req.token["io.hull.subjectType"], "user");
      assert.deepEqual(req.token.scopes, ["admin"], "as the original connector asks for it");
      assert.deepEqual(req.token["io.hull.asUser"], { email: "ada@example.com" });
      // Stored like an update: another identifier of Ada is now known without asking Hull.
      await settle(t, 1);
      const other = await visitor(t, { external_id: "user-1001" });
      await waitFor(() => other.updates.length > 0);
      assert.equal(other.updates[0].user.email, "ada@example.com");
      assert.equal(hull.api.length, 1);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "profile fetch - not found and failures are logged, the socket stays joined for pushes",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await installed();
    hull.reports = (c) => c.email === "boom@example.com" ? { status: 500 } : undefined;
    try {
      const ghost = await visitor(t, { email: "ada@example.com" });
      await visitor(t, { email: "boom@example.com" });
      await settle(t, 2);
      const entries = await log(t);
      const notFound = entries.find((e) => e.event === "incoming.user.fetch.error");
      assert.match(notFound?.message ?? "", /not found in Hull/);
      const failed = entries.find((e) => e.event === "outgoing.user.fetch.error");
      assert.match(failed?.message ?? "", /Hull answered 500/);
      const text = JSON.stringify(entries);
      assert.equal(text.includes("ada@example.com"), false, "identifiers are masked");
      assert.equal(text.includes(hull.secret), false);
      // Still joined: Hull's next update reaches the visitor.
      assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
      await waitFor(() => ghost.updates.length > 0);
      assert.equal(ghost.updates[0].user.email, "ada@example.com");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "profile fetch - once per visitor across instances, at most M a second per instance",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, servers: [a, b], advance, close } = await installed(
      { HULL_FETCH_PER_SECOND: "2" },
      2,
    );
    const asked = (email: string) => hull.api.filter((r) => r.claims.email === email).length;
    try {
      await visitor(a, { email: "same@example.com" });
      await settle(a, 1);
      await visitor(b, { email: "same@example.com" });
      await visitor(a, { email: "same@example.com" });
      await Promise.all([settle(a, 2), settle(b, 1)]);
      assert.equal(asked("same@example.com"), 1, "one fetch per visitor across instances");

      advance(1_000); // a full bucket again: 2 fetches, and the clock stands still meanwhile
      const crowd = Array.from({ length: 6 }, (_, i) => `crowd${i}@example.com`);
      await Promise.all(crowd.map((email) => visitor(a, { email })));
      await settle(a, 8);
      const fetched = crowd.filter((e) => asked(e) > 0);
      assert.equal(fetched.length, 2, `fetched ${fetched.length} of 6`);
      const limited = (await log(a)).filter((e) =>
        /profile fetches a second/.test(e.message ?? "")
      );
      assert.equal(limited.length, 4, "rate-limited fetches logged");
      assert.equal(a.server.ctx.metrics.counters["limit.hullFetchesPerSecond"], 4);
      // A visitor skipped for the rate is not marked as fetched: the next visit asks Hull.
      advance(1_000);
      const skipped = crowd.find((e) => asked(e) === 0)!;
      await visitor(a, { email: skipped });
      await settle(a, 9);
      assert.equal(asked(skipped), 1);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "profile fetch - an update pushed while the fetch is in flight wins",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const { hull, t, close } = await installed();
    // Hull's API answers slowly (only once the update was pushed), with an older plan than the
    // update that arrives meanwhile.
    const older = await adaReport("free");
    const hullAnswers = Promise.withResolvers<void>();
    hull.reports = () => ({ body: older, answerAfter: hullAnswers.promise });
    try {
      const { updates } = await visitor(t, { email: "ada@example.com" });
      await waitFor(() => hull.api.length === 1);
      assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
      await waitFor(() => updates.length > 0);
      hullAnswers.resolve();
      await settle(t, 1);
      const id = "5f00000000000000000000a1"; // Ada in the fixtures
      assert.equal((await t.server.ctx.store.getProfile(id))?.user.traits_plan, "pro");
      const entries = await log(t);
      assert.ok(entries.some((e) => /older than an update received meanwhile/.test(e.message!)));
      // A later update of Ada is the marker: a push of the fetched profile would come before it.
      assert.equal(
        (await t.postNotification(await adaWith({ traits_plan: "marker" }))).status,
        200,
      );
      await waitFor(() => updates.length >= 2);
      assert.deepEqual(
        updates.map((u) => u.user.traits),
        [{ plan: "pro" }, { plan: "marker" }],
        "the fetched profile was not pushed",
      );
    } finally {
      hullAnswers.resolve();
      await close();
    }
  },
});

Deno.test({
  name:
    "profile fetch - a verified claim plus someone else's anonymous id asks Hull for the verified one only",
  ignore: skip !== undefined,
  ...opts,
  async fn() {
    const secret = "identity-secret-0123456789abcdef";
    const { hull, t, close } = await installed({
      IDENTITY_SECRET: secret,
      IDENTITY_MODE: "required",
      ANONYMOUS_TRAITS: "traits_plan",
    });
    const ada = await adaReport();
    // A Hull that resolves any claim set naming Ada's anonymous id to Ada.
    hull.reports = (c) => c.anonymous_id === "a1b2c3d4-anon" ? { body: ada } : undefined;
    try {
      const s: Socket = t.connect();
      const updates: PublicPayload[] = [];
      s.on("user.update", (p: PublicPayload) => updates.push(p));
      await once(s, "connect");
      const joined = once(s, "room.joined");
      s.emit("user.fetch", {
        claims: { external_id: "attacker-1", anonymous_id: "a1b2c3d4-anon" },
        hash: await signIdentity(secret, "external_id", "attacker-1"),
      });
      await joined;
      await settle(t, 1);
      assert.equal(hull.api.length, 1);
      assert.deepEqual(hull.api[0].token["io.hull.asUser"], { external_id: "attacker-1" });
      const key = t.server.ctx.webhook.hasher.hashSync({
        type: "external_id",
        value: "attacker-1",
      });
      assert.equal(await t.server.ctx.store.lookupUserId([key]), null, "not tied to Ada");
      // A later update of Ada is the marker: it reaches this socket through the anonymous id's
      // room, after anything of Ada's the fetch could have pushed.
      assert.equal(
        (await t.postNotification(await adaWith({ traits_plan: "marker" }))).status,
        200,
      );
      await waitFor(() => updates.length > 0);
      assert.deepEqual(updates.map((u) => u.user.traits), [{ plan: "marker" }], "only the marker");
      for (const p of updates) assert.equal(p.user.email, undefined, "nothing of Ada's leaks");
    } finally {
      await close();
    }
  },
});
