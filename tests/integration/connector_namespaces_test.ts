/**
 * Namespaces per connector (docs/contracts.md §4, docs/connectors.md): `/` serves the
 * standalone connector, `/<id>` a registered Hull connector only, each with its own Origin
 * whitelist, store scope, settings, pushes, connection limit and removal. Connectors are
 * registered here through the running server's directory (as a Hull-signed notification
 * would), and their updates applied with the real processor over their own scope and publisher.
 */
import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import { type Connector, STANDALONE_ID } from "../../lib/connector/directory.ts";
import type { HullServices } from "../../lib/hull/services.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import {
  clusterConnectorCounts,
  clusterSocketData,
  REMOVED_MESSAGE,
} from "../../lib/socket/namespaces.ts";
import type { SocketId } from "../../lib/admin/cluster.ts";
import type { Settings } from "../../lib/types.ts";
import { redisSkipReason, startRedis } from "../helpers/redis.ts";
import { ioV2 } from "../helpers/v2_client.ts";
import { once, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const A = "aaaaaaaaaaaaaaaaaaaaaaa1";
const B = "bbbbbbbbbbbbbbbbbbbbbbb2";
const ORIGIN_A = "http://shop-a.test";
const ORIGIN_B = "http://shop-b.test";
/** Whitelisted for the standalone connector (the test server's WHITELISTED_DOMAINS). */
const ORIGIN_ROOT = "http://localhost:3000";
const CLAIMS = { claims: { email: "same@example.org" } };

type Payload = { user: { id: string; name?: string; email?: string } };

const SETTINGS: Settings = {
  public_traits: ["name"],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

/** Registers Hull connector `id` on `t` with `origin`'s host whitelisted and `traits` public. */
async function register(
  t: TestServer,
  id: string,
  origin: string,
  traits = ["name"],
): Promise<Connector<HullServices>> {
  const { result, connector } = await t.server.ctx.connectors.register(id, 20);
  assert.notEqual(result, "full");
  await connector!.store.setDomains([new URL(origin).host]);
  await connector!.store.setSettings({ ...SETTINGS, public_traits: traits });
  await waitFor(() => connector!.live.allows(origin), { what: `${id} whitelists ${origin}` });
  return connector!;
}

/** Applies a user:update for `name` (email same@example.org) to connector `c` on server `t`. */
async function update(t: TestServer, c: Connector<HullServices>, userId: string, name: string) {
  const n = {
    notification_id: crypto.randomUUID(),
    channel: "user:update",
    messages: [{ user: { id: userId, email: "same@example.org", name }, segments: [] }],
  };
  await processNotification(n, {
    store: c.store,
    hasher: t.server.ctx.webhook.hasher,
    events: c.events,
    publish: t.server.publisherFor(c.id),
    settings: () => c.live.settings,
  });
}

/** Connects to `namespace` with `origin`; resolves with the socket, or the refusal's message. */
async function connect(t: TestServer, namespace: string, origin: string) {
  const s = t.connect(origin, { namespace });
  return await new Promise<{ s: Socket; error?: string }>((resolve) => {
    s.once("connect", () => resolve({ s }));
    s.once("connect_error", (e: Error) => resolve({ s, error: e.message }));
  });
}

/** A connected socket that sent `user.fetch` and keeps every `user.update` it receives. */
async function listener(t: TestServer, namespace: string, origin: string) {
  const { s, error } = await connect(t, namespace, origin);
  assert.equal(error, undefined, `${namespace} from ${origin}`);
  const got: Payload[] = [];
  s.on("user.update", (p: Payload) => got.push(p));
  const joined = once(s, "room.joined");
  s.emit("user.fetch", CLAIMS);
  await joined;
  return { s, got };
}

const nsps = (t: TestServer) => (t.server.io as unknown as { _nsps: Map<string, unknown> })._nsps;

Deno.test({
  name: "connector namespaces - each namespace checks the Origin against its own connector",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      await register(t, A, ORIGIN_A);
      await register(t, B, ORIGIN_B);
      assert.equal((await connect(t, `/${A}`, ORIGIN_A)).error, undefined);
      assert.equal((await connect(t, `/${B}`, ORIGIN_B)).error, undefined);
      // Admitted by the handshake (A whitelists it), refused by B's namespace, saying why.
      assert.match((await connect(t, `/${B}`, ORIGIN_A)).error!, /shop-a\.test is not whitelisted/);
      assert.match((await connect(t, "/", ORIGIN_A)).error!, /not whitelisted/);
      assert.match((await connect(t, `/${A}`, ORIGIN_ROOT)).error!, /not whitelisted/);
      // Whitelisted nowhere: refused at the handshake.
      assert.ok((await connect(t, `/${A}`, "http://elsewhere.test")).error);
      assert.equal(t.server.ctx.metrics.counters.refused_connections, 4);
      // Each refusal is in the log of the connector whose namespace was asked.
      const b = (await t.server.ctx.connectors.get(B))!;
      await b.events.flush();
      const log = await b.store.listEvents(50);
      assert.ok(
        log.some((e) => e.event === "incoming.connection.error" && /shop-a/.test(e.message!)),
        JSON.stringify(log),
      );
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - a connector's pushes and profiles reach its namespace only",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const a = await register(t, A, ORIGIN_A);
      const b = await register(t, B, ORIGIN_B, ["name", "email"]);
      const onA = await listener(t, `/${A}`, ORIGIN_A);
      const onB = await listener(t, `/${B}`, ORIGIN_B);
      const onRoot = await listener(t, "/", ORIGIN_ROOT);
      // The same email in A and B: two users, each pushed in its own namespace.
      await update(t, a, "user-in-a", "Ada of A");
      await waitFor(() => onA.got.length === 1, { what: "A's push on A's namespace" });
      await update(t, b, "user-in-b", "Ada of B");
      await waitFor(() => onB.got.length === 1, { what: "B's push on B's namespace" });
      // A's push was emitted before B's: had it reached B's socket, it would be there first.
      assert.deepEqual(onA.got.map((p) => p.user), [{ id: "user-in-a", name: "Ada of A" }]);
      assert.deepEqual(onB.got.map((p) => p.user), [
        { id: "user-in-b", name: "Ada of B", email: "same@example.org" },
      ]);
      await update(t, a, "user-in-a", "Ada of A again");
      await waitFor(() => onA.got.length === 2, { what: "A's second push" });
      assert.equal(onB.got.length, 1);
      assert.equal(onRoot.got.length, 0, "nothing of A or B reaches /");

      // A page arriving later gets its own connector's stored profile, never another's.
      for (
        const [ns, origin, name] of [[`/${A}`, ORIGIN_A, "Ada of A again"], [
          `/${B}`,
          ORIGIN_B,
          "Ada of B",
        ]]
      ) {
        const { s } = await connect(t, ns, origin);
        const known = once<Payload>(s, "user.update");
        s.emit("user.fetch", CLAIMS);
        assert.equal((await known).user.name, name);
      }
      // The standalone connector never stored this email: its page waits for an update.
      const { s } = await connect(t, "/", ORIGIN_ROOT);
      const joined = once(s, "room.joined");
      const got: unknown[] = [];
      s.on("user.update", (p) => got.push(p));
      s.emit("user.fetch", CLAIMS);
      await joined;
      await update(t, a, "user-in-a", "Ada of A a third time");
      await waitFor(() => onA.got.length === 3, { what: "A's third push" });
      assert.deepEqual(got, []);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - a v2 client of the original snippet is served on /<id>",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const a = await register(t, A, ORIGIN_A);
      const s = ioV2(`${t.url}/${A}`, ORIGIN_A);
      try {
        await new Promise((r) => s.once("connect", r));
        const joined = new Promise((r) => s.once("room.joined", r));
        s.emit("user.fetch", CLAIMS);
        await joined;
        const pushed = new Promise<Payload>((r) => s.once("user.update", r));
        await update(t, a, "user-in-a", "Ada of A");
        assert.equal((await pushed).user.name, "Ada of A");
        // The `/` the server puts every v2 client in is refused quietly (A's Origin is not
        // whitelisted there): no refusal counted for a page that did nothing wrong.
        assert.equal(t.server.ctx.metrics.counters.refused_connections ?? 0, 0);
      } finally {
        s.close();
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - a namespace of an id nobody registered is refused, creating none",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      await register(t, A, ORIGIN_A);
      const before = nsps(t).size;
      for (let i = 0; i < 50; i++) {
        const id = i.toString(16).padStart(24, "c");
        assert.equal((await connect(t, `/${id}`, ORIGIN_A)).error, "Invalid namespace");
      }
      assert.equal((await connect(t, "/anything-else", ORIGIN_A)).error, "Invalid namespace");
      assert.equal((await connect(t, `/${A.toUpperCase()}`, ORIGIN_A)).error, "Invalid namespace");
      assert.equal(nsps(t).size, before);
      assert.equal((await connect(t, `/${A}`, ORIGIN_A)).error, undefined);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "connector namespaces - connections per connector per minute: one flood does not starve another",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE: "3" } });
    try {
      await register(t, A, ORIGIN_A);
      await register(t, B, ORIGIN_B);
      for (let i = 0; i < 3; i++) {
        assert.equal((await connect(t, `/${A}`, ORIGIN_A)).error, undefined);
      }
      const refused = await connect(t, `/${A}`, ORIGIN_A);
      assert.match(refused.error!, /too many connections: limit: more than 3 connections/);
      // Another connector and the standalone one still get in.
      assert.equal((await connect(t, `/${B}`, ORIGIN_B)).error, undefined);
      assert.equal((await connect(t, "/", ORIGIN_ROOT)).error, undefined);
      assert.equal(t.server.ctx.metrics.counters["limit.connectionsPerConnectorPerMinute"], 1);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - the per-connector limit only logs in observe mode",
  ...opts,
  async fn() {
    const t = await startTestServer({
      env: { LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE: "1", LIMITS_MODE: "observe" },
    });
    try {
      await register(t, A, ORIGIN_A);
      assert.equal((await connect(t, `/${A}`, ORIGIN_A)).error, undefined);
      assert.equal((await connect(t, `/${A}`, ORIGIN_A)).error, undefined);
      assert.equal(t.server.ctx.metrics.counters["limit.connectionsPerConnectorPerMinute"], 1);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - removing a connector tells and disconnects its sockets only",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      await register(t, A, ORIGIN_A);
      await register(t, B, ORIGIN_B);
      const onA = await listener(t, `/${A}`, ORIGIN_A);
      const onB = await listener(t, `/${B}`, ORIGIN_B);
      const closed = once<{ message: string }>(onA.s, "close");
      const gone = once<string>(onA.s, "disconnect");
      await t.server.ctx.connectors.remove(A);
      assert.deepEqual(await closed, { message: REMOVED_MESSAGE });
      assert.equal(await gone, "io server disconnect");
      assert.equal(nsps(t).has(`/${A}`), false);
      // No connector whitelists A's site any more: refused at the handshake.
      assert.ok((await connect(t, `/${A}`, ORIGIN_A)).error);
      assert.equal((await connect(t, `/${A}`, ORIGIN_ROOT)).error, "Invalid namespace");
      assert.ok(onB.s.connected);
      await update(t, (await t.server.ctx.connectors.get(B))!, "user-in-b", "still here");
      await waitFor(() => onB.got.length === 1, { what: "B still served" });
    } finally {
      await t.close();
    }
  },
});

/** Two instances on one store: pushes, relays and removal cross from the first to the second. */
async function crossInstance(a: TestServer, b: TestServer) {
  const onA1 = await register(a, A, ORIGIN_A);
  const onB1 = await register(a, B, ORIGIN_B);
  // The other instance opens connectors registered elsewhere at its sweep; no wait here.
  await b.server.ctx.connectors.sync();
  await waitFor(() => b.server.ctx.connectors.openNow(A)?.live.allows(ORIGIN_A), {
    what: "A open on the second instance",
  });
  await waitFor(() => b.server.ctx.connectors.openNow(B)?.live.allows(ORIGIN_B), {
    what: "B open on the second instance",
  });
  const onA = await listener(b, `/${A}`, ORIGIN_A);
  const onB = await listener(b, `/${B}`, ORIGIN_B);
  const onRoot = await listener(b, "/", ORIGIN_ROOT);
  await update(a, onA1, "user-in-a", "Ada of A");
  await waitFor(() => onA.got.length === 1, { what: "A's push relayed to A's namespace" });
  await update(a, onB1, "user-in-b", "Ada of B");
  await waitFor(() => onB.got.length === 1, { what: "B's push relayed to B's namespace" });
  // Relayed in order on one bus: A's push, had it reached B's socket, would be there first.
  assert.equal(onA.got[0].user.name, "Ada of A");
  assert.equal(onB.got[0].user.name, "Ada of B");
  assert.equal(onA.got.length, 1);
  assert.equal(onRoot.got.length, 0);

  // The dashboard's counts per connector span both instances.
  const alsoOnA = await listener(a, `/${A}`, ORIGIN_A);
  const counts = await clusterConnectorCounts(a.server.io);
  assert.deepEqual(counts[A], { sockets: 2, identified: 2, rooms: 2 }, JSON.stringify(counts));
  assert.deepEqual(counts[B], { sockets: 1, identified: 1, rooms: 1 });
  assert.deepEqual(counts[STANDALONE_ID], { sockets: 1, identified: 1, rooms: 1 });
  // And the rooms page's sockets of one connector: masked identifiers only, from both.
  const data = await clusterSocketData(a.server.io, A) as { domain: string; ids: SocketId[] }[];
  assert.deepEqual(data.map((d) => d.domain), ["shop-a.test", "shop-a.test"]);
  assert.equal(JSON.stringify(data).includes("same@example.org"), false, "no raw email");
  const room = data[0].ids[0].room;
  assert.equal((await clusterSocketData(a.server.io, A, [room])).length, 2);
  assert.equal((await clusterSocketData(a.server.io, A, ["another room"])).length, 0);
  assert.equal((await clusterSocketData(a.server.io, B)).length, 1);
  alsoOnA.s.close();

  // Removed on the first instance: the second tells its sockets at its next sweep.
  const closed = once<{ message: string }>(onA.s, "close");
  await a.server.ctx.connectors.remove(A);
  await b.server.ctx.connectors.sync();
  assert.deepEqual(await closed, { message: REMOVED_MESSAGE });
  assert.ok(onB.s.connected);
  // A relayed push naming a connector not open there is dropped: B's socket still gets B's.
  await update(a, onB1, "user-in-b", "Ada of B again");
  await waitFor(() => onB.got.length === 2, { what: "B's second push" });
}

Deno.test({
  name: "connector namespaces - pushes reach a connector's namespace on another instance (Deno KV)",
  ...opts,
  async fn() {
    const first = await startTestServer();
    const second = await startTestServer({ kvPath: first.kvPath });
    try {
      await crossInstance(first, second);
    } finally {
      await second.close();
      await first.close();
    }
  },
});

Deno.test({
  name: "connector namespaces - pushes reach a connector's namespace on another instance (Redis)",
  ignore: redisSkipReason() !== undefined,
  ...opts,
  async fn() {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url };
    const first = await startTestServer({ env });
    const second = await startTestServer({ env });
    try {
      await crossInstance(first, second);
    } finally {
      await second.close();
      await first.close();
      await redis.stop();
    }
  },
});
