/**
 * The dashboard with several connectors: every page is scoped by `?connector=` and shows only
 * that connector's domains, settings, live log, profiles, rooms and install tag; the list of
 * connectors shows each (hostile strings escaped); removal needs the CSRF token and a
 * confirmation, deletes all of the connector's data, and is refused for the standalone one.
 * Two Hull connectors are registered directly through the running server's directory, so the
 * dashboard is tested whatever registers them.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { createApp } from "../../lib/app.ts";
import type { AppEnv } from "../../lib/app_context.ts";
import type { Connector } from "../../lib/connector/directory.ts";
import type { HullServices } from "../../lib/hull/services.ts";
import { processorDepsFor } from "../../lib/admin/scope.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import type { HullNotification } from "../../lib/types.ts";
import {
  freshFixture,
  identify,
  once,
  startTestServer,
  type TestServer,
} from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PASSWORD = "correct horse battery staple";
const A = "aaaaaaaaaaaaaaaaaaaaaaa1";
const B = "bbbbbbbbbbbbbbbbbbbbbbb2";
const HOSTILE = `<img src=x onerror="alert(1)">`;

interface Setup {
  t: TestServer;
  app: Hono<AppEnv>;
  a: Connector<HullServices>;
  b: Connector<HullServices>;
  cookie: string;
  csrf: string;
  /** An in-process request with the session cookie. */
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** Gives connector `c` its own domain, public trait and a live-log entry. */
async function fill(c: Connector<HullServices>, name: string) {
  await c.store.setDomains([`${name}.example`]);
  const settings = { ...c.live.settings, public_traits: [`traits_${name}_only`] };
  await c.store.setSettings(settings);
  // Applied here at once (the watch would within a moment).
  c.live.apply(await c.store.getConfig());
  c.events.emit("incoming.user.start", { message: `entry of ${name}` });
  await c.events.flush();
}

async function setup(): Promise<Setup> {
  const t = await startTestServer({
    env: { ADMIN_PASSWORD: PASSWORD, WHITELISTED_DOMAINS: "standalone.example" },
  });
  const { ctx } = t.server;
  const app = createApp(ctx, new URL("../../static", import.meta.url).pathname);
  const a = (await ctx.connectors.register(A, 20)).connector!;
  const b = (await ctx.connectors.register(B, 20)).connector!;
  await fill(a, "alpha");
  await fill(b, "beta");
  ctx.events.emit("incoming.user.start", { message: "entry of standalone" });
  await ctx.flush();

  const login = await app.request("/admin/login", {
    method: "POST",
    body: new URLSearchParams({ password: PASSWORD }),
  });
  assert.equal(login.status, 303);
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith("hb_session="))!
    .split(";")[0];
  const csrf = (await (await app.request("/admin/api/session", { headers: { cookie } })).json())
    .csrf;
  return {
    t,
    app,
    a,
    b,
    cookie,
    csrf,
    get: async (path) => await app.request(path, { headers: { cookie } }),
    post: async (path, fields) =>
      await app.request(path, {
        method: "POST",
        body: new URLSearchParams(fields),
        headers: { cookie },
      }),
    close: () => t.close(),
  };
}

const page = async (res: Response | Promise<Response>) => {
  const r = await res;
  return { status: r.status, html: await r.text() };
};

Deno.test({
  name: "admin connectors - each page shows only the scoped connector's data",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      const scopes = [
        ["", "standalone.example", "entry of standalone"],
        [`?connector=${A}`, "alpha.example", "entry of alpha"],
        [`?connector=${B}`, "beta.example", "entry of beta"],
        ["?connector=default", "standalone.example", "entry of standalone"],
      ] as const;
      const others = ["standalone.example", "alpha.example", "beta.example"];
      const entries = ["entry of standalone", "entry of alpha", "entry of beta"];
      for (const [q, domain, entry] of scopes) {
        const domains = await page(s.get(`/admin/domains${q}`));
        assert.equal(domains.status, 200, q);
        assert.ok(domains.html.includes(`data-domain="${domain}"`), `${q}: its domain`);
        for (const d of others.filter((d) => d !== domain)) {
          assert.equal(domains.html.includes(d), false, `${q}: not ${d}`);
        }
        const log = await page(s.get(`/admin/log${q}`));
        assert.ok(log.html.includes(entry), `${q}: its live log`);
        for (const e of entries.filter((e) => e !== entry)) {
          assert.equal(log.html.includes(e), false, `${q}: not ${e}`);
        }
        const json = await (await s.get(`/admin/api/log${q}`)).json();
        assert.deepEqual(
          json.entries.map((e: { message?: string }) => e.message).filter(Boolean),
          [entry],
          `${q}: the JSON log`,
        );
      }
      const settingsA = await page(s.get(`/admin/settings?connector=${A}`));
      assert.match(settingsA.html, /traits_alpha_only/);
      assert.equal(settingsA.html.includes("traits_beta_only"), false);
      assert.match(settingsA.html, new RegExp(`Hull connector <code>${A}</code>`));
      assert.ok(settingsA.html.includes(`/admin/connectors?remove=${A}`), "removal, no release");
      assert.equal(settingsA.html.includes("ask_forget_hull"), false);
      const settings = await page(s.get("/admin/settings"));
      assert.equal(settings.html.includes("traits_alpha_only"), false);

      // Every link and form of a scoped page keeps the connector.
      const overview = await page(s.get(`/admin?connector=${A}`));
      for (const path of ["/admin/rooms", "/admin/domains", "/admin/settings", "/admin/log"]) {
        assert.ok(overview.html.includes(`href="${path}?connector=${A}"`), path);
      }
      assert.match(overview.html, new RegExp(`<option value="${A}" selected`));
      assert.match(overview.html, new RegExp(`data-connector="${A}"`));
      assert.ok(overview.html.includes(`data-hull-id=&quot;${A}&quot;`), "A's tag on its overview");
      const own = await page(s.get("/admin"));
      assert.equal(
        own.html.includes("data-hull-id=&quot;"),
        false,
        "the standalone tag names none",
      );
      const domainsA = (await page(s.get(`/admin/domains?connector=${A}`))).html;
      assert.ok(domainsA.includes(`action="/admin/domains?connector=${A}"`));
      const log = (await page(s.get(`/admin/log?connector=${A}`))).html;
      assert.ok(log.includes(`/admin/api/log/stream?connector=${A}`), "the stream is A's");

      // The install tab names the connector; the standalone connector's tag names none.
      const install = await page(s.app.request(`/install?ship=${A}`));
      assert.ok(install.html.includes(`data-hull-id=&quot;${A}&quot;`), "A's tag");
      assert.equal(install.html.includes("alpha.example"), false, "no settings without secret");
      const plain = await page(s.app.request("/install"));
      assert.equal(plain.html.includes("data-hull-id"), false);
      assert.equal((await s.app.request("/install?connector=nothex")).status, 404);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "admin connectors - forms write to the scoped connector, preview resolves in its store",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      const { ctx } = s.t.server;
      const add = await s.post(`/admin/domains?connector=${A}`, {
        action: "add",
        domain: "new.alpha.example",
        _csrf: s.csrf,
      });
      assert.equal(add.status, 303);
      assert.equal(add.headers.get("location"), `/admin/domains?connector=${A}`);
      assert.deepEqual((await s.a.store.getConfig()).domains, [
        "alpha.example",
        "new.alpha.example",
      ]);
      assert.deepEqual((await s.b.store.getConfig()).domains, ["beta.example"]);
      assert.deepEqual((await ctx.store.getConfig()).domains, ["standalone.example"]);

      const saved = await s.post(`/admin/settings?connector=${B}`, {
        identity_mode: "off",
        public_traits: "email\ntraits_beta_saved",
        _csrf: s.csrf,
      });
      assert.equal(saved.status, 303);
      assert.equal(saved.headers.get("location"), `/admin/settings?saved=1&connector=${B}`);
      assert.deepEqual((await s.b.store.getConfig()).settings?.public_traits, [
        "email",
        "traits_beta_saved",
      ]);
      assert.equal(
        (await ctx.store.getConfig()).settings?.public_traits?.includes("traits_beta_saved"),
        false,
      );
      // A release on a Hull connector's settings leads to its removal instead.
      const release = await s.post(`/admin/settings?connector=${A}`, {
        action: "forget_hull",
        _csrf: s.csrf,
      });
      assert.equal(release.status, 303);
      assert.equal(release.headers.get("location"), `/admin/connectors?remove=${A}`);
      assert.ok(await ctx.connectors.has(A), "nothing removed without the confirmation");

      // Ada is a user of A only.
      const n = await freshFixture("user-update.json") as unknown as HullNotification;
      await processNotification(n, processorDepsFor(ctx, s.a));
      const inA = await page(
        s.get(`/admin/preview?type=email&value=ada%40example.com&connector=${A}`),
      );
      assert.match(inA.html, /data-payload="full"/);
      assert.ok(
        inA.html.includes(
          `action="/admin/preview?type=email&amp;value=ada%40example.com&amp;connector=${A}"`,
        ),
      );
      for (const q of [`&connector=${B}`, ""]) {
        const other = await page(s.get(`/admin/preview?type=email&value=ada%40example.com${q}`));
        assert.match(other.html, /No profile is stored/, q);
      }
      // Deleting it from A's preview deletes it in A only.
      const del = await page(s.post(`/admin/preview?connector=${A}`, {
        type: "email",
        value: "ada@example.com",
        action: "delete",
        _csrf: s.csrf,
      }));
      assert.match(del.html, /Profile deleted/);
      assert.equal(await s.a.store.getProfile("5f00000000000000000000a1"), null);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "admin connectors - rooms list the scoped connector's namespace only",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      await identify(s.t, { email: "ada@example.com" }, "http://standalone.example");
      const standalone = await page(s.get("/admin/rooms"));
      assert.match(standalone.html, /data-room/);
      const a = await page(s.get(`/admin/rooms?connector=${A}`));
      assert.equal(a.html.includes("data-room"), false, "A has no room of the standalone's");
      assert.match(a.html, new RegExp(`name="connector" value="${A}"`), "the search keeps A");
      const list = await page(s.get("/admin/connectors"));
      const row = (id: string) =>
        list.html.slice(list.html.indexOf(`data-connector="${id}"`)).split("</tr>")[0];
      assert.match(row("default"), /<td>1<\/td>/, "one socket of the standalone connector");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "admin connectors - the list shows every connector, hostile strings escaped",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      await s.b.services.credentials.save({ id: B, organization: HOSTILE, secret: "s-b" });
      const list = await page(s.get("/admin/connectors"));
      assert.equal(list.status, 200);
      for (const id of ["default", A, B]) {
        assert.ok(list.html.includes(`data-connector="${id}"`), id);
      }
      assert.ok(list.html.includes(`href="/admin?connector=${A}"`), "A's pages");
      assert.ok(list.html.includes(`href="/admin/connectors?remove=${B}"`), "B's removal");
      assert.equal(list.html.includes("remove=default"), false, "no removal of the standalone");
      assert.equal(list.html.includes(HOSTILE), false, "the organization is escaped");
      assert.ok(list.html.includes("&lt;img src=x onerror="), "and shown as text");

      const hostileScope = await page(
        s.get(`/admin/domains?connector=${encodeURIComponent(HOSTILE)}`),
      );
      assert.equal(hostileScope.status, 404);
      assert.equal(hostileScope.html.includes(HOSTILE), false);
      assert.match(hostileScope.html, /href="\/admin\/connectors"/, "a link back to the list");
      const unknown = await s.get("/admin/api/log?connector=cccccccccccccccccccccccc");
      assert.equal(unknown.status, 404);
      assert.deepEqual(await unknown.json(), { error: "no such connector" });
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "admin connectors - removal needs CSRF and a confirmation, deletes all data of one",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      const { ctx } = s.t.server;
      const remove = (id: string, fields: Record<string, string>) =>
        s.post(`/admin/connectors/${id}/remove`, fields);

      const asked = await page(s.get(`/admin/connectors?remove=${A}`));
      assert.match(asked.html, /role="alertdialog"/);
      assert.ok(asked.html.includes(`action="/admin/connectors/${A}/remove"`));
      assert.match(
        asked.html,
        /type="checkbox" id="confirm-remove" name="confirm" value="yes" required/,
      );

      const noCsrf = await remove(A, { confirm: "yes" });
      assert.equal(noCsrf.status, 403);
      const wrongCsrf = await remove(A, { confirm: "yes", _csrf: "0".repeat(64) });
      assert.equal(wrongCsrf.status, 403);
      const unconfirmed = await page(remove(A, { _csrf: s.csrf }));
      assert.equal(unconfirmed.status, 400);
      assert.match(unconfirmed.html, /tick the box/);
      assert.ok(await ctx.connectors.has(A, true), "still registered");
      const standalone = await page(remove("default", { confirm: "yes", _csrf: s.csrf }));
      assert.equal(standalone.status, 400);
      assert.match(standalone.html, /standalone connector cannot be removed/);
      const unknown = await remove("cccccccccccccccccccccccc", { confirm: "yes", _csrf: s.csrf });
      assert.equal(unknown.status, 404);

      // A live-log stream of A, which its removal ends.
      const stream = await s.get(`/admin/api/log/stream?connector=${A}`);
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      await reader.read();
      assert.equal(ctx.logFeed.size, 1);

      const done = await remove(A, { confirm: "yes", _csrf: s.csrf });
      assert.equal(done.status, 303);
      assert.equal(done.headers.get("location"), `/admin/connectors?removed=${A}`);
      assert.deepEqual(await ctx.connectors.ids(true), [B]);
      while (!(await reader.read()).done) { /* the rest of what was written before */ }
      assert.equal(ctx.logFeed.size, 0, "its stream ended");
      // Its scope is empty: settings, domains, live log.
      const scope = ctx.store.scoped(A);
      try {
        assert.deepEqual((await scope.getConfig()).domains, []);
        assert.deepEqual(await scope.listEvents(10), []);
      } finally {
        await scope.close();
      }
      assert.deepEqual((await s.b.store.getConfig()).domains, ["beta.example"], "B keeps its");
      const list = await page(s.get(`/admin/connectors?removed=${A}`));
      assert.equal(list.html.includes(`data-connector="${A}"`), false);
      assert.match(list.html, /was removed with all of its data/);
      assert.equal((await s.get(`/admin/domains?connector=${A}`)).status, 404);
      await ctx.flush();
      const log = await ctx.store.listEvents(20);
      assert.ok(log.some((e) => e.message === `connector ${A} removed by an admin`));
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "admin connectors - a Hull connector's sockets: its rooms, count, test push and removal",
  ...opts,
  async fn() {
    const s = await setup();
    try {
      const { ctx } = s.t.server;
      await s.a.store.setDomains(["localhost"]);
      s.a.live.apply(await s.a.store.getConfig());
      await ctx.store.setDomains(["localhost"]);
      ctx.live.apply(await ctx.store.getConfig());
      // Ada is a user of A; the same email also has a page on the standalone connector.
      const n = await freshFixture("user-update.json") as unknown as HullNotification;
      await processNotification(n, processorDepsFor(ctx, s.a));
      const join = async (namespace: string) => {
        const socket = s.t.connect("http://localhost:3000", { namespace });
        await once(socket, "connect");
        const joined = once(socket, "room.joined");
        socket.emit("user.fetch", { claims: { email: "ada@example.com" } });
        await joined;
        return socket;
      };
      const inA = await join(`/${A}`);
      const inStandalone = await join("");
      const updates = { a: 0, standalone: 0 };
      inA.on("user.update", (p) => p.test && updates.a++);
      inStandalone.on("user.update", (p) => p.test && updates.standalone++);

      assert.match((await page(s.get(`/admin/rooms?connector=${A}`))).html, /data-room/);
      assert.equal(
        (await page(s.get(`/admin/rooms?connector=${B}`))).html.includes("data-room"),
        false,
      );
      const list = (await page(s.get("/admin/connectors"))).html;
      const row = (id: string) =>
        list.slice(list.indexOf(`data-connector="${id}"`)).split("</tr>")[0];
      assert.match(row(A), /<td>1<\/td>/, "A's socket counted");

      const pushed = await page(s.post(`/admin/preview?connector=${A}`, {
        type: "email",
        value: "ada@example.com",
        action: "push",
        _csrf: s.csrf,
      }));
      assert.match(pushed.html, /Test update sent to 1 live socket/);
      await waitFor(() => updates.a === 1, { what: "A's page got the test push" });
      // Ada on the standalone connector too; its own test push comes after A's, on one socket.
      const own = await s.t.postNotification(await freshFixture("user-update.json"));
      assert.equal(own.status, 200);
      const marker = await page(s.post("/admin/preview", {
        type: "email",
        value: "ada@example.com",
        action: "push",
        _csrf: s.csrf,
      }));
      assert.match(marker.html, /Test update sent to 1 live socket/);
      await waitFor(() => updates.standalone >= 1, { what: "the standalone page's own push" });
      assert.equal(updates.standalone, 1, "nothing of A reached the standalone page");
      assert.equal(updates.a, 1, "nor the other way round");

      const closed = once<{ message: string }>(inA, "close");
      const removed = await s.post(`/admin/connectors/${A}/remove`, {
        confirm: "yes",
        _csrf: s.csrf,
      });
      assert.equal(removed.status, 303);
      assert.equal((await closed).message, "connector removed");
      await waitFor(() => !inA.connected, { what: "A's socket disconnected" });
      assert.ok(inStandalone.connected, "the standalone page stays");
    } finally {
      await s.close();
    }
  },
});
