import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { buildSnippet } from "../../scripts/build.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { fixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { startPageServer } from "../helpers/page_server.ts";
import { waitFor, waitForPage } from "../helpers/wait.ts";

// Computed up front: skips loudly without Chromium, throws under CI=true.
const skip = chromiumSkipReason();
// Playwright keeps pipes to the browser process open between tests; sockets linger briefly.
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);
/** The page's globals, as seen from page.evaluate callbacks. */
// deno-lint-ignore no-explicit-any
type PageWindow = any;

/** analytics.js stand-in: a loaded Segment with Ada's ids (matching the fixture user). */
const ANALYTICS_JS = `window.analytics = { user: function () { return {
  id: function () { return "user-1001"; },
  anonymousId: function () { return "a1b2c3d4-anon"; },
  traits: function () { return { email: "ada@example.com" }; } }; } };`;

/**
 * Page code, run before the async snippet: uses the queue stub, renders into the DOM, and
 * records what it sees. `__raw` counts socket pushes (events or not) as a barrier for "no
 * event" assertions; hooked at room.joined, which the server sends before any profile.
 */
const PAGE_JS = `window.__updates = []; window.__dom = []; window.__joined = 0; window.__raw = 0;
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  __csp.push(e.violatedDirective + " " + e.blockedURI); });
window.addEventListener("hull-browser:user.update", function (e) { __dom.push(e.detail); });
window.hullBrowser = window.hullBrowser || [];
var hooked = false;
hullBrowser.push(["on", "room.joined", function () {
  __joined++;
  if (!hooked) { hooked = true; hullBrowser.socket.on("user.update", function () { __raw++; }); }
}]);
hullBrowser.push(["on", "user.update", function (d) {
  __updates.push(d);
  var user = d.user || {}, traits = user.traits || {};
  document.getElementById("plan").textContent = traits.plan || user.plan || "";
  document.getElementById("email").textContent = user.email || "";
  document.getElementById("segments").textContent = d.segments.join(", ");
}]);`;

/** The fixture with a fresh notification_id and Ada's plan set to `plan`. */
async function notification(plan: string): Promise<Record<string, unknown>> {
  const body = await fixture<
    { messages: { user: Record<string, unknown> }[]; notification_id: string }
  >("user-update.json");
  body.notification_id = crypto.randomUUID();
  body.messages[0].user.traits_plan = plan;
  return body;
}

async function post(server: TestServer, plan: string) {
  const res = await server.postNotification(await notification(plan));
  assert.equal(res.status, 200, await res.text());
}

const count = (page: Page, name: string) => page.evaluate(`window.${name}.length`);
/**
 * Polls `expr` in the page. Not page.waitForFunction: that evals in the page, which our strict
 * CSP (rightly) blocks; page.evaluate goes through DevTools, outside the page's CSP.
 */
Deno.test(
  "snippet in Chromium - identifies, renders pushes, replays the cache, diffs",
  opts,
  async (t) => {
    await buildSnippet();
    const server = await startTestServer();
    const site = await startPageServer(server.url, ANALYTICS_JS, PAGE_JS);
    const pageUrl = `http://localhost:${site.port}/`;
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      assert.ok(browser);
      const page = await browser.newPage();
      const warnings: string[] = [];
      page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
      page.on("pageerror", (e) => warnings.push("pageerror: " + e.message));

      await t.step(
        "first visit: identifies from Segment, first push has changes vs nothing",
        async () => {
          await page.goto(pageUrl);
          await waitForPage(page, "window.__joined > 0");
          assert.equal(
            await count(page, "__updates"),
            0,
            "unknown visitor, no cache: no event yet",
          );
          await post(server, "pro");
          await waitForPage(page, "window.__updates.length === 1");
          assert.equal(await page.textContent("#plan"), "pro");
          assert.equal(await page.textContent("#email"), "ada@example.com");
          const first = await page.evaluate(() => {
            const d = (globalThis as PageWindow).__updates[0];
            return {
              keys: Object.keys(d).sort(),
              // [path, old value is undefined]: undefined does not survive the trip back.
              changes: Object.keys(d.changes).map((k) => [k, d.changes[k][0] === undefined]),
              json: JSON.stringify(d),
            };
          });
          assert.deepEqual(first.keys, [
            "account",
            "account_segments",
            "changes",
            "events",
            "segments",
            "user",
          ]);
          assert.ok(first.changes.length > 0 && first.changes.every(([, added]) => added));
          // Nested as the original's: the first payload is compared to nothing, part by part.
          assert.ok(first.changes.some(([k]) => k === "user"), JSON.stringify(first.changes));
          assert.ok(!first.json.includes("internal_score"), "private traits never reach the page");
          assert.equal(await count(page, "__dom"), 1, "DOM CustomEvent too");
          const cached = await page.evaluate(() => localStorage.getItem("hull-browser:payload"));
          assert.ok(cached && JSON.parse(cached).user.email === "ada@example.com");
        },
      );

      await t.step("reload: cached payload replays at once with changes undefined", async () => {
        await page.reload();
        // The load event waits for async scripts, so the replay has happened by now.
        const replay = await page.evaluate(() => {
          const w = globalThis as PageWindow;
          return { n: w.__updates.length, dom: w.__dom.length, undef: w.__updates[0]?.changes };
        });
        assert.deepEqual(replay, { n: 1, dom: 1, undef: undefined });
        assert.equal(await page.textContent("#plan"), "pro");
        // Reconnect identifies again; the server answers with the known profile: same, no event.
        await waitForPage(page, "window.__raw >= 1");
        assert.equal(await count(page, "__updates"), 1);
        const late = await page.evaluate(() =>
          new Promise((resolve) =>
            (globalThis as PageWindow).hullBrowser.on(
              "user.update",
              (d: PageWindow) => resolve({ undef: d.changes === undefined, email: d.user.email }),
            )
          )
        );
        assert.deepEqual(late, { undef: true, email: "ada@example.com" }, "late on() gets state");
      });

      await t.step(
        "a changed plan fires with changes; the same payload again does not",
        async () => {
          await post(server, "enterprise");
          await waitForPage(page, "window.__updates.length === 2");
          assert.equal(await page.textContent("#plan"), "enterprise");
          const changes: Record<string, unknown> = await page.evaluate("__updates[1].changes");
          assert.deepEqual(changes, { user: { traits: { plan: ["pro", "enterprise"] } } });

          const raw = await page.evaluate("window.__raw") as number;
          await post(server, "enterprise");
          // The snippet's own listener runs before the `__raw` hook, in the same dispatch.
          await waitForPage(page, `window.__raw > ${raw}`);
          assert.equal(await count(page, "__updates"), 2, "unchanged payload: no event");
          assert.equal(await count(page, "__dom"), 2);
        },
      );

      await t.step("strict CSP: no violations, no page errors", async () => {
        assert.deepEqual(await page.evaluate("window.__csp"), []);
        assert.deepEqual(warnings, []);
        await Deno.mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: new URL("snippet.png", ARTIFACTS).pathname });
      });
    } finally {
      await browser?.close();
      await site.close();
      await server.close();
    }
  },
);

Deno.test(
  "snippet in Chromium - a page on a non-whitelisted domain gets a warning",
  opts,
  async () => {
    await buildSnippet();
    // A whitelist without localhost: the page below is then on a foreign domain. (A page on a
    // made-up hostname cannot load loopback scripts at all: Chromium's local network access.)
    const server = await startTestServer({ env: { WHITELISTED_DOMAINS: "shop.example.com" } });
    const site = await startPageServer(server.url, ANALYTICS_JS, PAGE_JS);
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      assert.ok(browser);
      const page = await browser.newPage();
      const warnings: string[] = [];
      page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
      await page.goto(`http://localhost:${site.port}/`);
      await waitFor(() => warnings.some((w) => w.startsWith("[hull-browser]")), {
        timeoutMs: 10_000,
        what: "a [hull-browser] warning",
      });
      assert.ok(
        warnings.some((w) => w.startsWith("[hull-browser] cannot connect")),
        warnings.join(),
      );
      assert.equal(await page.evaluate("hullBrowser.socket.connected"), false);
      assert.equal(await page.evaluate("__updates.length"), 0);
    } finally {
      await browser?.close();
      await site.close();
      await server.close();
    }
  },
);
