/**
 * A crafted link (`?ajs_email=victim@…`) makes analytics.js adopt the victim's identity in a
 * real visitor's browser. The snippet must not fetch that profile unless the link carries a
 * valid `ajs_hash` from the site's backend.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { buildSnippet } from "../../scripts/build.ts";
import { signIdentity } from "../../lib/socket/verification.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { startPageServer } from "../helpers/page_server.ts";
import { freshFixture, startTestServer } from "../helpers/server.ts";
import { waitFor, waitForPage } from "../helpers/wait.ts";

const skip = chromiumSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";

/** Like analytics.js: `ajs_uid` / `ajs_email` from the URL become the user's id and email. */
const ANALYTICS_JS = `(function () {
  var q = new URLSearchParams(location.search);
  var uid = q.get("ajs_uid"), email = q.get("ajs_email");
  window.analytics = { user: function () { return {
    id: function () { return uid; },
    anonymousId: function () { return "fresh-visitor-anon"; },
    traits: function () { return email ? { email: email } : {}; } }; } };
})();`;

const PAGE_JS = `window.__updates = []; window.__joined = 0;
window.hullBrowser = window.hullBrowser || [];
hullBrowser.push(["on", "room.joined", function () { __joined++; }]);
hullBrowser.push(["on", "user.update", function (d) { __updates.push(d); }]);`;

Deno.test(
  "snippet in Chromium - a crafted ?ajs_email= link does not fetch that profile",
  opts,
  async () => {
    await buildSnippet();
    // Report mode: unverified claims would be served, so only the snippet stands in the way.
    const server = await startTestServer({
      env: { IDENTITY_SECRET, IDENTITY_MODE: "report" },
    });
    const site = await startPageServer(server.url, ANALYTICS_JS, PAGE_JS);
    let browser: Browser | null = null;
    try {
      assert.equal(
        (await server.postNotification(await freshFixture("user-update.json"))).status,
        200,
      );
      // How the server answered each user.fetch: whatever it sent the page went out before.
      const outcomes: string[] = [];
      server.server.ctx.events.subscribe((e) => {
        if (e.event === "incoming.user.fetch.success") outcomes.push(e.message ?? "");
      });
      browser = await launchBrowser();
      assert.ok(browser);
      const visit = async (query: string) => {
        const context = await browser!.newContext(); // a fresh visitor: empty localStorage
        const page = await context.newPage();
        const asked = outcomes.length;
        await page.goto(`http://localhost:${site.port}/${query}`);
        await waitForPage(page, "window.__joined > 0");
        const outcome = await waitFor(() => outcomes[asked], { what: "the user.fetch's outcome" });
        if (outcome.startsWith("known profile sent")) {
          await waitForPage(page, "window.__updates.length > 0");
        }
        const updates = await page.evaluate("window.__updates") as { user: { email?: string } }[];
        await context.close();
        return { outcome, updates };
      };

      const crafted = await visit("?ajs_email=ada%40example.com&ajs_uid=user-1001");
      assert.equal(crafted.outcome, "unknown visitor: waiting for the first update");
      assert.deepEqual(crafted.updates, [], "the planted identity was not used");

      const hash = await signIdentity(IDENTITY_SECRET, "email", "ada@example.com");
      const signed = await visit(`?ajs_email=ada%40example.com&ajs_hash=${hash}`);
      assert.match(signed.outcome, /^known profile sent/);
      assert.equal(signed.updates.length, 1, "a link signed by the site's backend works");
      assert.equal(signed.updates[0].user.email, "ada@example.com");
    } finally {
      await browser?.close();
      await site.close();
      await server.close();
    }
  },
);
