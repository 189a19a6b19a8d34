/**
 * Many connectors on one deployment, black box (docs/connectors.md): two instances sharing one
 * store (a Deno KV file, then Redis), two Hull connectors A and B (different ids, secrets,
 * organizations, whitelists and public traits, registered by Hull-signed notifications) and
 * the standalone connector (HMAC webhooks, namespace `/`). The same visitor (same Hull user id,
 * same email) exists in all three with different traits. Proves nothing crosses: sockets and
 * origins, pushes on both instances, profiles (and Hull fetches with the right credentials),
 * settings, live log, the dashboard's scoped pages, and removal of one connector.
 * Real servers, real socket.io-client, real Deno KV and Redis; Hull is a local https server
 * (tests/helpers/fake_hull.ts).
 */
import assert from "node:assert/strict";
import { io, type Socket } from "socket.io-client";
import { createClient } from "redis";
import {
  type FakeHull,
  fakeHullSkipReason,
  postSigned,
  startFakeHull,
} from "../helpers/fake_hull.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { redisSkipReason, startRedis, type TestRedis } from "../helpers/redis.ts";
import { adminLogin } from "../helpers/admin.ts";
import { waitFor } from "../helpers/wait.ts";
import { ioV2 } from "../helpers/v2_client.ts";
import type { PublicPayload } from "../../lib/types.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const hullSkip = await fakeHullSkipReason();
const redisSkip = redisSkipReason();
const PASSWORD = "correct horse battery staple";

/** The visitor every connector knows: same Hull user id, same email. */
const ADA_ID = "5f00000000000000000000a1";
const EMAIL = "ada@example.com";
const STANDALONE = "default";

/** One connector of the scenario, with what its pages may see and what they must never see. */
interface Connector {
  /** "A", "B" or "S" (standalone), for messages. */
  name: string;
  /** Hull's id, or "default". */
  id: string;
  organization: string;
  secret: string;
  origin: string;
  /** `connector.private_settings` Hull sends (Hull connectors) with every notification. */
  settings: Record<string, unknown>;
  /** Ada's attributes in this connector now. */
  ada: Record<string, unknown>;
  /** Every attribute value this connector was ever sent (none may reach another's pages). */
  history: Set<string>;
}

function connectors(hullSecret: string) {
  const A: Connector = {
    name: "A",
    id: "5a1b2c3d4e5f60718293a4b5",
    organization: "acme.hullapp.io",
    secret: "a-connector-secret-0123456789",
    origin: "https://a-shop.example",
    settings: {
      whitelisted_domains: ["a-shop.example"],
      public_traits: ["email", "traits_plan", "traits_a_only"],
    },
    ada: { traits_plan: "a-pro", traits_a_only: "a-yes", traits_color: "a-red" },
    history: new Set(),
  };
  const B: Connector = {
    name: "B",
    id: "6c7d8e9f0a1b2c3d4e5f6071",
    organization: "globex.hullapp.io",
    // The fake Hull API accepts tokens signed with its secret: B's, so B can fetch profiles.
    secret: hullSecret,
    origin: "https://b-shop.example",
    settings: {
      whitelisted_domains: ["b-shop.example"],
      public_traits: ["email", "traits_color"],
    },
    ada: { traits_plan: "b-basic", traits_a_only: "b-leak", traits_color: "b-blue" },
    history: new Set(),
  };
  const S: Connector = {
    name: "S",
    id: STANDALONE,
    organization: "",
    secret: "",
    origin: "https://std-shop.example",
    settings: {},
    ada: { traits_plan: "s-free", traits_a_only: "s-leak", traits_color: "s-green" },
    history: new Set(),
  };
  return { A, B, S };
}

/** The standalone connector's seeds (env); Hull connectors get theirs from Hull. */
const STANDALONE_ENV = {
  WHITELISTED_DOMAINS: "std-shop.example",
  PUBLIC_TRAITS: "email,traits_plan",
  PUBLIC_SEGMENTS: "",
  ADMIN_PASSWORD: PASSWORD,
  HULL_KEY_HOSTS: "localhost",
  HULL_ORGANIZATIONS: "*.hullapp.io",
  // The test opens many connections from one address; limits are not what it is about.
  LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "1000",
};

/** One deployment: two instances on one store, and a way to count a connector's keys. */
interface Deployment {
  servers: [TestServer, TestServer];
  /** Keys of Hull connector `id` in the store (its whole scope). */
  keysOf(id: string): Promise<string[]>;
  close(): Promise<void>;
}

async function kvDeployment(env: Record<string, string>, hull: FakeHull): Promise<Deployment> {
  const start = { hullCaCerts: [hull.caCert] };
  const s1 = await startTestServer({ env, start });
  const s2 = await startTestServer({ env, start, kvPath: s1.kvPath });
  return {
    servers: [s1, s2],
    async keysOf(id) {
      const kv = await Deno.openKv(s1.kvPath);
      try {
        const keys: string[] = [];
        for await (const e of kv.list({ prefix: ["connector", id] })) {
          keys.push(JSON.stringify(e.key.slice(2)));
        }
        return keys;
      } finally {
        kv.close();
      }
    },
    async close() {
      await Promise.allSettled([s1.close(), s2.close()]);
      await Deno.remove(s1.kvPath).catch(() => {});
    },
  };
}

async function redisDeployment(env: Record<string, string>, hull: FakeHull): Promise<Deployment> {
  const redis: TestRedis = await startRedis();
  const start = { hullCaCerts: [hull.caCert] };
  const all = { ...env, REDIS_URL: redis.url };
  const servers: TestServer[] = [];
  try {
    servers.push(await startTestServer({ env: all, start }));
    servers.push(await startTestServer({ env: all, start }));
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.close()));
    await redis.stop();
    throw err;
  }
  return {
    servers: servers as [TestServer, TestServer],
    async keysOf(id) {
      const client = createClient({ url: redis.url });
      await client.connect();
      try {
        const found: string[] = [];
        const prefix = `hull-browser:connector:${id}:`;
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*` })) {
          for (const key of Array.isArray(keys) ? keys : [keys]) {
            found.push(key.slice(prefix.length));
          }
        }
        return found;
      } finally {
        await client.quit();
      }
    },
    async close() {
      await Promise.allSettled(servers.map((s) => s.close()));
      await redis.stop();
    },
  };
}

type Body = Record<string, unknown> & { notification_id: string };

/** A user:update for `users` in connector `c` (Hull's shape; `configuration` for Hull ones). */
function notification(c: Connector, users: Record<string, unknown>[]): Body {
  const body: Body = {
    notification_id: crypto.randomUUID(),
    channel: "user:update",
    segments: [],
    messages: users.map((user) => ({
      user,
      account: {},
      segments: [],
      account_segments: [],
      events: [],
      changes: {},
    })),
  };
  if (c.id !== STANDALONE) {
    body.configuration = { id: c.id, organization: c.organization, secret: c.secret };
    body.connector = {
      id: c.id,
      name: `Browser ${c.name}`,
      settings: {},
      private_settings: c.settings,
    };
  }
  return body;
}

/** Ada in connector `c` as it is now. */
const adaOf = (c: Connector) => ({ id: ADA_ID, email: EMAIL, ...c.ada });

/** Sends `users` to connector `c` through `server`: Hull-signed for Hull connectors, else HMAC. */
async function send(
  hull: FakeHull,
  server: TestServer,
  c: Connector,
  users: Record<string, unknown>[],
): Promise<void> {
  const body = notification(c, users);
  for (const user of users) {
    for (const [k, v] of Object.entries(user)) {
      if (k.startsWith("traits_")) c.history.add(String(v));
    }
  }
  if (c.id === STANDALONE) {
    const res = await server.postNotification(body);
    assert.equal(res.status, 200, `${c.name}: ${await res.text()}`);
  } else {
    const res = await postSigned(server.url, hull, body);
    assert.equal(res.status, 200, `${c.name}: ${JSON.stringify(res.body)}`);
  }
}

/** A page of connector `c` on `server`: a real socket.io client with the page's Origin. */
interface Page {
  connector: Connector;
  /** The instance it is connected to. */
  url: string;
  socket: Socket;
  got: PublicPayload[];
  /** Resolves with the first update (received or to come) matching `pred`. */
  next(pred: (p: PublicPayload) => boolean, what: string): Promise<PublicPayload>;
}

const namespace = (c: Connector) => c.id === STANDALONE ? "" : `/${c.id}`;

function connect(server: TestServer, c: Connector, origin: string): Socket {
  return io(server.url + namespace(c), {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    extraHeaders: { origin },
  });
}

/** Connects a page of `c` (its own origin), identifies with `claims`, resolves once joined. */
async function openPage(
  server: TestServer,
  c: Connector,
  claims: Record<string, unknown> = { email: EMAIL },
  origin = c.origin,
): Promise<Page> {
  const socket = connect(server, c, origin);
  const got: PublicPayload[] = [];
  socket.on("user.update", (p: PublicPayload) => got.push(p));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", (err: Error) => reject(err));
    });
    const joined = new Promise((r) => socket.once("room.joined", r));
    socket.emit("user.fetch", { claims });
    await joined;
  } catch (err) {
    socket.close();
    throw err;
  }
  return {
    connector: c,
    url: server.url,
    socket,
    got,
    next: (pred, what) =>
      waitFor(() => got.find(pred), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: `${c.name} page on ${server.url}: ${what}; got ${JSON.stringify(got)}`,
      }),
  };
}

/** Resolves with the connect_error of a connection that must be refused. */
async function refusal(server: TestServer, c: Connector, origin: string): Promise<string> {
  const socket = connect(server, c, origin);
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("neither connected nor refused")), 10_000);
      socket.once("connect", () => {
        clearTimeout(timer);
        reject(new Error(`${origin} was admitted to ${c.name}'s namespace on ${server.url}`));
      });
      socket.once("connect_error", (err: Error) => {
        clearTimeout(timer);
        resolve(err.message);
      });
    });
  } finally {
    socket.close();
  }
}

/** Waits until `c`'s namespace admits its pages on `server` (a connector registered elsewhere is
 * opened within a sweep); each try is one connection, so the tries are spaced. */
async function whenServed(server: TestServer, c: Connector): Promise<void> {
  let last = "";
  try {
    await waitFor(async () => {
      try {
        (await openPage(server, c, { anonymous_id: "probe" })).socket.close();
        return true;
      } catch (err) {
        last = (err as Error).message;
        return false;
      }
    }, { timeoutMs: 20_000, intervalMs: 250 });
  } catch {
    throw new Error(`${c.name}'s namespace never admitted its page on ${server.url}: ${last}`);
  }
}

/** Values of `c`'s traits that `c`'s pages may see (its public traits). */
function expectedTraits(c: Connector, ada: Record<string, unknown>): Record<string, unknown> {
  const traits = (c.id === STANDALONE ? ["traits_plan"] : c.settings.public_traits as string[])
    .filter((t) => t.startsWith("traits_"));
  return Object.fromEntries(traits.map((t) => [t.slice("traits_".length), ada[t]]));
}

/** Every value another connector holds must stay out of `page`'s payloads, and so must the
 * page's own connector's non-public ones. */
function assertOnlyOwn(page: Page, all: Connector[], own: Record<string, unknown>): void {
  const text = JSON.stringify(page.got);
  for (const other of all) {
    if (other === page.connector) continue;
    for (const value of other.history) {
      assert.equal(
        text.includes(String(value)),
        false,
        `${other.name}'s ${value} reached a page of ${page.connector.name}: ${text}`,
      );
    }
  }
  const visible = new Set(Object.values(expectedTraits(page.connector, own)).map(String));
  for (const value of Object.values(own)) {
    if (typeof value === "string" && !visible.has(value) && value !== EMAIL && value !== ADA_ID) {
      assert.equal(text.includes(value), false, `${page.connector.name}'s private ${value} left`);
    }
  }
}

/** The row of connector `c` on the dashboard's Connectors page. */
const row = (c: Connector) => `data-connector="${c.id}"`;

/** A dashboard session on `server`. */
async function dashboard(server: TestServer) {
  const { cookie, csrf } = await adminLogin(server.url, PASSWORD);
  const get = async (path: string) => {
    const res = await fetch(server.url + path, { headers: { cookie }, redirect: "manual" });
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text;
  };
  const post = async (path: string, form: Record<string, string> = {}) => {
    const res = await fetch(server.url + path, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, ...form }),
      redirect: "manual",
    });
    await res.body?.cancel();
    return res.status;
  };
  /** Entries of connector `id`'s live log, as the dashboard's API gives them. */
  const log = async (id: string) => {
    const json = JSON.parse(await get(`/admin/api/log?connector=${id}&limit=1000`));
    return json.entries as { event: string; identifiers?: Record<string, string> }[];
  };
  return { get, post, log };
}

/** The scenario, on one deployment. */
async function scenario(t: Deno.TestContext, deploy: typeof kvDeployment) {
  const hull = await startFakeHull();
  const { A, B, S } = connectors(hull.secret);
  const all = [A, B, S];
  const env: Record<string, string> = { ...STANDALONE_ENV, HULL_API_BASE_URL: hull.url };
  const d = await deploy(env, hull);
  const [s1, s2] = d.servers;
  const pages: Page[] = [];
  const open = async (...args: Parameters<typeof openPage>) => {
    const p = await openPage(...args);
    pages.push(p);
    return p;
  };
  try {
    // A registers through instance 1, B through instance 2; the standalone gets an HMAC webhook.
    await send(hull, s1, A, [adaOf(A)]);
    await send(hull, s2, B, [adaOf(B)]);
    await send(hull, s1, S, [adaOf(S)]);
    for (const server of [s1, s2]) for (const c of [A, B]) await whenServed(server, c);

    const byConnector = new Map<Connector, Page[]>(all.map((c) => [c, []]));
    await t.step(
      "sockets - each namespace serves its own connector's profile, on both instances",
      async () => {
        for (const server of [s1, s2]) {
          for (const c of all) {
            const page = await open(server, c);
            byConnector.get(c)!.push(page);
            const p = await page.next(() => true, "the known profile");
            assert.equal(p.user.id, ADA_ID);
            assert.equal(p.user.email, EMAIL);
            assert.deepEqual(
              p.user.traits,
              expectedTraits(c, adaOf(c)),
              `${c.name}'s public traits`,
            );
            assertOnlyOwn(page, all, adaOf(c));
          }
        }
      },
    );

    await t.step(
      "origins - an origin whitelisted for one connector is refused on another's",
      async () => {
        for (const server of [s1, s2]) {
          for (const c of all) {
            for (const other of all) {
              if (other === c) continue;
              await refusal(server, c, other.origin);
            }
          }
          const unknown = { ...A, name: "unknown", id: "ffffffffffffffffffffffff" };
          await refusal(server, unknown, A.origin);
        }
      },
    );

    await t.step(
      "pushes - an update of one connector reaches its pages only, on both instances",
      async () => {
        const rounds: [Connector, TestServer, Record<string, unknown>][] = [
          [A, s2, { traits_plan: "a-enterprise" }],
          [B, s1, { traits_color: "b-navy" }],
          [S, s2, { traits_plan: "s-plus" }],
        ];
        for (const [c, via, change] of rounds) {
          Object.assign(c.ada, change);
          await send(hull, via, c, [adaOf(c)]);
          const expected = expectedTraits(c, adaOf(c));
          for (const page of byConnector.get(c)!) {
            await page.next(
              (p) => JSON.stringify(p.user.traits) === JSON.stringify(expected),
              `${c.name}'s push`,
            );
          }
        }
        // Each connector's push was awaited on its pages after the others' were sent: a push that
        // crossed would have arrived before the last one awaited.
        for (const page of pages) assertOnlyOwn(page, all, adaOf(page.connector));
      },
    );

    await t.step(
      "profiles - B's page never gets A's profile, and asks Hull with B's credentials",
      async () => {
        const onlyA = {
          id: "only-a-user-0001",
          email: "only-a@example.com",
          traits_plan: "a-only-plan",
        };
        await send(hull, s1, A, [onlyA]);
        hull.reports = (claims) =>
          claims.email === onlyA.email
            ? { body: { id: "b-own-user-0001", email: onlyA.email, traits_color: "b-fetched" } }
            : undefined;
        const fromA = await open(s2, A, { email: onlyA.email });
        assert.deepEqual((await fromA.next(() => true, "A's profile")).user.traits, {
          plan: "a-only-plan",
        });
        const fromB = await open(s2, B, { email: onlyA.email });
        const p = await fromB.next(() => true, "B's profile fetched from Hull");
        assert.equal(p.user.id, "b-own-user-0001");
        assert.deepEqual(p.user.traits, { color: "b-fetched" });
        assert.equal(JSON.stringify(fromB.got).includes("a-only-plan"), false, "A's profile on B");
        const asked = hull.api.filter((r) => r.claims.email === onlyA.email);
        assert.equal(asked.length, 1, "one fetch, by B");
        assert.equal(asked[0].headers.get("hull-app-id"), B.id);
        assert.equal(asked[0].headers.get("hull-organization"), B.organization);
        fromA.socket.close();
        fromB.socket.close();
      },
    );

    await t.step("trust - A's id with B's secret is refused and changes nothing of A", async () => {
      const forged = notification({
        ...A,
        secret: B.secret,
        settings: {
          whitelisted_domains: ["evil.example"],
          public_traits: ["email", "traits_plan", "traits_color"],
        },
      }, [{ id: ADA_ID, email: EMAIL, traits_plan: "forged-plan" }]);
      const res = await postSigned(s2.url, hull, forged);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      const page = await open(s2, A);
      const p = await page.next(() => true, "A's profile");
      assert.deepEqual(p.user.traits, expectedTraits(A, adaOf(A)), "A's profile and settings");
      page.socket.close();
      await refusal(s1, A, "https://evil.example");
    });

    await t.step(
      "settings - A's new settings leave B's and the standalone's as they were",
      async () => {
        A.settings = {
          whitelisted_domains: ["a-shop.example", "a2-shop.example"],
          public_traits: ["email", "traits_plan", "traits_a_only", "traits_color"],
        };
        Object.assign(A.ada, { traits_plan: "a-settings" });
        await send(hull, s1, A, [adaOf(A)]);
        for (const page of byConnector.get(A)!) {
          const p = await page.next(
            (p) => (p.user.traits as { plan?: string })?.plan === "a-settings",
            "A's push",
          );
          assert.deepEqual(p.user.traits, { plan: "a-settings", a_only: "a-yes", color: "a-red" });
        }
        Object.assign(B.ada, { traits_color: "b-teal" });
        Object.assign(S.ada, { traits_plan: "s-max" });
        await send(hull, s2, B, [adaOf(B)]);
        await send(hull, s1, S, [adaOf(S)]);
        for (const c of [B, S]) {
          for (const page of byConnector.get(c)!) {
            const p = await page.next(
              (p) => JSON.stringify(p).includes(c === B ? "b-teal" : "s-max"),
              `${c.name}'s push`,
            );
            assert.deepEqual(
              p.user.traits,
              expectedTraits(c, adaOf(c)),
              `${c.name}'s settings unchanged`,
            );
          }
        }
        // A's new domain is A's only, on both instances.
        const a2 = "https://a2-shop.example";
        for (const server of [s1, s2]) {
          await waitFor(async () => {
            try {
              (await openPage(server, A, { anonymous_id: "a2" }, a2)).socket.close();
              return true;
            } catch {
              return false;
            }
          }, {
            timeoutMs: 10_000,
            intervalMs: 100,
            what: `a2-shop.example admitted to A on ${server.url}`,
          });
          await refusal(server, B, a2);
          await refusal(server, S, a2);
        }
      },
    );

    await t.step(
      "live log - a connector's notification is logged in its own log only",
      async () => {
        // Each instance keeps a log writer per connector and flushes it on its own: every
        // connector gets a first entry through each instance (what must not cross), then a last
        // one through each instance. Once a log shows its last entries, whatever either instance
        // wrote before (a crossed entry too) has been flushed.
        const marker = (c: Connector, server: number, round: number) => ({
          id: `log${c.name.toLowerCase()}-marker-${server}${round}00`,
          email: `log-${c.name}@example.com`,
        });
        const masked = (c: Connector, server: number, round: number) => {
          const id = marker(c, server, round).id;
          return `${id.slice(0, 4)}…${id.slice(-4)}`;
        };
        const markersOf = (c: Connector) =>
          [0, 1].flatMap((n) => [masked(c, n, 1), masked(c, n, 2)]);
        for (const round of [1, 2]) {
          for (const c of all) {
            for (const [n, server] of [s1, s2].entries()) {
              await send(hull, server, c, [marker(c, n, round)]);
            }
          }
        }
        const admin = await dashboard(s1);
        const logs = new Map<Connector, string>();
        for (const c of all) {
          logs.set(
            c,
            await waitFor(async () => {
              const text = JSON.stringify(await admin.log(c.id));
              return markersOf(c).every((m) => text.includes(m)) ? text : null;
            }, { timeoutMs: 10_000, intervalMs: 100, what: `${c.name}'s entries in its log` }),
          );
        }
        for (const c of all) {
          for (const other of all) {
            if (other === c) continue;
            for (const m of markersOf(other)) {
              assert.equal(
                logs.get(c)!.includes(m),
                false,
                `${other.name}'s entry ${m} in ${c.name}'s log`,
              );
            }
          }
        }
      },
    );

    await t.step("dashboard - lists every connector and scopes domains to one", async () => {
      for (const server of [s1, s2]) {
        const admin = await dashboard(server);
        const list = await admin.get("/admin/connectors");
        // One row per connector, the standalone one included.
        for (const c of all) assert.ok(list.includes(row(c)), `${c.name} listed`);
        const domains = new Map<Connector, string>();
        for (const c of all) domains.set(c, await admin.get(`/admin/domains?connector=${c.id}`));
        const listed: [Connector, string[]][] = [
          [A, ["a-shop.example", "a2-shop.example"]],
          [B, ["b-shop.example"]],
          [S, ["std-shop.example"]],
        ];
        for (const [c, own] of listed) {
          for (const [, theirs] of listed) {
            for (const domain of theirs) {
              assert.equal(
                domains.get(c)!.includes(domain),
                own === theirs,
                `${domain} on ${c.name}'s Domains page`,
              );
            }
          }
        }
      }
    });

    await t.step(
      "original snippet - a socket.io v2 page on B's namespace gets B's profile and pushes only",
      async () => {
        const v2 = ioV2(`${s1.url}/${B.id}`, B.origin);
        const got: PublicPayload[] = [];
        const refusedRoot: string[] = [];
        v2.on("user.update", (p: PublicPayload) => got.push(p));
        try {
          await new Promise<void>((resolve, reject) => {
            v2.once("connect", () => resolve());
            v2.once("connect_error", (err: Error) => reject(err));
            // A v2 client is put in `/` too, where only the standalone connector's origins
            // are admitted: that refusal comes as an "error" event, and is no failure here.
            v2.on("error", (err: unknown) => refusedRoot.push(JSON.stringify(err)));
          });
          const joined = new Promise((r) => v2.once("room.joined", r));
          v2.emit("user.fetch", { claims: { email: EMAIL }, shipId: B.id });
          await joined;
          const first = await waitFor(() => got[0], {
            timeoutMs: 10_000,
            what: "B's profile (v2)",
          });
          assert.deepEqual(first.user.traits, expectedTraits(B, adaOf(B)));
          Object.assign(A.ada, { traits_plan: "a-v2" });
          await send(hull, s2, A, [adaOf(A)]);
          Object.assign(B.ada, { traits_color: "b-v2" });
          await send(hull, s2, B, [adaOf(B)]);
          await waitFor(() => got.some((p) => JSON.stringify(p).includes("b-v2")), {
            timeoutMs: 10_000,
            what: `B's push on the v2 page; got ${JSON.stringify(got)}`,
          });
          // The only error a v2 page may see is `/` refusing its origin (it is B's, not S's).
          for (const e of refusedRoot) assert.match(e, /"reason":"origin"/);
          const text = JSON.stringify(got);
          for (const value of [...A.history, ...S.history]) {
            assert.equal(text.includes(value), false, `${value} reached B's v2 page`);
          }
        } finally {
          v2.close();
        }
      },
    );

    await t.step(
      "removal - removing A deletes its data and its pages on both instances, B stays",
      async () => {
        assert.ok((await d.keysOf(A.id)).length > 0, "A has data before");
        const bKeys = (await d.keysOf(B.id)).length;
        assert.ok(bKeys > 0, "B has data");
        const admin = await dashboard(s1);
        // The form's confirmation checkbox, as the dashboard sends it.
        const status = await admin.post(`/admin/connectors/${A.id}/remove`, { confirm: "yes" });
        assert.equal(status, 303, "removed, back to the list");
        assert.deepEqual(await d.keysOf(A.id), [], "all of A's keys are gone");
        for (const page of byConnector.get(A)!) {
          await waitFor(() => page.socket.disconnected, {
            timeoutMs: 20_000,
            what: `A's page on ${page.url} disconnected`,
          });
        }
        for (const server of [s1, s2]) {
          await waitFor(async () => {
            try {
              return (await refusal(server, A, A.origin)) !== "";
            } catch {
              return false;
            }
          }, {
            timeoutMs: 20_000,
            intervalMs: 250,
            what: `A's namespace refused on ${server.url}`,
          });
          const list = await (await dashboard(server)).get("/admin/connectors");
          assert.equal(list.includes(row(A)), false, "A no longer listed");
          assert.ok(list.includes(row(B)) && list.includes(row(S)), "B and S still listed");
        }
        // B and the standalone connector are untouched: connected, served, pushed to.
        for (const page of [...byConnector.get(B)!, ...byConnector.get(S)!]) {
          assert.ok(page.socket.connected, `${page.connector.name}'s page still connected`);
        }
        assert.ok((await d.keysOf(B.id)).length >= bKeys, "B's data kept");
        Object.assign(B.ada, { traits_color: "b-after" });
        await send(hull, s1, B, [adaOf(B)]);
        for (const page of byConnector.get(B)!) {
          await page.next(
            (p) => JSON.stringify(p).includes("b-after"),
            "B's push after A's removal",
          );
        }
        const fresh = await open(s2, B);
        const p = await fresh.next(() => true, "B's profile after A's removal");
        assert.deepEqual(p.user.traits, expectedTraits(B, adaOf(B)));
      },
    );
  } finally {
    for (const p of pages) p.socket.close();
    await d.close();
    await hull.close();
  }
}

Deno.test({
  name: "many connectors - two Hull connectors and the standalone one never cross, on Deno KV",
  ignore: hullSkip !== undefined,
  ...opts,
  fn: (t) => scenario(t, kvDeployment),
});

Deno.test({
  name: "many connectors - two Hull connectors and the standalone one never cross, on Redis",
  ignore: hullSkip !== undefined || redisSkip !== undefined,
  ...opts,
  fn: (t) => scenario(t, redisDeployment),
});
