/**
 * Regression tests for the outside attack run (issue 14): each failure it found, replayed
 * against a real server with real socket.io clients.
 */
import assert from "node:assert/strict";
import { io as ioClient, Manager, type Socket } from "socket.io-client";
import { signIdentity } from "../../lib/socket/verification.ts";
import { adaWith } from "../helpers/marker.ts";
import { freshFixture, once, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";
const ORIGIN = "http://localhost:3000";
/** Ada's anonymous id in the fixture: known to anyone who saw her cookie or a shared link. */
const ADA_ANON = "a1b2c3d4-anon";

type Payload = { user: Record<string, unknown>; segments: string[] };

interface Health {
  rooms: number;
  counters: Record<string, number>;
}

/** A server where identities are required and anonymous-tier sockets may see the plan only. */
function requiredIdentities(publicTraits: string): Promise<TestServer> {
  return startTestServer({
    env: {
      IDENTITY_SECRET,
      IDENTITY_MODE: "required",
      PUBLIC_TRAITS: publicTraits,
      ANONYMOUS_TRAITS: "traits_plan",
    },
  });
}

/** One engine.io connection (several namespace sockets may share it), from a whitelisted page. */
function manager(t: TestServer): Manager {
  return new Manager(t.url, {
    transports: ["websocket"],
    reconnection: false,
    extraHeaders: { origin: ORIGIN },
  });
}

/** Registers Hull connector `id` on `t`, whitelisting the helpers' Origin (as Hull's settings would). */
async function hullConnector(t: TestServer, id: string): Promise<void> {
  const { connector } = await t.server.ctx.connectors.register(id, 20);
  await connector!.store.setDomains(["localhost"]);
  await waitFor(() => connector!.live.allows(ORIGIN), { what: `${id} whitelists ${ORIGIN}` });
}

async function health(t: TestServer): Promise<Health> {
  return await (await fetch(`${t.url}/healthz`)).json();
}

/** Sends `user.fetch` on `socket` and resolves with "ok" (joined) or the close message. */
async function fetchOn(socket: Socket, message: unknown): Promise<string> {
  const joined = once(socket, "room.joined", 2000).then(() => "ok");
  const closed = once<{ message: string }>(socket, "close", 2000).then((c) => c.message);
  socket.emit("user.fetch", message);
  return await Promise.race([joined, closed]).catch(() => "nothing");
}

Deno.test({
  name: "attack - a verified visitor adding someone else's anonymous id gets only anonymous data",
  ...opts,
  async fn() {
    const t = await requiredIdentities("email,traits_plan,name");
    try {
      assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
      const hash = await signIdentity(IDENTITY_SECRET, "external_id", "attacker-1");
      for (const order of ["one message", "verified first, anonymous id later"]) {
        const s = t.connect();
        const got: Payload[] = [];
        s.on("user.update", (p: Payload) => got.push(p));
        await once(s, "connect");
        if (order === "one message") {
          const r = await fetchOn(s, {
            claims: { external_id: "attacker-1", anonymous_id: ADA_ANON },
            hash,
          });
          assert.equal(r, "ok");
        } else {
          assert.equal(await fetchOn(s, { claims: { external_id: "attacker-1" }, hash }), "ok");
          assert.equal(await fetchOn(s, { claims: { anonymous_id: ADA_ANON } }), "ok");
        }
        // Her known profile comes first (as the anonymous payload, through her anonymous id).
        await waitFor(() => got.length, { what: `${order}: the known profile` });
        // A later update of Ada reaches the attacker's socket only as her anonymous payload;
        // a second one is the marker: a full payload of the first would come before it.
        for (const plan of ["pro", "marker"]) {
          assert.equal(
            (await t.postNotification(await adaWith({ traits_plan: plan }))).status,
            200,
          );
        }
        await waitFor(
          () => got.some((p) => (p.user.traits as { plan: string }).plan === "marker"),
          {
            what: `${order}: the marker's push`,
          },
        );
        assert.ok(got.length >= 3, `${order}: the anonymous payloads arrive`);
        for (const p of got) {
          assert.equal(p.user.email, undefined, `${order}: no email leaked`);
          assert.equal(p.user.name, undefined, `${order}: no name leaked`);
          assert.deepEqual(p.user, { id: p.user.id, traits: p.user.traits });
          assert.deepEqual(Object.keys(p.user.traits as object), ["plan"]);
        }
        s.close();
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "attack - a socket holding a user's id in both tiers gets one full push per update",
  ...opts,
  async fn() {
    const t = await requiredIdentities("email,traits_plan");
    try {
      await t.postNotification(await freshFixture("user-update.json"));
      const s = t.connect();
      await once(s, "connect");
      const hash = await signIdentity(IDENTITY_SECRET, "external_id", "user-1001");
      const got: Payload[] = [];
      s.on("user.update", (p: Payload) => got.push(p));
      const r = await fetchOn(s, {
        claims: { external_id: "user-1001", anonymous_id: ADA_ANON },
        hash,
      });
      assert.equal(r, "ok");
      await waitFor(() => got.length, { what: "the known profile" });
      got.length = 0;
      // The second update is the marker: a second payload of the first would come before it.
      for (const plan of ["pro", "marker"]) {
        assert.equal((await t.postNotification(await adaWith({ traits_plan: plan }))).status, 200);
      }
      await waitFor(() => got.some((p) => (p.user.traits as { plan: string }).plan === "marker"), {
        what: "the marker's push",
      });
      assert.equal(got.length, 2, "exactly one payload per update");
      assert.equal(got[0].user.email, "ada@example.com");
      assert.deepEqual(got[0].user.traits, { plan: "pro" });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "attack - handshakes with an empty sid count against the per-IP connection limit",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "5" } });
    try {
      // Polling handshakes by hand, the way the attack sent them.
      let accepted = 0;
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling&sid=`, {
          headers: { origin: ORIGIN },
        });
        await res.body?.cancel();
        if (res.status === 200) accepted++;
      }
      assert.equal(accepted, 5, "polling handshakes accepted");
      // And websocket handshakes, through the real client.
      const ws = await Promise.all(Array.from({ length: 5 }, async () => {
        const s = ioClient(t.url, {
          transports: ["websocket"],
          reconnection: false,
          forceNew: true,
          query: { sid: "" },
          extraHeaders: { origin: ORIGIN },
        });
        const ok = await new Promise<boolean>((resolve) => {
          s.once("connect", () => resolve(true));
          s.once("connect_error", () => resolve(false));
        });
        s.close();
        return ok;
      }));
      assert.equal(ws.filter(Boolean).length, 0, "websocket handshakes over the limit refused");
      assert.equal((await health(t)).counters["limit.connectionsPerIpPerMinute"], 20);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "attack - namespaces exist only for registered connectors, two per connection",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const nsps = () => (t.server.io as unknown as { _nsps: Map<string, unknown> })._nsps;
      const hex = (n: number) => "/" + n.toString(16).padStart(24, "0");
      await hullConnector(t, "5a1b2c3d4e5f60718293a4b5");
      await hullConnector(t, "5a1b2c3d4e5f60718293a4b6");
      const before = nsps().size;
      // Names of any other shape are refused and create nothing.
      const odd = t.connect(ORIGIN, { namespace: "/anything-goes" });
      const err = await once<Error>(odd, "connect_error");
      assert.match(err.message, /Invalid namespace/);
      assert.equal(nsps().size, before);

      // One connection may hold "/" and one connector's namespace, not a third.
      const m = manager(t);
      const root = m.socket("/");
      await once(root, "connect");
      const first = m.socket("/5a1b2c3d4e5f60718293a4b5");
      await once(first, "connect");
      const third = m.socket("/5a1b2c3d4e5f60718293a4b6");
      assert.match((await once<Error>(third, "connect_error")).message, /at most 2 namespaces/);

      // A burst of namespaces on one connection, before any is connected: still 2 at most.
      const burst = manager(t);
      const many = ["/", "/5a1b2c3d4e5f60718293a4b5", "/5a1b2c3d4e5f60718293a4b6"].map((n) =>
        burst.socket(n)
      );
      const admitted = await Promise.all(many.map((c) =>
        new Promise<boolean>((resolve) => {
          c.once("connect", () => resolve(true));
          c.once("connect_error", () => resolve(false));
        })
      ));
      assert.equal(admitted.filter(Boolean).length, 2);
      burst._close();

      // Many connections, each asking for made-up 24-hex names: none is created.
      const clients: Socket[] = [];
      for (let i = 0; i < 60; i++) clients.push(t.connect(ORIGIN, { namespace: hex(i + 1) }));
      const results = await Promise.all(clients.map((c) =>
        new Promise<string>((resolve) => {
          c.once("connect", () => resolve("connected"));
          c.once("connect_error", (e: Error) => resolve(e.message));
        })
      ));
      assert.deepEqual(new Set(results), new Set(["Invalid namespace"]));
      assert.ok(nsps().size <= before + 2, `${nsps().size} namespaces`);

      // A connector's namespace goes when its last socket leaves (one whose sockets were all
      // refused may stay: at most one per registered connector), and comes back on demand.
      m._close();
      await waitFor(() => !nsps().has("/5a1b2c3d4e5f60718293a4b5"), { what: "namespace removed" });
      const again = t.connect(ORIGIN, { namespace: "/5a1b2c3d4e5f60718293a4b5" });
      await once(again, "connect");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "attack - identifier, room and fetch limits count per connection, not per namespace",
  ...opts,
  async fn() {
    const t = await startTestServer({
      env: {
        LIMIT_IDENTIFIERS_PER_SOCKET: "3",
        LIMIT_ROOMS_PER_SOCKET: "4",
        LIMIT_FETCHES_PER_SOCKET_PER_MINUTE: "4",
      },
    });
    try {
      await hullConnector(t, "5a1b2c3d4e5f60718293a4b5");
      const open = async () => {
        const m = manager(t);
        const a = m.socket("/");
        const b = m.socket("/5a1b2c3d4e5f60718293a4b5");
        await Promise.all([once(a, "connect"), once(b, "connect")]);
        return { m, a, b };
      };
      const anon = (i: number) => ({ claims: { anonymous_id: `anon-${i}` } });

      // Identifiers: 2 on one namespace, then 2 more on the other exceed 3 on the connection.
      let c = await open();
      assert.equal(await fetchOn(c.a, { claims: { anonymous_id: "x1", external_id: "x2" } }), "ok");
      assert.match(
        await fetchOn(c.b, { claims: { anonymous_id: "x3", external_id: "x4" } }),
        /too many identifiers/,
      );
      c.m._close();

      // Rooms: 2 + 2 on one connection fit; the same claims again on the other socket do not.
      c = await open();
      assert.equal(await fetchOn(c.a, { claims: { anonymous_id: "y1", external_id: "y2" } }), "ok");
      const h = await health(t);
      assert.equal(h.rooms, 2);
      assert.match(await fetchOn(c.b, anon(1)), /too many rooms/);
      c.m._close();

      // Fetches: 4 per minute per connection, across namespaces.
      c = await open();
      for (const s of [c.a, c.b, c.a, c.b]) assert.equal(await fetchOn(s, anon(9)), "ok");
      assert.match(await fetchOn(c.a, anon(9)), /too many requests/);
      c.m._close();

      const { counters } = await health(t);
      assert.equal(counters["limit.identifiersPerSocket"], 1);
      assert.equal(counters["limit.roomsPerSocket"], 1);
      assert.equal(counters["limit.fetchesPerSocketPerMinute"], 1);
    } finally {
      await t.close();
    }
  },
});

type Batch = { notification_id: string; messages: { user: Record<string, unknown> }[] };

Deno.test({
  name: "attack - one oversized user does not fail its batch: stored in parts or left out, logged",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const batch = await freshFixture("user-update-batch-100.json") as unknown as Batch;
      const msgs = batch.messages.slice(0, 3);
      msgs[0].user = {
        ...msgs[0].user,
        anonymous_ids: Array.from({ length: 1_000 }, (_, i) => `m-${i}`),
      };
      // A public trait of 1.5 MB survives trimming: too large for the store.
      msgs[1].user = { ...msgs[1].user, name: "x".repeat(1_500_000) };
      // Trimmed (only identifiers and public traits kept) and stored.
      msgs[2].user = { ...msgs[2].user, big: "y".repeat(600_000) };
      const s = t.connect();
      await once(s, "connect");
      assert.equal(await fetchOn(s, { claims: { anonymous_id: "m-999" } }), "ok");
      const pushed = once<Payload>(s, "user.update");
      const res = await t.postNotification({ ...batch, messages: msgs });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await pushed).user.id, msgs[0].user.id);
      await t.server.ctx.flush();
      const errors = (await t.server.ctx.store.listEvents(100))
        .filter((e) => e.event === "outgoing.user.error");
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.match(errors[0].message ?? "", /not stored, not pushed: profile is \d+ bytes/);
      assert.equal(await t.server.ctx.store.getProfile(msgs[1].user.id as string), null);
      const trimmed = await t.server.ctx.store.getProfile(msgs[2].user.id as string);
      assert.equal(trimmed?.trimmed, true);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "attack - four concurrent 100-user batches on the same users all answer 200",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const base = await freshFixture("user-update-batch-100.json") as unknown as Batch;
      const statuses = await Promise.all(Array.from({ length: 4 }, async () => {
        const res = await t.postNotification({ ...base, notification_id: crypto.randomUUID() });
        await res.body?.cancel();
        return res.status;
      }));
      assert.deepEqual(statuses, [200, 200, 200, 200]);
    } finally {
      await t.close();
    }
  },
});
