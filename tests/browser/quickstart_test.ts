/**
 * The README's quickstart, played as a newcomer plays it: everything is extracted from the
 * README, not copied. The server runs `main.ts` with the start block's variables and the start
 * task's permissions; the page block is served on another port and opened in real Chromium;
 * the body block is saved as `body.json` and the send block signs and posts it with bash,
 * openssl and curl; the page's own handler shows the new plan; the dashboard takes the
 * README's password and lists the visitor. Only the ports differ (and the KV file, a temp one).
 */
import assert from "node:assert/strict";
import { chromiumSkipReason, launchBrowser } from "../helpers/chromium.ts";
import { startStaticPages } from "../helpers/page_server.ts";
import { bootMain } from "../helpers/process.ts";
import {
  atPort,
  parseShellBlock,
  readmeBlock,
  readReadme,
  runSendBlock,
  shellToolsSkipReason,
  startTaskFlags,
} from "../helpers/readme.ts";
import { waitFor } from "../helpers/wait.ts";

const skip = chromiumSkipReason() ?? shellToolsSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "quickstart - the README's steps, followed literally, change the page",
  opts,
  async (t) => {
    const readme = await readReadme();
    const start = parseShellBlock(readmeBlock(readme, "start"));
    assert.equal(start.command, "deno task start");
    const dir = await Deno.makeTempDir();
    const server = await bootMain({
      ...start.env,
      PORT: "0",
      BIND_ADDRESS: "0.0.0.0", // the default, as a newcomer runs it
      KV_PATH: `${dir}/quickstart.sqlite`,
    }, await startTaskFlags());
    const site = await startStaticPages({
      "/page.html": atPort(readmeBlock(readme, "page"), server.port),
    });
    const browser = await launchBrowser();
    assert.ok(browser);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => {
      // The page's server has no favicon (nor has python3 -m http.server in a bare folder).
      const favicon = m.location().url.endsWith("/favicon.ico");
      if (m.type() === "error" && !favicon) problems.push(m.text());
    });
    try {
      await t.step("1-3: the page on another port connects and identifies", async () => {
        await page.goto(`http://localhost:${site.port}/page.html`);
        // The server logs the visitor joining their rooms (stdout, JSON lines).
        await waitFor(() => server.stdout().includes('"incoming.user.join-channel"'), {
          timeoutMs: 10_000,
          what: "the join",
        });
        assert.equal(await page.textContent("#plan"), "unknown");
      });

      await t.step("4-5: the README's signed webhook changes the page", async () => {
        await Deno.writeTextFile(`${dir}/body.json`, readmeBlock(readme, "body"));
        const run = await runSendBlock(readme, dir, server.port);
        assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
        assert.equal(JSON.parse(run.stdout).flow_control.type, "next");
        await page.waitForFunction(() => document.getElementById("plan")?.textContent === "pro");
        assert.deepEqual(problems, [], "the page logged no error");
      });

      await t.step(
        "6: the dashboard takes the README's password and lists the visitor",
        async () => {
          // In a second tab: the shop's page stays open, so its visitor stays connected.
          const tab = await browser.newPage();
          const admin = `http://localhost:${server.port}/admin`;
          await tab.goto(admin);
          await tab.fill("#password", start.env.ADMIN_PASSWORD);
          await tab.click("button[type=submit]");
          await tab.waitForURL(admin);
          await tab.goto(`${admin}/rooms`);
          await tab.waitForSelector("tr[data-room]");
          const rows = await tab.locator("tr[data-room]").allTextContents();
          assert.ok(rows.some((r) => /email/.test(r) && /localhost/.test(r)), rows.join("\n"));
        },
      );
    } finally {
      await browser.close();
      await site.close();
      server.child.kill("SIGTERM");
      await server.child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
);
