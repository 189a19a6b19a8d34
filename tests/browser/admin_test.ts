/**
 * The dashboard in real Chromium: log in, add a domain and see a socket from it connect,
 * watch a webhook appear in the live log, filter it, find a visitor in rooms by email, preview
 * a payload and push a test update, log out. Screenshots go to test-artifacts/admin/.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { buildIslands } from "../../scripts/build.ts";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { freshFixture, identify, startTestServer } from "../helpers/server.ts";

const skip = chromiumSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };
const ARTIFACTS = new URL("../../test-artifacts/admin/", import.meta.url);
const PASSWORD = "correct horse battery staple";

async function shot(page: Page, name: string) {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, ARTIFACTS).pathname, fullPage: true });
}

async function until(check: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test("dashboard in Chromium - operators see and steer the connector", opts, async (t) => {
  await buildIslands();
  // The shop's origin is not whitelisted at first.
  const server = await startTestServer({
    env: { ADMIN_PASSWORD: PASSWORD, WHITELISTED_DOMAINS: "127.0.0.1" },
  });
  const browser = await launchBrowser();
  assert.ok(browser);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  try {
    await t.step("log in", async () => {
      await page.goto(`${server.url}/admin`);
      assert.match(page.url(), /\/admin\/login$/);
      await shot(page, "login");
      await page.fill("#password", PASSWORD);
      await page.click("button[type=submit]");
      await page.waitForURL(`${server.url}/admin`);
      assert.equal(await page.textContent("h1"), "Overview");
    });

    await t.step("add a domain and see a socket from it connect", async () => {
      const refused = server.connect("https://shop.example.org");
      assert.equal(
        await new Promise((r) => {
          refused.once("connect", () => r("connected"));
          refused.once("connect_error", () => r("refused"));
        }),
        "refused",
      );
      refused.close();
      await page.goto(`${server.url}/admin/domains`);
      await page.fill("input[name=domain]", "*.example.org");
      await page.click("text=Add domain");
      await page.waitForSelector('[data-domain="*.example.org"]');
      const s = server.connect("https://shop.example.org");
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
      });
      await page.reload();
      assert.equal(
        (await page.textContent('[data-domain="*.example.org"] td:nth-child(2)'))?.trim(),
        "1",
        "live sockets per domain",
      );
      await shot(page, "domains");
      s.close();
    });

    const visitor = await identify(
      server,
      { email: "ada@example.com" },
      "https://shop.example.org",
    );

    await t.step("a webhook shows up in the live log within 2 s, and filters work", async () => {
      await page.goto(`${server.url}/admin/log`);
      await until(async () => (await page.textContent("[data-status]")) === "live", 5000, "stream");
      const before = await page.locator('tr[data-event="incoming.user.start"]').count();
      assert.equal(
        (await server.postNotification(await freshFixture("user-update.json"))).status,
        200,
      );
      const posted = Date.now();
      await until(
        async () => (await page.locator('tr[data-event="incoming.user.start"]').count()) > before,
        2000,
        "incoming.user.start in the live log",
      );
      console.log(`live log: webhook visible after ${Date.now() - posted} ms`);
      await page.selectOption("select[aria-label=event]", "incoming.user.start");
      const events = await page.locator("tbody tr").evaluateAll((rows) =>
        rows.map((r) => r.getAttribute("data-event"))
      );
      assert.ok(
        events.length > 0 && events.every((e) => e === "incoming.user.start"),
        String(events),
      );
      await page.fill("input[aria-label=domain]", "no-such-domain");
      assert.equal(await page.locator("tbody tr").count(), 0);
      await page.fill("input[aria-label=domain]", "");
      await page.click("text=Pause");
      await shot(page, "log");
    });

    await t.step("find a connected visitor in rooms by email", async () => {
      await page.goto(`${server.url}/admin/rooms`);
      await page.fill("input[name=q]", "ada@example.com");
      await page.click("text=Find");
      await page.waitForSelector("tr[data-room]");
      const rows = await page.locator("tr[data-room]").allTextContents();
      assert.equal(rows.length, 1);
      assert.match(rows[0], /email/);
      assert.match(rows[0], /shop\.example\.org/);
      assert.ok(!rows[0].includes("ada@example.com"), "the room shows a masked value");
      await shot(page, "rooms");
    });

    await t.step("preview a visitor's payload and push a test update", async () => {
      await page.goto(`${server.url}/admin/preview`);
      await page.fill("input[name=value]", "ada@example.com");
      await page.click('button:has-text("Preview")');
      const payload = JSON.parse((await page.textContent('[data-payload="full"]'))!);
      assert.equal(payload.user.email, "ada@example.com");
      assert.equal(payload.user.id, "5f00000000000000000000a1");
      const pushed = new Promise((r) => visitor.once("user.update", r));
      await page.click("text=Push a test update");
      await pushed;
      await shot(page, "preview");
    });

    await t.step("overview and settings", async () => {
      await page.goto(`${server.url}/admin/settings`);
      await shot(page, "settings");
      await page.goto(`${server.url}/admin`);
      await until(
        async () => (await page.textContent('[data-stat="Webhooks received"]')) === "1",
        5000,
        "live counters",
      );
      await shot(page, "overview");
    });

    await t.step("log out", async () => {
      await page.click("text=Log out");
      await page.waitForURL(/\/admin\/login$/);
      await page.goto(`${server.url}/admin`);
      assert.match(page.url(), /\/admin\/login$/);
      assert.deepEqual(errors, [], `no page errors, no CSP violations: ${errors.join(" | ")}`);
    });
    visitor.close();
  } finally {
    await browser.close();
    await server.close();
  }
});
