/**
 * Pages written for the original connector, run in Chromium against our snippet: the original
 * readme's examples as written (Hull.js's `Hull.on` with a stand-in Hull.js emitter, booting
 * through `Hull.onEmbed` from `ship.js`, and `window.hullBrowser`'s EventEmitter2 forms: once,
 * many, onAny, wildcards), the original's `hull_browser` cache replayed on first load,
 * `?ajs_*=` links with identity verification off and required, the `script` setting with and
 * without `data-allow-script`, and `data-hull-*` attributes under a strict CSP.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { buildSnippet } from "../../scripts/build.ts";
import { signIdentity } from "../../lib/socket/verification.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import type { HullNotification } from "../../lib/types.ts";
import { CSP_BLOCKED, NOT_ALLOWED } from "../../lib/snippet/script.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { type SiteFile, startSite } from "../helpers/page_server.ts";
import { fixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor, waitForPage } from "../helpers/wait.ts";

const skip = chromiumSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";
const CONNECTOR_ID = "5a1b2c3d4e5f60718293a4b5";
const ENV = {
  PUBLIC_TRAITS: "email,traits_plan,name,account.name,account.clearbit/employees",
  PUBLIC_SEGMENTS: "seg_trial,seg_vip",
  PUBLIC_ACCOUNT_SEGMENTS: "aseg_enterprise",
};

/** analytics.js stand-in: a loaded Segment with Ada's ids (the fixture user). */
const ANALYTICS_JS = `window.analytics = { user: function () { return {
  id: function () { return "user-1001"; },
  anonymousId: function () { return "a1b2c3d4-anon"; },
  traits: function () { return { email: "ada@example.com" }; } }; } };`;

/** Records updates through the queue, before the async tag (pages of ours). */
const RECORD_JS = `window.__updates = []; window.__joined = 0;
window.hullBrowser = window.hullBrowser || [];
hullBrowser.push(["on", "room.joined", function () { __joined++; }]);
hullBrowser.push(["on", "user.update", function (d) {
  __updates.push({ user: d.user, changes: d.changes, replay: "changes" in d && d.changes === undefined });
}]);`;

/**
 * The original readme's `window.hullBrowser` form, as written (its stray `)` after the callback
 * removed), plus EventEmitter2's once, many, onAny and a `user.*` wildcard. Runs after the
 * snippet's (synchronous) tag, as the readme assumes.
 */
const README_JS = `window.__seen = [];
hullBrowser.on("user.update",  function({
    user,
    segments,
    account,
    account_segments,
    events,
    changes
  }){
    console.log("Your Code here", user)
    __seen.push(["on", user.traits.plan, changes, account, segments]);
  });
hullBrowser.once("user.update", function (d) { __seen.push(["once", d.user.traits.plan]); });
hullBrowser.many("user.update", 2, function (d) { __seen.push(["many", d.user.traits.plan]); });
hullBrowser.onAny(function (event) { __seen.push(["any", event]); });
hullBrowser.on("user.*", function (d) { __seen.push(["wild", d.user.traits.plan]); });`;

/** Hull.js stand-in: an emitter, Ada as current user, and onEmbed handing a deployment. */
const fakeHull = (server: string) =>
  `(function () {
  var listeners = {};
  window.__embedded = 0;
  window.Hull = {
    on: function (n, fn) { (listeners[n] = listeners[n] || []).push(fn); },
    emit: function (n) {
      var args = [].slice.call(arguments, 1);
      (listeners[n] || []).forEach(function (fn) { fn.apply(null, args); });
    },
    config: function () { return { anonymousId: "a1b2c3d4-anon" }; },
    currentUser: function () { return { external_id: "user-1001", email: "ada@example.com" }; },
    onEmbed: function (fn) {
      var deployment = { ship: { id: "${CONNECTOR_ID}", source_url: "${server}/" },
        platform: { id: "platform-1" } };
      setTimeout(function () { window.__embedded++; fn(document.body, deployment, window.Hull); });
    }
  };
})();`;

/** The original readme's Hull.js form, as written (stray `)` removed). */
const HULL_README_JS = `window.__hull = [];
Hull.on("user.update", function({
    user,
    segments,
    account,
    account_segments,
    events,
    changes
  }){
    __hull.push({ email: user.email, plan: user.traits.plan, changes: changes });
  });`;

const SCRIPT_SETTING = "window.__scriptRuns = (window.__scriptRuns || []).concat([[user.email, " +
  "segments.join(), account['clearbit/employees'], account_segments.join(), events.length, " +
  "changes === undefined ? 'load' : 'change']]);";

const html = (head: string, body = "") =>
  `<!doctype html><html><head><meta charset="utf-8"><title>shop</title>${head}</head>` +
  `<body>${body}</body></html>`;
const js = (body: string): SiteFile => ({ body, type: "text/javascript" });

/** The CSP page's elements: personalization without code. */
const PERSONALIZED = `<p id="vip" data-hull-show="VIP" hidden>VIP offer</p>
<p id="trial" data-hull-show="Trial users" hidden>Trial offer</p>
<p id="notrial" data-hull-hide="Trial users">Start a trial</p>
<p id="ent" data-hull-show="Enterprise" hidden>Enterprise</p>
<span id="plan" data-hull-text="traits.plan">?</span>
<span id="email" data-hull-text="email">stranger</span>
<span id="employees" data-hull-text="account.clearbit/employees"></span>
<span id="name" data-hull-text="name"></span>
<div id="box" data-hull-class="Trial users:is-trial"></div>`;

function site(server: string) {
  const csp = `default-src 'none'; script-src 'self' ${server}; connect-src ${
    server.replace(/^http/, "ws")
  }`;
  const tag = (attrs = "", async = true) =>
    `<script src="${server}/hull-browser.js"${attrs}${async ? " async" : ""}></script>`;
  const files: Record<string, SiteFile> = {
    "/analytics.js": js(ANALYTICS_JS),
    "/record.js": js(RECORD_JS),
    "/readme.js": js(README_JS),
    "/fake_hull.js": js(fakeHull(server)),
    "/hull_readme.js": js(HULL_README_JS),
    "/readme.html": {
      body: html(
        `<script src="/analytics.js"></script>${tag("", false)}` +
          `<script src="/readme.js"></script>`,
      ),
    },
    "/hull_tag.html": {
      body: html(
        `<script src="/fake_hull.js"></script><script src="/hull_readme.js"></script>` +
          tag(),
      ),
    },
    // Hull.js injects the manifest's index, ship.js, without attributes of ours.
    "/hull_embed.html": {
      body: html(
        `<script src="/fake_hull.js"></script><script src="/hull_readme.js"></script>` +
          `<script src="${server}/ship.js" async></script>`,
      ),
    },
    "/plain.html": { body: html(`<script src="/record.js"></script>${tag()}`) },
    "/script_allowed.html": {
      body: html(
        `<script src="/analytics.js"></script><script src="/record.js"></script>` +
          tag(" data-allow-script"),
      ),
    },
    "/script_default.html": {
      body: html(`<script src="/analytics.js"></script><script src="/record.js"></script>` + tag()),
    },
    "/csp.html": {
      body: html(
        `<script src="/analytics.js"></script><script src="/record.js"></script>` +
          tag(" data-allow-script"),
        PERSONALIZED,
      ),
      csp,
    },
  };
  return startSite(files);
}

/** A user:update for Ada (plan, segment ids), or for Grace with `who: "grace"`. */
async function update(plan: string, segments = ["seg_trial"], who = "ada") {
  const body = await fixture<
    {
      notification_id: string;
      messages: { user: Record<string, unknown>; segments: unknown[] }[];
    }
  >("user-update.json");
  body.notification_id = crypto.randomUUID();
  const m = body.messages[0];
  m.user.traits_plan = plan;
  const names: Record<string, string> = { seg_trial: "Trial users", seg_vip: "VIP" };
  m.segments = segments.map((id) => ({ id, name: names[id], type: "users_segment" }));
  if (who === "grace") {
    m.user = {
      id: "5f00000000000000000000a2",
      email: "grace@example.com",
      external_id: "user-1002",
      traits_plan: plan,
    };
  }
  return body;
}

/**
 * Registers Hull connector CONNECTOR_ID on `server` with the standalone connector's settings
 * and whitelist, and applies `body` to its own scope (as Hull's notification would).
 */
async function hullConnector(server: TestServer, body: unknown) {
  const { ctx } = server.server;
  const c = (await ctx.connectors.register(CONNECTOR_ID, 20)).connector!;
  const own = await ctx.store.getConfig();
  await c.store.setSettings(own.settings);
  await c.store.setDomains(own.domains);
  await waitFor(() => c.live.allows("http://localhost:1"), { what: "the connector's whitelist" });
  await processNotification(body as HullNotification, {
    store: c.store,
    hasher: ctx.webhook.hasher,
    events: c.events,
    publish: server.server.publisherFor(CONNECTOR_ID),
    settings: () => c.live.settings,
  });
}

async function post(server: TestServer, body: unknown) {
  const res = await server.postNotification(body);
  assert.equal(res.status, 200, await res.text());
}

/** A fresh visitor (empty storage) with the console recorded. */
async function visit(browser: Browser, url: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines: string[] = [];
  page.on("console", (m) => consoleLines.push(m.text()));
  await page.goto(url);
  return { page, consoleLines, close: () => context.close() };
}

Deno.test(
  "page API in Chromium - pages written for the original connector work",
  opts,
  async (t) => {
    await buildSnippet();
    const off = await startTestServer({ env: ENV });
    const required = await startTestServer({
      env: { ...ENV, IDENTITY_SECRET, IDENTITY_MODE: "required" },
    });
    const offSite = await site(off.url);
    const requiredSite = await site(required.url);
    const browser = await launchBrowser();
    assert.ok(browser);
    const at = (port: number, path: string) => `http://localhost:${port}${path}`;
    try {
      await post(off, await update("pro"));

      await t.step(
        "window.hullBrowser: on, once, many, onAny and user.* as EventEmitter2",
        async () => {
          const { page, close } = await visit(browser, at(offSite.port, "/readme.html"));
          await waitForPage(
            page,
            `__seen.filter(function (s) { return s[0] === "on"; }).length === 1`,
          );
          await post(off, await update("enterprise"));
          await waitForPage(
            page,
            `__seen.filter(function (s) { return s[0] === "on"; }).length === 2`,
          );
          await post(off, await update("team"));
          await waitForPage(
            page,
            `__seen.filter(function (s) { return s[0] === "on"; }).length === 3`,
          );
          const seen = await page.evaluate("__seen") as unknown[][];
          const of = (kind: string) => seen.filter((s) => s[0] === kind).map((s) => s.slice(1));
          assert.deepEqual(of("once"), [["pro"]]);
          assert.deepEqual(of("many"), [["pro"], ["enterprise"]]);
          assert.deepEqual(of("wild"), [["pro"], ["enterprise"], ["team"]]);
          assert.deepEqual(of("any").map((s) => s[0]), [
            "room.joined",
            "user.update",
            "user.update",
            "user.update",
          ]);
          const on = of("on");
          assert.deepEqual(on[1][1], { user: { traits: { plan: ["pro", "enterprise"] } } });
          assert.deepEqual(on[0][2], { name: "Example Inc", "clearbit/employees": 250 }, "flat");
          assert.deepEqual(on[0][3], ["Trial users"]);
          await close();
        },
      );

      await t.step(
        "Hull.js on the page: Hull.on gets updates, from a tag or from onEmbed",
        async () => {
          // Hull.js hands the deployment's ship.id: the snippet joins that connector's
          // namespace, so the connector is registered, with Ada's latest update in its scope.
          await hullConnector(off, await update("team"));
          for (const path of ["/hull_tag.html", "/hull_embed.html"]) {
            const { page, close } = await visit(browser, at(offSite.port, path));
            await waitForPage(page, "__hull.length === 1");
            const [got] = await page.evaluate("__hull") as { email: string; plan: string }[];
            assert.equal(got.email, "ada@example.com", path);
            assert.equal(got.plan, "team", path);
            assert.equal(await page.evaluate("typeof hullBrowser.many"), "function");
            // Booted through Hull.onEmbed only when Hull.js embedded ship.js.
            assert.equal(await page.evaluate("__embedded"), path === "/hull_embed.html" ? 1 : 0);
            await close();
          }
        },
      );

      await t.step("the original's hull_browser cache is replayed on first load", async () => {
        const { page, close } = await visit(browser, at(offSite.port, "/plain.html"));
        await page.evaluate(() =>
          localStorage.setItem(
            "hull_browser",
            JSON.stringify({
              message: "ok",
              script: "",
              user: { id: "legacy-user", email: "old@example.com", traits: { plan: "legacy" } },
              account: {},
              segments: ["Old"],
              account_segments: [],
              events: [],
            }),
          )
        );
        await page.reload();
        await waitForPage(page, "__updates.length === 1");
        const [first] = await page.evaluate("__updates") as {
          user: { id: string; traits: { plan: string } };
          replay: boolean;
        }[];
        assert.equal(first.user.id, "legacy-user");
        assert.equal(first.user.traits.plan, "legacy");
        assert.equal(first.replay, true, "changes === undefined");
        await close();
      });

      await t.step("an ajs_* link identifies with identity verification off", async () => {
        const { page, close } = await visit(
          browser,
          at(offSite.port, "/plain.html?ajs_email=ada%40example.com"),
        );
        await waitForPage(page, "__updates.length === 1");
        assert.equal(await page.evaluate("__updates[0].user.email"), "ada@example.com");
        await close();
      });

      await t.step("an ajs_* link does not identify with verification required", async () => {
        await post(required, await update("pro"));
        await post(required, await update("grace-plan", [], "grace"));
        const { page, consoleLines, close } = await visit(
          browser,
          at(requiredSite.port, "/plain.html?ajs_email=ada%40example.com&ajs_uid=user-1001"),
        );
        await waitForPage(page, "__joined === 1");
        await waitFor(() => consoleLines.some((l) => l.includes("from an ajs_ link ignored")), {
          timeoutMs: 10_000,
          what: "the link warning",
        });
        // Barrier: a verified identity's profile; Ada's would have come first.
        const hash = await signIdentity(IDENTITY_SECRET, "email", "grace@example.com");
        await page.evaluate(`hullBrowser.identify({ email: "grace@example.com" }, "${hash}")`);
        await waitForPage(page, "__updates.length >= 1");
        const emails = await page.evaluate("__updates.map(function (u) { return u.user.email; })");
        assert.deepEqual(emails, ["grace@example.com"]);
        await close();

        // Signed by the site's backend (ajs_hash), the link identifies even without analytics.js.
        const adaHash = await signIdentity(IDENTITY_SECRET, "email", "ada@example.com");
        const signed = await visit(
          browser,
          at(requiredSite.port, `/plain.html?ajs_email=ada%40example.com&ajs_hash=${adaHash}`),
        );
        await waitForPage(signed.page, "__updates.length === 1");
        assert.equal(await signed.page.evaluate("__updates[0].user.email"), "ada@example.com");
        await signed.close();
      });

      await t.step("the script setting runs only where the tag has data-allow-script", async () => {
        const ship = await fixture<Record<string, unknown>>("ship-update.json");
        ship.notification_id = crypto.randomUUID();
        ship.connector = {
          ...(ship.connector as object),
          settings: { script: SCRIPT_SETTING },
        };
        await post(off, ship);
        const allowed = await visit(browser, at(offSite.port, "/script_allowed.html"));
        await waitForPage(allowed.page, "(window.__scriptRuns || []).length === 1");
        assert.deepEqual(await allowed.page.evaluate("__scriptRuns[0]"), [
          "ada@example.com",
          "Trial users",
          250,
          "Enterprise",
          0,
          "change",
        ]);
        // Next page load: the cached profile and script run at once, changes undefined.
        await allowed.page.reload();
        await waitForPage(allowed.page, "(window.__scriptRuns || []).length >= 1");
        assert.equal(await allowed.page.evaluate("__scriptRuns[0][5]"), "load");
        await allowed.close();

        const plain = await visit(browser, at(offSite.port, "/script_default.html"));
        await waitForPage(plain.page, "__updates.length === 1");
        await waitFor(() => plain.consoleLines.includes(NOT_ALLOWED), {
          timeoutMs: 10_000,
          what: "the not-allowed warning",
        });
        // The script would have run in the same call that delivered the update.
        assert.equal(await plain.page.evaluate("typeof window.__scriptRuns"), "undefined");
        assert.equal(plain.consoleLines.filter((l) => l === NOT_ALLOWED).length, 1);
        await plain.close();
      });

      await t.step("data-hull-* attributes under a strict CSP, no eval", async () => {
        const name = `<img src=x onerror="window.__xss=1">`;
        const withName = await update("pro");
        withName.messages[0].user.name = name;
        await post(off, withName);
        const { page, consoleLines, close } = await visit(browser, at(offSite.port, "/csp.html"));
        await waitForPage(page, "__updates.length === 1");
        const read = () =>
          page.evaluate(() => {
            const $ = (id: string) => document.getElementById(id)!;
            return {
              vip: $("vip").hidden,
              trial: $("trial").hidden,
              notrial: $("notrial").hidden,
              ent: $("ent").hidden,
              plan: $("plan").textContent,
              email: $("email").textContent,
              employees: $("employees").textContent,
              name: $("name").textContent,
              imgs: document.getElementsByTagName("img").length,
              trialClass: $("box").classList.contains("is-trial"),
            };
          });
        assert.deepEqual(await read(), {
          vip: true,
          trial: false,
          notrial: true,
          ent: false,
          plan: "pro",
          email: "ada@example.com",
          employees: "250",
          name,
          imgs: 0,
          trialClass: true,
        });
        // The opted-in script cannot run under this CSP: said once, the rest still works.
        await waitFor(() => consoleLines.includes(CSP_BLOCKED), {
          timeoutMs: 10_000,
          what: "the CSP warning",
        });

        await post(off, await update("enterprise", ["seg_vip"]));
        await waitForPage(page, "__updates.length === 2");
        const after = await read();
        assert.equal(after.vip, false);
        assert.equal(after.trial, true);
        assert.equal(after.notrial, false);
        assert.equal(after.plan, "enterprise");
        assert.equal(after.trialClass, false);
        assert.equal(consoleLines.filter((l) => l === CSP_BLOCKED).length, 1);
        await close();
      });
    } finally {
      await browser?.close();
      await offSite.close();
      await requiredSite.close();
      await off.close();
      await required.close();
    }
  },
);
