/**
 * The admin dashboard over plain HTTP requests: sessions, CSRF, throttling, headers, every
 * page and API endpoint, and their refusals.
 */
import assert from "node:assert/strict";
import { AdminAuth } from "../../lib/admin/auth.ts";
import {
  freshFixture,
  identify,
  SECRET,
  startTestServer,
  type TestServer,
} from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PASSWORD = "correct horse battery staple";

async function login(t: TestServer): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${t.url}/admin/login`, {
    method: "POST",
    body: new URLSearchParams({ password: PASSWORD }),
    redirect: "manual",
  });
  assert.equal(res.status, 303);
  await res.body?.cancel();
  const set = res.headers.getSetCookie().find((c) => c.startsWith("hb_session="))!;
  assert.match(set, /HttpOnly/i);
  assert.match(set, /SameSite=Strict/i);
  assert.match(set, /Path=\/admin/i);
  const cookie = set.split(";")[0];
  const s = await fetch(`${t.url}/admin/api/session`, { headers: { cookie } });
  return { cookie, csrf: (await s.json()).csrf };
}

function form(
  t: TestServer,
  path: string,
  fields: Record<string, string>,
  cookie?: string,
  extra: Record<string, string> = {},
) {
  return fetch(`${t.url}${path}`, {
    method: "POST",
    body: new URLSearchParams(fields),
    redirect: "manual",
    headers: { ...(cookie ? { cookie } : {}), ...extra },
  });
}

const withAdmin = (env: Record<string, string> = {}, loginClock?: () => number) =>
  startTestServer({ env: { ADMIN_PASSWORD: PASSWORD, ...env }, start: { loginClock } });

Deno.test({
  name: "admin - without a session pages redirect to the login and the API answers 401",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      for (
        const path of [
          "/admin",
          "/admin/rooms",
          "/admin/domains",
          "/admin/settings",
          "/admin/log",
          "/admin/preview",
        ]
      ) {
        const res = await fetch(`${t.url}${path}`, { redirect: "manual" });
        await res.body?.cancel();
        assert.equal(res.status, 303, path);
        assert.equal(res.headers.get("location"), "/admin/login");
        assert.equal(res.headers.get("cache-control"), "no-store");
      }
      for (
        const path of [
          "/admin/api/stats",
          "/admin/api/log",
          "/admin/api/log/stream",
          "/admin/api/session",
        ]
      ) {
        const res = await fetch(`${t.url}${path}`);
        assert.equal(res.status, 401, path);
        assert.equal((await res.json()).error, "not logged in");
      }
      const forged = await fetch(`${t.url}/admin`, {
        headers: { cookie: `hb_session=${Date.now()}.${"a".repeat(32)}.${"b".repeat(64)}` },
        redirect: "manual",
      });
      await forged.body?.cancel();
      assert.equal(forged.status, 303, "a forged cookie is no session");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin - writes need the session's CSRF token and the same origin",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      const { cookie, csrf } = await login(t);
      const noToken = await form(t, "/admin/domains", { domain: "shop.test" }, cookie);
      assert.equal(noToken.status, 403);
      await noToken.body?.cancel();
      const wrong = await form(
        t,
        "/admin/domains",
        { domain: "shop.test", _csrf: "0".repeat(64) },
        cookie,
      );
      assert.equal(wrong.status, 403);
      await wrong.body?.cancel();
      const other = await login(t); // another session's token does not fit this one
      const foreign = await form(
        t,
        "/admin/domains",
        { domain: "shop.test", _csrf: other.csrf },
        cookie,
      );
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();
      const crossSite = await form(
        t,
        "/admin/domains",
        { domain: "shop.test", _csrf: csrf },
        cookie,
        {
          origin: "https://evil.example",
        },
      );
      assert.equal(crossSite.status, 403);
      await crossSite.body?.cancel();
      assert.ok(!t.server.ctx.live.domains.some((d) => d.raw === "shop.test"), "nothing changed");
      const ok = await form(t, "/admin/domains", { domain: "shop.test", _csrf: csrf }, cookie);
      assert.equal(ok.status, 303);
      await ok.body?.cancel();
      assert.ok(t.server.ctx.live.domains.some((d) => d.raw === "shop.test"));
      const api = await fetch(`${t.url}/admin/domains`, {
        method: "POST",
        headers: {
          cookie,
          "x-csrf-token": csrf,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: "action=remove&domain=shop.test",
        redirect: "manual",
      });
      assert.equal(api.status, 303, "the header form of the token works too");
      await api.body?.cancel();
      assert.ok(!t.server.ctx.live.domains.some((d) => d.raw === "shop.test"));
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin - login is throttled per IP and refused without ADMIN_PASSWORD",
  ...opts,
  async fn() {
    let now = Date.now();
    const t = await withAdmin({}, () => now);
    try {
      for (let i = 0; i < 5; i++) {
        const res = await form(t, "/admin/login", { password: "nope" });
        assert.equal(res.status, 401);
        assert.match(await res.text(), /Wrong password/);
      }
      const blocked = await form(t, "/admin/login", { password: PASSWORD });
      assert.equal(blocked.status, 429, "even the right password waits");
      assert.match(await blocked.text(), /Too many failed attempts.*in 1 s/s);
      // The wait doubles with each failure, and a right password after it signs in.
      now += 1_000;
      const sixth = await form(t, "/admin/login", { password: "nope" });
      assert.equal(sixth.status, 401);
      await sixth.body?.cancel();
      const waits = await form(t, "/admin/login", { password: PASSWORD });
      assert.equal(waits.status, 429);
      assert.match(await waits.text(), /in 2 s/);
      now += 2_000;
      const ok = await form(t, "/admin/login", { password: PASSWORD });
      assert.equal(ok.status, 303, "not locked out");
      await ok.body?.cancel();
      const next = await form(t, "/admin/login", { password: "nope" });
      assert.equal(next.status, 401, "a success clears the failures");
      await next.body?.cancel();
    } finally {
      await t.close();
    }
    const none = await startTestServer();
    try {
      const page = await fetch(`${none.url}/admin/login`);
      assert.match(await page.text(), /Set <code>ADMIN_PASSWORD<\/code>/);
      const res = await form(none, "/admin/login", { password: "" });
      assert.equal(res.status, 403);
      await res.body?.cancel();
    } finally {
      await none.close();
    }
  },
});

Deno.test({
  name: "admin - every page renders, escapes output and sends strict headers",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      const { cookie, csrf } = await login(t);
      const s = await identify(t, { email: "ada@example.com" });
      assert.equal((await t.postNotification(await freshFixture("user-update.json"))).status, 200);
      // Hostile names come back escaped.
      const hostile = await freshFixture("user-update.json");
      (hostile.messages as { user: Record<string, unknown> }[])[0]
        .user["<script>alert(1)</script>"] = 1;
      await t.postNotification(hostile);
      await t.server.ctx.flush();
      const bad = await form(t, "/admin/domains", {
        domain: "<img src=x onerror=alert(1)>",
        _csrf: csrf,
      }, cookie);
      assert.equal(bad.status, 400);
      const badHtml = await bad.text();
      assert.ok(!badHtml.includes("<img src=x"), "error message escaped");
      assert.match(badHtml, /&lt;img/);

      const pages: Record<string, RegExp> = {
        "/admin": /Connected sockets/,
        "/admin/rooms?q=ada%40example.com": /a\*\*@e\*+\.com/,
        "/admin/domains": /localhost/,
        "/admin/settings": /traits_plan/,
        "/admin/log": /data-event="incoming\.user\.start"/,
        "/admin/preview?type=email&value=ada%40example.com":
          /&quot;email&quot;: &quot;ada@example.com&quot;/,
      };
      for (const [path, expected] of Object.entries(pages)) {
        const res = await fetch(`${t.url}${path}`, { headers: { cookie } });
        const html = await res.text();
        assert.equal(res.status, 200, path);
        assert.match(html, expected, path);
        assert.ok(!html.includes("<script>alert(1)"), `${path} escapes`);
        assert.doesNotMatch(html, /<script>(?!<\/script>)/, `${path} has no inline script`);
        assert.equal(res.headers.get("cache-control"), "no-store");
        const csp = res.headers.get("content-security-policy") ?? "";
        assert.match(csp, /script-src 'self'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      }
      const stats = await (await fetch(`${t.url}/admin/api/stats`, { headers: { cookie } })).json();
      assert.equal(stats.sockets, 1);
      assert.equal(stats.identified, 1);
      assert.equal(stats.counters.webhooks_received, 2);
      assert.ok(stats.p50 >= 0 && stats.p99 >= stats.p50);
      const log = await (await fetch(`${t.url}/admin/api/log?limit=5`, { headers: { cookie } }))
        .json();
      assert.equal(log.entries.length, 5);
      s.close();
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin - settings, preview push and delete, log stream and logout",
  ...opts,
  async fn() {
    const t = await withAdmin({
      IDENTITY_SECRET: "identity-secret-0123456789abcdef",
      IDENTITY_MODE: "off",
    });
    try {
      const { cookie, csrf } = await login(t);
      await t.postNotification(await freshFixture("user-update.json"));
      const saved = await form(t, "/admin/settings", {
        _csrf: csrf,
        identity_mode: "report",
        public_traits: "email\ntraits_plan, name",
        public_segments: "seg_vip",
        anonymous_traits: "traits_plan",
      }, cookie);
      assert.equal(saved.status, 303);
      await saved.body?.cancel();
      const s = t.server.ctx.live.settings;
      assert.deepEqual(s.public_traits, ["email", "traits_plan", "name"]);
      assert.equal(s.identity_mode, "report");
      assert.deepEqual((await t.server.ctx.store.getConfig()).settings.anonymous_traits, [
        "traits_plan",
      ]);

      const socket = await identify(t, { external_id: "user-1001" });
      const pushed = new Promise((r) =>
        socket.on("user.update", (p: { test?: boolean }) => p.test && r(p))
      );
      const push = await form(t, "/admin/preview", {
        _csrf: csrf,
        type: "email",
        value: "ada@example.com",
        action: "push",
      }, cookie);
      const pushHtml = await push.text();
      assert.match(pushHtml, /Test update sent to 1 live socket of this visitor/);
      // The form keeps the identifier, and posts to its URL (a reload keeps it too).
      assert.match(pushHtml, /name="value" value="ada@example.com"/);
      assert.match(pushHtml, /action="\/admin\/preview\?type=email&amp;value=ada%40example.com"/);
      assert.equal(((await pushed) as { test?: boolean }).test, true);
      await t.server.ctx.flush();
      const entries = await t.server.ctx.store.listEvents(50);
      assert.ok(
        entries.some((e) =>
          e.message?.includes("test update pushed from the dashboard to 1 socket")
        ),
      );

      // Deleting asks first, and asking deletes nothing.
      const ask = await form(t, "/admin/preview", {
        _csrf: csrf,
        type: "email",
        value: "ada@example.com",
        action: "ask-delete",
      }, cookie);
      assert.match(await ask.text(), /Delete this profile for good\?/);
      assert.notEqual(await t.server.ctx.store.getProfile("5f00000000000000000000a1"), null);

      const stream = await fetch(`${t.url}/admin/api/log/stream`, { headers: { cookie } });
      assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("event: entry")) text += (await reader.read()).value ?? "";
      await reader.cancel();

      const forgotten = new Promise((r) => socket.once("user.delete", r));
      const del = await form(t, "/admin/preview", {
        _csrf: csrf,
        type: "email",
        value: "ada@example.com",
        action: "delete",
      }, cookie);
      assert.match(await del.text(), /Profile deleted/);
      await forgotten;
      assert.equal(await t.server.ctx.store.getProfile("5f00000000000000000000a1"), null);

      const out = await form(t, "/admin/logout", { _csrf: csrf }, cookie);
      assert.equal(out.status, 303);
      assert.match(out.headers.get("set-cookie") ?? "", /hb_session=;/);
      await out.body?.cancel();
      // The old cookie is dead, on this instance and in the store for the others.
      const after = await fetch(`${t.url}/admin/api/stats`, { headers: { cookie } });
      assert.equal(after.status, 401);
      await after.body?.cancel();
      const other = await AdminAuth.create(SECRET, PASSWORD, t.server.ctx.store);
      const session = await other.verify(decodeURIComponent(cookie.split("=")[1]));
      assert.ok(session, "still signed");
      assert.equal(await other.isRevoked(session), true, "revoked for every instance");
      socket.close();
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin - live-log streams are capped per session, freed on close, ended by logout",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      const { cookie, csrf } = await login(t);
      const feed = t.server.ctx.logFeed;
      const open = () => fetch(`${t.url}/admin/api/log/stream`, { headers: { cookie } });
      const streams = [await open(), await open(), await open()];
      streams.forEach((r) => assert.equal(r.status, 200));
      assert.equal(feed.size, 3);
      const fourth = await open();
      assert.equal(fourth.status, 429);
      assert.match((await fourth.json()).error, /at most 3 per session/);
      // Another session has its own allowance.
      const other = await login(t);
      const theirs = await fetch(`${t.url}/admin/api/log/stream`, {
        headers: { cookie: other.cookie },
      });
      assert.equal(theirs.status, 200);
      // A client that goes frees its stream.
      await streams[0].body!.cancel();
      await waitFor(() => feed.size === 3, {
        what: "a cancelled stream is freed",
        timeoutMs: 8_000,
      });
      const again = await open();
      assert.equal(again.status, 200);
      // Logout ends the session's streams.
      const out = await form(t, "/admin/logout", { _csrf: csrf }, cookie);
      await out.body?.cancel();
      await waitFor(() => feed.size === 1, { what: "logout ends the streams", timeoutMs: 8_000 });
      for (const r of [streams[1], streams[2], again, theirs]) await r.body?.cancel();
      await waitFor(() => feed.size === 0, { what: "all freed", timeoutMs: 8_000 });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin settings - a refused save keeps every edit; trait names and the mode are checked",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      const { cookie, csrf } = await login(t);
      const before = t.server.ctx.live.settings;
      const page = await (await fetch(`${t.url}/admin/settings`, { headers: { cookie } })).text();
      assert.match(page, /<option value="required" disabled>required \(needs IDENTITY_SECRET\)/);
      for (
        const [fields, error] of [
          [{ identity_mode: "required" }, /Set IDENTITY_SECRET on the server before choosing/],
          [{ identity_mode: "bogus" }, /unknown identity mode &quot;bogus&quot;/],
          [{ identity_mode: "off", public_traits: "email\nplan name" }, /has a space/],
          [{ identity_mode: "off", public_traits: "clearbit//name" }, /is not an attribute name/],
        ] as const
      ) {
        const res = await form(t, "/admin/settings", {
          _csrf: csrf,
          public_traits: "email\ntraits_new_trait",
          public_segments: "seg_new",
          ...fields,
        }, cookie);
        const html = await res.text();
        assert.equal(res.status, 400, JSON.stringify(fields));
        assert.match(html, error);
        assert.match(html, /Nothing was saved/);
        // The other edits of that save are still in the form.
        assert.match(html, /<textarea[^>]*name="public_segments"[^>]*>seg_new<\/textarea>/);
        assert.deepEqual(t.server.ctx.live.settings, before, "nothing changed");
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "admin overview - names env seeds that lost to stored settings; / only says some did",
  ...opts,
  async fn() {
    const t = await withAdmin();
    try {
      const { cookie } = await login(t);
      const clean = await (await fetch(`${t.url}/admin`, { headers: { cookie } })).text();
      assert.doesNotMatch(clean, /set but ignored/, "seeds applied: nothing to report");
      // As if WHITELISTED_DOMAINS had been changed after the first boot.
      await t.server.ctx.store.setDomains(["shop.example.org"]);
      // Applied here at once, as the dashboard does (the store's watch may come later).
      t.server.ctx.live.apply(await t.server.ctx.store.getConfig());
      const html = await (await fetch(`${t.url}/admin`, { headers: { cookie } })).text();
      assert.match(html, /WHITELISTED_DOMAINS is set but ignored/);
      assert.match(html, /Change them in the dashboard/);
      const home = await (await fetch(`${t.url}/`)).text();
      assert.match(home, /Some environment seeds are ignored/);
      assert.doesNotMatch(home, /WHITELISTED_DOMAINS is set/);
    } finally {
      await t.close();
    }
  },
});
