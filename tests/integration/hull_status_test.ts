/**
 * The connector's status for Hull, on a real server with a real https server playing Hull
 * (tests/helpers/fake_hull.ts): `/status` answers Hull's cron `{ status, messages }` only when
 * it carries the bound connector's id, organization and secret, and sends the same status to
 * `PUT /api/v1/<id>/status`; settings Hull sent that were not used and failures of Hull's API
 * show in it; nothing secret or personal does.
 */
import assert from "node:assert/strict";
import { fakeHullSkipReason, postSigned, startFakeHull } from "../helpers/fake_hull.ts";
import { freshFixture, startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/store_fixtures.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const skip = await fakeHullSkipReason();
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";
const ORGANIZATION = "acme.hullapp.io";

type Body = Record<string, unknown> & { notification_id: string };

async function setup() {
  const hull = await startFakeHull();
  const t = await startTestServer({
    env: { HULL_KEY_HOSTS: "localhost", HULL_API_BASE_URL: hull.url },
    start: { hullCaCerts: [hull.caCert] },
  });
  /** A Hull notification from the fake Hull's connector. */
  const notification = async (privateSettings: Record<string, unknown> = {}) => {
    const body = await freshFixture("ship-update.json") as Body;
    body.configuration = { id: CONNECTOR_ID, organization: ORGANIZATION, secret: hull.secret };
    body.connector = { ...(body.connector as object), private_settings: privateSettings };
    const res = await postSigned(t.url, hull, body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  /** Hull's cron call with `params` (`method` as Hull's scheduler: POST). */
  const cron = async (params: Record<string, string>, method = "POST") => {
    const res = await fetch(`${t.url}/status?${new URLSearchParams(params)}`, { method });
    return { status: res.status, body: await res.json() };
  };
  const own = { ship: CONNECTOR_ID, secret: hull.secret, organization: ORGANIZATION };
  return {
    hull,
    t,
    notification,
    cron,
    own,
    async close() {
      await t.close();
      await hull.close();
    },
  };
}

Deno.test({
  name: "status - answers the bound connector's cron only, and sends the same status to Hull",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, notification, cron, own, close } = await setup();
    try {
      // Not bound yet: setup required, and nothing is sent anywhere (no verified credentials).
      assert.equal((await cron({})).status, 401);
      const unbound = await cron(own);
      assert.equal(unbound.status, 200);
      assert.equal(unbound.body.status, "setupRequired");
      assert.equal(hull.statuses.length, 0);

      await notification();
      const answer = await cron(own);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { status: "ok", messages: [] });
      assert.equal(hull.statuses.length, 1, "one request to Hull per cron call");
      assert.equal(hull.statuses[0].id, CONNECTOR_ID);
      assert.deepEqual(hull.statuses[0].body, answer.body);
      assert.equal(hull.statuses[0].headers.get("hull-organization"), ORGANIZATION);

      // A stranger learns nothing: wrong secret, another connector id, another organization.
      for (
        const params of [
          { ...own, secret: "guessed-secret" },
          { ...own, ship: "000000000000000000000000" },
          { ...own, organization: "other.hullapp.io" },
          { ship: own.ship, organization: own.organization },
        ]
      ) {
        const res = await cron(params, "GET");
        assert.ok([401, 403].includes(res.status), JSON.stringify(res));
        assert.equal(res.body.status, undefined);
        assert.equal(res.body.messages, undefined);
      }
      assert.equal(hull.statuses.length, 1, "no status sent for a refused call");
      assert.equal((await cron(own, "GET")).body.status, "ok");
      assert.equal(
        (await (await fetch(`${t.url}/manifest.json`)).json()).schedules[0].url,
        "/status",
      );
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "status - settings not used and Hull API failures show, with no secret or identifier",
  ignore: !!skip,
  ...opts,
  async fn() {
    const { hull, t, notification, cron, own, close } = await setup();
    try {
      await notification({ whitelisted_domains: ["localhost", "not a domain"] });
      const warned = await cron(own);
      assert.equal(warned.body.status, "warning", JSON.stringify(warned.body));
      assert.match(warned.body.messages.join(), /not a domain.*entry left out/);

      // A visitor Hull's API fails for: the status becomes an error. The connector's own
      // fetcher is asked (as its namespace's handshake does), with its own credentials.
      hull.reports = () => ({ status: 500 });
      const connector = (await t.server.ctx.connectors.get(CONNECTOR_ID))!;
      const fetcher = connector.services.profiles!;
      fetcher.unknownVisitor([{ type: "email", value: "carol@example.com" }], "localhost");
      await waitFor(() => hull.api.length === 1, 5_000);
      await fetcher.idle();
      assert.equal(hull.api[0].headers.get("hull-app-id"), CONNECTOR_ID);
      assert.deepEqual(hull.api[0].token.scopes, ["admin"]);
      let failing = await cron(own);
      await waitFor(async () => (failing = await cron(own)).body.status === "error");
      assert.match(
        failing.body.messages.join(),
        /Hull's API fails for profile fetches: Hull answered 500/,
      );
      const sent = JSON.stringify(hull.statuses);
      for (const hidden of [hull.secret, "carol@example.com", "carol"]) {
        assert.ok(!sent.includes(hidden), `${hidden} is not in any status`);
      }
      assert.deepEqual(hull.statuses.at(-1)!.body, failing.body);
    } finally {
      await close();
    }
  },
});
