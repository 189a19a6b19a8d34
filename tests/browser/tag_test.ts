/**
 * The tag forgives, in real Chromium: the one-line stub queues `identify`, `on` and `once`
 * made before the async bundle loads; a dashboard test push reaches the page's handler for an
 * unchanged profile; and the console says exactly why a page cannot connect, once, prefixed
 * `[hull-browser]` (origin not whitelisted, file:// page, identity required without a hash).
 * One browser for the whole file.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { buildSnippet } from "../../scripts/build.ts";
import { pushTestUpdate } from "../../lib/admin/test_push.ts";
import { STUB_JS } from "../../lib/snippet/stub.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { startPageServer } from "../helpers/page_server.ts";
import { waitFor, waitForPage } from "../helpers/wait.ts";

const skip = chromiumSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };

/** Page code: the stub, then plain calls, as a newcomer writes them (no push([...]) form). */
const PAGE_JS = `${STUB_JS};
window.__updates = []; window.__once = 0;
hullBrowser.on("user.update", function (d) { __updates.push(d); });
hullBrowser.once("user.update", function () { __once++; });
hullBrowser.identify({ email: "ada@example.com" });`;

/** Opens `url` in a fresh page, recording `[hull-browser]` console lines. */
async function open(browser: Browser, url: string) {
  const page = await browser.newPage();
  const lines: string[] = [];
  page.on("console", (m) => m.text().startsWith("[hull-browser]") && lines.push(m.text()));
  page.on("pageerror", (e) => lines.push("pageerror: " + e.message));
  await page.goto(url);
  return { page, lines };
}

/** Runs `fn` with a connector (env on top of the test defaults) and a page server for it. */
async function withSite(
  env: Record<string, string>,
  fn: (server: TestServer, pageUrl: string) => Promise<void>,
): Promise<void> {
  const server = await startTestServer({ env });
  const site = await startPageServer(server.url, "", PAGE_JS);
  try {
    await fn(server, `http://127.0.0.1:${site.port}/`);
  } finally {
    await site.close();
    await server.close();
  }
}

Deno.test("tag in Chromium - stub, test pushes and refusal messages", opts, async (t) => {
  await buildSnippet();
  const browser = await launchBrowser();
  assert.ok(browser);
  try {
    await t.step(
      "the stub queues identify, on and once made before the bundle loads",
      () =>
        withSite({}, async (server, url) => {
          assert.equal(
            (await server.postNotification(await freshFixture("user-update.json"))).status,
            200,
          );
          const { page, lines } = await open(browser, url);
          await waitForPage(page, "window.__updates.length === 1");
          const first = await page.evaluate("window.__updates[0].user.email");
          assert.equal(first, "ada@example.com");
          assert.equal(await page.evaluate("window.__once"), 1);

          // A dashboard test push of the unchanged profile still reaches the handler, marked.
          const { ctx } = server.server;
          const sockets = await pushTestUpdate({
            countSockets: async (rooms) => (await ctx.io.in(rooms).fetchSockets()).length,
            hasher: ctx.webhook.hasher,
            publish: ctx.webhook.publish,
            events: ctx.events,
            settings: ctx.live.settings,
          }, (await ctx.store.getProfile("5f00000000000000000000a1"))!);
          assert.equal(sockets, 1);
          await waitForPage(page, "window.__updates.length === 2");
          assert.equal(await page.evaluate("window.__updates[1].test"), true);
          assert.equal(await page.evaluate("JSON.stringify(window.__updates[1].changes)"), "{}");
          assert.equal(await page.evaluate("window.__once"), 1, "once() ran once");
          assert.deepEqual(lines, []);
          await page.close();
        }),
    );

    await t.step(
      "a page on a domain that is not whitelisted is told so, once",
      () =>
        withSite({ WHITELISTED_DOMAINS: "shop.example.com" }, async (_server, url) => {
          const { page, lines } = await open(browser, url);
          // socket.io gives up on a refusal (active false): no retry can print more.
          await waitForPage(
            page,
            "window.hullBrowser.socket && window.hullBrowser.socket.active === false",
          );
          await waitFor(() => lines.length > 0, { timeoutMs: 10_000, what: "a console line" });
          assert.deepEqual(lines, [
            `[hull-browser] cannot connect: origin ${url.slice(0, -1)} is not whitelisted: add ` +
            "its domain in the dashboard (Domains)",
          ]);
          await page.close();
        }),
    );

    await t.step(
      "a file:// page is told it cannot connect, once",
      () =>
        withSite({}, async (server) => {
          const dir = await Deno.makeTempDir();
          const file = `${dir}/page.html`;
          await Deno.writeTextFile(
            file,
            `<!doctype html><title>local</title><script src="${server.url}/hull-browser.js"></script>`,
          );
          try {
            const { page, lines } = await open(browser, `file://${file}`);
            await waitForPage(page, "typeof window.hullBrowser.last === 'function'");
            assert.deepEqual(lines, [
              "[hull-browser] pages opened from file:// cannot connect: serve the page over " +
              "http(s) from a whitelisted domain",
            ]);
            await page.close();
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        }),
    );

    await t.step(
      "identity required and no hash given: the page is told which claims",
      () =>
        withSite({
          IDENTITY_SECRET: "identity-secret-0123456789abcdef",
          IDENTITY_MODE: "required",
        }, async (_server, url) => {
          const { page, lines } = await open(browser, url);
          await waitFor(() => lines.length > 0, { timeoutMs: 10_000, what: "a console line" });
          // Told once, though the snippet identifies again on every connect.
          await waitForPage(page, "window.hullBrowser.socket.connected");
          assert.deepEqual(lines, [
            "[hull-browser] identity verification is required and no hash was given: email " +
            "ignored (set data-user-hash on the script tag or call hullBrowser.identify(claims, " +
            "hash))",
          ]);
          await page.close();
        }),
    );
  } finally {
    await browser.close();
  }
});
