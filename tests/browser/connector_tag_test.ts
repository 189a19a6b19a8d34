/**
 * `data-hull-id` in real Chromium (docs/contracts.md §2, §4): a tag naming a registered Hull
 * connector joins that connector's namespace and gets that connector's profile; a tag without
 * it gets the standalone connector's; a malformed id is not guessed at (console warning, `/`);
 * an id nobody registered is refused, and the console says so.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { buildSnippet } from "../../scripts/build.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import type { HullNotification } from "../../lib/types.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { startSite } from "../helpers/page_server.ts";
import { freshFixture, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor, waitForPage } from "../helpers/wait.ts";

const skip = chromiumSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };
const CONNECTOR = "5a1b2c3d4e5f60718293a4b5";

const PAGE_JS = `window.__updates = [];
window.hullBrowser = window.hullBrowser || [];
hullBrowser.push(["on", "user.update", function (d) { __updates.push(d.user); }]);
hullBrowser.push(["identify", { email: "ada@example.com" }]);`;

/** Registers `CONNECTOR` on `t` (the page's host whitelisted) with Ada stored as "Ada of A". */
async function hullConnector(t: TestServer): Promise<void> {
  const { connector } = await t.server.ctx.connectors.register(CONNECTOR, 20);
  const c = connector!;
  await c.store.setDomains(["127.0.0.1"]);
  await c.store.setSettings({ ...t.server.ctx.live.settings, public_traits: ["email", "name"] });
  await waitFor(() => c.live.allows("http://127.0.0.1:1"), { what: "the connector's whitelist" });
  const n = await freshFixture("user-update.json") as unknown as HullNotification;
  n.messages![0].user.name = "Ada of A";
  await processNotification(n, {
    store: c.store,
    hasher: t.server.ctx.webhook.hasher,
    events: c.events,
    publish: t.server.publisherFor(CONNECTOR),
    settings: () => c.live.settings,
  });
}

Deno.test(
  "connector tag in Chromium - data-hull-id joins its connector's namespace",
  opts,
  async (t) => {
    await buildSnippet();
    const server = await startTestServer();
    await hullConnector(server);
    // The standalone connector knows Ada too, under her fixture name.
    assert.equal(
      (await server.postNotification(await freshFixture("user-update.json"))).status,
      200,
    );
    const tag = (attrs: string) =>
      `<!doctype html><meta charset="utf-8"><script src="/page.js"></script>` +
      `<script src="${server.url}/hull-browser.js"${attrs} async></script>`;
    const site = await startSite({
      "/page.js": { body: PAGE_JS, type: "text/javascript" },
      "/connector.html": { body: tag(` data-hull-id="${CONNECTOR}"`) },
      "/upper.html": { body: tag(` data-hull-id="${CONNECTOR.toUpperCase()}"`) },
      "/plain.html": { body: tag("") },
      "/malformed.html": { body: tag(` data-hull-id="not-a-connector"`) },
      "/unknown.html": { body: tag(` data-hull-id="${"f".repeat(24)}"`) },
    });
    const browser: Browser | null = await launchBrowser();
    assert.ok(browser);
    const visit = async (path: string) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const lines: string[] = [];
      page.on("console", (m) => m.text().startsWith("[hull-browser]") && lines.push(m.text()));
      await page.goto(`http://127.0.0.1:${site.port}${path}`);
      return { page, lines, close: () => context.close() };
    };
    const name = async (path: string) => {
      const { page, lines, close } = await visit(path);
      try {
        await waitForPage(page, "__updates.length === 1");
        return { name: await page.evaluate("__updates[0].name") as string, lines };
      } finally {
        await close();
      }
    };
    try {
      await t.step("a registered connector's id: its namespace, its profile", async () => {
        assert.equal((await name("/connector.html")).name, "Ada of A");
        assert.equal((await name("/upper.html")).name, "Ada of A", "the same id in capitals");
      });

      await t.step("no data-hull-id: the standalone connector (/)", async () => {
        const got = await name("/plain.html");
        assert.notEqual(got.name, "Ada of A");
        assert.equal(typeof got.name, "string");
      });

      await t.step("a malformed data-hull-id: a console warning, then /", async () => {
        const got = await name("/malformed.html");
        assert.notEqual(got.name, "Ada of A");
        assert.ok(
          got.lines.some((l) =>
            l.includes('data-hull-id "not-a-connector" is not a Hull connector')
          ),
          got.lines.join("\n"),
        );
      });

      await t.step("an id nobody registered: refused, and the console says why", async () => {
        const { page, lines, close } = await visit("/unknown.html");
        try {
          await waitFor(() => lines.some((l) => l.includes("is not registered on this server")), {
            timeoutMs: 10_000,
            what: "the unknown-connector warning",
          });
          assert.equal(await page.evaluate("__updates.length"), 0);
        } finally {
          await close();
        }
      });
    } finally {
      await browser.close();
      await site.close();
      await server.close();
    }
  },
);
